// mgr config / mgr env list: the environments as mgr understands them.
#include "mgr/commands.hpp"
#include "mgr/fleet.hpp"
#include "mgr/config.hpp"
#include "mgr/output.hpp"

namespace mgr {

namespace {

const char* to_string(BackupPolicy p) { return p == BackupPolicy::required ? "required" : "off"; }
const char* to_string(LintPolicy p) {
  switch (p) {
    case LintPolicy::block: return "block";
    case LintPolicy::warn: return "warn";
    case LintPolicy::off: return "off";
  }
  return "?";
}

// An environment whose ${VAR} is unset is listed, not used: say which variable.
std::string url_shown(const Environment& e) {
  if (e.fleet) return fleet_description(e);  // docs/fleets.md
  return e.url.resolved() ? e.url.redacted() : "(" + e.url.unset_variable() + " is not set)";
}

// `mgr config` is where a config is checked as a whole: after listing what it
// could, it fails (exit 2) on the first environment whose ${VAR} is unset.
void throw_first_unresolved(const Config& config) {
  for (const auto& e : config.environments) e.fleet ? check_fleet_variables(e) : (void)e.url.get();
}

}  // namespace

int run_config(const GlobalOptions& global) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  if (global.json) {
    nlohmann::json envs = nlohmann::json::array();
    for (const auto& e : config.environments) {
      nlohmann::json j{{"name", e.name},
                       {"url", e.url.resolved() ? nlohmann::json(e.url.redacted()) : e.fleet ? nlohmann::json(fleet_description(e)) : nlohmann::json(nullptr)},
                       {"promote_from", e.promote_from ? nlohmann::json(*e.promote_from) : nlohmann::json(nullptr)},
                       {"backup", to_string(e.backup)},
                       {"backup_format", e.backup_format == BackupFormat::custom ? "custom" : "plain"},
                       {"lint", to_string(e.lint)},
                       {"confirm", e.confirm},
                       {"lock_wait_ms", e.lock_wait.count()}};
      if (e.lock_timeout) j["lock_timeout"] = *e.lock_timeout;
      if (e.statement_timeout) j["statement_timeout"] = *e.statement_timeout;
      if (e.backup_keep) j["backup_keep"] = *e.backup_keep;
      if (!e.url.resolved() && !e.fleet) j["unset_variable"] = e.url.unset_variable();
      envs.push_back(j);
    }
    print_json({{"config", config.path.string()},
                {"migrations_dir", config.migrations_dir.string()},
                {"backups_dir", config.backups_dir.string()},
                {"history_table", config.history_table.display()},
                {"environments", envs}});
    throw_first_unresolved(config);
    return 0;
  }
  Style style(global.color);
  print_line("config:         " + config.path.string());
  print_line("migrations_dir: " + config.migrations_dir.string());
  print_line("backups_dir:    " + config.backups_dir.string());
  print_line("history_table:  " + config.history_table.display());
  print_line("");
  TextTable table({"ENV", "URL", "PROMOTE FROM", "BACKUP", "LINT", "CONFIRM", "TIMEOUTS"});
  for (const auto& e : config.environments) {
    std::string timeouts;
    if (e.lock_timeout) timeouts += "lock " + *e.lock_timeout;
    if (e.statement_timeout) timeouts += std::string(timeouts.empty() ? "" : ", ") + "statement " + *e.statement_timeout;
    table.add({style.bold(e.name), url_shown(e), e.promote_from.value_or("-"), to_string(e.backup),
               to_string(e.lint), e.confirm ? "yes" : "no", timeouts.empty() ? "-" : timeouts});
  }
  std::cout << table.render(style);
  throw_first_unresolved(config);
  return 0;
}

}  // namespace mgr
