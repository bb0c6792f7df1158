// Helpers for the reliability suite: processes started the way an operator or
// a crash would treat them (barriers, signals, SIGKILL, /proc sampling),
// private PostgreSQL clusters for tests that stop or restart the server, and
// the invariants checked after every fault.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/pg_test_db.hpp"
#include "support/test_support.hpp"

namespace mgr::rel {

namespace fs = std::filesystem;
using mgr::test::RunResult;
using mgr::test::TempDir;

// ---- processes -------------------------------------------------------------

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path
  std::map<std::string, std::string> env;  // added to ours; an empty value removes
  fs::path cwd;
  int barrier_fd = -1;                  // the child blocks on read() of it before exec
  std::optional<unsigned> umask;        // umask for the child
  bool core_unlimited = false;          // RLIMIT_CORE = unlimited for the child
};

// A child with stdout and stderr in files (a chatty child cannot block).
class Proc {
 public:
  explicit Proc(const SpawnOptions& o);
  ~Proc();
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  pid_t pid() const { return m_pid; }
  void signal(int sig) const;
  RunResult wait();
  // The result, or nullopt if it is still running after `limit`.
  std::optional<RunResult> wait_for(std::chrono::milliseconds limit);
  bool core_dumped() const { return m_core; }
  // Ended by a signal's default action (it did not handle the signal and
  // exit): RunResult::exit_code is then 128 + the signal, as a shell shows it.
  bool killed_by_signal() const { return m_signaled; }
  std::string err_so_far() const;

 private:
  RunResult finish(int status);
  pid_t m_pid = -1;
  TempDir m_io;
  int m_out = -1, m_err = -1;
  bool m_done = false;
  bool m_core = false;
  bool m_signaled = false;
};

// Many children blocked on one pipe start together when it is closed.
class Barrier {
 public:
  Barrier();
  ~Barrier();
  int read_fd() const { return m_fds[0]; }
  void release();

 private:
  int m_fds[2] = {-1, -1};
};

// argv for the built mgr with --config first.
std::vector<std::string> mgr_argv(const fs::path& config, const std::vector<std::string>& args);
RunResult run_mgr_env(const fs::path& config, const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env = {}, const fs::path& cwd = {});
// Runs any program (no shell) to completion.
RunResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

struct ProcInfo {
  pid_t pid = 0;
  unsigned long long start_time = 0;  // from /proc/<pid>/stat, to tell a reused pid
  std::string cmdline;                // NULs shown as spaces
};
// Direct children of `parent` right now.
std::vector<ProcInfo> children_of(pid_t parent);
// Every descendant of `root` right now.
std::vector<ProcInfo> descendants_of(pid_t root);
// True when the process is gone or a zombie (dead, not yet reaped).
bool process_gone(const ProcInfo& p);
// Waits up to `limit` for it to be gone; kills it (SIGKILL) if not, so that a
// failing test does not leave it behind, and returns false then.
bool wait_gone_or_kill(const ProcInfo& p, std::chrono::milliseconds limit);

// Polls `pred` every 50 ms up to `limit`; true once it holds.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit);

// ---- SQL on any URL (simple protocol) ------------------------------------------

void sql_exec(const std::string& url, const std::string& sql);
std::string sql_scalar(const std::string& url, const std::string& sql);
std::vector<std::vector<std::string>> sql_rows(const std::string& url, const std::string& sql);

// ---- the invariants ------------------------------------------------------------

// Migration ids recorded with success = true (numeric, sorted); {} without a history table.
std::vector<long> recorded_ids(const std::string& url, const std::string& table = "schema_migrations");
// Rows with success = false (or anything but true).
long unsuccessful_rows(const std::string& url, const std::string& table = "schema_migrations");
// Every marker row (sorted, duplicates kept).
std::vector<long> marker_ids(const std::string& url);
// Advisory locks granted in that database.
long advisory_locks(const std::string& url);
// Backends connected to that database other than the caller's.
long other_backends(const std::string& url);
// pid of the backend whose application_name is `app` in that database, 0 if none.
long backend_pid(const std::string& url, const std::string& app);
bool table_exists(const std::string& url, const std::string& table);

// 1..n
std::vector<long> iota_ids(long first, long last);

// ---- projects ----------------------------------------------------------------

// migrations/<id>_m<id>.sql for id in [first, last], each inserting its marker
// (and `extra` after it).
void write_marker_migrations(const fs::path& migrations, long first, long last, const std::string& extra = "");
std::string migration_file_name(long id);
// CREATE TABLE markers + ctl (slow switch).
void create_fixture_tables(const std::string& url);
// A statement that sleeps `seconds` while ctl.slow is true, else returns at once
// (so the next run of the same file is quick).
std::string slow_sql(int seconds);
// A config with one environment `dev` (backup off unless `extra` says otherwise).
std::string one_env_yaml(const std::string& url, const std::string& extra = "", const std::string& top = "");

// Writes <dir>/config/<name> and returns its path (migrations/ and backups are
// then <dir>/migrations and <dir>/schema-backups by default).
fs::path write_config(const fs::path& dir, const std::string& yaml, const std::string& name = "environments.yaml");

// A script file with mode 0755.
void write_script(const fs::path& p, const std::string& body);
// Directory of the real pg_dump/psql (the newest /usr/lib/postgresql/*/bin).
fs::path pg_bin_dir();

// Seconds of `MGR_SOAK` scaling: default or soak.
int trials(int normal, int soak);
unsigned seed_from_env();
// Prints a "figures:" line (and appends it to $MGR_RELIABILITY_REPORT if set).
void report(const std::string& line);

// ---- a private PostgreSQL cluster ---------------------------------------------

// For tests that stop, kill or restart the server (never the shared one), or
// need password authentication. scram-sha-256 on 127.0.0.1, no Unix socket,
// the first free port from 27000 on. Destroyed with the object.
class PrivateCluster {
 public:
  PrivateCluster();
  ~PrivateCluster();
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;
  int port() const { return m_port; }
  // URL for the superuser (password in it).
  std::string admin_url(const std::string& db = "postgres") const;
  std::string url(const std::string& user, const std::string& password, const std::string& db) const;
  void create_database(const std::string& db) const;
  void stop_immediate() const;
  void restart_fast() const;
  void start();
  std::string log_tail() const;

 private:
  bool try_start(int port);
  RunResult pg_ctl(const std::vector<std::string>& args) const;
  fs::path m_dir;
  fs::path m_bin;
  int m_port = 0;
};

const std::string& cluster_admin_password();

}  // namespace mgr::rel
