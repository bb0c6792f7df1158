// mgr validate: gather the files, each environment's history and identity,
// then report every finding of validate.hpp. Read-only: it takes no lock and
// creates nothing, so a pipeline can run it at any time.
#include <algorithm>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/output.hpp"
#include "mgr/session.hpp"
#include "mgr/validate.hpp"

namespace mgr {

namespace {

std::string styled_line(const Finding& f, const Style& style) {
  auto line = format_finding(f);
  switch (f.severity) {
    case FindingSeverity::error: return style.red(line);
    case FindingSeverity::warning: return style.yellow(line);
    case FindingSeverity::info: return line;
  }
  return line;
}

}  // namespace

int run_validate(const GlobalOptions& global, const ValidateOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  std::vector<const Environment*> selected;
  if (opts.envs.empty()) {
    for (const auto& e : config.environments) selected.push_back(&e);
  } else {
    // Promotion order, whatever order the flags came in; unknown names are a usage error.
    for (const auto& name : opts.envs) config.get(name);
    for (const auto& e : config.environments) {
      if (std::find(opts.envs.begin(), opts.envs.end(), e.name) != opts.envs.end()) selected.push_back(&e);
    }
  }
  std::vector<std::string> checked;
  for (const auto* e : selected) checked.push_back(e->name);

  auto scan = scan_catalog(config.migrations_dir);
  LintSettings lint_settings;
  lint_settings.pg_version = config.lint_pg_version;
  auto findings = file_findings(scan, lint_settings, strictest_lint_policy(selected));

  if (!opts.offline) {
    // The checked environments and the ones they promote from (needed for the
    // promotion-order check), in promotion order.
    std::vector<const Environment*> to_read;
    for (const auto& e : config.environments) {
      bool wanted = std::find(checked.begin(), checked.end(), e.name) != checked.end();
      for (const auto* s : selected) wanted = wanted || (s->promote_from && *s->promote_from == e.name);
      if (wanted) to_read.push_back(&e);
    }
    std::vector<EnvironmentState> states;
    for (const auto* env : to_read) {
      EnvironmentState state;
      state.name = env->name;
      state.promote_from = env->promote_from;
      try {
        Session session(*env, "mgr validate");
        state.identity_key = session.identity().key();
        HistoryStore history(session, config.history_table);
        state.rows = history.read_all();
        state.reachable = true;
      } catch (const ConfigError&) {  // e.g. its ${VAR} is unset: exit 2, not "unreachable"
        throw;
      } catch (const Error& e) {
        state.error = e.what();
      } catch (const std::exception& e) {
        // Session and HistoryStore translate libpqxx's errors; this is a last guard so one
        // environment never aborts the whole report.
        state.error = env->name + ": " + e.what();
      }
      if (!state.reachable) {
        findings.push_back(unreachable_finding(env->name, state.error));
      } else if (std::find(checked.begin(), checked.end(), env->name) != checked.end()) {
        auto own = environment_findings(scan.catalog, env->name, state.rows);
        findings.insert(findings.end(), own.begin(), own.end());
      }
      states.push_back(std::move(state));
    }
    auto cross = cross_environment_findings(scan.catalog, states, checked);
    findings.insert(findings.end(), cross.begin(), cross.end());
  }

  std::size_t errors = 0, warnings = 0, infos = 0;
  for (const auto& f : findings) {
    if (f.severity == FindingSeverity::error) ++errors;
    if (f.severity == FindingSeverity::warning) ++warnings;
    if (f.severity == FindingSeverity::info) ++infos;
  }
  if (global.json) {
    print_json(findings_json(findings));
  } else {
    Style style(global.color);
    for (const auto& f : findings) print_line(styled_line(f, style));
    std::string scope = std::to_string(scan.catalog.migrations.size()) + " migration(s)";
    scope += opts.offline ? ", offline (no database)" : "; environments: " + join(checked, ", ");
    print_line("validate: " + std::to_string(errors) + " error(s), " + std::to_string(warnings) + " warning(s), " +
               std::to_string(infos) + " info; checked " + scope);
    print_line(errors == 0 ? style.green("release gate: passed") : style.red("release gate: FAILED"));
  }
  if (errors > 0) {
    throw Refused("validate found " + std::to_string(errors) + " error(s); see the findings above");
  }
  return 0;
}

}  // namespace mgr
