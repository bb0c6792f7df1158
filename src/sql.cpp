#include "mgr/sql.hpp"

#include <pg_query.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mgr/catalog.hpp"
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

SqlSyntaxError make_error(const std::string& sql, const PgQueryError& error) {
  SqlSyntaxError out;
  out.message = error.message != nullptr ? error.message : "syntax error";
  out.offset = byte_offset_of_char(sql, static_cast<std::size_t>(std::max(error.cursorpos, 0)));  // 1-based characters
  out.pos = line_col_at(sql, out.offset);
  return out;
}

// libpg_query copies the input's bytes into its JSON tree as they are, and
// nlohmann refuses JSON that is not UTF-8 (parse_error, not an mgr error). The
// catalog and `mgr lint PATH` refuse such files first; this keeps every other
// caller from ever meeting the library's exception, and says where the bad byte is.
std::optional<SqlSyntaxError> invalid_utf8_error(const std::string& sql) {
  std::size_t bad = 0;
  if (is_valid_utf8(sql, &bad)) return std::nullopt;
  SqlSyntaxError out;
  out.message = "not valid UTF-8 (save the file as UTF-8)";
  out.offset = bad;
  out.pos = line_col_at(sql, bad);
  return out;
}

// The parser's JSON as a tree; nullopt when it is not JSON nlohmann accepts
// (never expected for UTF-8 input, but a library exception must not escape).
std::optional<nlohmann::json> read_tree(const char* json_text) {
  if (json_text == nullptr) return std::nullopt;
  auto tree = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (tree.is_discarded()) return std::nullopt;
  return tree;
}

const char* k_unreadable_tree = "libpg_query returned a parse tree that is not valid JSON";

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
  SqlParse out;
  if ((out.error = invalid_utf8_error(sql))) return out;
  ParseResult result(sql);
  const auto& r = result.get();
  if (r.error != nullptr) {
    out.error = make_error(sql, *r.error);
    return out;
  }
  auto tree = read_tree(r.parse_tree);
  if (!tree) {
    out.error = SqlSyntaxError{k_unreadable_tree, 0, LineCol{}};
    return out;
  }
  if (auto it = tree->find("stmts"); it != tree->end() && it->is_array()) {
    out.stmts.reserve(it->size());
    for (auto& stmt : *it) out.stmts.push_back(std::move(stmt));
  }
  return out;
}

PlpgsqlParse parse_plpgsql_body(const std::string& body) {
  PlpgsqlParse out;
  if (auto bad = invalid_utf8_error(body)) {
    out.error = bad->message;
    return out;
  }
  // The PL/pgSQL entry point takes a CREATE FUNCTION; wrap the body in a
  // dollar quote whose tag does not occur in it.
  std::string tag = "$mgr_do$";
  for (int n = 0; body.find(tag) != std::string::npos; ++n) tag = fmt::format("$mgr_do{}$", n);
  std::string source = "CREATE FUNCTION mgr_do_block() RETURNS void LANGUAGE plpgsql AS " + tag +
                       body + tag;
  PlpgsqlResult result(source);
  const auto& r = result.get();
  if (r.error != nullptr) {
    out.error = r.error->message != nullptr ? r.error->message : "PL/pgSQL syntax error";
    return out;
  }
  auto tree = read_tree(r.plpgsql_funcs);
  if (!tree) {
    out.error = k_unreadable_tree;
    return out;
  }
  if (tree->is_array()) {
    for (auto& f : *tree) out.functions.push_back(std::move(f));
  }
  return out;
}

