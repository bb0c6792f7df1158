// mgr reset <env>: drop every object of the environment's database, keeping
// its audit log, then apply every migration again through apply's own path.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mgr/backup.hpp"
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/runner.hpp"
#include "mgr/session.hpp"

namespace mgr {

namespace {

// The environments that promote from `env` (their gate reads its history).
std::vector<std::string> promoted_from(const Config& config, const Environment& env) {
  std::vector<std::string> out;
  for (const auto& e : config.environments) {
    if (e.promote_from && *e.promote_from == env.name) out.push_back(e.name);
  }
  return out;
}

// Refused before anything is read or changed: resetting an environment that
// asks for confirmation, or that others promote from, takes --force --yes.
void refuse_protected(const Environment& env, const std::vector<std::string>& downstream, const ResetOptions& opts) {
  std::vector<std::string> why;
  if (env.confirm) why.push_back("it has confirm: true");
  if (!downstream.empty()) {
    std::string names;
    for (const auto& n : downstream) names += (names.empty() ? "" : ", ") + n;
    why.push_back(names + " promote" + (downstream.size() == 1 ? "s" : "") + " from it");
  }
  if (why.empty() || (opts.force && opts.yes)) return;
  std::string reasons = why[0] + (why.size() > 1 ? " and " + why[1] : "");
  throw Refused("reset of " + env.name + " refused (" + reasons + "); nothing was changed. If you really mean to drop " +
                "everything in it: mgr reset " + env.name + " --force --yes");
}

// Drops every schema and extension in one transaction that also writes the
// reset's audit row (the audit table survives the wipe, so it must exist first).
void wipe(Session& session, const Config& config, std::size_t rows_before,
          const std::string& newest, const std::optional<std::string>& backup_file) {
  HistoryStore history(session, config);
  // The audit table must exist before the wipe so that the reset's own row
  // is written in the wipe's transaction.
  history.ensure();
  LogEntry entry = LogEntry::of("reset", std::nullopt, os_user_at_host(),
                                "dropped every schema (" + std::to_string(rows_before) + " history row(s), newest " +
                                    (newest.empty() ? std::string("none") : newest) + ") to apply all migrations again");
  entry.backup = backup_file;
  RestoreAudit audit;
  audit.log_schema = session.resolve(config.history_table).schema;
  audit.log_table = history.log_table().table;
  audit.restore_row_sql = history.log_sql(entry);
  history.wipe_keeping_log(audit);
}

}  // namespace

int run_reset(const GlobalOptions& global, const ResetOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  refuse_protected(env, promoted_from(config, env), opts);

  Catalog catalog = load_catalog(config.migrations_dir);
  Session session(env, "mgr " + env.name + " reset");
  MigrationLock lock(session, config.history_table, env.lock_wait);
  const auto before = HistoryStore(session, config).read_all();

  // Apply's checks (promotion gate, file rules, lint) against an empty
  // history, before anything is dropped: a refused plan changes nothing.
  ApplyOptions apply_opts;
  apply_opts.env = env.name;
  apply_opts.yes = true;  // confirmed below, once, for the whole reset
  {
    std::vector<HistoryRow> none;
    ApplyContext check{config, env, session, catalog, none};
    check.check_only = true;
    apply_with(global, apply_opts, check);
  }

  const std::string newest = newest_applied(before).value_or("");
  confirm_or_refuse(env.name,
                    "About to reset " + env.name + " (" + env.url.redacted() + "): every schema and extension of " +
                        "the database is dropped with all its data (" + std::to_string(before.size()) +
                        " history row(s), newest " + (newest.empty() ? std::string("none") : newest) +
                        "), then all " + std::to_string(catalog.migrations.size()) + " migration(s) are applied again.",
                    opts.yes);

  std::optional<std::string> backup_file;
  if (env.backup == BackupPolicy::required) {
    InterruptGuard guard;
    auto backup = take_backup(config, env, session.identity(),
                              newest.empty() ? std::nullopt : std::optional<std::string>(newest), "before reset");
    backup_file = backup.file_name();
    if (!global.json) print_line("backup: " + backup.file.string() + " (" + std::to_string(backup.size) + " bytes, verified)");
  }
  if (interrupted()) throw Interrupted(interrupt_description() + " during the backup; nothing was dropped");

  wipe(session, config, before.size(), newest, backup_file);
  if (!global.json) print_line(env.name + ": every schema dropped; applying all migrations");

  std::vector<HistoryRow> none;
  ApplyContext run{config, env, session, catalog, none};
  run.backup_file = backup_file;
  run.show_lint_warnings = false;  // the check above showed them, before the prompt
  return apply_with(global, apply_opts, run);
}

}  // namespace mgr
