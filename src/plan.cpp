#include "mgr/plan.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "mgr/sql.hpp"

namespace mgr {

namespace {

std::string short_sum(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) : s; }

std::unordered_map<std::string, const HistoryRow*> index_rows(const std::vector<HistoryRow>& rows) {
  std::unordered_map<std::string, const HistoryRow*> by_id;
  by_id.reserve(rows.size());
  for (const auto& r : rows) by_id.emplace(canonical_id(r.migration_id), &r);
  return by_id;
}

std::string no_transaction_way_out(const MigrationFile& file) {
  if (file.directives.no_transaction) {
    return "balance the file's blocks: each BEGIN/START TRANSACTION closed by COMMIT/END or ROLLBACK, without "
           "nesting";
  }
  return "mgr runs this file in one transaction of its own; to run it as written, start it with "
         "`-- mgr:no-transaction` (explicit BEGIN/COMMIT blocks then group its statements)";
}

}  // namespace

bool FileCheck::parse_error() const {
  return std::any_of(problems.begin(), problems.end(), [](const Problem& p) { return p.code == "parse-error"; });
}

FileCheck check_migration_file(const std::string& migration_id, const MigrationFile& file, FileRole role) {
  FileCheck out;
  const auto path = file.path.string();
  auto control = analyse_transaction_control(file.sql, !file.directives.no_transaction);
  if (control.error) {
    out.problems.push_back({"parse-error", migration_id,
                            path + ":" + std::to_string(control.error->pos.line) + ":" +
                                std::to_string(control.error->pos.col) + ": does not parse: " + control.error->message});
    return out;
  }
  if (control.statement_count == 0) {
    if (role == FileRole::up) {
      out.problems.push_back({"empty-migration", migration_id,
                              path + " contains no SQL statement (only comments); write it or delete it"});
    } else {
      out.problems.push_back({"empty-down", migration_id,
                              path + " contains no SQL statement (only comments): a rollback would remove the "
                                     "history row and undo nothing; write the SQL that undoes the migration, or "
                                     "delete the file"});
    }
    return out;
  }
  for (const auto& t : control.statements) {
    auto where = path + ":" + std::to_string(t.pos.line);
    if (t.fate == TransactionStatement::Fate::folded) out.folded.push_back(where + " " + t.text);
    if (t.fate == TransactionStatement::Fate::refused) {
      out.problems.push_back({"transaction-control", migration_id,
                              where + ": " + t.text + ": " + t.reason + "; nothing runs. " +
                                  no_transaction_way_out(file)});
    }
  }
  return out;
}

std::vector<Problem> check_history(const Catalog& catalog, const std::string& env,
                                   const std::vector<HistoryRow>& applied) {
  std::vector<Problem> problems;
  std::set<std::string> other_envs;
  for (const auto& r : applied) {
    if (r.environment != env) other_envs.insert(r.environment);
  }
  for (const auto& other : other_envs) {
    problems.push_back({"environment-mismatch", "",
                        "this database's history records environment '" + other + "', not '" + env +
                            "': the URL configured for '" + env + "' points at the database of '" + other +
                            "'; fix the URL in the config"});
  }
  for (const auto& r : applied) {
    const Migration* m = catalog.find(r.migration_id);  // numeric: "1" is 0001
    if (!r.success) {
      problems.push_back({"failed-migration", r.migration_id,
                          r.migration_id + "_" + r.name + " failed in " + env + " at " + r.applied_at +
                              ": the database may be half-changed. Inspect it, finish or undo the partial change by "
                              "hand, then run `mgr repair " + env + "` and apply again"});
      continue;
    }
    if (m == nullptr) {
      problems.push_back({"missing-file", r.migration_id,
                          r.migration_id + "_" + r.name + " is applied in " + env +
                              " but its file is gone from the migrations directory; restore the file"});
    } else if (m->up.checksum != r.checksum) {
      problems.push_back({"checksum-mismatch", r.migration_id,
                          m->up.path.filename().string() + " changed after it was applied in " + env +
                              ": recorded " + short_sum(r.checksum) + "..., file now " + short_sum(m->up.checksum) +
                              "...; restore the file, or run `mgr repair " + env + "` if the edit is deliberate"});
    }
  }
  return problems;
}

