// Internal to the linter (src/lint*.cpp): the per-file analysis state the
// rules read and update, and the entry points between framework and rules.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
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
  std::string rule;  // the rule a same-transaction VALIDATE falls under
  std::optional<std::string> not_null_column;  // CHECK (col IS NOT NULL)
};

struct EnumValueAdded {
  std::string label;
  std::string type_name;
  LineCol pos;
  bool reported = false;
};

class FileAnalysis {
 public:
  FileAnalysis(const MigrationFile& file, const LintSettings& settings);

  const MigrationFile& file() const { return m_file; }
  const LintSettings& settings() const { return m_settings; }
  // mgr wraps the whole file in one transaction unless `-- mgr:no-transaction`.
  bool transactional() const { return !m_file.directives.no_transaction; }

  LineCol pos_at(std::size_t byte_offset) const { return m_index.at(byte_offset); }
  LineCol stmt_pos(const Stmt& s) const;
  // Position of a parse node with a `location` field; falls back to the statement.
  LineCol node_pos(const Stmt& s, const Json& node) const;
  // File position of line `line` (1-based) at its first non-blank character.
  LineCol line_pos(int line) const;

  // Severity defaults to the rule's. Findings of rules that do not apply
  // under the settings (down files) are dropped here.
  void report(const std::string& rule, LineCol pos, std::string message,
              std::optional<Severity> severity = std::nullopt);
  std::vector<LintFinding>& findings() { return m_findings; }

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

 private:
  const MigrationFile& m_file;
  LintSettings m_settings;
  LineIndex m_index;
  std::vector<std::size_t> m_line_starts;
  std::vector<LintFinding> m_findings;
};

// lint_rules.cpp: every rule that looks at one statement.
void check_statement(FileAnalysis& analysis, const Stmt& stmt);
// Enum labels added earlier in the same transaction and used by this statement.
void check_enum_usage(FileAnalysis& analysis, const Stmt& stmt);

// lint_do.cpp: the static SQL of a DO block, and a warning for dynamic SQL.
void check_do_block(FileAnalysis& analysis, const Stmt& stmt);

// lint.cpp: runs the per-statement rules on every statement parsed from `sql`
// (a DO body statement when `parent` is given).
void analyse_statements(FileAnalysis& analysis, const std::vector<Json>& stmts,
                        const Stmt* parent);

// Names as the parser gives them: RangeVar -> "schema.table".
std::string relation_key(const Json& range_var);
std::string relation_display(const Json& range_var);
// A list of String nodes ([schema.]name) -> "schema.name".
std::string names_key(const Json& names);
std::string names_display(const Json& names);

}  // namespace mgr::lint_detail
