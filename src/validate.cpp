#include "mgr/validate.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <nlohmann/json.hpp>

#include "mgr/plan.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

std::string short_sum(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) : s; }

// The id a migration file name starts with ("0003_add_x.sql" -> "0003"), so a
// file problem can still name its migration; nullopt when there is none.
std::optional<std::string> id_from_file(const std::filesystem::path& path) {
  auto name = path.filename().string();
  std::size_t n = 0;
  while (n < name.size() && name[n] >= '0' && name[n] <= '9') ++n;
  if (n == 0 || n >= name.size() || name[n] != '_') return std::nullopt;
  return name.substr(0, n);
}

std::string id_list(const std::vector<const Migration*>& ms) {
  std::vector<std::string> ids;
  for (const auto* m : ms) {
    if (ids.size() == 5) {
      ids.push_back("...");
      break;
    }
    ids.push_back(m->id);
  }
  return join(ids, ", ");
}

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

LintPolicy strictest_lint_policy(const std::vector<const Environment*>& envs) {
  LintPolicy out = LintPolicy::off;
  for (const auto* e : envs) {
    if (e->lint == LintPolicy::block) return LintPolicy::block;
    if (e->lint == LintPolicy::warn) out = LintPolicy::warn;
  }
  return out;
}

std::vector<Diagnostic> catalog_findings(const CatalogScan& scan) {
  std::vector<Diagnostic> out;
  for (auto p : scan.problems) {
    p.migration = id_from_file(p.file).value_or("");
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<Diagnostic> file_rule_findings(const Migration& m) {
  std::vector<Diagnostic> out;
  // apply's and rollback's own file rules (plan.hpp), so validate passes nothing they refuse.
  auto up = check_migration_file(m.id, m.up, FileRole::up);
  out.insert(out.end(), up.problems.begin(), up.problems.end());
  if (m.down) {
    auto down = check_migration_file(m.id, *m.down, FileRole::down);
    out.insert(out.end(), down.problems.begin(), down.problems.end());
  }
  return out;
}

std::vector<Diagnostic> environment_findings(const Catalog& catalog, const std::string& env,
                                             const std::vector<HistoryRow>& rows) {
  // make_plan holds every per-environment rule apply enforces (history checks
  // and out-of-order); without a source it adds no gate problems.
  PlanInput in;
  in.catalog = &catalog;
  in.env = env;
  in.applied = &rows;
  auto out = make_plan(in).problems;
  for (auto& d : out) d.environment = env;
  return out;
}

namespace {

Diagnostic finding(Code code, Severity severity, const std::string& env, const std::string& migration,
                   std::string message, std::string hint) {
  Diagnostic d;
  d.code = code;
  d.severity = severity;
  d.environment = env;
  d.migration = migration;
  d.message = std::move(message);
  d.hint = std::move(hint);
  return d;
}

// Two names for one database: the identity, not the URL text, decides.
void same_database_findings(const std::vector<EnvironmentState>& states, const std::vector<std::string>& checked,
                            std::vector<Diagnostic>& out) {
  auto is_checked = [&](const std::string& name) {
    return std::find(checked.begin(), checked.end(), name) != checked.end();
  };
  for (std::size_t i = 0; i < states.size(); ++i) {
    for (std::size_t j = i + 1; j < states.size(); ++j) {
      const auto& a = states[i];
      const auto& b = states[j];
      if (!a.reachable || !b.reachable || a.identity_key.empty() || a.identity_key != b.identity_key) continue;
      if (!is_checked(a.name) && !is_checked(b.name)) continue;
      out.push_back(finding(Code::same_database, Severity::error, b.name, "",
                            a.name + " and " + b.name + " point at the same database (server " + a.identity_key +
                                ", as system_identifier:port:database), however their urls are spelled",
                            "give every environment its own database in environments.yaml"));
    }
  }
}

// Every successful row of `e` must be in its source `s` with the same checksum.
void promotion_order_findings(const EnvironmentState& e, const EnvironmentState& s, std::vector<Diagnostic>& out) {
  // Index the source once by canonical id ("0001" == "1"): a lookup per row, not a scan (O(N^2)).
  std::unordered_map<std::string, const HistoryRow*> src_by_id;
  src_by_id.reserve(s.rows.size());
  for (const auto& sr : s.rows) src_by_id.emplace(canonical_id(sr.migration_id), &sr);
  for (const auto& r : e.rows) {
    if (!r.success) continue;  // failed-migration already covers it
    auto found = src_by_id.find(canonical_id(r.migration_id));
    const HistoryRow* src = found == src_by_id.end() ? nullptr : found->second;
    std::string label = r.migration_id + "_" + r.name;
    if (src == nullptr || !src->success) {
      out.push_back(finding(Code::promotion_order_broken, Severity::error, e.name, r.migration_id,
                            e.name + " has " + label + " but " + s.name +
                                (src == nullptr ? " does not" : " has it only as failed") + " (" + e.name +
                                " promotes from " + s.name + ")",
                            "apply it in " + s.name + " too, or roll it back in " + e.name + " (`mgr rollback " +
                                e.name + "`)"));
    } else if (src->checksum != r.checksum) {
      out.push_back(finding(Code::promotion_order_broken, Severity::error, e.name, r.migration_id,
                            label + " is recorded with another checksum in " + e.name + " (" + short_sum(r.checksum) +
                                "...) than in " + s.name + " (" + short_sum(src->checksum) + "...)",
                            "make both environments run the same file: roll back and re-apply where it differs, "
                            "or `mgr repair` after a deliberate edit"));
    }
  }
}

Diagnostic can_apply_finding(const Catalog& catalog, const EnvironmentState& e) {
  auto pending = pending_migrations(catalog, e.rows);
  return finding(Code::can_apply, Severity::info, e.name, "",
                 pending.empty() ? e.name + " is up to date with the files"
                                 : e.name + " can take " + plural(pending.size(), "pending migration") + ": " +
                                       id_list(pending),
                 pending.empty() ? "" : "run `mgr apply " + e.name + "`");
}

Diagnostic can_promote_finding(const Catalog& catalog, const EnvironmentState& e, const EnvironmentState& s) {
  auto pending = pending_migrations(catalog, e.rows);
  auto ready = promotable(catalog, e.rows, s.rows);
  std::string message;
  if (pending.empty()) {
    message = e.name + " is up to date with the files";
  } else {
    message = e.name + " can take " + plural(ready.size(), "migration") + " from " + s.name;
    if (!ready.empty()) message += ": " + id_list(ready);
    if (pending.size() > ready.size()) {
      message += "; " + std::to_string(pending.size() - ready.size()) + " more pending wait for " + s.name;
    }
  }
  return finding(Code::can_promote, Severity::info, e.name, "", message,
                 ready.empty() ? (pending.empty() ? "" : "apply them in " + s.name + " first")
                               : "run `mgr apply " + e.name + "`");
}

}  // namespace

Diagnostic unreachable_finding(const std::string& env, const std::string& error) {
  return finding(Code::unreachable, Severity::error, env, "", env + " could not be read: " + one_line(error),
                 "check the url, the network and the credentials; the other environments were still checked");
}

std::vector<Diagnostic> cross_environment_findings(const Catalog& catalog,
                                                   const std::vector<EnvironmentState>& states,
                                                   const std::vector<std::string>& checked) {
  std::vector<Diagnostic> out;
  same_database_findings(states, checked, out);
  for (const auto& e : states) {
    if (std::find(checked.begin(), checked.end(), e.name) == checked.end() || !e.reachable) continue;
    if (!e.promote_from) {
      out.push_back(can_apply_finding(catalog, e));
      continue;
    }
    auto s = std::find_if(states.begin(), states.end(),
                          [&](const EnvironmentState& x) { return x.name == *e.promote_from; });
    if (s == states.end() || !s->reachable) continue;  // its unreachable finding says why
    promotion_order_findings(e, *s, out);
    out.push_back(can_promote_finding(catalog, e, *s));
  }
  return out;
}

nlohmann::json findings_json(const std::vector<Diagnostic>& findings) {
  return nlohmann::json{{"ok", !has_errors(findings)}, {"findings", to_json(findings)}};
}

}  // namespace mgr
