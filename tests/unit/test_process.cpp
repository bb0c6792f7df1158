#include "mgr/process.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "mgr/error.hpp"
#include "mgr/interrupt.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using mgr::test::read_file;
using mgr::test::TempDir;
using mgr::test::write_file;

namespace {

fs::path make_script(const fs::path& path, const std::string& body) {
  write_file(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

// Restores (or unsets) an environment variable on scope exit.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (m_old) ::setenv(m_name, m_old->c_str(), 1); else ::unsetenv(m_name);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

}  // namespace

TEST(ProcessRunner, PassesArgvVerbatim) {
  TempDir dir;
  auto script = make_script(dir / "echoargs", "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.args = {"two words", "it's \"quoted\"", "$HOME", "*", "", "a;b|c"};
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok()) << r.describe() << r.err;
  EXPECT_EQ(r.out, "[two words]\n[it's \"quoted\"]\n[$HOME]\n[*]\n[]\n[a;b|c]\n");
}

TEST(ProcessRunner, ExtraEnvReachesChildOnly) {
  TempDir dir;
  auto script = make_script(dir / "env", "printf '%s' \"$MGR_TEST_CHILD_ONLY\"\n");
  ::unsetenv("MGR_TEST_CHILD_ONLY");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.extra_env = {{"MGR_TEST_CHILD_ONLY", "s3cret value"}};
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "s3cret value");
  EXPECT_EQ(std::getenv("MGR_TEST_CHILD_ONLY"), nullptr);
}

TEST(ProcessRunner, InheritsParentEnvironment) {
  TempDir dir;
  ScopedEnv e("MGR_TEST_INHERITED", "from parent");
  auto script = make_script(dir / "env", "printf '%s' \"$MGR_TEST_INHERITED\"\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  EXPECT_EQ(mgr::run_process(spec).out, "from parent");
}

TEST(ProcessRunner, CapturesStderrAndExitCode) {
  TempDir dir;
  auto script = make_script(dir / "fail", "echo 'to out'; echo 'to err' >&2; exit 7\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  auto r = mgr::run_process(spec);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.signal);
  EXPECT_EQ(r.out, "to out\n");
  EXPECT_EQ(r.err, "to err\n");
  EXPECT_EQ(r.describe(), "exited with status 7");
}

TEST(ProcessRunner, ReportsSignalNotExitCode) {
  TempDir dir;
  auto script = make_script(dir / "die", "kill -9 $$\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  auto r = mgr::run_process(spec);
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.signal);
  EXPECT_EQ(*r.signal, 9);
  EXPECT_NE(r.describe().find("signal 9"), std::string::npos);
}

TEST(ProcessRunner, TimeoutKillsChild) {
  TempDir dir;
  auto script = make_script(dir / "hang", "exec sleep 30\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::milliseconds(300);
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_LT(r.elapsed, std::chrono::seconds(5));
  EXPECT_NE(r.err.find("timed out after 300ms"), std::string::npos) << r.err;
}

TEST(ProcessRunner, TimeoutEscalatesToSigkill) {
  TempDir dir;
  // Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
  auto script = make_script(dir / "stubborn", "trap '' TERM\nwhile :; do sleep 0.1; done\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::milliseconds(200);
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.timed_out);
  ASSERT_TRUE(r.signal);
  EXPECT_EQ(*r.signal, 9);
}

TEST(ProcessRunner, StdoutToFileAndStdinFromFile) {
  TempDir dir;
  auto script = make_script(dir / "cat", "cat\n");
  write_file(dir / "in.txt", "hello\nworld\n");
  write_file(dir / "out.txt", "old content that is longer than the new one\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.stdin_file = dir / "in.txt";
  spec.stdout_file = dir / "out.txt";
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_file(dir / "out.txt"), "hello\nworld\n");
}

TEST(ProcessRunner, LargeOutputDoesNotBlock) {
  TempDir dir;
  auto script = make_script(dir / "big", "head -c 3000000 /dev/zero | tr '\\0' x; head -c 200000 /dev/zero >&2\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::seconds(20);
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.size(), 3000000u);
  EXPECT_EQ(r.err.size(), 200000u);
}

TEST(ProcessRunner, StdoutSinkGetsEveryByteInOrder) {
  TempDir dir;
  // Far more than a pipe holds, so the child blocks unless mgr keeps reading.
  auto script = make_script(dir / "big", "i=0; while [ $i -lt 3000 ]; do printf '%04d%01020d\\n' $i 0; i=$((i+1)); done\n");
  std::string got;
  std::size_t calls = 0;
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::seconds(60);
  spec.stdout_sink = [&](std::string_view block) {
    got.append(block);
    ++calls;
  };
  auto r = mgr::run_process(spec);
  ASSERT_TRUE(r.ok()) << r.describe() << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(got.size(), 3000u * 1025u);
  for (int i = 0; i < 3000; i += 499) EXPECT_EQ(got.substr(i * 1025u, 4), fmt::format("{:04}", i)) << i;
  EXPECT_GE(calls, 1u);
}

TEST(ProcessRunner, StdoutSinkFailureKillsTheChildAndPropagates) {
  TempDir dir;
  auto script = make_script(dir / "endless", "echo $$ > " + (dir / "pid").string() + "; exec yes\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::seconds(60);
  std::size_t seen = 0;
  spec.stdout_sink = [&](std::string_view block) {
    seen += block.size();
    if (seen > (1u << 20)) throw mgr::Failure("disk full (test)");
  };
  EXPECT_THROW(mgr::run_process(spec), mgr::Failure);
  const auto pid = std::stoi(read_file(dir / "pid"));
  EXPECT_NE(::kill(pid, 0), 0);  // gone (and reaped): no `yes` left writing into nothing
}

TEST(ProcessRunner, OnTickSeesTheRunningChild) {
  TempDir dir;
  auto script = make_script(dir / "sleepy", "echo $$ > " + (dir / "pid").string() + "; sleep 1\n");
  std::vector<int> pids;
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.on_tick = [&](int pid) { pids.push_back(pid); };
  auto r = mgr::run_process(spec);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_FALSE(pids.empty());
  EXPECT_EQ(pids.front(), std::stoi(read_file(dir / "pid")));
}

TEST(ProcessRunner, MissingProgramIsAFailure) {
  mgr::ProcessSpec spec;
  spec.program = "/nonexistent/dir/pg_dump";
  try {
    mgr::run_process(spec);
    FAIL() << "expected Failure";
  } catch (const mgr::Failure& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/pg_dump"), std::string::npos);
  }
}

TEST(ProcessFindPgProgram, ConfiguredDirFirst) {
  TempDir a, b;
  make_script(b / "pg_dump", "exit 0\n");
  make_script(a / "pg_dump", "exit 0\n");
  EXPECT_EQ(mgr::find_pg_program("pg_dump", {a.path(), b.path()}), a / "pg_dump");
  // A configured dir without the program: the next one is used.
  TempDir empty;
  EXPECT_EQ(mgr::find_pg_program("pg_dump", {empty.path(), b.path()}), b / "pg_dump");
}

TEST(ProcessFindPgProgram, EnvVarBeforePath) {
  TempDir dir;
  make_script(dir / "pg_dump", "exit 0\n");
  ScopedEnv e("MGR_PG_BIN_DIR", dir.path().string());
  EXPECT_EQ(mgr::find_pg_program("pg_dump", {}), dir / "pg_dump");
}

TEST(ProcessFindPgProgram, NotFoundSaysWhereAndWhatToInstall) {
  TempDir dir;
  ScopedEnv path("PATH", dir.path().string());
  ScopedEnv bin("MGR_PG_BIN_DIR", (dir / "nope").string());
  try {
    mgr::find_pg_program("pg_dump", {dir / "configured"});
    FAIL() << "expected Failure";
  } catch (const mgr::Failure& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("pg_dump not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find((dir / "configured").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("MGR_PG_BIN_DIR"), std::string::npos) << msg;
    EXPECT_NE(msg.find("PATH " + dir.path().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("postgresql-client-15"), std::string::npos) << msg;
  }
}

TEST(ProcessPgVersion, ParsesVersionLines) {
  auto v = mgr::parse_pg_tool_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 15);
  EXPECT_EQ(v->text, "15.18 (Debian 15.18-0+deb12u1)");
  EXPECT_EQ(mgr::parse_pg_tool_version("pg_dump (PostgreSQL) 17devel")->major, 17);
  EXPECT_EQ(mgr::parse_pg_tool_version("pg_dump (PostgreSQL) 9.6.24")->major, 906);
  EXPECT_FALSE(mgr::parse_pg_tool_version("something else"));
  EXPECT_EQ(mgr::server_major_version(150018), 15);
  EXPECT_EQ(mgr::server_major_version(90624), 906);
}

namespace {

// True while `pid` exists and is not a zombie.
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// Waits (bounded, never asserted as a duration) until `pid` is gone.
bool gone_within(pid_t pid, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

pid_t read_pid(const fs::path& file, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace

// A signal recorded by an InterruptGuard wakes the wait at once: the child is
// stopped (SIGINT first, so pg_dump/psql can cancel their query), not waited
// for until its timeout.
TEST(ProcessRunner, SignalToMgrStopsTheChild) {
  TempDir dir;
  mgr::install_interrupt_handler();
  mgr::reset_interrupt_for_tests();
  // The child signals its parent (mgr, here the test), then would run for a minute.
  auto script = make_script(dir / "hang", fmt::format("echo $$ > '{}'\nkill -TERM $PPID\nexec sleep 60\n",
                                                     (dir / "pid").string()));
  mgr::ProcessSpec spec;
  spec.program = script;
  spec.timeout = std::chrono::minutes(10);
  mgr::ProcessResult r;
  {
    mgr::InterruptGuard guard;
    r = mgr::run_process(spec);
  }
  EXPECT_TRUE(mgr::interrupted());
  EXPECT_EQ(mgr::interrupt_signal(), SIGTERM);
  mgr::reset_interrupt_for_tests();
  EXPECT_TRUE(r.interrupted);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(r.signal);
  EXPECT_EQ(*r.signal, SIGINT);
  EXPECT_FALSE(alive(read_pid(dir / "pid", std::chrono::seconds(1))));
}

// The child runs in its own process group: a Ctrl-C typed at the terminal
// goes to mgr alone, which decides how the child stops.
TEST(ProcessRunner, ChildHasItsOwnProcessGroup) {
  TempDir dir;
  auto script = make_script(dir / "pgid", "ps -o pgid= -p $$ | tr -d ' '; echo $$\n");
  mgr::ProcessSpec spec;
  spec.program = script;
  auto r = mgr::run_process(spec);
  ASSERT_TRUE(r.ok()) << r.err;
  std::istringstream in(r.out);
  long pgid = 0, pid = 0;
  in >> pgid >> pid;
  EXPECT_EQ(pgid, pid) << r.out;
  EXPECT_NE(pgid, static_cast<long>(::getpgrp()));
}

// kill -9 of mgr kills its child too (PR_SET_PDEATHSIG): a restore or dump
// never goes on after mgr is gone.
TEST(ProcessRunner, ChildDiesWithMgr) {
  TempDir dir;
  auto script = make_script(dir / "hang", fmt::format("echo $$ > '{}'\nexec sleep 60\n", (dir / "pid").string()));
  pid_t runner = ::fork();
  ASSERT_GE(runner, 0);
  if (runner == 0) {
    mgr::ProcessSpec spec;
    spec.program = script;
    mgr::run_process(spec);
    ::_exit(0);
  }
  pid_t child = read_pid(dir / "pid", std::chrono::seconds(20));
  ASSERT_GT(child, 0);
  EXPECT_TRUE(alive(child));
  ::kill(runner, SIGKILL);
  ::waitpid(runner, nullptr, 0);
  EXPECT_TRUE(gone_within(child, std::chrono::seconds(20))) << "child " << child << " outlived its parent";
  if (alive(child)) ::kill(child, SIGKILL);
}
