// The commands mgr offers. Each takes the global options plus its own, does
// its work through the modules below it, renders its result through Output,
// and returns an exit code; failures are thrown as mgr::Error.
// The CLI (src/cli.cpp) only maps flags onto these structs.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mgr/error.hpp"

namespace mgr {

struct GlobalOptions {
  std::optional<std::string> config_path;  // --config; else MGR_CONFIG; else config/environments.yaml
  bool json = false;
  int verbosity = 0;  // -1 quiet, 0 normal, 1+ verbose
  bool color = true;  // false with --no-color, NO_COLOR, or when stdout is not a terminal
};

struct NewOptions {
  std::string name;
};
struct ApplyOptions {
  std::string env;
  std::optional<std::string> to;
  bool dry_run = false;
  bool yes = false;
  bool allow_out_of_order = false;
  std::optional<std::chrono::milliseconds> lock_wait;
};
struct StatusOptions {
  std::vector<std::string> envs;  // empty: all
};
struct ValidateOptions {
  std::vector<std::string> envs;  // empty: all
  bool offline = false;
};
enum class LintFormat { text, json, sarif };
struct LintOptions {
  std::vector<std::string> paths;  // empty: every migration in the catalog
  LintFormat format = LintFormat::text;
  bool explain = false;
};
struct BackupOptions {
  std::string env;
};
struct BackupsOptions {
  std::optional<std::string> env;
};
struct RestoreOptions {
  std::string env;
  std::string file;
  bool yes = false;
  bool no_safety_backup = false;
  bool from_other_env = false;
};
struct BaselineOptions {
  std::string env;
  std::string to;
  bool yes = false;
};
struct RepairOptions {
  std::string env;
  bool yes = false;
};
struct RollbackOptions {
  std::string env;
  std::optional<int> steps;
  std::optional<std::string> to;
  bool yes = false;
  bool dry_run = false;
};
struct LogOptions {
  std::string env;
  int limit = 50;
};

int run_new(const GlobalOptions&, const NewOptions&);
int run_config(const GlobalOptions&);
int run_apply(const GlobalOptions&, const ApplyOptions&);
int run_status(const GlobalOptions&, const StatusOptions&);
int run_validate(const GlobalOptions&, const ValidateOptions&);
int run_lint(const GlobalOptions&, const LintOptions&);
int run_backup(const GlobalOptions&, const BackupOptions&);
int run_backups(const GlobalOptions&, const BackupsOptions&);
int run_restore(const GlobalOptions&, const RestoreOptions&);
int run_baseline(const GlobalOptions&, const BaselineOptions&);
int run_repair(const GlobalOptions&, const RepairOptions&);
int run_rollback(const GlobalOptions&, const RollbackOptions&);
int run_log(const GlobalOptions&, const LogOptions&);

struct DriftOptions {
  std::vector<std::string> envs;  // one, or two to compare
  bool accept = false;
  std::optional<std::string> reason;
  bool against_migrations = false;
};
int run_drift(const GlobalOptions&, const DriftOptions&);

}  // namespace mgr
