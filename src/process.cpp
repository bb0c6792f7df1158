#include "mgr/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/search_path.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mgr/error.hpp"
#include "mgr/fd.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/text.hpp"

namespace bp = boost::process;
namespace fs = std::filesystem;

namespace mgr {

namespace {

// An stdio FILE* that is closed on scope exit. Boost.Process redirects a
// FILE* by dup2-ing its descriptor, which clears O_CLOEXEC on the child's copy
// only, so our descriptors never leak into other children.
class StdioFile {
 public:
  StdioFile() = default;
  explicit StdioFile(int fd, const char* mode) : m_file(::fdopen(fd, mode)) {
    if (m_file == nullptr) {
      int saved = errno;
      ::close(fd);
      throw Failure(fmt::format("fdopen failed: {}", std::strerror(saved)));
    }
  }
  ~StdioFile() { close(); }
  StdioFile(const StdioFile&) = delete;
  StdioFile& operator=(const StdioFile&) = delete;
  StdioFile(StdioFile&& other) noexcept : m_file(std::exchange(other.m_file, nullptr)) {}
  StdioFile& operator=(StdioFile&& other) noexcept {
    if (this != &other) {
      close();
      m_file = std::exchange(other.m_file, nullptr);
    }
    return *this;
  }
  FILE* get() const { return m_file; }
  void close() {
    if (m_file != nullptr) std::fclose(std::exchange(m_file, nullptr));
  }

