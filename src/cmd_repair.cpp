// mgr repair <env>: after an operator has dealt with a problem by hand,
// remove failed rows and re-record the checksums of deliberately edited files.
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/session.hpp"

namespace mgr {

namespace {

struct RepairItem {
  enum class Kind { remove_failed, rechecksum } kind;
  HistoryRow row;
  std::string new_checksum;
  std::optional<std::string> new_down_checksum;
  bool down_changed = false;

  std::string label() const { return row.migration_id + "_" + row.name; }
  std::string describe() const {
    if (kind == Kind::remove_failed) {
      return "remove the failed row of " + label() + " (failed at " + row.applied_at + ")";
    }
    std::string s = "re-record the checksum of " + label() + ": ";
    if (row.checksum != new_checksum) s += "up " + row.checksum + " -> " + new_checksum;
    if (down_changed) {
      if (row.checksum != new_checksum) s += ", ";
      s += "down " + row.down_checksum.value_or("none") + " -> " + new_down_checksum.value_or("none");
    }
    return s;
  }
};

}  // namespace

int run_repair(const GlobalOptions& global, const RepairOptions& opts) {
  using json = nlohmann::json;
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  auto catalog = load_catalog(config.migrations_dir);

  Session session(env, "mgr " + env.name);
  MigrationLock lock(session, config.history_table, env.lock_wait);
  HistoryStore history(session, config);
  auto rows = history.read_all();  // after the lock

  for (const auto& p : check_history(catalog, env.name, rows)) {
    if (p.code == Code::environment_mismatch) throw Refused("repair of " + env.name + " refused: " + p.message);
  }

  std::vector<RepairItem> items;
  for (const auto& r : rows) {
    if (!r.success) {
      items.push_back({RepairItem::Kind::remove_failed, r, "", std::nullopt, false});
      continue;
    }
    const auto* m = catalog.find(r.migration_id);
    if (m == nullptr) continue;  // a missing file is restored from version control, not repaired
    std::optional<std::string> down = m->down ? std::optional<std::string>(m->down->checksum) : std::nullopt;
    // The down checksum only counts when one was recorded: older and
    // baseline-less rows have none, and rollback then does not check it.
    bool down_changed = r.down_checksum && down && *r.down_checksum != *down;
    if (m->up.checksum != r.checksum || down_changed) {
      items.push_back({RepairItem::Kind::rechecksum, r, m->up.checksum, down, down_changed});
    }
  }

  json out{{"environment", env.name}, {"url", env.url.redacted()}};
  json changes = json::array();
  for (const auto& it : items) {
    json c{{"migration", it.row.migration_id},
           {"name", it.row.name},
           {"action", it.kind == RepairItem::Kind::remove_failed ? "remove-failed-row" : "re-record-checksum"}};
    if (it.kind == RepairItem::Kind::rechecksum) {
      c["old_checksum"] = it.row.checksum;
      c["new_checksum"] = it.new_checksum;
      c["old_down_checksum"] = it.row.down_checksum ? json(*it.row.down_checksum) : json(nullptr);
      c["new_down_checksum"] = it.new_down_checksum ? json(*it.new_down_checksum) : json(nullptr);
    }
    changes.push_back(c);
  }
  out["changes"] = changes;

  if (items.empty()) {
    out["ok"] = true;
    if (global.json) {
      print_json(out);
    } else {
      print_line(env.name + ": nothing to repair (no failed rows, every applied file matches its recorded checksum)");
    }
    return 0;
  }

  if (!global.json) {
    print_line("repair of " + env.name + " (" + env.url.redacted() + ") will:");
    for (const auto& it : items) print_line("  - " + it.describe());
  }
  // Repair rewrites the record of what ran, so it always asks, whatever `confirm` says.
  confirm_or_refuse(env.name, "About to change " + std::to_string(items.size()) + " history row(s) of " + env.name + ".",
                    opts.yes);

  const auto os_user = os_user_at_host();
  history.ensure();  // an older log table gains the columns repair's rows are written with
  HistoryEdit edit;
  for (const auto& it : items) {
    if (it.kind == RepairItem::Kind::remove_failed) {
      edit.removals.push_back(it.row.migration_id);
    } else {
      edit.checksums.push_back({it.row.migration_id, it.new_checksum, it.new_down_checksum});
    }
    edit.log.push_back(LogEntry::of("repair", it.row.migration_id, os_user, it.describe()));
  }
  history.commit(edit, "repair");

  auto snapshot = snapshot_after_change(session, config, env, "repair");  // still under the lock
  out["ok"] = true;
  out["schema_sha256"] = snapshot ? json(*snapshot) : json(nullptr);
  if (global.json) {
    print_json(out);
  } else {
    print_line(env.name + ": repaired " + std::to_string(items.size()) + " history row(s)");
  }
  return 0;
}

}  // namespace mgr
