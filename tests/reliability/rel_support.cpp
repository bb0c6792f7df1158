#include "reliability/rel_support.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mgr::rel {

namespace {

std::string slurp(int fd) {
  std::string s;
  char buf[65536];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(s.size()))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) {
    if (v.empty()) merged.erase(k); else merged[k] = v;
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

// ---- Proc -----------------------------------------------------------------------

Proc::Proc(const SpawnOptions& o) {
  m_out = ::open((m_io / "out").c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  m_err = ::open((m_io / "err").c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Everything the child needs is built before fork(): after it only
  // async-signal-safe calls.
  auto env_strings = merged_env(o.env);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = o.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string cwd = o.cwd.empty() ? fs::current_path().string() : o.cwd.string();
  const int barrier = o.barrier_fd;
  const bool has_umask = o.umask.has_value();
  const mode_t mask = has_umask ? static_cast<mode_t>(*o.umask) : 0;
  const bool core = o.core_unlimited;

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(m_out, 1);
    ::dup2(m_err, 2);
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    if (has_umask) ::umask(mask);
    if (core) {
      struct rlimit rl {RLIM_INFINITY, RLIM_INFINITY};
      ::setrlimit(RLIMIT_CORE, &rl);
    }
    // Signals the test runner may have blocked or ignored come back to defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    // Only 0-2 and the barrier stay open: a sibling's copy of the barrier's
    // write end would keep the barrier shut forever.
    if (barrier >= 0) {
      ::close_range(3, static_cast<unsigned>(barrier) - 1, 0);
      ::close_range(static_cast<unsigned>(barrier) + 1, ~0U, 0);
    } else {
      ::close_range(3, ~0U, 0);
    }
    if (barrier >= 0) {
      char b;
      while (::read(barrier, &b, 1) < 0 && errno == EINTR) {
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in);
  m_pid = pid;
}

Proc::~Proc() {
  if (!m_done && m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
  }
  ::close(m_out);
  ::close(m_err);
}

void Proc::signal(int sig) const {
  if (!m_done) ::kill(m_pid, sig);
}

RunResult Proc::finish(int status) {
  m_done = true;
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m_core = WIFSIGNALED(status) && WCOREDUMP(status);
  m_signaled = WIFSIGNALED(status);
  r.out = slurp(m_out);
  r.err = slurp(m_err);
  return r;
}

RunResult Proc::wait() {
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
  }
  return finish(status);
}

std::optional<RunResult> Proc::wait_for(std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == m_pid) return finish(status);
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Proc::err_so_far() const { return slurp(m_err); }

Barrier::Barrier() {
  if (::pipe2(m_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
}
Barrier::~Barrier() {
  release();
  if (m_fds[0] >= 0) ::close(m_fds[0]);
}
void Barrier::release() {
  if (m_fds[1] >= 0) ::close(m_fds[1]);
  m_fds[1] = -1;
}

std::vector<std::string> mgr_argv(const fs::path& config, const std::vector<std::string>& args) {
  std::vector<std::string> v{mgr::test::mgr_binary(), "--config", config.string()};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

RunResult run_mgr_env(const fs::path& config, const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env, const fs::path& cwd) {
  SpawnOptions o;
  o.argv = mgr_argv(config, args);
  o.env = env;
  o.cwd = cwd.empty() ? config.parent_path().parent_path() : cwd;
  Proc p(o);
  return p.wait();
}

RunResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  SpawnOptions o;
  o.argv = argv;
  o.env = env;
  o.cwd = "/";
  Proc p(o);
  return p.wait();
}

// ---- /proc --------------------------------------------------------------------

namespace {

bool read_stat(pid_t pid, char& state, pid_t& ppid, unsigned long long& start) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  rest >> state >> ppid;
  std::string skip;
  for (int field = 5; field < 22; ++field) rest >> skip;  // fields 5..21
  rest >> start;                                           // field 22: starttime
  return static_cast<bool>(rest);
}

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

std::vector<std::pair<pid_t, pid_t>> all_processes() {
  std::vector<std::pair<pid_t, pid_t>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const auto name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    pid_t pid = std::stoi(name);
    char state;
    pid_t ppid;
    unsigned long long start;
    if (read_stat(pid, state, ppid, start)) out.emplace_back(pid, ppid);
  }
  return out;
}

ProcInfo info_of(pid_t pid) {
  ProcInfo i;
  i.pid = pid;
  char state;
  pid_t ppid;
  read_stat(pid, state, ppid, i.start_time);
  i.cmdline = cmdline_of(pid);
  return i;
}

}  // namespace

std::vector<ProcInfo> children_of(pid_t parent) {
  std::vector<ProcInfo> out;
  for (auto [pid, ppid] : all_processes()) {
    if (ppid == parent) out.push_back(info_of(pid));
  }
  return out;
}

std::vector<ProcInfo> descendants_of(pid_t root) {
  auto procs = all_processes();
  std::vector<pid_t> frontier{root};
  std::vector<ProcInfo> out;
  while (!frontier.empty()) {
    pid_t p = frontier.back();
    frontier.pop_back();
    for (auto [pid, ppid] : procs) {
      if (ppid == p) {
        out.push_back(info_of(pid));
        frontier.push_back(pid);
      }
    }
  }
  return out;
}

bool process_gone(const ProcInfo& p) {
  char state;
  pid_t ppid;
  unsigned long long start = 0;
  if (!read_stat(p.pid, state, ppid, start)) return true;
  if (start != p.start_time) return true;  // the pid was reused
  return state == 'Z' || state == 'X';
}

bool wait_gone_or_kill(const ProcInfo& p, std::chrono::milliseconds limit) {
  if (wait_until([&] { return process_gone(p); }, limit)) return true;
  if (!process_gone(p)) ::kill(p.pid, SIGKILL);
  return false;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// ---- SQL ---------------------------------------------------------------------------

void sql_exec(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

std::vector<std::vector<std::string>> sql_rows(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  auto res = tx.exec(sql);
  std::vector<std::vector<std::string>> out;
  for (const auto& row : res) {
    std::vector<std::string> cells;
    for (const auto& f : row) cells.push_back(f.is_null() ? "" : f.c_str());
    out.push_back(std::move(cells));
  }
  return out;
}

std::string sql_scalar(const std::string& url, const std::string& sql) {
  auto r = sql_rows(url, sql);
  return r.empty() || r[0].empty() ? "" : r[0][0];
}

bool table_exists(const std::string& url, const std::string& table) {
  return sql_scalar(url, "SELECT to_regclass('" + table + "') IS NOT NULL") == "t";
}

std::vector<long> recorded_ids(const std::string& url, const std::string& table) {
  std::vector<long> out;
  if (!table_exists(url, table)) return out;
  for (const auto& r : sql_rows(url, "SELECT migration_id::bigint FROM " + table + " WHERE success ORDER BY 1")) {
    out.push_back(std::stol(r[0]));
  }
  return out;
}

long unsuccessful_rows(const std::string& url, const std::string& table) {
  if (!table_exists(url, table)) return 0;
  return std::stol(sql_scalar(url, "SELECT count(*) FROM " + table + " WHERE success IS NOT TRUE"));
}

std::vector<long> marker_ids(const std::string& url) {
  std::vector<long> out;
  for (const auto& r : sql_rows(url, "SELECT id FROM public.markers ORDER BY 1")) out.push_back(std::stol(r[0]));
  return out;
}

long advisory_locks(const std::string& url) {
  return std::stol(sql_scalar(url,
                              "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                              "database = (SELECT oid FROM pg_database WHERE datname = current_database())"));
}

long other_backends(const std::string& url) {
  return std::stol(sql_scalar(url,
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"));
}

long backend_pid(const std::string& url, const std::string& app) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  auto r = tx.exec_params(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 "
      "AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1",
      app);
  return r.empty() ? 0 : r[0][0].as<long>();
}

std::vector<long> iota_ids(long first, long last) {
  std::vector<long> v;
  for (long i = first; i <= last; ++i) v.push_back(i);
  return v;
}

// ---- projects ------------------------------------------------------------------------

std::string migration_file_name(long id) { return fmt::format("{:04d}_m{:04d}.sql", id, id); }

void write_marker_migrations(const fs::path& migrations, long first, long last, const std::string& extra) {
  fs::create_directories(migrations);
  for (long i = first; i <= last; ++i) {
    mgr::test::write_file(migrations / migration_file_name(i),
                          fmt::format("INSERT INTO public.markers (id) VALUES ({});\n{}", i, extra));
  }
}

void create_fixture_tables(const std::string& url) {
  // No unique constraint on markers: a migration run twice must show as a duplicate.
  sql_exec(url,
           "CREATE TABLE IF NOT EXISTS public.markers (id bigint NOT NULL);"
           "CREATE TABLE IF NOT EXISTS public.ctl (slow boolean NOT NULL);"
           "INSERT INTO public.ctl SELECT true WHERE NOT EXISTS (SELECT FROM public.ctl);");
}

std::string slow_sql(int seconds) {
  return fmt::format("SELECT pg_sleep(CASE WHEN (SELECT slow FROM public.ctl) THEN {} ELSE 0 END);\n", seconds);
}

std::string one_env_yaml(const std::string& url, const std::string& extra, const std::string& top) {
  std::string env_extra = extra.find("backup:") == std::string::npos ? "    backup: off\n" + extra : extra;
  return top + "environments:\n  dev:\n    url: " + url + "\n" + env_extra;
}

fs::path write_config(const fs::path& dir, const std::string& yaml, const std::string& name) {
  auto p = dir / "config" / name;
  mgr::test::write_file(p, yaml);
  return p;
}

void write_script(const fs::path& p, const std::string& body) {
  mgr::test::write_file(p, "#!/bin/bash\n" + body);
  fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec);
}

fs::path pg_bin_dir() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin/pg_dump")) dirs.push_back(e.path() / "bin");
  }
  if (dirs.empty()) throw std::runtime_error("no /usr/lib/postgresql/*/bin/pg_dump");
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
  });
  return dirs.back();
}

int trials(int normal, int soak) {
  const char* s = std::getenv("MGR_SOAK");
  return s != nullptr && std::string(s) == "1" ? soak : normal;
}

unsigned seed_from_env() {
  if (const char* s = std::getenv("MGR_SEED"); s != nullptr && *s != '\0') return static_cast<unsigned>(std::stoul(s));
  return static_cast<unsigned>(std::time(nullptr)) ^ static_cast<unsigned>(::getpid());
}

void report(const std::string& line) {
  std::cout << "figures: " << line << std::endl;
  if (const char* f = std::getenv("MGR_RELIABILITY_REPORT"); f != nullptr && *f != '\0') {
    std::ofstream out(f, std::ios::app);
    out << line << "\n";
  }
}

// ---- PrivateCluster ------------------------------------------------------------------

const std::string& cluster_admin_password() {
  static const std::string pw = "rel-admin-pw-4711";
  return pw;
}

namespace {

bool running_as_root() { return ::geteuid() == 0; }

std::vector<std::string> as_postgres(std::vector<std::string> argv) {
  if (running_as_root()) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  return argv;
}

void chown_postgres(const fs::path& p) {
  if (!running_as_root()) return;
  struct passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("no postgres user to run the private cluster");
  if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + p.string());
}

}  // namespace

PrivateCluster::PrivateCluster() : m_bin(pg_bin_dir()) {
  std::string templ = (fs::temp_directory_path() / "mgr-rel-pg.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
  m_dir = templ;
  ::chmod(m_dir.c_str(), 0755);
  chown_postgres(m_dir);
  mgr::test::write_file(m_dir / "pwfile", cluster_admin_password() + "\n");
  chown_postgres(m_dir / "pwfile");
  auto r = run_program(as_postgres({(m_bin / "initdb").string(), "-D", (m_dir / "data").string(), "-U", "postgres",
                                    "--auth-host=scram-sha-256", "--auth-local=trust",
                                    "--pwfile=" + (m_dir / "pwfile").string(), "--encoding=UTF8",
                                    "--locale=C.UTF-8", "--no-sync"}));
  if (r.exit_code != 0) throw std::runtime_error("initdb failed: " + r.err + r.out);
  // The first port from 27000 on where the server starts; the pid spreads
  // parallel tests over the range so they rarely race for the same one.
  const int base = 27000 + static_cast<int>(::getpid() % 200) * 3;
  for (int port = base; port < base + 120; ++port) {
    if (try_start(port)) {
      m_port = port;
      return;
    }
  }
  throw std::runtime_error("the private cluster did not start on any port from " + std::to_string(base) + ": " +
                           log_tail());
}

bool PrivateCluster::try_start(int port) {
  auto r = pg_ctl({"-o",
                   fmt::format("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
                               "-c max_connections=50 -c shared_buffers=16MB",
                               port),
                   "-w", "-t", "60", "start"});
  if (r.exit_code != 0) return false;
  m_port = port;
  return true;
}

RunResult PrivateCluster::pg_ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{(m_bin / "pg_ctl").string(), "-D", (m_dir / "data").string(), "-l",
                                (m_dir / "server.log").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(as_postgres(argv));
}

PrivateCluster::~PrivateCluster() {
  pg_ctl({"-m", "immediate", "-w", "stop"});
  std::error_code ec;
  fs::remove_all(m_dir, ec);
}

std::string PrivateCluster::admin_url(const std::string& db) const {
  return url("postgres", cluster_admin_password(), db);
}

std::string PrivateCluster::url(const std::string& user, const std::string& password, const std::string& db) const {
  return fmt::format("postgresql://{}:{}@127.0.0.1:{}/{}", user, password, m_port, db);
}

void PrivateCluster::create_database(const std::string& db) const {
  sql_exec(admin_url(), "CREATE DATABASE \"" + db + "\"");
}

void PrivateCluster::stop_immediate() const {
  auto r = pg_ctl({"-m", "immediate", "-w", "stop"});
  if (r.exit_code != 0) throw std::runtime_error("pg_ctl stop -m immediate failed: " + r.err);
}

void PrivateCluster::restart_fast() const {
  auto r = pg_ctl({"-m", "fast", "-w", "-t", "60", "-o",
                   fmt::format("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
                               "-c max_connections=50 -c shared_buffers=16MB",
                               m_port),
                   "restart"});
  if (r.exit_code != 0) throw std::runtime_error("pg_ctl restart failed: " + r.err + log_tail());
}

void PrivateCluster::start() {
  if (!try_start(m_port)) throw std::runtime_error("the private cluster did not start again: " + log_tail());
}

std::string PrivateCluster::log_tail() const {
  std::ifstream in(m_dir / "server.log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

}  // namespace mgr::rel
