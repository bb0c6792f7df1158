// The promotion policy: pure functions of the catalog and history rows.
//
// Decides what `apply` would run and every reason to refuse, and what each
// environment could take next. No I/O, so every rule is unit-tested without
// a database.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/diagnostic.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

// The id of the newest successfully applied migration among history rows,
// by compare_ids (rows may be in any order); nullopt when there is none.
std::optional<std::string> newest_applied(const std::vector<HistoryRow>& rows);

// Every reason to refuse is a Diagnostic (diagnostic.hpp) with its code
// (stable, docs/cli.md: scripts match on them), the migration it concerns
// (`migration`, "" when none), the message and a hint: checksum-mismatch,
// missing-file, failed-migration, out-of-order, environment-mismatch,
// not-in-source, source-checksum-differs, source-failed, source-unreachable,
// lint (added by apply), and the file rules below.

// History of the environment a target promotes from.
struct SourceHistory {
  std::string env;
  const std::vector<HistoryRow>* rows = nullptr;  // nullptr: unreachable
  std::string error;                              // why unreachable
};

struct PlanInput {
  const Catalog* catalog = nullptr;
  std::string env;
  const std::vector<HistoryRow>* applied = nullptr;  // the target's history, any order
  std::optional<SourceHistory> source;               // set when the env has promote_from
  std::optional<std::string> to;                     // apply up to and including this id
  bool allow_out_of_order = false;
};

struct Plan {
  std::vector<const Migration*> to_apply;  // in id order, bounded by `to`
  std::vector<Diagnostic> problems;        // non-empty: refuse
  std::string newest_applied;              // id of the newest successful row, "" when none
};

// Problems that exist whatever is pending: identity, checksums, missing files, failed rows.
std::vector<Diagnostic> check_history(const Catalog& catalog, const std::string& env,
                                   const std::vector<HistoryRow>& applied);

// The pending migrations (in the catalog, not recorded) in id order, bounded by `to`.
std::vector<const Migration*> pending_migrations(const Catalog& catalog, const std::vector<HistoryRow>& applied,
                                                 const std::optional<std::string>& to = std::nullopt);

// The promotion gate for `candidates`: each must be recorded in the source
// with success and the same checksum.
std::vector<Diagnostic> check_gate(const std::vector<const Migration*>& candidates, const SourceHistory& source);

// Pending migrations the gate would accept now, in order, stopping at the
// first one it would refuse (apply goes in order).
std::vector<const Migration*> promotable(const Catalog& catalog, const std::vector<HistoryRow>& applied,
                                         const std::vector<HistoryRow>& source_rows);

Plan make_plan(const PlanInput& in);

// The rules a migration file must pass before anything runs, one set for
// apply (the plan's up files), rollback (its down files) and validate (every
// file), so they can never disagree (codes in docs/cli.md); each diagnostic
// names the file, and the line (and column) where there is one:
//   parse-error          the file does not parse
//   empty-migration      an up file of comments only (an unedited `mgr new`)
//   empty-down           a down file of comments only: a rollback would remove the history row and undo
//                        nothing (severity warning: apply is not affected; rollback refuses it)
//   transaction-control  a BEGIN/COMMIT/ROLLBACK/... that mgr can neither fold into its transaction nor keep
//                        (file:line, why, and the way out); checked whatever the lint policy
enum class FileRole { up, down };
struct FileCheck {
  std::vector<Diagnostic> problems;
  // "file:line STATEMENT" of each statement folded into mgr's transaction (apply says so).
  std::vector<std::string> folded;
  bool parse_error() const;
};
FileCheck check_migration_file(const std::string& migration_id, const MigrationFile& file, FileRole role);

// The history row recording `m` in `env` (kind: apply | baseline), with the
// down file's checksum so a later rollback can tell whether it changed.
HistoryRow history_row_for(const Migration& m, const std::string& env, const std::string& kind,
                           const std::string& os_user);

}  // namespace mgr
