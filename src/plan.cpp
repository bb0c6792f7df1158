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

Diagnostic problem(Code code, const std::string& migration_id, std::string message, std::string hint) {
  Diagnostic d;
  d.code = code;
  d.migration = migration_id;
  d.message = std::move(message);
  d.hint = std::move(hint);
  return d;
}

Diagnostic file_problem(Code code, const std::string& migration_id, const MigrationFile& file, int line, int column,
                        std::string message, std::string hint) {
  auto d = problem(code, migration_id, std::move(message), std::move(hint));
  d.file = file.path;
  d.line = line;
  d.column = column;
  return d;
}

}  // namespace

bool FileCheck::parse_error() const { return has_code(problems, Code::parse_error); }

FileCheck check_migration_file(const std::string& migration_id, const MigrationFile& file, FileRole role) {
  FileCheck out;
  auto control = analyse_transaction_control(file.sql, !file.directives.no_transaction);
  if (control.error) {
    out.problems.push_back(file_problem(Code::parse_error, migration_id, file, control.error->pos.line,
                                        control.error->pos.col, "does not parse: " + control.error->message,
                                        "fix the SQL at that position (PostgreSQL 15 grammar)"));
    return out;
  }
  if (control.statement_count == 0) {
    if (role == FileRole::up) {
      out.problems.push_back(file_problem(Code::empty_migration, migration_id, file, 0, 0,
                                          "contains no SQL statement (only comments); write it or delete it",
                                          "apply refuses it: write the migration's SQL, or delete the file"));
    } else {
      // A warning: apply is not affected, and rollback refuses any problem of its down file.
      auto d = file_problem(Code::empty_down, migration_id, file, 0, 0,
                            "contains no SQL statement (only comments): a rollback would remove the history row "
                            "and undo nothing; write the SQL that undoes the migration, or delete the file",
                            "rollback refuses it");
      d.severity = Severity::warning;
      out.problems.push_back(std::move(d));
    }
    return out;
  }
  for (const auto& t : control.statements) {
    if (t.fate == TransactionStatement::Fate::folded) {
      out.folded.push_back(file.path.string() + ":" + std::to_string(t.pos.line) + " " + t.text);
    }
    if (t.fate == TransactionStatement::Fate::refused) {
      out.problems.push_back(file_problem(
          Code::transaction_control, migration_id, file, t.pos.line, 0,
          t.text + ": " + t.reason + "; nothing runs. " + no_transaction_way_out(file),
          "apply and rollback refuse this file whatever the lint policy (docs/migrations.md)"));
    }
  }
  return out;
}

std::vector<Diagnostic> check_history(const Catalog& catalog, const std::string& env,
                                      const std::vector<HistoryRow>& applied) {
  std::vector<Diagnostic> problems;
  std::set<std::string> other_envs;
  for (const auto& r : applied) {
    if (r.environment != env) other_envs.insert(r.environment);
  }
  for (const auto& other : other_envs) {
    problems.push_back(problem(Code::environment_mismatch, "",
                               "this database's history records environment '" + other + "', not '" + env +
                                   "': the URL configured for '" + env + "' points at the database of '" + other +
                                   "'; fix the URL in the config",
                               "fix the url of '" + env + "' in environments.yaml"));
  }
  for (const auto& r : applied) {
    const Migration* m = catalog.find(r.migration_id);  // numeric: "1" is 0001
    if (!r.success) {
      problems.push_back(problem(Code::failed_migration, r.migration_id,
                                 r.migration_id + "_" + r.name + " failed in " + env + " at " + r.applied_at +
                                     ": the database may be half-changed. Inspect it, finish or undo the partial "
                                     "change by hand, then run `mgr repair " + env + "` and apply again",
                                 "inspect the database, finish or undo the partial change by hand, then run `mgr "
                                 "repair " + env + "`"));
      continue;
    }
    if (m == nullptr) {
      problems.push_back(problem(Code::missing_file, r.migration_id,
                                 r.migration_id + "_" + r.name + " is applied in " + env +
                                     " but its file is gone from the migrations directory; restore the file",
                                 "restore the file from version control; mgr cannot roll back or verify it without "
                                 "it"));
    } else if (m->up.checksum != r.checksum) {
      problems.push_back(problem(Code::checksum_mismatch, r.migration_id,
                                 m->up.path.filename().string() + " changed after it was applied in " + env +
                                     ": recorded " + short_sum(r.checksum) + "..., file now " +
                                     short_sum(m->up.checksum) + "...; restore the file, or run `mgr repair " + env +
                                     "` if the edit is deliberate",
                                 "restore the file as it was applied, or run `mgr repair " + env +
                                     "` if the edit is deliberate"));
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

std::vector<Diagnostic> check_gate(const std::vector<const Migration*>& candidates, const SourceHistory& source) {
  std::vector<Diagnostic> problems;
  if (candidates.empty()) return problems;
  if (source.rows == nullptr) {
    problems.push_back(problem(Code::source_unreachable, "",
                               "cannot check the promotion gate: '" + source.env + "' is unreachable (" +
                                   source.error + "); mgr will not promote without seeing it",
                               "make '" + source.env + "' reachable (url, network, credentials), then apply again"));
    return problems;
  }
  auto by_id = index_rows(*source.rows);
  for (const auto* m : candidates) {
    auto it = by_id.find(canonical_id(m->id));
    if (it == by_id.end()) {
      problems.push_back(problem(Code::not_in_source, m->id,
                                 m->label() + " has not been applied in " + source.env + "; apply it there first",
                                 "run `mgr apply " + source.env + "` first"));
    } else if (!it->second->success) {
      problems.push_back(problem(Code::source_failed, m->id,
                                 m->label() + " failed in " + source.env + "; repair it there first",
                                 "fix it in " + source.env + " and run `mgr repair " + source.env + "`"));
    } else if (it->second->checksum != m->up.checksum) {
      problems.push_back(problem(Code::source_checksum_differs, m->id,
                                 m->label() + " was applied in " + source.env + " with another checksum (" +
                                     short_sum(it->second->checksum) + "... there, " + short_sum(m->up.checksum) +
                                     "... in the file): the file changed after " + source.env + " got it",
                                 "restore the file as " + source.env + " ran it, or run `mgr repair " + source.env +
                                     "` if the edit is deliberate"));
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
        plan.problems.push_back(problem(Code::out_of_order, m->id,
                                        m->label() + " is older than " + plan.newest_applied +
                                            ", the newest migration applied in " + in.env +
                                            "; rename it to a newer id, or pass --allow-out-of-order if that is "
                                            "intended",
                                        "rename the file to an id newer than the newest applied one, or apply with "
                                        "--allow-out-of-order if intended"));
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
