#include "mgr/lint_findings.hpp"

namespace mgr {

namespace {

// The lint findings of one migration's files that validate reports, counted
// per the strictest policy.
void lint_findings(const Migration& m, const LintSettings& settings, LintPolicy lint_policy,
                   std::vector<Diagnostic>& out) {
  std::vector<const MigrationFile*> files{&m.up};
  if (m.down) files.push_back(&*m.down);
  for (const auto* file : files) {
    LintSettings s = settings;
    // A down file runs against prod too; what its up file created it may remove.
    if (file != &m.up) s.rollback_of = &m.up;
    for (auto& f : lint_migration(*file, s).findings) {
      // Parse errors and refused transaction statements are reported by the file rules, once.
      if (f.allowed || f.code == Code::lint_parse_error ||
          (f.code == Code::lint_transaction_control && f.severity == Severity::error)) {
        continue;
      }
      const bool is_error = f.severity == Severity::error;
      if (is_error && f.code != Code::lint_allow_without_reason && f.code != Code::lint_allow_unknown_rule) {
        // Some rules' advice already says "with an allow and a reason": then only the syntax is added.
        bool says_allow = f.hint.find("allow") != std::string::npos;
        f.hint += (says_allow ? ": `" : " (if intended: `") + std::string("-- mgr:allow ") + std::string(f.rule()) +
                  " reason: <why>`" + (says_allow ? "" : ")");
      }
      f.severity = is_error && lint_policy == LintPolicy::block ? Severity::error : Severity::warning;
      f.migration = m.id;
      out.push_back(std::move(f));
    }
  }
}

}  // namespace

std::vector<Diagnostic> file_findings(const CatalogScan& scan, const LintSettings& settings, LintPolicy lint_policy) {
  auto out = catalog_findings(scan);
  for (const auto& m : scan.catalog.migrations) {
    auto rules = file_rule_findings(m);
    out.insert(out.end(), rules.begin(), rules.end());
    if (lint_policy != LintPolicy::off) lint_findings(m, settings, lint_policy, out);
  }
  return out;
}

}  // namespace mgr
