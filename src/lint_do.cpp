// DO blocks run at migration time, so the static SQL inside them is linted
// like the file's own statements. The body is parsed by libpg_query's
// PL/pgSQL parser; each embedded statement is parsed again as SQL.
#include <fmt/format.h>

#include "lint_internal.hpp"
#include "mgr/sql.hpp"

namespace mgr::lint_detail {

namespace {

const Json* child(const Json& node, const char* key) {
  if (!node.is_object()) return nullptr;
  auto it = node.find(key);
  return it == node.end() ? nullptr : &*it;
}

std::string expr_query(const Json* expr_holder) {
  if (expr_holder == nullptr) return {};
  const Json* expr = child(*expr_holder, "PLpgSQL_expr");
  if (expr == nullptr) return {};
  const Json* q = child(*expr, "query");
  return q != nullptr && q->is_string() ? q->get<std::string>() : std::string();
}

// EXECUTE 'constant string' is static after all: returns the string.
std::optional<std::string> constant_string(const std::string& expr) {
  auto parsed = parse_sql("SELECT " + expr);
  if (parsed.error || parsed.stmts.size() != 1) return std::nullopt;
  const Json* select = child(parsed.stmts[0]["stmt"], "SelectStmt");
  if (select == nullptr) return std::nullopt;
  const Json* targets = child(*select, "targetList");
  if (targets == nullptr || targets->size() != 1 || child(*select, "fromClause") != nullptr) return std::nullopt;
  const Json* res = child((*targets)[0], "ResTarget");
  const Json* val = res != nullptr ? child(*res, "val") : nullptr;
  const Json* c = val != nullptr ? child(*val, "A_Const") : nullptr;
  const Json* sv = c != nullptr ? child(*c, "sval") : nullptr;
  const Json* s = sv != nullptr ? child(*sv, "sval") : nullptr;
  if (s == nullptr || !s->is_string()) return std::nullopt;
  return s->get<std::string>();
}

class DoBodyWalker {
 public:
  DoBodyWalker(FileAnalysis& a, const Stmt& do_stmt, int body_line)
      : m_a(a), m_do(do_stmt), m_body_line(body_line) {}

  void walk(const Json& node, int lineno) {
    if (node.is_array()) {
      for (const auto& n : node) walk(n, lineno);
      return;
    }
    if (!node.is_object()) return;
    for (const auto& [key, value] : node.items()) {
      if (key == "datums") continue;  // variable declarations
      int line = lineno;
      if (key.rfind("PLpgSQL_stmt_", 0) == 0 && value.is_object()) {
        line = value.value("lineno", lineno);
        visit(key, value, line);
      }
      if (value.is_structured()) walk(value, line);
    }
  }

 private:
  void visit(const std::string& kind, const Json& stmt, int lineno) {
    if (kind == "PLpgSQL_stmt_execsql") {
      lint_sql(expr_query(child(stmt, "sqlstmt")), lineno);
    } else if (kind == "PLpgSQL_stmt_dynexecute" || kind == "PLpgSQL_stmt_dynfors") {
      dynamic(expr_query(child(stmt, "query")), lineno);
    } else if ((kind == "PLpgSQL_stmt_open" || kind == "PLpgSQL_stmt_return_query") &&
               child(stmt, "dynquery") != nullptr) {
      dynamic(expr_query(child(stmt, "dynquery")), lineno);
    }
  }

  LineCol pos(int lineno) const {
    if (m_do.in_do) return m_do.do_pos;
    return m_a.line_pos(m_body_line + std::max(lineno, 1) - 1);
  }

  void lint_sql(const std::string& sql, int lineno) {
    if (sql.empty()) return;
    Stmt parent;
    parent.kind = "DoStmt";
    parent.in_do = true;
    parent.do_pos = pos(lineno);
    auto parsed = parse_sql(sql);
    if (parsed.error) {
      m_a.report("parse-error", parent.do_pos, fmt::format("DO block statement does not parse: {}", parsed.error->message));
      return;
    }
    analyse_statements(m_a, parsed.stmts, &parent);
  }

  void dynamic(const std::string& expr, int lineno) {
    if (auto text = constant_string(expr)) {
      lint_sql(*text, lineno);
      return;
    }
    m_a.report("dynamic-sql", pos(lineno),
               fmt::format("EXECUTE of a dynamic string in a DO block cannot be checked: {}",
                           expr.size() > 60 ? expr.substr(0, 57) + "..." : expr));
  }

  FileAnalysis& m_a;
  const Stmt& m_do;
  int m_body_line;
};

}  // namespace

void check_do_block(FileAnalysis& a, const Stmt& s) {
  const Json* args = child(*s.body, "args");
  if (args == nullptr) return;
  std::string body;
  std::string language = "plpgsql";
  int body_line = a.stmt_pos(s).line;
  for (const auto& arg : *args) {
    const Json* d = child(arg, "DefElem");
    if (d == nullptr) continue;
    std::string name = d->value("defname", "");
    const Json* value = child(*d, "arg");
    const Json* sv = value != nullptr ? child(*value, "String") : nullptr;
    std::string text = sv != nullptr ? sv->value("sval", "") : std::string();
    if (name == "as") {
      body = text;
      // The body starts on the line of its opening quote.
      if (auto loc = d->find("location"); !s.in_do && loc != d->end() && loc->is_number_integer()) {
        body_line = a.pos_at(loc->get<std::size_t>()).line;
      }
    } else if (name == "language") {
      language = text;
    }
  }
  if (language != "plpgsql") {
    a.report("dynamic-sql", a.stmt_pos(s), fmt::format("DO block in LANGUAGE {} cannot be checked", language));
    return;
  }
  auto parsed = parse_plpgsql_body(body);
  if (parsed.error) {
    a.report("parse-error", a.stmt_pos(s), fmt::format("DO block does not parse: {}", *parsed.error));
    return;
  }
  DoBodyWalker walker(a, s, body_line);
  for (const auto& f : parsed.functions) walker.walk(f, 1);
}

}  // namespace mgr::lint_detail
