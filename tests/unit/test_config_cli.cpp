// The built mgr on hostile or incomplete configs, no database: variables
// resolved per environment, a readable password file, core dumps off.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.hpp"

extern char** environ;

namespace mgr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::RunResult;
using test::run_mgr;
using test::TempDir;
using test::write_file;
namespace fs = std::filesystem;

constexpr int k_ok = 0, k_usage = 2;

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// The layout `mgr init` writes: every URL from its own variable.
const std::string k_by_variables =
    "environments:\n"
    "  dev:\n"
    "    url: ${DEV_DATABASE_URL}\n"
    "    backup: off\n"
    "  test:\n"
    "    url: ${TEST_DATABASE_URL}\n"
    "    promote_from: dev\n"
    "  prod:\n"
    "    url: ${PROD_DATABASE_URL}\n"
    "    promote_from: test\n";

struct Project {
  TempDir dir;
  explicit Project(const std::string& config) {
    write_file(config_path(), config);
    fs::create_directories(dir / "migrations");
  }
  fs::path config_path() const { return dir / "config/environments.yaml"; }
  // Only DEV_DATABASE_URL set (nothing listens on port 1: a connection fails at once).
  RunResult run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) const {
    std::map<std::string, std::string> e{{"MGR_CONFIG", ""},
                                         {"NO_COLOR", ""},
                                         {"DEV_DATABASE_URL", "postgresql://127.0.0.1:1/app_dev"},
                                         {"TEST_DATABASE_URL", ""},
                                         {"PROD_DATABASE_URL", ""}};
    for (const auto& [k, v] : env) e[k] = v;
    return run_mgr(args, e, dir.path());
  }
};

// ---- issue 12 #1: variables of environments not in use ------------------------

TEST(ConfigCli, OfflineCommandsNeedOnlyTheVariablesTheyUse) {
  Project p(k_by_variables);
  write_file(p.dir / "migrations/0001_items.sql", "CREATE TABLE IF NOT EXISTS items (id bigint);\n");
  const std::vector<std::vector<std::string>> commands{{"lint"}, {"validate", "--offline"}, {"new", "add_things"}};
  for (const auto& args : commands) {
    const auto r = p.run(args);
    EXPECT_EQ(r.exit_code, k_ok) << args[0] << "\n" << describe(r);
    EXPECT_THAT(r.err, Not(HasSubstr("is not set"))) << args[0];
  }
}

TEST(ConfigCli, UsingAnEnvironmentWithAnUnsetVariableNamesItAndTheLine) {
  Project p(k_by_variables);
  for (const std::string env : {"test", "prod"}) {
    const auto r = p.run({"apply", env});
    EXPECT_EQ(r.exit_code, k_usage) << describe(r);
    const std::string var = env == "test" ? "TEST_DATABASE_URL" : "PROD_DATABASE_URL";
    const std::string line = env == "test" ? ":6:10: " : ":9:10: ";
    EXPECT_THAT(r.err, HasSubstr("config/environments.yaml" + line + "environment variable " + var + " is not set"))
        << describe(r);
  }
  // dev itself is usable: the run gets as far as connecting (nothing listens there).
  const auto dev = p.run({"apply", "dev"});
  EXPECT_EQ(dev.exit_code, 1) << describe(dev);
  EXPECT_THAT(dev.err, Not(HasSubstr("is not set"))) << describe(dev);
}

// status and validate (online) use every environment they report on: an unset
// variable is the config error it is (exit 2), not an "unreachable" server.
TEST(ConfigCli, StatusAndValidateOfAllEnvironmentsStopOnAnUnsetVariable) {
  Project p(k_by_variables);
  const std::vector<std::vector<std::string>> commands{{"status"}, {"validate"}, {"status", "test"}};
  for (const auto& args : commands) {
    const auto r = p.run(args);
    EXPECT_EQ(r.exit_code, k_usage) << args[0] << "\n" << describe(r);
    EXPECT_THAT(r.err, HasSubstr("environment variable TEST_DATABASE_URL is not set")) << describe(r);
  }
}

