// The commands mgr offers. Each takes the global options plus its own, does
// its work through the modules below it, renders its result through Output,
// and returns an exit code; failures are thrown as mgr::Error.
// The CLI (src/cli.cpp) only maps flags onto these structs.
#pragma once

#include <chrono>
#include <filesystem>
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
  bool sql = false;  // with dry_run: print the exact SQL that would be sent
  bool yes = false;
  bool allow_out_of_order = false;
  bool allow_drift = false;  // drift: block warns instead of refusing
  std::optional<std::chrono::milliseconds> lock_wait;
};
struct StatusOptions {
  std::vector<std::string> envs;  // empty: all
  bool databases = false;         // a fleet: one line per database
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

// mgr init: a new project folder (config/environments.yaml, migrations/, schema-backups/).
struct InitOptions {
  std::filesystem::path dir = ".";
};
int run_init(const GlobalOptions&, const InitOptions&);

// The command line as plain data (built by cli.cpp from CLI11), for shell
// completion and the manual page.
struct CliFlag {
  std::vector<std::string> spellings;  // "-v", "--verbose"
  std::string value;                   // empty for a flag; else what it takes: "ENV", "PATH", ...
  std::string description;
  std::vector<std::string> choices;    // fixed values, e.g. text|json|sarif
};
struct CliCommand {
  std::string name;
  std::string description;
  std::vector<std::string> positionals;  // as named in --help: "env", "backup-file", ...
  bool last_positional_repeats = false;  // status [env...], lint [PATH...]
  std::vector<CliFlag> flags;
  std::vector<CliCommand> subcommands;   // env -> list
};
struct CliModel {
  std::string summary;
  std::vector<CliFlag> global_flags;
  std::vector<CliCommand> commands;
};
struct CompletionOptions {
  std::string shell;  // bash | zsh
};
int run_completion(const GlobalOptions&, const CompletionOptions&, const CliModel&);
// mgr env list --names: environment names only, one per line; unset ${VAR}s do not matter.
int run_env_names(const GlobalOptions&);
// mgr.1 in roff, from the command line model and the exit-code contract.
std::string render_man_page(const CliModel&, const std::string& version);

// mgr drift: the schema against mgr's last snapshot, another environment, or the migrations.
struct DriftOptions {
  std::vector<std::string> envs;  // one, or two to compare
  bool accept = false;
  std::optional<std::string> reason;
  bool against_migrations = false;
};
int run_drift(const GlobalOptions&, const DriftOptions&);

// mgr reset <env>: every object of the database dropped (the audit log kept),
// then every migration applied again as `mgr apply` does.
struct ResetOptions {
  std::string env;
  bool yes = false;
  bool force = false;  // with --yes: also an environment with confirm: true or one promoted from
};
int run_reset(const GlobalOptions&, const ResetOptions&);

// The part of `mgr apply` after the connection, the lock and the history
// are in hand: the checks, then the run through the executor (executor.hpp);
// shared by apply and reset.
struct Config;
struct Environment;
struct Catalog;
struct HistoryRow;
class Session;
struct ApplyContext {
  ApplyContext(const Config& c, const Environment& e, Session& s, const Catalog& cat, std::vector<HistoryRow>& a)
      : config(c), env(e), session(s), catalog(cat), applied(a) {}
  const Config& config;
  const Environment& env;
  Session& session;  // holds the migration lock (unless a dry run)
  const Catalog& catalog;
  std::vector<HistoryRow>& applied;
  // Stop after the checks (plan, promotion gate, file rules, lint): Refused
  // when they find a problem, else 0; nothing is printed on success.
  bool check_only = false;
  // With check_only, the drift check too: a fleet refuses before any database
  // changes. Not for reset, whose wipe removes whatever drifted.
  bool check_drift = false;
  // Log lint warnings (reset checks first, then applies: it shows them once).
  bool show_lint_warnings = true;
  // A backup the caller took already (reset): recorded on the rows, no other taken.
  std::optional<std::string> backup_file;
};
int apply_with(const GlobalOptions&, const ApplyOptions&, ApplyContext&);

// apply's drift check before it changes anything (cmd_drift.cpp), by the
// environment's `drift:` setting; nullopt when it is off.
struct ApplyDriftCheck {
  std::string state;            // same | drift | no-snapshot (drift_state_name)
  bool refuse = false;          // drift under `block` without --allow-drift
  std::string message;          // with refuse: the summary and the diff
};
std::optional<ApplyDriftCheck> check_drift_before_apply(Session& session, const Config& config, const Environment& env,
                                                        bool allow_drift, bool dry_run);

}  // namespace mgr
