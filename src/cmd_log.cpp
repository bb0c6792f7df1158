// mgr log <env>: the audit log of one environment, newest first. Read-only;
// mgr only ever appends to the log table.
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/output.hpp"
#include "mgr/session.hpp"

namespace mgr {

int run_log(const GlobalOptions& global, const LogOptions& opts) {
  using json = nlohmann::json;
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  if (opts.limit <= 0) throw UsageError("--limit must be a positive number");

  Session session(env, "mgr " + env.name);
  HistoryStore history(session, config.history_table);
  auto entries = history.read_log(opts.limit);

  auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  if (global.json) {
    json list = json::array();
    for (const auto& e : entries) {
      list.push_back({{"at", e.at},
                      {"action", e.action},
                      {"migration", opt(e.migration_id)},
                      {"os_user", e.os_user},
                      {"db_user", e.db_user},
                      {"mgr_version", e.mgr_version},
                      {"outcome", e.outcome},
                      {"duration_ms", e.duration_ms ? json(*e.duration_ms) : json(nullptr)},
                      {"backup", opt(e.backup)},
                      {"detail", e.detail}});
    }
    print_json({{"environment", env.name}, {"table", history.log_table().display()}, {"entries", list}});
    return 0;
  }

  if (entries.empty()) {
    print_line(env.name + ": the audit log (" + history.log_table().display() + ") is empty");
    return 0;
  }
  Style style(global.color);
  TextTable table({"when (UTC)", "action", "migration", "outcome", "ms", "by", "db user", "backup", "detail"});
  for (const auto& e : entries) {
    std::string outcome = e.outcome == "ok" ? style.green(e.outcome) : style.red(e.outcome);
    table.add({e.at, e.action, e.migration_id.value_or("-"), outcome,
               e.duration_ms ? std::to_string(*e.duration_ms) : "-", e.os_user, e.db_user, e.backup.value_or("-"),
               e.detail});
  }
  std::cout << table.render(style);
  print_line(std::to_string(entries.size()) + " entr" + (entries.size() == 1 ? "y" : "ies") + ", newest first" +
             (static_cast<int>(entries.size()) == opts.limit ? " (--limit " + std::to_string(opts.limit) + " reached)" : ""));
  return 0;
}

}  // namespace mgr