TEST(ConfigCli, ConfigListsWhatResolvesAndFailsOnWhatDoesNot) {
  Project p(k_by_variables);
  const auto r = p.run({"config"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("postgresql://127.0.0.1:1/app_dev"));
  EXPECT_THAT(r.out, HasSubstr("(TEST_DATABASE_URL is not set)"));
  EXPECT_THAT(r.err, HasSubstr("TEST_DATABASE_URL is not set"));
  const auto all_set = p.run({"config"}, {{"TEST_DATABASE_URL", "host=t"}, {"PROD_DATABASE_URL", "host=p"}});
  EXPECT_EQ(all_set.exit_code, k_ok) << describe(all_set);
}

// `mgr new` reads the ids taken in migrations/: a name with bytes >= 0x80
// (negative as plain char, where isdigit is undefined) is just not an id.
TEST(ConfigCli, NewSkipsNonAsciiNamesWhenCollectingIds) {
  Project p(k_by_variables);
  write_file(p.dir / "migrations/\xb2\xb3_latin1.sql", "SELECT 1;\n");
  write_file(p.dir / "migrations/\xd9\xa3_arabic_three.sql", "SELECT 1;\n");
  const auto r = p.run({"new", "add_things"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("_add_things.sql"));
}

// ---- a password in a file others can read ---------------------------------------

const std::string k_literal_password =
    "environments:\n"
    "  dev:\n"
    "    url: postgresql://app:Tr0ub4dor@127.0.0.1:1/app_dev\n";

TEST(ConfigCli, WarnsWhenAFileHoldingAPasswordIsReadableByOthers) {
  Project p(k_literal_password);
  fs::permissions(p.config_path(), static_cast<fs::perms>(0644));
  auto r = p.run({"config"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("warning"));
  EXPECT_THAT(r.err, HasSubstr("environments.yaml holds the database password of dev and is readable by others "
                               "(mode 0644); run chmod 600"))
      << describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("Tr0ub4dor")));

  fs::permissions(p.config_path(), static_cast<fs::perms>(0640));
  r = p.run({"config"});
  EXPECT_THAT(r.err, HasSubstr("readable by its group (mode 0640)")) << describe(r);

  fs::permissions(p.config_path(), static_cast<fs::perms>(0600));
  r = p.run({"config"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("readable by"))) << describe(r);
}

TEST(ConfigCli, NoWarningWhenThePasswordComesFromAVariable) {
  Project p("environments:\n  dev:\n    url: postgresql://app:${DEV_PASSWORD}@127.0.0.1:1/app_dev\n");
  fs::permissions(p.config_path(), static_cast<fs::perms>(0644));
  const auto r = p.run({"config"}, {{"DEV_PASSWORD", "Tr0ub4dor"}});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("readable by"))) << describe(r);
}

// ---- core dumps (issue 17 #15) ------------------------------------------------------

// mgr started as `uid`, its config a FIFO: it blocks opening it, after main()
// has set up the process, which the test then inspects from outside.
class BlockedMgr {
 public:
  BlockedMgr(const fs::path& fifo, uid_t uid, const std::map<std::string, std::string>& env,
             const std::string& binary = test::mgr_binary())
      : m_fifo(fifo) {
    std::vector<std::string> strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto key = entry.substr(0, entry.find('='));
      if (env.count(key) == 0) strings.push_back(entry);
    }
    for (const auto& [k, v] : env) strings.push_back(k + "=" + v);
    std::vector<std::string> args{binary, "--config", fifo.string(), "config"};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& s : strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    m_pid = ::fork();
    if (m_pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (uid != ::getuid() && (::setgid(uid) != 0 || ::setuid(uid) != 0)) ::_exit(120);
      ::execve(binary.c_str(), argv.data(), envp.data());
      ::_exit(121);
    }
  }
  ~BlockedMgr() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  // Waits until mgr opened the FIFO (it has then passed main's setup); false if it died first.
  bool wait_until_blocked() {
    for (;;) {
      m_writer = ::open(m_fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (m_writer >= 0) return true;
      if (errno != ENXIO) return false;
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_reaped = true;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Gives mgr a config and its exit code.
  int finish(const std::string& config) {
    const auto written = ::write(m_writer, config.data(), config.size());
    ::close(m_writer);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_reaped = true;
    return written == static_cast<ssize_t>(config.size()) && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_t pid() const { return m_pid; }

 private:
  fs::path m_fifo;
  pid_t m_pid = -1;
  int m_writer = -1;
  bool m_reaped = false;
};

// "Max core file size" soft limit from /proc/<pid>/limits, as written there.
std::string core_limit_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max core file size", 0) == 0) {
      std::istringstream words(line.substr(std::strlen("Max core file size")));
      std::string soft;
      words >> soft;
      return soft;
    }
  }
  return "?";
}

