// mgr status [env...]: every environment side by side.
#include <map>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/fleet_commands.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/provenance.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"
#include "mgr/status.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;

std::string cell_text(const StatusCell& c, const Style& style) {
  auto date = c.applied_at.substr(0, 10);
  bool symbols = style.color();
  switch (c.state) {
    case CellState::applied:
      return style.green(std::string(symbols ? "✓ " : "applied ") + date + (c.kind == "baseline" ? " (baseline)" : ""));
    case CellState::pending: return style.yellow(symbols ? "· pending" : "pending");
    case CellState::checksum_differs: return style.red(symbols ? "≠ checksum differs" : "CHECKSUM DIFFERS");
    case CellState::failed: return style.red(symbols ? "✗ failed" : "FAILED");
    case CellState::in_progress: return style.red(symbols ? "✗ never finished" : "NEVER FINISHED");
    case CellState::file_missing: return style.red(symbols ? "! file missing" : "FILE MISSING");
    case CellState::absent: return style.dim("-");
    case CellState::unknown: return style.dim("?");
  }
  return "?";
}

// The schema against its snapshot, for the summary: same | drifted |
// no-snapshot | off (drift: off) | unknown (the check failed: `detail` says why).
struct DriftMark {
  std::string state = "off";
  std::string detail;  // the report's summary, or the error
  bool blocks = false;  // drifted under drift: block: apply would refuse
};

DriftMark drift_mark(Session& session, const Config& config, const Environment& env) {
  DriftMark mark;
  if (env.drift == DriftPolicy::off) return mark;
  try {
    if (!SnapshotStore(session, config.history_table).current()) {  // nothing to compare with: no pg_dump
      mark.state = "no-snapshot";
      return mark;
    }
    auto report = check_drift(session, config, env);
    mark.detail = report.summary();
    switch (report.state) {
      case DriftReport::State::same: mark.state = "same"; break;
      case DriftReport::State::no_snapshot: mark.state = "no-snapshot"; break;
      case DriftReport::State::drifted:
        mark.state = "drifted";
        mark.blocks = env.drift == DriftPolicy::block;
        break;
    }
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    mark.state = "unknown";
    mark.detail = std::string("the drift check failed: ") + e.what();
  }
  return mark;
}

}  // namespace

