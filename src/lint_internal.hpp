// Internal to the linter (src/lint*.cpp): the per-file analysis state the
// rules read and update, and the entry points between framework and rules.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mgr/lint.hpp"
#include "mgr/text.hpp"

namespace mgr::lint_detail {

using Json = nlohmann::json;

// One statement under analysis: top level, or static SQL inside a DO body.
struct Stmt {
  std::string kind;          // parse node name, e.g. "AlterTableStmt"
  const Json* body;          // the node's fields
  std::size_t offset = 0;    // file byte offset of the statement (top level only)
  bool in_do = false;        // inside a DO block: node locations are not file offsets
  LineCol do_pos;            // position used for everything inside a DO body
};

// A `NOT VALID` constraint added earlier in the file, by "table.constraint".
struct NotValidConstraint {
  Code rule;  // the rule a same-transaction VALIDATE falls under
  std::optional<std::string> not_null_column;  // CHECK (col IS NOT NULL)
};

struct EnumValueAdded {
  std::string label;
  std::string type_name;
  LineCol pos;
  bool reported = false;
};

// A function or procedure created earlier in the file: its body runs when
// the file calls it, and is linted then (once).
struct CreatedFunction {
  std::string language;
  std::string volatility = "volatile";  // PostgreSQL's default
  std::string body;
  LineCol pos;        // of the CREATE statement
  std::size_t offset = 0;  // file byte offset of the CREATE statement (top level)
  int body_line = 1;  // file line of the body's opening quote
  bool in_do = false;
  bool linted = false;
};

class FileAnalysis {
 public:
  FileAnalysis(const MigrationFile& file, const LintSettings& settings);

  const MigrationFile& file() const { return m_file; }
  const LintSettings& settings() const { return m_settings; }
  // mgr wraps the whole file in one transaction unless `-- mgr:no-transaction`.
  bool transactional() const { return !m_file.directives.no_transaction; }
  // Inside a transaction block at this point: the whole file, or an explicit
  // BEGIN ... COMMIT in a no-transaction file.
  bool in_transaction() const { return transactional() || explicit_block; }
  // A down migration (rollback_of or runtime_only).
  bool is_down() const { return m_settings.rollback_of != nullptr || m_settings.runtime_only; }

  LineCol pos_at(std::size_t byte_offset) const { return m_index.at(byte_offset); }
  LineCol stmt_pos(const Stmt& s) const;
  // Position of a parse node with a `location` field; falls back to the statement.
  LineCol node_pos(const Stmt& s, const Json& node) const;
  // File position of line `line` (1-based) at its first non-blank character.
  LineCol line_pos(int line) const;

  // Severity defaults to the rule's. Findings of rules that do not apply
  // under the settings (down files) are dropped here.
  // `advice` replaces the rule's advice when the finding knows a more precise one.
  void report(Code rule, LineCol pos, std::string message, std::optional<Severity> severity = std::nullopt,
              std::string advice = {});
  std::vector<Diagnostic>& findings() { return m_findings; }

  // Objects created earlier in this file: new and empty, so the lock and
  // data-loss rules do not apply to them. Keys are "schema.name"; an
  // unqualified name is taken as public.
  std::set<std::string> new_tables;
  std::set<std::string> new_indexes;
  std::set<std::string> new_types;
  std::set<std::string> new_schemas;
  std::map<std::string, NotValidConstraint> not_valid_constraints;
  std::set<std::string> not_null_checked;  // "table.column" with a validated CHECK (col IS NOT NULL)
  std::vector<EnumValueAdded> enum_values_added;
  std::set<std::string> new_columns;         // "table.column" added in this file
  std::set<std::string> not_null_columns;    // "table.column" known NOT NULL (created here)
  std::set<std::string> keyed_tables;        // tables with a primary key or replica identity set here
  std::set<std::string> checked_tables;      // tables with a CHECK validated in this file
  std::map<std::string, CreatedFunction> functions;  // by "schema.name"
  bool explicit_block = false;               // inside BEGIN ... COMMIT of a no-transaction file
  // Existing tables an ALTER TABLE of this transaction holds a lock on that
  // blocks writes (ACCESS EXCLUSIVE or SHARE ROW EXCLUSIVE), with its line.
  std::map<std::string, int> locked_tables;
  std::map<std::string, std::vector<std::string>> publication_tables;  // publication -> tables named in this file

