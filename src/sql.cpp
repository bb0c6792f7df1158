#include "mgr/sql.hpp"

#include <pg_query.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mgr/error.hpp"

namespace mgr {

namespace {

// RAII owners: each libpg_query result is freed by its matching function.
class ParseResult {
 public:
  explicit ParseResult(const std::string& sql) : m_result(pg_query_parse(sql.c_str())) {}
  ~ParseResult() { pg_query_free_parse_result(m_result); }
  ParseResult(const ParseResult&) = delete;
  ParseResult& operator=(const ParseResult&) = delete;
  const PgQueryParseResult& get() const { return m_result; }

 private:
  PgQueryParseResult m_result;
};

class SplitResult {
 public:
  explicit SplitResult(const std::string& sql) : m_result(pg_query_split_with_parser(sql.c_str())) {}
  ~SplitResult() { pg_query_free_split_result(m_result); }
  SplitResult(const SplitResult&) = delete;
  SplitResult& operator=(const SplitResult&) = delete;
  const PgQuerySplitResult& get() const { return m_result; }

 private:
  PgQuerySplitResult m_result;
};

class PlpgsqlResult {
 public:
  explicit PlpgsqlResult(const std::string& sql) : m_result(pg_query_parse_plpgsql(sql.c_str())) {}
  ~PlpgsqlResult() { pg_query_free_plpgsql_parse_result(m_result); }
  PlpgsqlResult(const PlpgsqlResult&) = delete;
  PlpgsqlResult& operator=(const PlpgsqlResult&) = delete;
  const PgQueryPlpgsqlParseResult& get() const { return m_result; }

 private:
  PgQueryPlpgsqlParseResult m_result;
};

bool is_continuation_byte(unsigned char c) { return (c & 0xC0) == 0x80; }

// The parser reports `cursorpos` as a 1-based character (code point) index;
// 0 means "no position".
std::size_t byte_offset_of_char(const std::string& text, int cursorpos) {
  if (cursorpos <= 1) return 0;
  int chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_continuation_byte(static_cast<unsigned char>(text[i]))) continue;
    if (++chars == cursorpos) return i;
  }
  return text.size();
}

SqlSyntaxError make_error(const std::string& sql, const PgQueryError& error) {
  SqlSyntaxError out;
  out.message = error.message != nullptr ? error.message : "syntax error";
  out.offset = byte_offset_of_char(sql, error.cursorpos);
  out.pos = line_col_at(sql, out.offset);
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::size_t skip_space_and_comments(const std::string& sql, std::size_t from) {
  std::size_t i = from;
  while (i < sql.size()) {
    if (is_space(sql[i])) {
      ++i;
    } else if (sql.compare(i, 2, "--") == 0) {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (sql.compare(i, 2, "/*") == 0) {
      // PostgreSQL block comments nest.
      int depth = 0;
      while (i < sql.size()) {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

std::vector<SqlStatement> split_statements(const std::string& sql) {
  SplitResult result(sql);
  const auto& r = result.get();
  if (r.error != nullptr) {
    auto error = make_error(sql, *r.error);
    throw ConfigError(fmt::format("{}:{}: {}", error.pos.line, error.pos.col, error.message));
  }
  std::vector<SqlStatement> out;
  out.reserve(static_cast<std::size_t>(r.n_stmts));
  for (int i = 0; i < r.n_stmts; ++i) {
    auto begin = static_cast<std::size_t>(r.stmts[i]->stmt_location);
    auto end = std::min(sql.size(), begin + static_cast<std::size_t>(r.stmts[i]->stmt_len));
    auto start = std::min(skip_space_and_comments(sql, begin), end);
    if (start == end) continue;
    out.push_back(SqlStatement{sql.substr(start, end - start), start, end - start});
  }
  return out;
}

std::optional<SqlSyntaxError> check_syntax(const std::string& sql) {
  // The splitter runs the full grammar without building JSON, so it is the cheap check.
  SplitResult result(sql);
  if (result.get().error != nullptr) return make_error(sql, *result.get().error);
  return std::nullopt;
}

SqlParse parse_sql(const std::string& sql) {
  ParseResult result(sql);
  const auto& r = result.get();
  SqlParse out;
  if (r.error != nullptr) {
    out.error = make_error(sql, *r.error);
    return out;
  }
  auto tree = nlohmann::json::parse(r.parse_tree);
  if (auto it = tree.find("stmts"); it != tree.end() && it->is_array()) {
    out.stmts.reserve(it->size());
    for (auto& stmt : *it) out.stmts.push_back(std::move(stmt));
  }
  return out;
}

PlpgsqlParse parse_plpgsql_body(const std::string& body) {
  // The PL/pgSQL entry point takes a CREATE FUNCTION; wrap the body in a
  // dollar quote whose tag does not occur in it.
  std::string tag = "$mgr_do$";
  for (int n = 0; body.find(tag) != std::string::npos; ++n) tag = fmt::format("$mgr_do{}$", n);
  std::string source = "CREATE FUNCTION mgr_do_block() RETURNS void LANGUAGE plpgsql AS " + tag +
                       body + tag;
  PlpgsqlResult result(source);
  const auto& r = result.get();
  PlpgsqlParse out;
  if (r.error != nullptr) {
    out.error = r.error->message != nullptr ? r.error->message : "PL/pgSQL syntax error";
    return out;
  }
  auto tree = nlohmann::json::parse(r.plpgsql_funcs);
  if (tree.is_array()) {
    for (auto& f : tree) out.functions.push_back(std::move(f));
  }
  return out;
}

}  // namespace mgr
