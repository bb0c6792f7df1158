// mgr baseline <env> --to ID: bring a database that already has the schema
// under mgr by recording the migrations up to ID as applied, without running
// them.
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/session.hpp"

namespace mgr {

int run_baseline(const GlobalOptions& global, const BaselineOptions& opts) {
  using json = nlohmann::json;
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  auto catalog = load_catalog(config.migrations_dir);
  if (catalog.find(opts.to) == nullptr) {
    throw UsageError("--to " + opts.to + ": no migration with that id in " + config.migrations_dir.string());
  }
  std::vector<const Migration*> to_record;
  for (const auto& m : catalog.migrations) {
    if (compare_ids(m.id, opts.to) <= 0) to_record.push_back(&m);
  }

  Session session(env, "mgr " + env.name);
  MigrationLock lock(session, config.history_table, env.lock_wait);
  HistoryStore history(session, config);
  auto rows = history.read_all();  // after the lock

  // A baseline describes a database mgr has not touched up to ID; any row in
  // that range means it has, and recording over it would hide what ran.
  std::vector<std::string> problems;
  for (const auto& p : check_history(catalog, env.name, rows)) {
    if (p.code == Code::environment_mismatch) problems.push_back(p.message);
  }
  for (const auto& r : rows) {
    if (compare_ids(r.migration_id, opts.to) <= 0) {
      problems.push_back(r.migration_id + "_" + r.name + " is already recorded in " + env.name + " (" +
                         (r.success ? r.kind : std::string("failed")) + ", " + r.applied_at + ")");
    }
  }
  if (!problems.empty()) {
    std::string msg = "baseline of " + env.name + " up to " + opts.to +
                      " refused: the environment already has history up to that id; nothing was changed:";
    for (const auto& p : problems) msg += "\n  - " + p;
    msg += "\nA baseline is only for a database created before mgr; use `mgr status " + env.name + "` to see its history.";
    throw Refused(msg);
  }

  if (env.confirm) {
    confirm_or_refuse(env.name,
                      "About to record " + std::to_string(to_record.size()) + " migration(s) up to " + opts.to +
                          " as applied in " + env.name + " (" + env.url.redacted() + ") without running them.",
                      opts.yes);
  }

  history.ensure();
  const auto os_user = os_user_at_host();
  HistoryEdit edit;
  for (const auto* m : to_record) {
    edit.inserts.push_back(history_row_for(*m, env.name, "baseline", os_user));
    edit.log.push_back(LogEntry::of("baseline", m->id, os_user,
                                    m->label() + " recorded as applied without running it (baseline up to " + opts.to +
                                        ")"));
  }
  history.commit(edit, "baseline");

  // The schema the baseline vouches for: later drift is measured from it.
  auto snapshot = snapshot_after_change(session, config, env, "baseline");
  if (global.json) {
    json ids = json::array();
    for (const auto* m : to_record) ids.push_back({{"id", m->id}, {"name", m->name}, {"checksum", m->up.checksum}});
    print_json({{"ok", true}, {"environment", env.name}, {"to", opts.to}, {"recorded", ids},
                {"schema_sha256", snapshot ? json(*snapshot) : json(nullptr)}});
  } else {
    for (const auto* m : to_record) print_line("  recorded " + m->label() + " (baseline)");
    print_line(env.name + ": baseline recorded " + std::to_string(to_record.size()) + " migration(s) up to " + opts.to +
               " as applied, without running them; `mgr apply " + env.name + "` runs what comes after");
  }
  return 0;
}

}  // namespace mgr
