// SQL text through PostgreSQL's own grammar (libpg_query, PG 15).
//
// Owns every call into libpg_query and the freeing of its results; nothing
// else in mgr includes <pg_query.h>. No regex or substring search over SQL:
// statement boundaries, syntax errors and parse trees all come from the parser.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mgr/text.hpp"

namespace mgr {

struct SqlStatement {
  std::string text;        // the statement without its leading whitespace/comments and without `;`
  std::size_t offset = 0;  // byte offset of `text` in the input
  std::size_t length = 0;  // byte length of `text`
};

struct SqlSyntaxError {
  std::string message;     // the parser's message, e.g. `syntax error at or near "FROM"`
  std::size_t offset = 0;  // byte offset in the input
  LineCol pos;             // line:col of `offset`
};

// Splits with the parser (so `;` in strings, comments and dollar quotes is
// handled as PostgreSQL does). Empty statements are skipped. Throws
// ConfigError "line:col: message" when the text does not parse.
std::vector<SqlStatement> split_statements(const std::string& sql);

// nullopt when the whole text parses.
std::optional<SqlSyntaxError> check_syntax(const std::string& sql);

// The raw parse tree: the `stmts` array of pg_query_parse's JSON, each
// element {"stmt": {...}, "stmt_location"?, "stmt_len"?}. Offsets are bytes.
struct SqlParse {
  std::optional<SqlSyntaxError> error;
  std::vector<nlohmann::json> stmts;
};
SqlParse parse_sql(const std::string& sql);

// Parses a DO block's body as PL/pgSQL; returns the PLpgSQL_function JSON
// (an array with one element), or the error. Positions inside the result are
// line numbers relative to the body's first line (`lineno`, 1-based).
struct PlpgsqlParse {
  std::optional<std::string> error;
  std::vector<nlohmann::json> functions;
};
PlpgsqlParse parse_plpgsql_body(const std::string& body);

// Byte offset of the first character that is neither whitespace nor part of
// a comment, starting at `from` (used to trim split/stmt_location offsets,
// which include leading whitespace and comments).
std::size_t skip_space_and_comments(const std::string& sql, std::size_t from);

// A transaction-control statement (BEGIN, START TRANSACTION, COMMIT, END,
// ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO, PREPARE TRANSACTION, COMMIT/
// ROLLBACK PREPARED) at the top level of a migration file, and what mgr does
// with it (docs/migrations.md, "Files with their own BEGIN/COMMIT").
struct TransactionStatement {
  enum class Fate {
    folded,   // transactional file: a BEGIN/COMMIT pair's end, sent as blanks; mgr's transaction is the block
    kept,     // sent as written: a savepoint inside its block, or any balanced block of a no-transaction file
    refused,  // would end mgr's transaction, or has a meaning mgr cannot keep: nothing runs
  };
  std::string text;        // as written, blanks collapsed, e.g. "START TRANSACTION"
  std::size_t offset = 0;  // byte range of the statement in the file, without its `;`
  std::size_t length = 0;
  LineCol pos;
  Fate fate = Fate::kept;
  std::string reason;      // why it is refused (one sentence), empty otherwise
  bool opens_block = false;   // BEGIN / START TRANSACTION that opened a block
  bool closes_block = false;  // COMMIT / END / ROLLBACK (without AND CHAIN) that closed one
};

struct TransactionControl {
  std::optional<SqlSyntaxError> error;  // the file does not parse (then nothing else is set)
  std::size_t statement_count = 0;      // statements in the file; 0: comments only
  std::vector<TransactionStatement> statements;  // in file order
  bool refused() const;
  bool folds() const;
};

// Classifies every top-level transaction-control statement of `sql`, from the
// parse tree (TransactionStmt and its kind). `transactional`: mgr wraps the
// file in its own transaction (no `-- mgr:no-transaction`).
TransactionControl analyse_transaction_control(const std::string& sql, bool transactional);

// In a `-- mgr:no-transaction` file, the position of the BEGIN whose explicit
// block holds `pos` (a failure there rolls that block back), if any.
std::optional<LineCol> enclosing_block(const std::string& sql, LineCol pos);

// The SQL mgr sends for a transactional file inside its own transaction: the
// file with every folded statement replaced by spaces of the same byte length
// (newlines kept), so the server's error positions still map to the file's
// line:col. Without such statements it is the file unchanged. Throws Refused
// (naming `path` and the line) when a statement cannot be folded, and
// ConfigError when the file does not parse: a transactional migration can
// never end mgr's transaction, whatever checks ran before.
std::string transaction_body(const std::string& sql, const std::filesystem::path& path);

}  // namespace mgr
