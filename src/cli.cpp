// The only translation unit that includes CLI11 (it is slow to compile).
#include "mgr/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/interrupt.hpp"

namespace mgr {

namespace {

void setup_logging(int verbosity, bool color) {
  auto logger = spdlog::stderr_color_st("mgr", color ? spdlog::color_mode::automatic : spdlog::color_mode::never);
  logger->set_pattern("mgr: %^%l%$: %v");
  switch (verbosity) {
    case -1: logger->set_level(spdlog::level::err); break;
    case 0: logger->set_level(spdlog::level::warn); break;
    case 1: logger->set_level(spdlog::level::info); break;
    default: logger->set_level(spdlog::level::debug); break;
  }
  spdlog::set_default_logger(logger);
}

std::chrono::milliseconds duration_flag(const std::string& text, const char* flag) {
  auto d = parse_duration(text);
  if (!d) throw UsageError(std::string(flag) + " " + duration_error(text));
  return *d;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"mgr: move PostgreSQL schema migrations safely through dev -> test -> prod"};
  app.set_version_flag("--version", std::string("mgr ") + MGR_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the command: mgr status --json

  GlobalOptions global;
  std::string config_path;
  bool quiet = false, no_color = false;
  int verbose = 0;
  app.add_option("--config", config_path, "environments.yaml to use (default: $MGR_CONFIG or config/environments.yaml)");
  app.add_flag("--json", global.json, "machine-readable output on stdout");
  app.add_flag("-v,--verbose", verbose, "more log output on stderr (repeat for debug)");
  app.add_flag("-q,--quiet", quiet, "only errors on stderr");
  app.add_flag("--no-color", no_color, "no colours (also: NO_COLOR set, or output not a terminal)");

  NewOptions new_opts;
  auto* cmd_new = app.add_subcommand("new", "create an up and a down migration file");
  cmd_new->add_option("name", new_opts.name, "lower-case words joined by _, e.g. add_user_email")->required();

  auto* cmd_config = app.add_subcommand("config", "show the environments in promotion order (checks the config)");
  auto* cmd_env = app.add_subcommand("env", "environments");
  auto* cmd_env_list = cmd_env->add_subcommand("list", "same as `mgr config`");
  cmd_env->require_subcommand(1);

  ApplyOptions apply_opts;
  std::string apply_lock_wait;
  auto* cmd_apply = app.add_subcommand("apply", "apply pending migrations to an environment");
  cmd_apply->add_option("env", apply_opts.env, "environment name")->required();
  cmd_apply->add_option("--to", apply_opts.to, "apply up to and including this migration id");
  cmd_apply->add_flag("--dry-run", apply_opts.dry_run, "check and print the plan; change nothing");
  cmd_apply->add_flag("--yes", apply_opts.yes, "confirm without a prompt (CI)");
  cmd_apply->add_flag("--allow-out-of-order", apply_opts.allow_out_of_order,
                      "apply pending migrations older than the newest applied one");
  cmd_apply->add_option("--lock-wait", apply_lock_wait, "how long to wait for another mgr's lock (e.g. 30s)");

  StatusOptions status_opts;
  auto* cmd_status = app.add_subcommand("status", "compare environments side by side");
  cmd_status->add_option("env", status_opts.envs, "environments to show (default: all)");

  ValidateOptions validate_opts;
  auto* cmd_validate = app.add_subcommand("validate", "the release gate: report every problem; exit 3 on an error");
  cmd_validate->add_option("--env", validate_opts.envs, "environments to check (default: all)");
  cmd_validate->add_flag("--offline", validate_opts.offline, "check the files only; no database");

  LintOptions lint_opts;
  std::string lint_format = "text";
  auto* cmd_lint = app.add_subcommand("lint", "check migration SQL for destructive or lock-heavy statements");
  cmd_lint->add_option("paths", lint_opts.paths, "files to lint (default: every migration)");
  cmd_lint->add_option("--format", lint_format, "text | json | sarif")
      ->check(CLI::IsMember({"text", "json", "sarif"}));
  cmd_lint->add_flag("--explain", lint_opts.explain, "show the safer way for each finding");

  BackupOptions backup_opts;
  auto* cmd_backup = app.add_subcommand("backup", "take a verified pg_dump backup now");
  cmd_backup->add_option("env", backup_opts.env, "environment name")->required();

  BackupsOptions backups_opts;
  auto* cmd_backups = app.add_subcommand("backups", "list backups and check them against their manifests");
  cmd_backups->add_option("env", backups_opts.env, "only this environment");

  RestoreOptions restore_opts;
  auto* cmd_restore = app.add_subcommand("restore", "restore an environment from a backup in schema-backups/");
  cmd_restore->add_option("env", restore_opts.env, "environment name")->required();
  cmd_restore->add_option("backup-file", restore_opts.file, "the .dump or .sql file")->required();
  cmd_restore->add_flag("--yes", restore_opts.yes, "confirm without a prompt");
  cmd_restore->add_flag("--no-safety-backup", restore_opts.no_safety_backup, "do not back up the current state first");
  cmd_restore->add_flag("--from-other-env", restore_opts.from_other_env,
                        "allow a backup taken from another environment (e.g. prod into test)");

  BaselineOptions baseline_opts;
  auto* cmd_baseline = app.add_subcommand("baseline", "record migrations as applied without running them");
  cmd_baseline->add_option("env", baseline_opts.env, "environment name")->required();
  cmd_baseline->add_option("--to", baseline_opts.to, "last migration id to record")->required();
  cmd_baseline->add_flag("--yes", baseline_opts.yes, "confirm without a prompt");

  RepairOptions repair_opts;
  auto* cmd_repair = app.add_subcommand("repair", "remove failed rows and re-record edited checksums");
  cmd_repair->add_option("env", repair_opts.env, "environment name")->required();
  cmd_repair->add_flag("--yes", repair_opts.yes, "confirm without a prompt");

  RollbackOptions rollback_opts;
  auto* cmd_rollback = app.add_subcommand("rollback", "run down files of the newest applied migrations");
  cmd_rollback->add_option("env", rollback_opts.env, "environment name")->required();
  auto* steps = cmd_rollback->add_option("--steps", rollback_opts.steps, "how many migrations to undo")
                    ->check(CLI::PositiveNumber);
  auto* to = cmd_rollback->add_option("--to", rollback_opts.to, "undo everything after this migration id");
  steps->excludes(to);
  to->excludes(steps);
  cmd_rollback->add_flag("--yes", rollback_opts.yes, "confirm without a prompt");
  cmd_rollback->add_flag("--dry-run", rollback_opts.dry_run, "check and print the plan; change nothing");

  LogOptions log_opts;
  auto* cmd_log = app.add_subcommand("log", "show the audit log of an environment, newest first");
  cmd_log->add_option("env", log_opts.env, "environment name")->required();
  cmd_log->add_option("--limit", log_opts.limit, "number of entries")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
  }