  // Everything written so far, from the start.
  std::string slurp() const {
    std::string text;
    int fd = ::fileno(m_file);
    if (::lseek(fd, 0, SEEK_SET) < 0) return text;
    char buf[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    return text;
  }

 private:
  FILE* m_file = nullptr;
};

// Output goes to unlinked temporary files rather than pipes: a chatty child
// can never block on a full pipe, and a grandchild that outlives a killed
// child cannot keep us waiting for EOF.
StdioFile anonymous_temp_file() {
  const char* dir = std::getenv("TMPDIR");
  std::string tmpl = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/mgr-proc-XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) throw Failure(fmt::format("cannot create a temporary file in {}: {}", tmpl, std::strerror(errno)));
  ::unlink(tmpl.c_str());
  return StdioFile(fd, "w+");
}

StdioFile open_file(const fs::path& path, int flags, const char* mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) throw Failure(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  return StdioFile(fd, mode);
}

bool is_executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 60'000 == 0 && ms >= 60'000) return fmt::format("{}min", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// The child's environment: ours plus the extras, as KEY=VALUE strings handed
// to execve directly. Boost's environment lookup reads past short keys
// (ASan), so it is not used.
class ChildEnvironment {
 public:
  explicit ChildEnvironment(const std::map<std::string, std::string>& extra) {
    for (char** e = ::environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      auto eq = entry.find('=');
      if (eq != std::string_view::npos && extra.count(std::string(entry.substr(0, eq))) != 0) continue;
      m_entries.emplace_back(entry);
    }
    for (const auto& [key, value] : extra) m_entries.push_back(key + "=" + value);
    for (auto& entry : m_entries) m_pointers.push_back(entry.data());
    m_pointers.push_back(nullptr);
  }
  char** envp() { return m_pointers.data(); }

 private:
  std::vector<std::string> m_entries;
  std::vector<char*> m_pointers;
};

// Runs in the parent before the fork (environment) and in the child before
// execve: the child gets its own process group, so a Ctrl-C typed at the
// terminal reaches mgr only and mgr decides how the child stops; and it dies
// with mgr (SIGKILL when mgr's thread ends, kill -9 included), so a restore
// or dump never goes on after mgr is gone.
struct ChildSetup : bp::extend::handler {
  ChildSetup(ChildEnvironment* e, pid_t p) : env(e), parent(p) {}
  ChildEnvironment* env;
  pid_t parent;

  template <class Executor>
  void on_setup(Executor& exec) const {
    exec.env = env->envp();
  }
  template <class Executor>
  void on_exec_setup(Executor&) const {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // mgr died between fork and prctl: the death signal was already missed.
    if (::getppid() != parent) ::_exit(127);
  }
};

// Sends `sig` to the child's process group (and the child, in case it has
// not made its group yet).
void signal_child(const bp::child& child, int sig) {
  ::kill(-child.id(), sig);
  ::kill(child.id(), sig);
}

// The read end of the pipe that carries a child's stdout to stdout_sink.
class StdoutPump {
 public:
  StdoutPump(Fd fd, const std::function<void(std::string_view)>* sink) : m_fd(std::move(fd)), m_sink(sink) {
    if (m_fd) ::fcntl(m_fd.get(), F_SETFL, ::fcntl(m_fd.get(), F_GETFL) | O_NONBLOCK);
  }
  int fd() const { return m_fd.get(); }
  bool open() const { return static_cast<bool>(m_fd); }
  // Hands what the pipe holds now to the sink; closes it at EOF.
  void pump() {
    if (!m_fd) return;
    if (m_buf.empty()) m_buf.resize(1 << 20);
    for (;;) {
      const ssize_t n = ::read(m_fd.get(), m_buf.data(), m_buf.size());
      if (n > 0) {
        (*m_sink)(std::string_view(m_buf.data(), static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) throw Failure(fmt::format("cannot read the output of a child process: {}", std::strerror(errno)));
      m_fd.reset();  // EOF
      return;
    }
  }

 private:
  Fd m_fd;
  const std::function<void(std::string_view)>* m_sink;
  std::vector<char> m_buf;
};

// Waits for the child to exit, for the deadline, or for a signal to mgr
// (interrupt_fd), without polling latency: a pidfd becomes readable when the
// child exits (Boost 1.74's wait_for is fragile). Kernels without
// pidfd_open fall back to a short sleep loop. Meanwhile the child's stdout
// pipe (when there is one) is emptied into the sink and on_tick is called.
//
// Timeout: SIGTERM, SIGKILL 2 s later. Interrupt: SIGINT, which makes pg_dump
// and psql cancel their running query on the server, then SIGKILL 1 s later.
void wait_for_child(bp::child& child, const ProcessSpec& spec, ProcessResult& result,
                    std::chrono::steady_clock::time_point started, StdoutPump& pipe) {
  using namespace std::chrono_literals;
  std::error_code ec;
  const bool has_deadline = spec.timeout.has_value();
  const auto deadline = started + spec.timeout.value_or(std::chrono::milliseconds(0));
  const Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child.id(), 0)));
  auto next_tick = started;
  auto wait_a_while = [&](std::chrono::milliseconds at_most, bool watch_interrupt) {
    auto now = std::chrono::steady_clock::now();
    if (spec.on_tick && now >= next_tick) {
      spec.on_tick(child.id());
      next_tick = now + 250ms;
    }
    if (spec.on_tick) at_most = std::min(at_most, std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now));
    if (!pidfd) at_most = std::min<std::chrono::milliseconds>(at_most, 5ms);
    pollfd p[3] = {{pidfd.get(), POLLIN, 0}, {watch_interrupt ? interrupt_fd() : -1, POLLIN, 0}, {pipe.fd(), POLLIN, 0}};
    ::poll(p, 3, static_cast<int>(std::clamp<long long>(at_most.count(), 0, 1000)));
    if (p[2].revents != 0) pipe.pump();
  };
  auto stop = [&](int first_signal, std::chrono::milliseconds grace) {
    signal_child(child, first_signal);
    auto until = std::chrono::steady_clock::now() + grace;
    while (child.running(ec) && std::chrono::steady_clock::now() < until) wait_a_while(50ms, false);
    if (child.running(ec)) signal_child(child, SIGKILL);
  };
  while (child.running(ec)) {
    if (interrupted()) {
      result.interrupted = true;
      stop(SIGINT, 1s);
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (has_deadline && now >= deadline) {
      result.timed_out = true;
      spdlog::warn("{} still running after {}; stopping it", spec.program.filename().string(),
                   format_duration(*spec.timeout));
      stop(SIGTERM, 2s);
      break;
    }
    auto left = has_deadline ? std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + 1ms
                             : std::chrono::milliseconds(1000);
    wait_a_while(left, true);
  }
  child.wait(ec);  // reaps; a no-op when running() already did
  // Whatever the child left in its group (it has no business starting any).
  ::kill(-child.id(), SIGKILL);
  // The rest of the output: the writer is gone, so EOF comes once the pipe is empty.
  while (pipe.open() && !result.interrupted && !result.timed_out) {
    pollfd p{pipe.fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    pipe.pump();
  }
  result.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  // exit_code() reports a signal number as if it were an exit status.
  int status = child.native_exit_code();
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
}

}  // namespace

std::string ProcessResult::describe() const {
  if (interrupted) return "stopped by mgr after a signal";
  if (timed_out) return "timed out and was killed";
  if (signal) {
    const char* name = ::strsignal(*signal);
    return fmt::format("killed by signal {} ({})", *signal, name != nullptr ? name : "?");
  }
  return fmt::format("exited with status {}", exit_code);
}

ProcessResult run_process(const ProcessSpec& spec) {
  if (spec.program.empty()) throw Failure("internal error: no program to run");
  // An absolute path that does not exist would make Boost throw a bare
  // "execve failed"; say which program instead.
  if (!is_executable_file(spec.program)) {
    throw Failure(fmt::format("cannot run {}: not an executable file", spec.program.string()));
  }

  spdlog::debug("running {} {}", spec.program.string(), fmt::join(spec.args, " "));  // argv never holds a password
  ChildEnvironment env(spec.extra_env);

  if (spec.stdout_sink && spec.stdout_file) throw Failure("internal error: stdout goes to a file or a sink, not both");
  // With a sink, stdout is a pipe: its write end goes to the child only.
  Fd pipe_read;
  StdioFile out;
  if (spec.stdout_sink) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) throw Failure(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    pipe_read.reset(ends[0]);
    // Fewer wake-ups for a dump of many megabytes (best effort: the limit may be lower).
    ::fcntl(ends[1], F_SETPIPE_SZ, 1 << 20);
    out = StdioFile(ends[1], "w");
  } else {
    out = spec.stdout_file ? open_file(*spec.stdout_file, O_WRONLY | O_CREAT | O_TRUNC, "w") : anonymous_temp_file();
  }
  StdioFile err = anonymous_temp_file();
  StdioFile in = open_file(spec.stdin_file ? *spec.stdin_file : fs::path("/dev/null"), O_RDONLY, "r");