int run_status(const GlobalOptions& global, const StatusOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  auto catalog = load_catalog(config.migrations_dir);

  std::vector<const Environment*> envs;
  if (opts.envs.empty()) {
    for (const auto& e : config.environments) envs.push_back(&e);
  } else {
    for (const auto& name : opts.envs) envs.push_back(&config.get(name));
  }
  const auto fleets = fleet_reports(config, catalog, take_fleets(envs), opts.databases);  // docs/fleets.md

  std::vector<EnvHistory> histories;
  std::map<std::string, DriftMark> drift;  // by environment, when reachable
  for (const auto* env : envs) {
    EnvHistory h{env->name, env->promote_from, std::nullopt, ""};
    try {
      Session session(*env, "mgr status");
      HistoryStore store(session, config.history_table);
      h.rows = store.read_all();
      drift[env->name] = drift_mark(session, config, *env);
    } catch (const ConfigError&) {  // e.g. its ${VAR} is unset: exit 2, not "unreachable"
      throw;
    } catch (const Error& e) {
      h.error = e.what();
    } catch (const std::exception& e) {
      // Session and HistoryStore translate libpqxx's errors; this is a last guard so one
      // environment never aborts the whole report.
      h.error = env->name + ": " + e.what();
    }
    histories.push_back(std::move(h));
  }
  auto matrix = build_status(catalog, histories);
  bool any_unreachable = false, any_problem = false;
  for (const auto& s : matrix.summaries) {
    any_unreachable = any_unreachable || !s.reachable;
    any_problem = any_problem || !s.problems.empty() || (drift.count(s.name) != 0 && drift[s.name].blocks);
  }
  // Like validate: an environment apply would refuse is exit 3; an unreadable one, 1.
  const int exit_code = fleet_status_exit_code(any_unreachable ? static_cast<int>(ExitCode::failure)
                                               : any_problem   ? static_cast<int>(ExitCode::refused)
                                                               : 0, fleets);

  if (global.json) {
    // Each applied cell's provenance, from its history row.
    std::map<std::string, std::map<std::string, const HistoryRow*>> recorded;  // env -> id -> row
    for (const auto& h : histories) {
      if (!h.rows) continue;
      for (const auto& row : *h.rows) recorded[h.name][row.migration_id] = &row;
    }
    json rows = json::array();
    for (const auto& r : matrix.rows) {
      json cells = json::object();
      for (std::size_t i = 0; i < matrix.envs.size(); ++i) {
        const auto& c = r.cells[i];
        json cell{{"state", to_string(c.state)}};
        if (!c.applied_at.empty()) cell["applied_at"] = c.applied_at;
        if (!c.kind.empty()) cell["kind"] = c.kind;
        if (auto it = recorded[matrix.envs[i]].find(r.id); it != recorded[matrix.envs[i]].end()) {
          cell["provenance"] = provenance_json(it->second->provenance);
        }
        cells[matrix.envs[i]] = cell;
      }
      for (const auto& f : fleets) cells[f.env] = {{"state", "fleet"}, {"applied", fleet_cell(f, r.id)}};
      rows.push_back({{"id", r.id}, {"name", r.name}, {"file", r.has_file}, {"environments", cells}});
    }
    json summaries = json::array();
    for (const auto& s : matrix.summaries) {
      json j{{"environment", s.name}, {"reachable", s.reachable}, {"applied", s.applied}, {"pending", s.pending},
             {"newest_applied", s.newest_applied.empty() ? json(nullptr) : json(s.newest_applied)},
             {"promote_from", s.promote_from ? json(*s.promote_from) : json(nullptr)},
             {"can_take", s.can_take ? json(*s.can_take) : json(nullptr)},
             {"next", s.next},
             {"problems", s.problems}};
      if (!s.reachable) j["error"] = s.error;
      if (auto it = drift.find(s.name); it != drift.end()) {
        j["drift"] = it->second.state;
        if (!it->second.detail.empty()) j["drift_detail"] = it->second.detail;
      } else {
        j["drift"] = nullptr;
      }
      summaries.push_back(j);
    }
    print_json({{"ok", exit_code == 0}, {"environments", matrix.envs}, {"migrations", rows}, {"summary", summaries}, {"fleets", fleet_reports_json(fleets)}});
    return exit_code;
  }

  Style style(global.color);
  std::vector<std::string> header{"MIGRATION"};
  for (const auto& e : matrix.envs) header.push_back(e);
  for (const auto& f : fleets) header.push_back(f.env);
  TextTable table(header);
  for (const auto& r : matrix.rows) {
    std::vector<std::string> line{r.id + "_" + r.name + (r.has_file ? "" : " (no file)")};
    for (const auto& c : r.cells) line.push_back(cell_text(c, style));
    for (const auto& f : fleets) line.push_back(fleet_cell(f, r.id));
    table.add(std::move(line));
  }
  std::cout << table.render(style) << "\n";
  for (const auto& s : matrix.summaries) {
    if (!s.reachable) {
      print_line(style.bold(s.name) + ": " + style.red("unreachable") + " - " + s.error);
      continue;
    }
    print_line(style.bold(s.name) + ": reachable; newest applied " +
               (s.newest_applied.empty() ? std::string("none") : s.newest_applied) + "; " + std::to_string(s.pending) +
               " pending; " + s.next);
    for (const auto& p : s.problems) print_line("  - " + style.red(p));
    if (auto it = drift.find(s.name); it != drift.end()) {
      const auto& d = it->second;
      if (d.state == "drifted") {
        print_line("  - " + style.red("drifted: " + d.detail) + "; see `mgr drift " + s.name + "`");
      } else if (d.state == "unknown") {
        print_line("  - " + style.yellow(d.detail));
      }
    }
  }
  print_fleet_reports(fleets, opts.databases, global.color);
  return exit_code;
}

}  // namespace mgr
