// Safety analysis of migration SQL: findings, the rule registry and
// `-- mgr:allow` handling. Every decision comes from PostgreSQL's parse tree
// (mgr/sql.hpp); no regex over SQL text. Pure: no database, no output.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/diagnostic.hpp"
#include "mgr/text.hpp"

namespace mgr {

// A finding is a Diagnostic (diagnostic.hpp) with a lint rule's code
// (Code::lint_drop_column; `rule()` is its id, "drop-column"), severity error
// or warning, the file, line and column of the statement or node, the message,
// the safer way as its hint, and `allowed`/`allow_reason` from `-- mgr:allow`.

struct LintSettings {
  int pg_version = 12;  // which statements rewrite a table depends on it
  // A down migration, linted with its up file: every lock and data-loss rule
  // applies (a rollback runs against prod too), except on the objects the up
  // file created (dropping them is what a rollback is for). No hygiene rules.
  const MigrationFile* rollback_of = nullptr;
  // A down migration whose up file is not at hand: only the rules that make a
  // file fail to run (parse-error, transaction-control, concurrently-in-transaction).
  bool runtime_only = false;
};

struct LintResult {
  std::vector<Diagnostic> findings;  // by line and column
  // An unallowed error finding.
  bool has_blocking() const;
  // Rules allowed in this file that were actually hit (for the history row), sorted.
  std::vector<std::string> allowed_rules() const;
};

LintResult lint_migration(const MigrationFile& file, const LintSettings& settings);

struct RuleInfo {
  Code code;  // a lint rule code
  Severity severity;
  std::string summary;
  std::string advice;
  std::string bad_example;
  std::string good_example;
  std::string id() const { return std::string(lint_rule_id(code)); }  // "drop-column"
};

// Every rule, in documentation order.
const std::vector<RuleInfo>& lint_rules();

// nullptr for an unknown id.
const RuleInfo* find_lint_rule(const std::string& id);
const RuleInfo& find_lint_rule(Code code);  // code: a lint rule

// What PostgreSQL 15 does for each DDL command and ALTER TABLE subcommand
// (from each command's reference page and "Explicit Locking"), and which rule
// covers it. The lock rules read it; docs/lint-rules.md shows it, generated.
struct LockTableRow {
  std::string key;      // the parse node it describes: "AT_SetTableSpace", "RefreshMatViewStmt", ...
  std::string command;  // as the documentation names it
  std::string lock;     // the strongest lock on an existing relation
  std::string work;     // catalog only, scan, rewrite, index build, ...
  std::string safer;    // the non-blocking form, or "-"
  std::string rule;     // the id of the rule that flags it, or empty (a unit test checks each names a rule)
  std::string note;     // why no rule is needed, or what the rule checks
};
const std::vector<LockTableRow>& lint_lock_table();
// The table as Markdown, exactly as docs/lint-rules.md carries it.
std::string lint_lock_table_markdown();

}  // namespace mgr