  ProcessResult result;
  auto started = std::chrono::steady_clock::now();
  bp::child child;
  try {
    child = bp::child(bp::exe = spec.program.string(), bp::args = spec.args, ChildSetup(&env, ::getpid()),
                      bp::std_out > out.get(), bp::std_err > err.get(), bp::std_in < in.get());
  } catch (const std::exception& e) {
    throw Failure(fmt::format("cannot run {}: {}", spec.program.string(), e.what()));
  }
  // Also from this side: a signal sent to the group right after the fork
  // must not miss a child that has not run its own setpgid yet.
  ::setpgid(child.id(), child.id());
  StdoutPump pump(std::move(pipe_read), &spec.stdout_sink);
  if (spec.stdout_sink) out.close();  // the child's copy is the only writer left: EOF when it exits
  try {
    wait_for_child(child, spec, result, started, pump);
  } catch (...) {
    // The sink failed (e.g. disk full): the child's output has nowhere to go.
    std::error_code ec;
    signal_child(child, SIGKILL);
    child.wait(ec);
    ::kill(-child.id(), SIGKILL);
    throw;
  }

  if (!spec.stdout_sink) std::fflush(out.get());
  if (!spec.stdout_file && !spec.stdout_sink) result.out = out.slurp();
  result.err = err.slurp();
  if (result.timed_out) {
    result.err += fmt::format("{}mgr: {} timed out after {} and was killed\n",
                              result.err.empty() || result.err.back() == '\n' ? "" : "\n",
                              spec.program.filename().string(), format_duration(*spec.timeout));
  }
  return result;
}

