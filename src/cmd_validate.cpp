// mgr validate: gather the files, each environment's history and identity,
// then report every finding of validate.hpp. Read-only: it takes no lock and
// creates nothing, so a pipeline can run it at any time.
#include <algorithm>
#include <map>
#include <memory>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/fleet_commands.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/lint_findings.hpp"
#include "mgr/output.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"
#include "mgr/validate.hpp"

namespace mgr {

namespace {

std::string styled_line(const Diagnostic& f, const Style& style) {
  auto line = format_listing(f);
  switch (f.severity) {
    case Severity::error: return style.red(line);
    case Severity::warning: return style.yellow(line);
    case Severity::info: return line;
  }
  return line;
}

Diagnostic env_finding(Code code, Severity severity, const std::string& env, std::string message, std::string hint) {
  Diagnostic d;
  d.code = code;
  d.severity = severity;
  d.environment = env;
  d.message = std::move(message);
  d.hint = std::move(hint);
  return d;
}

// The live schema of a checked environment against its snapshot, by its
// `drift:` setting (block: error, warn: warning, off: not checked). Returns
// the live schema's key for the comparison across environments.
std::optional<std::string> drift_findings(Session& session, const Config& config, const Environment& env,
                                          std::vector<Diagnostic>& findings) {
  if (env.drift == DriftPolicy::off) return std::nullopt;
  const auto severity = env.drift == DriftPolicy::block ? Severity::error : Severity::warning;
  try {
    auto report = check_drift(session, config, env);
    if (report.drifted()) {
      findings.push_back(env_finding(Code::schema_drift, severity, env.name, report.summary(),
                                     "see the diff with `mgr drift " + env.name + "`; undo the change by hand, or "
                                     "record it with `mgr drift " + env.name + " --accept --reason \"...\"`"));
    }
    return report.current_sha256;
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    findings.push_back(env_finding(Code::drift_unchecked, severity, env.name,
                                   std::string("the schema could not be compared with its snapshot: ") + e.what(),
                                   "fix the cause (pg_dump, pg_bin_dir) or set `drift: off` for this environment"));
    return std::nullopt;
  }
}

// Environments that applied the same migrations (successful rows: id and
// checksum) should have the same schema; one that differs drifted somewhere.
void schema_differs_findings(const std::vector<EnvironmentState>& states,
                             const std::map<std::string, std::string>& schema_sha, std::vector<Diagnostic>& findings) {
  for (std::size_t i = 0; i < states.size(); ++i) {
    for (std::size_t j = i + 1; j < states.size(); ++j) {
      const auto &a = states[i], &b = states[j];
      auto sa = schema_sha.find(a.name), sb = schema_sha.find(b.name);
      if (sa == schema_sha.end() || sb == schema_sha.end() || sa->second == sb->second) continue;
      // Different migrations: a difference is expected. None at all: not mgr's databases yet.
      auto applied = [](const EnvironmentState& s) {
        return std::any_of(s.rows.begin(), s.rows.end(), [](const HistoryRow& r) { return r.success; });
      };
      if (!applied(a) || !applied(b) || !compare_applied(a.rows, b.rows).same()) continue;
      findings.push_back(env_finding(Code::schema_differs, Severity::error, b.name,
                                     a.name + " and " + b.name +
                                         " have applied the same migrations but their schemas differ",
                                     "see the diff with `mgr drift " + a.name + " " + b.name + "`; `mgr drift <env>` "
                                     "on each tells which one changed"));
    }
  }
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
    std::map<std::string, std::string> schema_sha;  // checked environments' live schemas
    for (const auto* env : to_read) {
      if (env->fleet) {  // every database of it, counted (docs/fleets.md)
        if (std::find(checked.begin(), checked.end(), env->name) != checked.end()) add_fleet_findings(config, scan.catalog, *env, findings);
        continue;
      }
      EnvironmentState state;
      state.name = env->name;
      state.promote_from = env->promote_from;
      std::unique_ptr<Session> session_ptr;
      try {
        session_ptr = std::make_unique<Session>(*env, "mgr validate");
        Session& session = *session_ptr;
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
        if (auto sha = drift_findings(*session_ptr, config, *env, findings)) schema_sha[env->name] = *sha;
      }
      states.push_back(std::move(state));
    }
    auto cross = cross_environment_findings(scan.catalog, states, checked);
    findings.insert(findings.end(), cross.begin(), cross.end());
    schema_differs_findings(states, schema_sha, findings);
  }

  std::size_t errors = 0, warnings = 0, infos = 0;
  for (const auto& f : findings) {
    if (f.severity == Severity::error) ++errors;
    if (f.severity == Severity::warning) ++warnings;
    if (f.severity == Severity::info) ++infos;
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
