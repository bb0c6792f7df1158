// Running external programs (pg_dump, pg_restore, psql) without a shell.
//
// The only module that includes Boost.Process. A program gets an argument
// vector passed verbatim, a copy of mgr's environment plus child-only extras
// (PGPASSWORD lives there, never in argv), stdout to a file or captured,
// stderr captured, and an optional timeout that kills it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mgr {

struct ProcessSpec {
  std::filesystem::path program;  // absolute or relative path; never looked up on PATH here
  std::vector<std::string> args;  // argv[1..], passed as-is
  // Added to (or replacing) the parent's environment for this child only.
  std::map<std::string, std::string> extra_env;
  // Empty: stdout is captured into ProcessResult::out. Otherwise written to
  // this file (created 0600 or truncated); "/dev/null" discards it.
  std::optional<std::filesystem::path> stdout_file;
  // Empty: stdin is /dev/null.
  std::optional<std::filesystem::path> stdin_file;
  // Empty: wait forever. Otherwise SIGTERM at the deadline, SIGKILL 2s later.
  std::optional<std::chrono::milliseconds> timeout;
  // Set: stdout comes to mgr through a pipe and goes to this function, block
  // by block, as the child writes it (stdout_file must then be empty; out
  // stays empty). If it throws, the child is killed and reaped and the
  // exception propagates.
  std::function<void(std::string_view)> stdout_sink;
  // Set: called about four times a second while the child runs, with its
  // pid (to show progress).
  std::function<void(int pid)> on_tick;
};

struct ProcessResult {
  int exit_code = -1;         // meaningful when !signal
  std::optional<int> signal;  // the signal that ended the child
  bool timed_out = false;     // mgr killed it because of the timeout
  bool interrupted = false;   // mgr stopped it because SIGINT/SIGTERM arrived (interrupted())
  std::chrono::milliseconds elapsed{0};
  std::string out;  // captured stdout (empty when stdout_file was set)
  std::string err;  // captured stderr

  bool ok() const { return !timed_out && !interrupted && !signal && exit_code == 0; }
  // "exited with status 1", "killed by signal 9 (Killed)",
  // "timed out after 30s and was killed".
  std::string describe() const;
};

// Runs the program to completion (or timeout). The child runs in its own
// process group and gets SIGKILL when mgr dies (PR_SET_PDEATHSIG). A signal
// recorded by an InterruptGuard (interrupt_fd()) stops it at once: SIGINT to
// its group (pg_dump and psql cancel their query on the server), SIGKILL a
// second later; the result says `interrupted`. Throws Failure when it cannot
// be started at all (missing, not executable); a non-zero exit is not an
// exception, look at the result.
ProcessResult run_process(const ProcessSpec& spec);

// Finds a PostgreSQL client program (pg_dump, pg_restore, psql): in each of
// `bin_dir_candidates` in order (normally the environment's pg_bin_dir, then
// the config's), then $MGR_PG_BIN_DIR, then PATH. Throws Failure listing the
// places searched and what to install when it is nowhere.
std::filesystem::path find_pg_program(const std::string& name,
                                      const std::vector<std::filesystem::path>& bin_dir_candidates);

// The `<name> (PostgreSQL) 15.18 ...` line of `program --version`, parsed.
struct PgToolVersion {
  std::string text;  // "15.18 (Debian 15.18-0+deb12u1)"
  int major = 0;     // 15; 906 for 9.6 (the pre-10 scheme keeps two parts)
};
// Throws Failure when the program cannot be run or prints no version.
PgToolVersion pg_tool_version(const std::filesystem::path& program);
// Parses `pg_dump (PostgreSQL) 15.18 ...`; nullopt when there is no version number.
std::optional<PgToolVersion> parse_pg_tool_version(const std::string& version_output);
// Major version of server_version_num: 150018 -> 15, 90603 -> 906.
int server_major_version(int version_num);

}  // namespace mgr
