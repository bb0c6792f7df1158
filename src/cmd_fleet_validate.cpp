// validate on a fleet: a finding for every database behind, ahead, failed,
// drifted or unreachable.
#include "mgr/fleet_commands.hpp"
#include "mgr/validate.hpp"

namespace mgr {

void add_fleet_findings(const Config& config, const Catalog& catalog, const Environment& env,
                        std::vector<Diagnostic>& findings) {
  const auto reports = fleet_reports(config, catalog, {&env}, false);
  for (const auto& issue : reports.front().issues) {
    Diagnostic f;
    f.code = issue.kind == "behind"    ? Code::fleet_behind
             : issue.kind == "ahead"   ? Code::fleet_ahead
             : issue.kind == "failed"  ? Code::fleet_failed
             : issue.kind == "drifted" ? Code::fleet_drifted
                                       : Code::fleet_unreachable;
    f.environment = env.name;
    f.message = issue.message;
    // Behind is a fleet out of step, not a broken database: apply catches it up.
    f.severity = issue.kind == "behind" ? Severity::warning
                 : issue.kind == "drifted" && env.drift != DriftPolicy::block ? Severity::warning
                                                                               : Severity::error;
    f.hint = issue.kind == "behind"   ? "mgr apply " + env.name + " catches it up"
               : issue.kind == "drifted" ? "mgr drift " + env.name + " --database " + issue.database
                                         : "mgr status " + env.name + " --databases";
    findings.push_back(std::move(f));
  }
  const auto& c = reports.front().counts;
  auto summary = diagnostic(Code::fleet, env.name + ": fleet of " + std::to_string(c.total) + " databases: " + c.text());
  summary.severity = Severity::info;
  summary.environment = env.name;
  findings.push_back(std::move(summary));
}

}  // namespace mgr