namespace {

// The statement as a one-line label for messages ("START TRANSACTION").
std::string one_line_label(const std::string& text) {
  std::string out;
  bool blank = false;
  for (char c : text) {
    if (is_space(c)) {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += c;
  }
  if (out.size() > 60) out = out.substr(0, 57) + "...";
  return out;
}

using Fate = TransactionStatement::Fate;

// The open BEGIN block (or, outside any block, the implicit scope) while walking the file.
struct BlockState {
  std::optional<std::size_t> begin;  // index of the open block's BEGIN in the result
  std::set<std::string> savepoints;  // set in the current scope
  void open(std::size_t index) {
    begin = index;
    savepoints.clear();
  }
  void close() {
    begin.reset();
    savepoints.clear();
  }
};

// Every production of TransactionStmt in PostgreSQL's grammar (gram.y:
// TransactionStmt, TransactionStmtLegacy) starts with one of these keywords,
// so a statement that starts otherwise cannot be one. This only picks which
// statements the parser looks at; the parser decides what each one is.
bool may_be_transaction_stmt(const std::string& sql, std::size_t start, std::size_t end) {
  std::string word;
  for (std::size_t i = start; i < end && word.size() <= 9; ++i) {
    char c = sql[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c < 'a' || c > 'z') break;
    word += c;
  }
  static const std::set<std::string> k_first_keywords{"abort",  "begin",    "start",     "commit", "end",
                                                      "rollback", "savepoint", "release", "prepare"};
  return k_first_keywords.count(word) != 0;
}

const char* k_two_phase =
    "two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) hands a transaction to another session; "
    "it has no place in a migration";

// Transactional file: mgr's BEGIN ... COMMIT around the file is the one transaction.
void classify_in_transaction(TransactionStatement& t, const std::string& kind, bool chain, bool has_options,
                             const std::string& savepoint, BlockState& block, std::size_t index,
                             const std::vector<TransactionStatement>& done) {
  if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
    if (block.begin) {
      t.fate = Fate::refused;
      t.reason = "nested: a block is already open since line " + std::to_string(done[*block.begin].pos.line) +
                 " (PostgreSQL would ignore this BEGIN, and the next COMMIT would end the outer block)";
      return;
    }
    block.open(index);
    t.opens_block = true;
    if (has_options) {
      t.fate = Fate::refused;
      t.reason = "it sets modes for its own transaction (isolation level, read only, deferrable), which mgr's "
                 "transaction cannot take on";
      return;
    }
    t.fate = Fate::folded;
  } else if (kind == "TRANS_STMT_COMMIT") {
    if (chain) {
      t.fate = Fate::refused;
      t.reason = "COMMIT AND CHAIN commits and opens a new transaction at once; one transaction cannot do that";
    } else if (!block.begin) {
      t.fate = Fate::refused;
      t.reason = "no BEGIN before it: it would commit mgr's transaction early, without the history row";
    } else {
      t.fate = Fate::folded;
      t.closes_block = true;
      block.close();
    }
  } else if (kind == "TRANS_STMT_ROLLBACK") {
    t.fate = Fate::refused;
    t.reason = "ROLLBACK discards its block; inside mgr's one transaction it would discard the whole migration "
               "and end mgr's transaction";
    block.close();
  } else if (kind == "TRANS_STMT_SAVEPOINT") {
    t.fate = Fate::kept;
    block.savepoints.insert(savepoint);
  } else if (kind == "TRANS_STMT_RELEASE" || kind == "TRANS_STMT_ROLLBACK_TO") {
    if (block.savepoints.count(savepoint) != 0) {
      t.fate = Fate::kept;
    } else {
      t.fate = Fate::refused;
      t.reason = "no SAVEPOINT " + savepoint + " earlier in the same block; folded, it could reach across a COMMIT";
    }
  } else {
    t.fate = Fate::refused;
    t.reason = k_two_phase;
  }
}

// `-- mgr:no-transaction` file: statements run one by one in autocommit, so
// explicit blocks are how statements are grouped; they only have to be balanced.
void classify_no_transaction(TransactionStatement& t, const std::string& kind, bool chain,
                             const std::string& savepoint, BlockState& block, std::size_t index,
                             const std::vector<TransactionStatement>& done) {
  t.fate = Fate::kept;
  if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
    if (block.begin) {
      t.fate = Fate::refused;
      t.reason = "nested: a block is already open since line " + std::to_string(done[*block.begin].pos.line);
      return;
    }
    block.open(index);
    t.opens_block = true;
  } else if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK") {
    if (!block.begin) {
      t.fate = Fate::refused;
      t.reason = "no BEGIN before it: there is no block to end";
    } else if (!chain) {
      t.closes_block = true;
      block.close();
    }
  } else if (kind == "TRANS_STMT_SAVEPOINT") {
    if (!block.begin) {
      t.fate = Fate::refused;
      t.reason = "outside a BEGIN block: a savepoint needs a transaction block";
      return;
    }
    block.savepoints.insert(savepoint);
  } else if (kind == "TRANS_STMT_RELEASE" || kind == "TRANS_STMT_ROLLBACK_TO") {
    if (!block.begin || block.savepoints.count(savepoint) == 0) {
      t.fate = Fate::refused;
      t.reason = "no SAVEPOINT " + savepoint + " earlier in the same block";
    }
  } else {
    t.fate = Fate::refused;
    t.reason = k_two_phase;
  }
}

}  // namespace

bool TransactionControl::refused() const {
  return std::any_of(statements.begin(), statements.end(),
                     [](const TransactionStatement& t) { return t.fate == Fate::refused; });
}