 private:
  const MigrationFile& m_file;
  LintSettings m_settings;
  LineIndex m_index;
  std::vector<std::size_t> m_line_starts;
  std::vector<Diagnostic> m_findings;
};

// lint_rules.cpp: every rule that looks at one statement.
void check_statement(FileAnalysis& analysis, const Stmt& stmt);
// Enum labels added earlier in the same transaction and used by this statement.
void check_enum_usage(FileAnalysis& analysis, const Stmt& stmt);

// lint_do.cpp: the static SQL of a DO block, and EXECUTE of strings that can
// be rebuilt (literals, concatenations, format()); a warning for the rest.
void check_do_block(FileAnalysis& analysis, const Stmt& stmt);
// A PL/pgSQL body (DO or a called function) whose first line is file line `body_line`.
void lint_plpgsql_body(FileAnalysis& analysis, const Stmt& at, const std::string& body, int body_line);
// Bodies of functions created in this file and called by this statement.
void check_function_calls(FileAnalysis& analysis, const Stmt& stmt);

// lint_data.cpp: DELETE/UPDATE anywhere in a statement (WITH, subqueries)
// without WHERE or with an always-true WHERE; writes to pg_catalog.
void check_data(FileAnalysis& analysis, const Stmt& stmt);

// lint_locks.cpp: the row of the lock table for a parse node key.
const LockTableRow* lock_row(std::string_view key);

// lint.cpp: runs the per-statement rules on every statement parsed from `sql`
// (a DO body statement when `parent` is given).
void analyse_statements(FileAnalysis& analysis, const std::vector<Json>& stmts,
                        const Stmt* parent);

// Field access that tolerates the parser's omission of default values
// (false, 0 and empty lists are left out of the JSON).
inline const Json& null_json() {
  static const Json k_null;
  return k_null;
}
inline const Json& field(const Json& node, const char* name) {
  if (!node.is_object()) return null_json();
  auto it = node.find(name);
  return it == node.end() ? null_json() : *it;
}
inline bool flag(const Json& node, const char* name) {
  const Json& v = field(node, name);
  return v.is_boolean() && v.get<bool>();
}
inline std::string str(const Json& node, const char* name) {
  const Json& v = field(node, name);
  return v.is_string() ? v.get<std::string>() : std::string();
}
// {"Kind": {...}} -> the fields when the node is of that kind.
inline const Json* as(const Json& node, const char* kind) {
  if (!node.is_object()) return nullptr;
  auto it = node.find(kind);
  return it == node.end() ? nullptr : &*it;
}
// {"List": {"items": [...]}} -> the items; anything else as it is.
inline const Json& items_of(const Json& node) {
  if (const Json* list = as(node, "List")) return field(*list, "items");
  return node;
}
// A DefElem list (options, params) names `defname`.
inline const Json* def_elem(const Json& list, const char* defname) {
  if (!list.is_array()) return nullptr;
  for (const auto& o : list) {
    if (const Json* d = as(o, "DefElem"); d != nullptr && str(*d, "defname") == defname) return d;
  }
  return nullptr;
}

// lint_ddl.cpp: the lock-table rules for ALTER TABLE subcommands and commands
// the older rules do not cover. Returns true when it handled the subcommand.
bool check_alter_table_subcommand(FileAnalysis& analysis, const Stmt& stmt, const Json& relation, const Json& cmd,
                                  bool is_new);
void check_more_statements(FileAnalysis& analysis, const Stmt& stmt);
// ALTER TYPE ... DROP / ALTER ATTRIBUTE of a composite type.
void check_alter_composite_type(FileAnalysis& analysis, const Stmt& stmt);
void report_concurrently(FileAnalysis& analysis, const Stmt& stmt, const std::string& what);

// Names as the parser gives them: RangeVar -> "schema.table".
std::string relation_key(const Json& range_var);
std::string relation_display(const Json& range_var);
// A list of String nodes ([schema.]name) -> "schema.name".
std::string names_key(const Json& names);
std::string names_display(const Json& names);

}  // namespace mgr::lint_detail
