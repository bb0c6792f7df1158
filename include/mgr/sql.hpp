// SQL text through PostgreSQL's own grammar (libpg_query, PG 15).
//
// Owns every call into libpg_query and the freeing of its results; nothing
// else in mgr includes <pg_query.h>. No regex or substring search over SQL:
// statement boundaries, syntax errors and parse trees all come from the parser.
#pragma once

#include <cstddef>
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

}  // namespace mgr
