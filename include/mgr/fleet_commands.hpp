// The commands on a fleet (src/cmd_fleet*.cpp): apply to every database
// through a bounded pool, status and validate counts, and --database for
// the commands that work on one database. docs/fleets.md.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/fleet.hpp"

namespace mgr {

struct FleetOptions {
  std::optional<std::string> shard;      // --shard K/N
  std::optional<int> parallel;           // --parallel N (else the environment's `parallel`)
  std::optional<OnError> on_error;       // --on-error stop|continue
  std::optional<std::string> database;   // --database NAME
  bool databases = false;                // status --databases: one line per database
};

// The databases of a fleet environment: `databases:` as listed, or the rows
// of `databases_query` (one connection to the catalog database).
std::vector<FleetMember> resolve_fleet(const Config& config, const Environment& env);

// mgr apply on a fleet; nullopt when `opts.env` is not a fleet (the caller
// runs the single-database apply).
std::optional<int> run_fleet_apply(const GlobalOptions& global, const ApplyOptions& opts, const FleetOptions& fleet);

// --database NAME for a command on one environment (backup, backups,
// rollback, drift, log, reset): checks it and makes load_config return that
// database in place of the fleet. Without it, a fleet is a UsageError.
void select_fleet_database(const GlobalOptions& global, const std::string& env, const FleetOptions& fleet,
                           const std::string& command);

// Runs `job(i)` for i in [0, count) on at most `parallel` threads; stops
// handing out new indexes once `stop()` is true. Returns how many started.
std::size_t run_bounded(std::size_t count, int parallel, const std::function<void(std::size_t)>& job,
                        const std::function<bool()>& stop, const std::function<void()>& tick);

// mgr status / validate on fleets: every database read through the bounded
// pool (its history, and its drift unless `drift: off`).
struct FleetReport {
  std::string env;
  FleetCounts counts;
  std::map<std::string, int> applied_by_id;  // canonical id -> databases where it is applied
  nlohmann::json json;                        // the counts and, with `databases`, each database
  std::vector<std::string> problems;          // each database behind/ahead/failed/drifted/unreachable
  struct Issue {
    std::string database;
    std::string kind;  // behind | ahead | failed | drifted | unreachable
    std::string message;
  };
  std::vector<Issue> issues;                  // the same, as values (validate)
  bool refuse = false;                        // a database apply would refuse (failed, ahead, drifted under block)
};
std::vector<FleetReport> fleet_reports(const Config& config, const Catalog& catalog,
                                       const std::vector<const Environment*>& fleets, bool databases);
// Moves the fleets out of `envs` (status and validate show them apart).
std::vector<const Environment*> take_fleets(std::vector<const Environment*>& envs);
// status's exit code with the fleets: 1 when a database is unreachable, else 3 when one would be refused.
int fleet_status_exit_code(int exit_code, const std::vector<FleetReport>& reports);
// The fleet's cell in status's migration row: "498/500".
std::string fleet_cell(const FleetReport& report, const std::string& migration_id);
// The text lines status prints under the table (per database with `databases`).
void print_fleet_reports(const std::vector<FleetReport>& reports, bool databases, bool color);
nlohmann::json fleet_reports_json(const std::vector<FleetReport>& reports);
// validate: a finding per database behind, ahead, failed, drifted or unreachable, and the counts (info).
struct Diagnostic;
void add_fleet_findings(const Config& config, const Catalog& catalog, const Environment& env,
                        std::vector<Diagnostic>& findings);

}  // namespace mgr
