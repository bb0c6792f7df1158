// `mgr validate`'s findings from the files, lint included. In the lint layer
// because the linter is: validate's own rules (validate.hpp) stay in the pure
// core, which does not know the lint rules (docs/ARCHITECTURE.md, "Layers").
#pragma once

#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/lint.hpp"
#include "mgr/validate.hpp"

namespace mgr {

// From the files alone: catalog problems, SQL that does not parse (up and
// down files, with file:line:col), and lint findings per `lint_policy`, per
// migration in id order.
std::vector<Diagnostic> file_findings(const CatalogScan& scan, const LintSettings& settings, LintPolicy lint_policy);

}  // namespace mgr