bool TransactionControl::folds() const {
  return std::any_of(statements.begin(), statements.end(),
                     [](const TransactionStatement& t) { return t.fate == Fate::folded; });
}

TransactionControl analyse_transaction_control(const std::string& sql, bool transactional) {
  TransactionControl out;
  // A statement that cannot be parsed is not classified below, so text that
  // parse_sql refuses (invalid UTF-8) is an error for the whole file: a COMMIT
  // must never slip through unclassified.
  if ((out.error = invalid_utf8_error(sql))) return out;
  // The splitter runs the whole grammar without building a JSON tree (the
  // costly part of a parse); only the few candidate statements are parsed.
  SplitResult split(sql);
  const auto& r = split.get();
  if (r.error != nullptr) {
    out.error = make_error(sql, *r.error);
    return out;
  }
  LineIndex index(sql);
  BlockState block;
  for (int i = 0; i < r.n_stmts; ++i) {
    // stmt_location includes the whitespace and comments before the statement;
    // stmt_len is 0 for a last statement without `;` (it runs to the end).
    auto location = std::min(sql.size(), static_cast<std::size_t>(r.stmts[i]->stmt_location));
    auto length = static_cast<std::size_t>(r.stmts[i]->stmt_len);
    auto end = length == 0 ? sql.size() : std::min(sql.size(), location + length);
    auto start = std::min(skip_space_and_comments(sql, location), end);
    if (start == end) continue;
    ++out.statement_count;
    if (!may_be_transaction_stmt(sql, start, end)) continue;
    auto parsed = parse_sql(sql.substr(start, end - start));
    if (parsed.error) {
      // Unclassified, it could be a COMMIT: the file is an error, never skipped.
      out.error = parsed.error;
      out.error->offset += start;
      out.error->pos = index.at(out.error->offset);
      out.statements.clear();
      return out;
    }
    if (parsed.stmts.size() != 1) continue;
    auto stmt = parsed.stmts[0].find("stmt");
    if (stmt == parsed.stmts[0].end() || !stmt->is_object()) continue;
    auto node = stmt->find("TransactionStmt");
    if (node == stmt->end()) continue;
    TransactionStatement t;
    t.offset = start;
    t.length = end - start;
    t.text = one_line_label(sql.substr(start, end - start));
    t.pos = index.at(start);
    auto kind = node->value("kind", std::string());
    bool chain = node->value("chain", false);
    auto savepoint = node->value("savepoint_name", std::string());
    auto options = node->find("options");
    bool has_options = options != node->end() && options->is_array() && !options->empty();
    if (transactional) {
      classify_in_transaction(t, kind, chain, has_options, savepoint, block, out.statements.size(), out.statements);
    } else {
      classify_no_transaction(t, kind, chain, savepoint, block, out.statements.size(), out.statements);
    }
    out.statements.push_back(std::move(t));
  }
  if (block.begin) {
    auto& begin = out.statements[*block.begin];
    begin.fate = Fate::refused;
    begin.reason = "never closed: no COMMIT or END after it";
  }
  return out;
}

std::optional<LineCol> enclosing_block(const std::string& sql, LineCol pos) {
  auto before = [](LineCol a, LineCol b) { return a.line != b.line ? a.line < b.line : a.col < b.col; };
  std::optional<LineCol> open;
  for (const auto& t : analyse_transaction_control(sql, false).statements) {
    if (!before(t.pos, pos)) break;
    if (t.opens_block) open = t.pos;
    if (t.closes_block) open.reset();
  }
  return open;
}

std::string transaction_body(const std::string& sql, const std::filesystem::path& path) {
  auto control = analyse_transaction_control(sql, true);
  if (control.error) {
    throw ConfigError(fmt::format("{}:{}:{}: does not parse: {}", path.string(), control.error->pos.line,
                                  control.error->pos.col, control.error->message));
  }
  if (control.refused()) {
    std::string msg = path.string() + " cannot run inside mgr's transaction; nothing was sent:";
    for (const auto& t : control.statements) {
      if (t.fate == Fate::refused) msg += fmt::format("\n  {}:{}: {}: {}", path.string(), t.pos.line, t.text, t.reason);
    }
    throw Refused(msg);
  }
  if (!control.folds()) return sql;
  std::string out = sql;
  for (const auto& t : control.statements) {
    if (t.fate != Fate::folded) continue;
    for (std::size_t i = t.offset; i < t.offset + t.length; ++i) {
      if (out[i] != '\n') out[i] = ' ';
    }
  }
  return out;
}

}  // namespace mgr
