// validate on a fleet: a finding for every database behind, ahead, failed,
// drifted or unreachable.
#include "mgr/fleet_commands.hpp"
#include "mgr/validate.hpp"

namespace mgr {

void add_fleet_findings(const Config& config, const Catalog& catalog, const Environment& env,
                        std::vector<Finding>& findings) {
  const auto reports = fleet_reports(config, catalog, {&env}, false);
  for (const auto& issue : reports.front().issues) {
    Finding f;
    f.code = "fleet-" + issue.kind;
    f.environment = env.name;
    f.message = issue.message;
    // Behind is a fleet out of step, not a broken database: apply catches it up.
    f.severity = issue.kind == "behind" ? FindingSeverity::warning
                 : issue.kind == "drifted" && env.drift != DriftPolicy::block ? FindingSeverity::warning
                                                                               : FindingSeverity::error;
    f.advice = issue.kind == "behind"   ? "mgr apply " + env.name + " catches it up"
               : issue.kind == "drifted" ? "mgr drift " + env.name + " --database " + issue.database
                                         : "mgr status " + env.name + " --databases";
    findings.push_back(std::move(f));
  }
  const auto& c = reports.front().counts;
  findings.push_back({FindingSeverity::info, "fleet", env.name, std::nullopt,
                      env.name + ": fleet of " + std::to_string(c.total) + " databases: " + c.text(), ""});
}

}  // namespace mgr