  if (!config_path.empty()) global.config_path = config_path;
  global.verbosity = quiet ? -1 : verbose;
  // NO_COLOR (no-color.org): any non-empty value turns colour off.
  const char* no_color_env = std::getenv("NO_COLOR");
  bool color_allowed = !no_color && (no_color_env == nullptr || *no_color_env == '\0');
  global.color = color_allowed && ::isatty(STDOUT_FILENO);
  install_interrupt_handler();
  setup_logging(global.verbosity, color_allowed && ::isatty(STDERR_FILENO));

  try {
    if (cmd_rollback->parsed() && !rollback_opts.steps && !rollback_opts.to) {
      throw UsageError("rollback needs --steps N or --to ID");
    }
    if (lint_format == "json") lint_opts.format = LintFormat::json;
    if (lint_format == "sarif") lint_opts.format = LintFormat::sarif;
    if (global.json && lint_opts.format == LintFormat::text) lint_opts.format = LintFormat::json;
    if (!apply_lock_wait.empty()) apply_opts.lock_wait = duration_flag(apply_lock_wait, "--lock-wait");

    if (cmd_new->parsed()) return run_new(global, new_opts);
    if (cmd_config->parsed() || cmd_env_list->parsed()) return run_config(global);
    if (cmd_apply->parsed()) return run_apply(global, apply_opts);
    if (cmd_status->parsed()) return run_status(global, status_opts);
    if (cmd_validate->parsed()) return run_validate(global, validate_opts);
    if (cmd_lint->parsed()) return run_lint(global, lint_opts);
    if (cmd_backup->parsed()) return run_backup(global, backup_opts);
    if (cmd_backups->parsed()) return run_backups(global, backups_opts);
    if (cmd_restore->parsed()) return run_restore(global, restore_opts);
    if (cmd_baseline->parsed()) return run_baseline(global, baseline_opts);
    if (cmd_repair->parsed()) return run_repair(global, repair_opts);
    if (cmd_rollback->parsed()) return run_rollback(global, rollback_opts);
    if (cmd_log->parsed()) return run_log(global, log_opts);
    throw UsageError("no command given; see mgr --help");
  } catch (const Error& e) {
    std::cerr << "mgr: " << (e.code() == ExitCode::refused ? "refused" : "error") << ": " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    // Should not happen: modules translate their errors. Still exit 1, not abort.
    std::cerr << "mgr: error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::failure);
  }
}

}  // namespace mgr