fs::path find_pg_program(const std::string& name, const std::vector<fs::path>& bin_dir_candidates) {
  std::vector<std::string> searched;
  for (const auto& dir : bin_dir_candidates) {
    if (dir.empty()) continue;
    auto candidate = dir / name;
    if (is_executable_file(candidate)) return candidate;
    // A configured directory without the program is suspicious: say so, then
    // keep looking (the version check still guards against a wrong one).
    spdlog::warn("pg_bin_dir {} has no executable {}; looking further", dir.string(), name);
    searched.push_back(fmt::format("pg_bin_dir {}", dir.string()));
  }
  if (const char* env_dir = std::getenv("MGR_PG_BIN_DIR"); env_dir != nullptr && *env_dir != '\0') {
    auto candidate = fs::path(env_dir) / name;
    if (is_executable_file(candidate)) return candidate;
    searched.push_back(fmt::format("MGR_PG_BIN_DIR {}", env_dir));
  } else {
    searched.push_back("MGR_PG_BIN_DIR (not set)");
  }
  // An empty search_path() result must never reach bp::child (it crashes).
  auto on_path = bp::search_path(name);
  if (!on_path.empty() && is_executable_file(on_path.string())) {
    // Debian's /usr/bin/pg_dump is postgresql-common's pg_wrapper, a Perl
    // script that picks a version and execs it: ~15 ms per call, three calls
    // per backup. Go straight to the newest installed binary, which is what
    // the wrapper runs for the dump tools; the version check still applies.
    std::error_code ec;
    if (fs::canonical(on_path.string(), ec).filename() == "pg_wrapper") {
      fs::path best;
      int best_major = 0;
      for (const auto& dir : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        auto candidate = dir.path() / "bin" / name;
        const auto version = dir.path().filename().string();
        if (!is_executable_file(candidate)) continue;
        const auto major = parse_integer<int>(version);
        if (major && (best.empty() || *major > best_major)) {
          best = candidate;
          best_major = *major;
        }
      }
      if (!best.empty()) return best;
    }
    return on_path.string();
  }
  const char* path_var = std::getenv("PATH");
  searched.push_back(fmt::format("PATH {}", path_var != nullptr ? path_var : "(not set)"));

  std::string list;
  for (const auto& s : searched) list += "\n  - " + s;
  throw Failure(fmt::format(
      "{} not found. Searched:{}\nInstall the PostgreSQL client tools (postgresql-client-15 or newer, "
      "at least the server's major version), or set pg_bin_dir in the config or MGR_PG_BIN_DIR to the "
      "directory that holds {}.",
      name, list, name));
}

std::optional<PgToolVersion> parse_pg_tool_version(const std::string& version_output) {
  // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "psql (PostgreSQL) 16devel", "9.6.24"
  static const std::regex re(R"(\(PostgreSQL\)\s+((\d+)(?:\.(\d+))?[^\r\n]*))");
  std::smatch m;
  if (!std::regex_search(version_output, m, re)) return std::nullopt;
  PgToolVersion v;
  v.text = m[1].str();
  const auto first = parse_integer<int>(m[2].str());
  const auto second = m[3].matched ? parse_integer<int>(m[3].str()) : std::optional<int>(0);
  if (!first || !second || *first > 100000) return std::nullopt;  // no PostgreSQL version
  v.major = *first >= 10 ? *first : *first * 100 + *second;
  return v;
}

int server_major_version(int version_num) {
  return version_num >= 100000 ? version_num / 10000 : version_num / 100;
}

PgToolVersion pg_tool_version(const fs::path& program) {
  ProcessSpec spec;
  spec.program = program;
  spec.args = {"--version"};
  spec.timeout = std::chrono::seconds(30);
  auto result = run_process(spec);
  if (!result.ok()) {
    throw Failure(fmt::format("{} --version {}: {}", program.string(), result.describe(), result.err));
  }
  auto v = parse_pg_tool_version(result.out);
  if (!v) throw Failure(fmt::format("{} --version printed no version: {}", program.string(), result.out));
  return *v;
}

}  // namespace mgr
