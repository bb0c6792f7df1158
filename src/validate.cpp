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

std::string catalog_advice(const std::string& code) {
  static const std::map<std::string, std::string> advice{
      {"invalid-name", "name files <digits>_<lower_snake_name>.sql and <digits>_<name>.down.sql (`mgr new` does)"},
      {"duplicate-id", "give one of the migrations a new, unused id (`mgr new` picks one)"},
      {"orphan-down", "add the matching up file, or delete the down file"},
      {"empty-file", "write the migration's SQL, or delete the file"},
      {"invalid-utf8", "save the file as UTF-8"},
      {"unknown-directive", "known directives are `-- mgr:no-transaction` and `-- mgr:allow <rule> reason: <why>`"},
      {"read-error", "check that the file exists and is readable"},
  };
  auto it = advice.find(code);
  return it == advice.end() ? "fix the file" : it->second;
}

// A finding from the file rules apply and rollback enforce. A comment-only
// down file is a warning: apply is not affected, and rollback refuses it itself.
Finding file_rule_finding(const Problem& p) {
  static const std::map<std::string, std::string> advice{
      {"parse-error", "fix the SQL at that position (PostgreSQL 15 grammar)"},
      {"empty-migration", "apply refuses it: write the migration's SQL, or delete the file"},
      {"empty-down", "rollback refuses it"},
      {"transaction-control", "apply and rollback refuse this file whatever the lint policy (docs/migrations.md)"},
  };
  auto it = advice.find(p.code);
  return {p.code == "empty-down" ? FindingSeverity::warning : FindingSeverity::error, p.code, std::nullopt,
          p.migration_id, p.message, it == advice.end() ? std::string() : it->second};
}

