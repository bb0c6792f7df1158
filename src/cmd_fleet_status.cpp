// status and validate on fleets: counts per fleet, or one line per database.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "cmd_fleet_internal.hpp"
#include "mgr/fleet_commands.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;

struct DatabaseStatus {
  DatabaseState state = DatabaseState::unreachable;
  std::string drift = "off";  // same | drifted | no-snapshot | off | unknown
  std::size_t pending = 0;
  std::string newest;
  std::string error;
};

DatabaseStatus read_database(const Config& config, const Catalog& catalog, const Environment& fleet_env,
                             const FleetMember& member, std::map<std::string, int>& applied_by_id, std::mutex& mutex) {
  DatabaseStatus s;
  const auto env = fleet_member_environment(fleet_env, member);
  try {
    Session session(env, "mgr status " + env.name + "/" + member.name);
    const auto rows = HistoryStore(session, config).read_all();
    s.state = classify_database(catalog, rows);
    s.pending = pending_migrations(catalog, rows).size();
    for (const auto& r : rows) {
      if (r.success && (s.newest.empty() || compare_ids(r.migration_id, s.newest) > 0)) s.newest = r.migration_id;
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (const auto& r : rows) {
        if (r.success) ++applied_by_id[canonical_id(r.migration_id)];
      }
    }
    if (env.drift != DriftPolicy::off) {
      try {
        if (!SnapshotStore(session, config.history_table).current()) {
          s.drift = "no-snapshot";
        } else {
          const auto report = check_drift(session, config, env);
          s.drift = report.state == DriftReport::State::drifted ? "drifted"
                    : report.state == DriftReport::State::same  ? "same"
                                                                 : "no-snapshot";
        }
      } catch (const Interrupted&) {
        throw;
      } catch (const Error&) {
        s.drift = "unknown";
      }
    }
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    s.state = DatabaseState::unreachable;
    s.error = redact_secrets(e.what(), member.url);
  } catch (const std::exception& e) {
    s.state = DatabaseState::unreachable;
    s.error = redact_secrets(e.what(), member.url);
  }
  return s;
}

std::string problem_line(const FleetReport& report, const std::string& name, const DatabaseStatus& s) {
  const auto where = report.env + "/" + name + ": ";
  switch (s.state) {
    case DatabaseState::unreachable: return where + "unreachable: " + s.error;
    case DatabaseState::failed: return where + "a migration failed (see `mgr status " + report.env + " --databases`; `mgr repair " + report.env + " --database " + name + "`)";
    case DatabaseState::ahead: return where + "ahead: applied migrations whose files are not in the migrations directory";
    case DatabaseState::behind: return where + "behind: " + std::to_string(s.pending) + " pending";
    case DatabaseState::at_head: break;
  }
  return "";
}

FleetReport report_for(const Config& config, const Catalog& catalog, const Environment& env, bool databases) {
  FleetReport report;
  report.env = env.name;
  std::vector<FleetMember> members;
  try {
    members = resolve_fleet(config, env);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    report.counts.unreachable = report.counts.total = 1;
    report.problems.push_back(env.name + ": the fleet's databases are unknown: " + e.what());
    report.issues.push_back({"", "unreachable", report.problems.back()});
    report.json = {{"environment", env.name}, {"fleet", true}, {"error", e.what()}};
    return report;
  }
  std::vector<DatabaseStatus> statuses(members.size());
  std::mutex mutex;
  run_bounded(
      members.size(), env.fleet->parallel,
      [&](std::size_t i) {
        FleetLogCapture logs;
        statuses[i] = read_database(config, catalog, env, members[i], report.applied_by_id, mutex);
      },
      [] { return interrupted(); }, nullptr);
  if (interrupted()) throw Interrupted(interrupt_description() + " while reading fleet " + env.name);
  json per_database = json::array();
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& s = statuses[i];
    const bool drifted = s.drift == "drifted";
    report.counts.add(s.state, drifted);
    if (auto line = problem_line(report, members[i].name, s); !line.empty()) {
      report.problems.push_back(line);
      report.issues.push_back({members[i].name, database_state_name(s.state), line});
    }
    if (drifted) {
      report.problems.push_back(env.name + "/" + members[i].name + ": drifted (see `mgr drift " + env.name +
                                " --database " + members[i].name + "`)");
      report.issues.push_back({members[i].name, "drifted", report.problems.back()});
    }
    if (s.state == DatabaseState::failed || s.state == DatabaseState::ahead || (drifted && env.drift == DriftPolicy::block)) {
      report.refuse = true;
    }
    if (databases) {
      json j{{"database", members[i].name}, {"identity", members[i].identity}, {"state", database_state_name(s.state)},
             {"pending", s.pending}, {"newest_applied", s.newest.empty() ? json(nullptr) : json(s.newest)},
             {"drift", s.drift}};
      if (!s.error.empty()) j["error"] = s.error;
      per_database.push_back(std::move(j));
    }
  }
  const auto& c = report.counts;
  report.json = {{"environment", env.name}, {"fleet", true}, {"databases", c.total}, {"at_head", c.at_head},
                 {"behind", c.behind}, {"ahead", c.ahead}, {"failed", c.failed}, {"drifted", c.drifted},
                 {"unreachable", c.unreachable}, {"promote_from", env.promote_from ? json(*env.promote_from) : json(nullptr)}};
  if (databases) report.json["per_database"] = per_database;
  report.json["problems"] = report.problems;
  if (databases) {
    // The text view's lines, in fleet order (not printed in --json).
    json lines = json::array();
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto& s = statuses[i];
      lines.push_back(members[i].name + "  " + database_state_name(s.state) +
                      (s.pending > 0 ? " (" + std::to_string(s.pending) + " pending)" : "") +
                      "  newest " + (s.newest.empty() ? std::string("none") : s.newest) +
                      (s.drift == "off" ? "" : "  drift " + s.drift) + (s.error.empty() ? "" : "  " + s.error));
    }
    report.json["_lines"] = lines;
  }
  return report;
}

}  // namespace