std::vector<const Migration*> pending_migrations(const Catalog& catalog, const std::vector<HistoryRow>& applied,
                                                 const std::optional<std::string>& to) {
  std::unordered_set<std::string> recorded;
  recorded.reserve(applied.size());
  for (const auto& r : applied) recorded.insert(canonical_id(r.migration_id));
  std::vector<const Migration*> out;
  for (const auto& m : catalog.migrations) {
    if (to && compare_ids(m.id, *to) > 0) break;
    if (recorded.count(canonical_id(m.id)) == 0) out.push_back(&m);
  }
  return out;
}

std::vector<Problem> check_gate(const std::vector<const Migration*>& candidates, const SourceHistory& source) {
  std::vector<Problem> problems;
  if (candidates.empty()) return problems;
  if (source.rows == nullptr) {
    problems.push_back({"source-unreachable", "",
                        "cannot check the promotion gate: '" + source.env + "' is unreachable (" + source.error +
                            "); mgr will not promote without seeing it"});
    return problems;
  }
  auto by_id = index_rows(*source.rows);
  for (const auto* m : candidates) {
    auto it = by_id.find(canonical_id(m->id));
    if (it == by_id.end()) {
      problems.push_back({"not-in-source", m->id,
                          m->label() + " has not been applied in " + source.env + "; apply it there first"});
    } else if (!it->second->success) {
      problems.push_back({"source-failed", m->id, m->label() + " failed in " + source.env + "; repair it there first"});
    } else if (it->second->checksum != m->up.checksum) {
      problems.push_back({"source-checksum-differs", m->id,
                          m->label() + " was applied in " + source.env + " with another checksum (" +
                              short_sum(it->second->checksum) + "... there, " + short_sum(m->up.checksum) +
                              "... in the file): the file changed after " + source.env + " got it"});
    }
  }
  return problems;
}

std::vector<const Migration*> promotable(const Catalog& catalog, const std::vector<HistoryRow>& applied,
                                         const std::vector<HistoryRow>& source_rows) {
  std::vector<const Migration*> out;
  auto by_id = index_rows(source_rows);
  for (const auto* m : pending_migrations(catalog, applied)) {
    auto it = by_id.find(canonical_id(m->id));
    if (it == by_id.end() || !it->second->success || it->second->checksum != m->up.checksum) break;
    out.push_back(m);
  }
  return out;
}

HistoryRow history_row_for(const Migration& m, const std::string& env, const std::string& kind,
                           const std::string& os_user) {
  HistoryRow row;
  row.migration_id = m.id;
  row.name = m.name;
  row.checksum = m.up.checksum;
  row.environment = env;
  row.applied_by = os_user;
  row.success = true;
  row.mgr_version = MGR_VERSION;
  row.kind = kind;
  if (m.down) row.down_checksum = m.down->checksum;
  return row;
}

Plan make_plan(const PlanInput& in) {
  Plan plan;
  const auto& applied = *in.applied;
  plan.problems = check_history(*in.catalog, in.env, applied);
  plan.newest_applied = newest_applied(applied).value_or("");
  plan.to_apply = pending_migrations(*in.catalog, applied, in.to);
  if (!in.allow_out_of_order && !plan.newest_applied.empty()) {
    for (const auto* m : plan.to_apply) {
      if (compare_ids(m->id, plan.newest_applied) < 0) {
        plan.problems.push_back({"out-of-order", m->id,
                                 m->label() + " is older than " + plan.newest_applied +
                                     ", the newest migration applied in " + in.env +
                                     "; rename it to a newer id, or pass --allow-out-of-order if that is intended"});
      }
    }
  }
  if (in.source) {
    auto gate = check_gate(plan.to_apply, *in.source);
    plan.problems.insert(plan.problems.end(), gate.begin(), gate.end());
  }
  return plan;
}

std::optional<std::string> newest_applied(const std::vector<HistoryRow>& rows) {
  const HistoryRow* newest = nullptr;
  for (const auto& r : rows) {
    if (r.success && (newest == nullptr || compare_ids(r.migration_id, newest->migration_id) > 0)) newest = &r;
  }
  return newest == nullptr ? std::nullopt : std::optional<std::string>(newest->migration_id);
}

}  // namespace mgr