std::string history_advice(const std::string& code, const std::string& env) {
  if (code == "checksum-mismatch") {
    return "restore the file as it was applied, or run `mgr repair " + env + "` if the edit is deliberate";
  }
  if (code == "missing-file") return "restore the file from version control; mgr cannot roll back or verify it without it";
  if (code == "failed-migration") {
    return "inspect the database, finish or undo the partial change by hand, then run `mgr repair " + env + "`";
  }
  if (code == "out-of-order") {
    return "rename the file to an id newer than the newest applied one, or apply with --allow-out-of-order if intended";
  }
  if (code == "environment-mismatch") return "fix the url of '" + env + "' in environments.yaml";
  return "see docs/operations.md";
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

// libpq's messages span lines ("...\n\tIs the server running..."); a finding is one line.
std::string one_line(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

const char* to_string(FindingSeverity severity) {
  switch (severity) {
    case FindingSeverity::error: return "error";
    case FindingSeverity::warning: return "warning";
    case FindingSeverity::info: return "info";
  }
  return "error";
}

LintPolicy strictest_lint_policy(const std::vector<const Environment*>& envs) {
  LintPolicy out = LintPolicy::off;
  for (const auto* e : envs) {
    if (e->lint == LintPolicy::block) return LintPolicy::block;
    if (e->lint == LintPolicy::warn) out = LintPolicy::warn;
  }
  return out;
}

std::vector<Finding> catalog_findings(const CatalogScan& scan) {
  std::vector<Finding> out;
  for (const auto& p : scan.problems) {
    out.push_back({FindingSeverity::error, p.code, std::nullopt, id_from_file(p.path), p.format(),
                   catalog_advice(p.code)});
  }
  return out;
}

std::vector<Finding> file_rule_findings(const Migration& m) {
  std::vector<Finding> out;
  std::vector<const MigrationFile*> files{&m.up};
  if (m.down) files.push_back(&*m.down);
  // apply's and rollback's own file rules (plan.hpp), so validate passes nothing they refuse.
  for (const auto* file : files) {
    auto check = check_migration_file(m.id, *file, file == &m.up ? FileRole::up : FileRole::down);
    for (const auto& p : check.problems) out.push_back(file_rule_finding(p));
  }
  return out;
}

std::vector<Finding> environment_findings(const Catalog& catalog, const std::string& env,
                                          const std::vector<HistoryRow>& rows) {
  // make_plan holds every per-environment rule apply enforces (history checks
  // and out-of-order); without a source it adds no gate problems.
  PlanInput in;
  in.catalog = &catalog;
  in.env = env;
  in.applied = &rows;
  auto plan = make_plan(in);
  std::vector<Finding> out;
  for (const auto& p : plan.problems) {
    out.push_back({FindingSeverity::error, p.code, env,
                   p.migration_id.empty() ? std::nullopt : std::optional<std::string>(p.migration_id), p.message,
                   history_advice(p.code, env)});
  }
  return out;
}

Finding unreachable_finding(const std::string& env, const std::string& error) {
  return {FindingSeverity::error, "unreachable", env, std::nullopt, env + " could not be read: " + one_line(error),
          "check the url, the network and the credentials; the other environments were still checked"};
}

std::vector<Finding> cross_environment_findings(const Catalog& catalog, const std::vector<EnvironmentState>& states,
                                                const std::vector<std::string>& checked) {
  std::vector<Finding> out;
  auto is_checked = [&](const std::string& name) {
    return std::find(checked.begin(), checked.end(), name) != checked.end();
  };
  auto find_state = [&](const std::string& name) -> const EnvironmentState* {
    for (const auto& s : states) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };

  // Two names for one database: the identity, not the URL text, decides.
  for (std::size_t i = 0; i < states.size(); ++i) {
    for (std::size_t j = i + 1; j < states.size(); ++j) {
      const auto& a = states[i];
      const auto& b = states[j];
      if (!a.reachable || !b.reachable || a.identity_key.empty() || a.identity_key != b.identity_key) continue;
      if (!is_checked(a.name) && !is_checked(b.name)) continue;
      out.push_back({FindingSeverity::error, "same-database", b.name, std::nullopt,
                     a.name + " and " + b.name + " point at the same database (server " + a.identity_key +
                         ", as system_identifier:port:database), however their urls are spelled",
                     "give every environment its own database in environments.yaml"});
    }
  }

  for (const auto& e : states) {
    if (!is_checked(e.name) || !e.reachable) continue;
    if (!e.promote_from) {
      auto pending = pending_migrations(catalog, e.rows);
      out.push_back({FindingSeverity::info, "can-apply", e.name, std::nullopt,
                     pending.empty() ? e.name + " is up to date with the files"
                                     : e.name + " can take " + plural(pending.size(), "pending migration") + ": " +
                                           id_list(pending),
                     pending.empty() ? "" : "run `mgr apply " + e.name + "`"});
      continue;
    }
    const auto* s = find_state(*e.promote_from);
    if (s == nullptr || !s->reachable) continue;  // its unreachable finding says why

    // Index the source once by canonical id ("0001" == "1"): a lookup per row, not a scan (O(N^2)).
    std::unordered_map<std::string, const HistoryRow*> src_by_id;
    src_by_id.reserve(s->rows.size());
    for (const auto& sr : s->rows) src_by_id.emplace(canonical_id(sr.migration_id), &sr);
    for (const auto& r : e.rows) {
      if (!r.success) continue;  // failed-migration already covers it
      auto found = src_by_id.find(canonical_id(r.migration_id));
      const HistoryRow* src = found == src_by_id.end() ? nullptr : found->second;
      std::string label = r.migration_id + "_" + r.name;
      if (src == nullptr || !src->success) {
        out.push_back({FindingSeverity::error, "promotion-order-broken", e.name, r.migration_id,
                       e.name + " has " + label + " but " + s->name +
                           (src == nullptr ? " does not" : " has it only as failed") + " (" + e.name +
                           " promotes from " + s->name + ")",
                       "apply it in " + s->name + " too, or roll it back in " + e.name + " (`mgr rollback " + e.name +
                           "`)"});
      } else if (src->checksum != r.checksum) {
        out.push_back({FindingSeverity::error, "promotion-order-broken", e.name, r.migration_id,
                       label + " is recorded with another checksum in " + e.name + " (" + short_sum(r.checksum) +
                           "...) than in " + s->name + " (" + short_sum(src->checksum) + "...)",
                       "make both environments run the same file: roll back and re-apply where it differs, or "
                       "`mgr repair` after a deliberate edit"});
      }
    }

    auto pending = pending_migrations(catalog, e.rows);
    auto ready = promotable(catalog, e.rows, s->rows);
    std::string message;
    if (pending.empty()) {
      message = e.name + " is up to date with the files";
    } else {
      message = e.name + " can take " + plural(ready.size(), "migration") + " from " + s->name;
      if (!ready.empty()) message += ": " + id_list(ready);
      if (pending.size() > ready.size()) {
        message += "; " + std::to_string(pending.size() - ready.size()) + " more pending wait for " + s->name;
      }
    }
    out.push_back({FindingSeverity::info, "can-promote", e.name, std::nullopt, message,
                   ready.empty() ? (pending.empty() ? "" : "apply them in " + s->name + " first")
                                 : "run `mgr apply " + e.name + "`"});
  }
  return out;
}

bool has_errors(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == FindingSeverity::error; });
}

nlohmann::json finding_json(const Finding& f) {
  using json = nlohmann::json;
  return json{{"severity", to_string(f.severity)},
              {"code", f.code},
              {"environment", f.environment ? json(*f.environment) : json(nullptr)},
              {"migration", f.migration ? json(*f.migration) : json(nullptr)},
              {"message", f.message},
              {"advice", f.advice}};
}

nlohmann::json findings_json(const std::vector<Finding>& findings) {
  auto list = nlohmann::json::array();
  for (const auto& f : findings) list.push_back(finding_json(f));
  return nlohmann::json{{"ok", !has_errors(findings)}, {"findings", list}};
}

std::string format_finding(const Finding& f) {
  std::string sev = to_string(f.severity);
  sev.resize(7, ' ');
  std::string out = sev + " [" + f.code + "]";
  if (f.environment) out += " " + *f.environment;
  if (f.migration) out += " " + *f.migration;
  out += ": " + one_line(f.message);
  if (!f.advice.empty()) out += " -> " + one_line(f.advice);
  return out;
}

}  // namespace mgr
