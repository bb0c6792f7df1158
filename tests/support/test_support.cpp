#include "support/test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mgr::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  auto base = fs::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("mgr-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) {
      m_path = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info != nullptr && ::testing::Test::HasFailure()) {
    std::cerr << "test data left in " << m_path << "\n";
    return;
  }
  std::error_code ec;
  // Directories made read-only by a test must be writable again to be removed.
  for (auto it = fs::recursive_directory_iterator(m_path, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(m_path, ec);
}

void write_file(const fs::path& p, const std::string& content) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + p.string());
  out << content;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string mgr_binary() { return MGR_BINARY; }
fs::path source_dir() { return MGR_SOURCE_DIR; }

namespace {
std::string slurp_fd(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}
}  // namespace

namespace {

// Starts mgr with stdout/stderr into the given files and stdin from /dev/null.
pid_t spawn_mgr(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                const fs::path& cwd, int out_fd, int err_fd) {
  int in_fd = ::open("/dev/null", O_RDONLY);

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) {
    if (v.empty()) merged.erase(k); else merged[k] = v;
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{mgr_binary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  std::string cwd_str = cwd.empty() ? fs::current_path().string() : cwd.string();
  posix_spawn_file_actions_addchdir_np(&actions, cwd_str.c_str());

  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_fd);
  if (rc != 0) throw std::runtime_error("cannot start " + mgr_binary());
  return pid;
}

RunResult collect(pid_t pid, int out_fd, int err_fd) {
  RunResult result;
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  result.out = slurp_fd(out_fd);
  result.err = slurp_fd(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return result;
}

}  // namespace

RunResult run_mgr(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  const fs::path& cwd) {
  // Output goes to temp files rather than pipes so a chatty child cannot block.
  TempDir io;
  int out_fd = ::open((io / "out").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  int err_fd = ::open((io / "err").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  pid_t pid;
  try {
    pid = spawn_mgr(args, env, cwd, out_fd, err_fd);
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    throw;
  }
  return collect(pid, out_fd, err_fd);
}

RunningMgr::RunningMgr(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                       const fs::path& cwd)
    : m_io(std::make_unique<TempDir>()) {
  m_out = ::open((*m_io / "out").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  m_err = ::open((*m_io / "err").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  m_pid = spawn_mgr(args, env, cwd, m_out, m_err);
}

RunningMgr::~RunningMgr() {
  if (!m_waited && m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    collect(m_pid, m_out, m_err);
  }
}

RunResult RunningMgr::wait() {
  m_waited = true;
  return collect(m_pid, m_out, m_err);
}

namespace {

int bind_unlistened_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("refused_port: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("refused_port: cannot bind a port on 127.0.0.1");
  }
  // Kept open (and never listen()ed on) until the process exits: the port
  // stays taken, and a connection to it gets a reset.
  return ntohs(addr.sin_port);
}

}  // namespace

int refused_port() {
  static const int port = bind_unlistened_port();
  return port;
}

std::string refused_url(const std::string& database, const std::string& userinfo) {
  return "postgresql://" + userinfo + "127.0.0.1:" + std::to_string(refused_port()) + "/" + database;
}

}  // namespace mgr::test
