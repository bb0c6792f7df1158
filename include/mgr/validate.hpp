// `mgr validate`: the release gate's findings, as pure functions of the
// files, the config and each environment's history.
//
// The command (src/cmd_validate.cpp) only gathers inputs (catalog scan,
// history rows, server identities) and renders; every rule lives here so it
// is unit-tested without a database. Detection reuses the promotion policy
// (plan.hpp) so validate and apply can never disagree.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/diagnostic.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

// A finding is a Diagnostic (diagnostic.hpp): severity error, warning or
// info, a stable code (docs/operations.md; scripts match on it), the
// environment and migration it concerns ("" when none), the file and line for
// file findings, the message and one line of advice (`hint`).

// How lint findings count, from the environments' `lint` policies: the
// strictest one wins (any `block` -> errors stay errors; only `warn` ->
// errors become warnings; all `off` -> no lint findings).
LintPolicy strictest_lint_policy(const std::vector<const Environment*>& envs);

// From the files alone: the catalog's problems, and one migration's file
// rules, the ones apply and rollback enforce (SQL that does not parse, with
// file:line:col; empty files; transaction control). The lint findings come
// from the layer above (lint_findings.hpp, file_findings), which adds them to these.
std::vector<Diagnostic> catalog_findings(const CatalogScan& scan);
std::vector<Diagnostic> file_rule_findings(const Migration& m);

// One environment's history against the files: environment-mismatch,
// checksum-mismatch, missing-file, failed-migration, out-of-order.
std::vector<Diagnostic> environment_findings(const Catalog& catalog, const std::string& env,
                                             const std::vector<HistoryRow>& rows);

// What validate learned about one environment.
struct EnvironmentState {
  std::string name;
  std::optional<std::string> promote_from;
  bool reachable = false;
  std::string error;                 // why not reachable
  std::vector<HistoryRow> rows;      // its history (empty when the table is missing)
  std::string identity_key;          // ServerIdentity::key(), empty when unreachable
};

Diagnostic unreachable_finding(const std::string& env, const std::string& error);

// Across environments: same-database, promotion-order-broken, and the
// informational can-promote / can-apply. `states` in promotion order;
// `checked` names the environments the user asked about (the others are
// there only as promotion sources).
std::vector<Diagnostic> cross_environment_findings(const Catalog& catalog,
                                                   const std::vector<EnvironmentState>& states,
                                                   const std::vector<std::string>& checked);

// {"ok": bool, "findings": [...]}: each finding as diagnostic.hpp's to_json
// renders it, the message starting with the file's location as text shows it.
nlohmann::json findings_json(const std::vector<Diagnostic>& findings);

}  // namespace mgr