std::vector<const Environment*> take_fleets(std::vector<const Environment*>& envs) {
  std::vector<const Environment*> fleets;
  for (const auto* e : envs) {
    if (e->fleet) fleets.push_back(e);
  }
  envs.erase(std::remove_if(envs.begin(), envs.end(), [](const Environment* e) { return e->fleet.has_value(); }),
             envs.end());
  return fleets;
}

std::vector<FleetReport> fleet_reports(const Config& config, const Catalog& catalog,
                                       const std::vector<const Environment*>& fleets, bool databases) {
  std::vector<FleetReport> out;
  if (fleets.empty()) return out;
  ThreadSafeLogging logging;
  InterruptGuard guard;
  for (const auto* env : fleets) out.push_back(report_for(config, catalog, *env, databases));
  return out;
}

int fleet_status_exit_code(int exit_code, const std::vector<FleetReport>& reports) {
  bool unreachable = exit_code == static_cast<int>(ExitCode::failure);
  bool refuse = exit_code == static_cast<int>(ExitCode::refused);
  for (const auto& r : reports) {
    unreachable = unreachable || r.counts.unreachable > 0;
    refuse = refuse || r.refuse;
  }
  return unreachable ? static_cast<int>(ExitCode::failure) : refuse ? static_cast<int>(ExitCode::refused) : 0;
}

std::string fleet_cell(const FleetReport& report, const std::string& migration_id) {
  const auto it = report.applied_by_id.find(canonical_id(migration_id));
  return std::to_string(it == report.applied_by_id.end() ? 0 : it->second) + "/" + std::to_string(report.counts.total);
}

void print_fleet_reports(const std::vector<FleetReport>& reports, bool databases, bool color) {
  Style style(color);
  for (const auto& r : reports) {
    print_line(style.bold(r.env) + ": fleet of " + std::to_string(r.counts.total) + " databases: " + r.counts.text());
    if (databases && r.json.contains("_lines")) {
      for (const auto& line : r.json["_lines"]) print_line("  " + line.get<std::string>());
    } else {
      const std::size_t shown = std::min<std::size_t>(r.problems.size(), 20);
      for (std::size_t i = 0; i < shown; ++i) print_line("  - " + style.red(r.problems[i]));
      if (r.problems.size() > shown) {
        print_line("  ... and " + std::to_string(r.problems.size() - shown) + " more (mgr status " + r.env + " --databases)");
      }
    }
  }
}

json fleet_reports_json(const std::vector<FleetReport>& reports) {
  json a = json::array();
  for (const auto& r : reports) {
    json j = r.json;
    j.erase("_lines");
    json counts = json::object();
    for (const auto& [id, n] : r.applied_by_id) counts[id] = n;
    j["applied_by_migration"] = counts;
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace mgr