// /proc/<pid> belongs to the process's user while it is dumpable, to root once it is not (proc(5)).
uid_t proc_owner_of(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st) != 0) return static_cast<uid_t>(-1);
  return st.st_uid;
}

class CoreDumps : public ::testing::Test {
 protected:
  void SetUp() override {
    // Give the children a core limit to lose, whatever this shell had.
    ::getrlimit(RLIMIT_CORE, &m_saved);
    rlimit wanted = m_saved;
    if (::getuid() == 0) wanted.rlim_max = RLIM_INFINITY;
    wanted.rlim_cur = wanted.rlim_max;
    if (wanted.rlim_cur == 0 || ::setrlimit(RLIMIT_CORE, &wanted) != 0) GTEST_SKIP() << "cannot raise RLIMIT_CORE here";
    ASSERT_EQ(::mkfifo(fifo().c_str(), 0666), 0) << std::strerror(errno);
    ::chmod(m_dir.path().c_str(), 0755);
  }
  void TearDown() override { ::setrlimit(RLIMIT_CORE, &m_saved); }
  fs::path fifo() const { return m_dir / "environments.yaml"; }
  // A copy of mgr that another user can run: the build tree may sit under a
  // 0700 folder (a CI checkout in a private temp dir).
  std::string binary_for_other_user() const {
    const auto copy = m_dir / "mgr";
    if (!fs::exists(copy)) fs::copy_file(test::mgr_binary(), copy);
    fs::permissions(copy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    return copy.string();
  }
  const std::string k_config = "environments:\n  dev:\n    url: postgresql://127.0.0.1:1/app_dev\n";
  // No leak check in these children: LeakSanitizer cannot attach to a non-dumpable process of another user.
  // disable_coredump=0: in a sanitizer build ASan would otherwise set the core limit to 0 itself, and
  // these tests must see mgr's own choice (ignored by a normal build).
  const std::map<std::string, std::string> k_env{{"MGR_ALLOW_CORE", ""},
                                                  {"ASAN_OPTIONS", "detect_leaks=0:disable_coredump=0"}};

 private:
  TempDir m_dir;
  rlimit m_saved{};
};

TEST_F(CoreDumps, AreOffByDefault) {
  BlockedMgr mgr(fifo(), ::getuid(), k_env);
  ASSERT_TRUE(mgr.wait_until_blocked());
  EXPECT_EQ(core_limit_of(mgr.pid()), "0");
  EXPECT_EQ(mgr.finish(k_config), k_ok);
}

TEST_F(CoreDumps, MgrAllowCoreKeepsThem) {
  auto env = k_env;
  env["MGR_ALLOW_CORE"] = "1";
  BlockedMgr mgr(fifo(), ::getuid(), env);
  ASSERT_TRUE(mgr.wait_until_blocked());
  EXPECT_NE(core_limit_of(mgr.pid()), "0");
  EXPECT_EQ(mgr.finish(k_config), k_ok);
}

// PR_SET_DUMPABLE 0 is visible from outside only for a non-root process: its
// /proc files then belong to root instead of to it.
TEST_F(CoreDumps, ProcessIsNotDumpable) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to start mgr as another user";
  const uid_t nobody = 65534;
  {
    BlockedMgr mgr(fifo(), nobody, k_env, binary_for_other_user());
    ASSERT_TRUE(mgr.wait_until_blocked());
    EXPECT_EQ(proc_owner_of(mgr.pid()), 0u) << "mgr is dumpable";
    EXPECT_EQ(mgr.finish(k_config), k_ok);
  }
  auto env = k_env;
  env["MGR_ALLOW_CORE"] = "1";
  BlockedMgr allowed(fifo(), nobody, env, binary_for_other_user());
  ASSERT_TRUE(allowed.wait_until_blocked());
  EXPECT_EQ(proc_owner_of(allowed.pid()), nobody) << "the check above proves nothing";
  EXPECT_EQ(allowed.finish(k_config), k_ok);
}

}  // namespace
}  // namespace mgr
