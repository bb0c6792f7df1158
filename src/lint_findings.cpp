#include "mgr/lint_findings.hpp"

#include <string>

namespace mgr {

namespace {

std::string where(const std::filesystem::path& path, const LineCol& pos) {
  return path.string() + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

}  // namespace

std::vector<Finding> file_findings(const CatalogScan& scan, const LintSettings& settings, LintPolicy lint_policy) {
  auto out = catalog_findings(scan);
  for (const auto& m : scan.catalog.migrations) {
    auto rules = file_rule_findings(m);
    out.insert(out.end(), rules.begin(), rules.end());
    if (lint_policy == LintPolicy::off) continue;
    std::vector<const MigrationFile*> files{&m.up};
    if (m.down) files.push_back(&*m.down);
    for (const auto* file : files) {
      LintSettings s = settings;
      // A down file runs against prod too; what its up file created it may remove.
      if (file != &m.up) s.rollback_of = &m.up;
      for (const auto& f : lint_migration(*file, s).findings) {
        // Parse errors and refused transaction statements are reported above, once.
        if (f.allowed || f.rule == "parse-error" ||
            (f.rule == "transaction-control" && f.severity == Severity::error)) {
          continue;
        }
        bool error = f.severity == Severity::error && lint_policy == LintPolicy::block;
        std::string advice = f.advice;
        if (f.severity == Severity::error && find_lint_rule(f.rule) != nullptr && f.rule.rfind("allow-", 0) != 0) {
          // Some rules' advice already says "with an allow and a reason": then only the syntax is added.
          bool says_allow = advice.find("allow") != std::string::npos;
          advice += (says_allow ? ": `" : " (if intended: `") + std::string("-- mgr:allow ") + f.rule + " reason: <why>`" +
                    (says_allow ? "" : ")");
        }
        out.push_back({error ? FindingSeverity::error : FindingSeverity::warning, "lint-" + f.rule, std::nullopt, m.id,
                       where(f.path, f.pos) + ": " + f.message, advice});
      }
    }
  }
  return out;
}

}  // namespace mgr
