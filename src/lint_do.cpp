// PL/pgSQL that runs at migration time: DO blocks, and functions created by
// the file and called by it. The body is parsed by libpg_query's PL/pgSQL
// parser; each embedded statement is parsed again as SQL and linted like the
// file's own. EXECUTE of a string the parse tree can rebuild (a literal, a
// concatenation of literals and variables, format() with a literal format
// string, quote_ident/quote_literal) is rebuilt with placeholders for the
// unknown parts, parsed and linted at the EXECUTE's line.
#include <fmt/format.h>

#include "lint_internal.hpp"
#include "mgr/sql.hpp"

namespace mgr::lint_detail {

namespace {

std::string expr_query(const Json* expr_holder) {
  if (expr_holder == nullptr) return {};
  const Json* expr = as(*expr_holder, "PLpgSQL_expr");
  if (expr == nullptr) return {};
  return str(*expr, "query");
}

std::string quote_identifier(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// Rebuilds the text of a dynamic statement from the expression's parse tree.
// Unknown parts become placeholders that parse where an identifier (or, for
// quote_literal and %L, a literal) can stand: `"<name>"`, `'<name>'`.
class DynamicSqlBuilder {
 public:
  std::optional<std::string> build(const std::string& expr) {
    auto parsed = parse_sql("SELECT " + expr);
    if (parsed.error || parsed.stmts.size() != 1) return std::nullopt;
    const Json* select = as(field(parsed.stmts[0], "stmt"), "SelectStmt");
    if (select == nullptr || !field(*select, "fromClause").is_null()) return std::nullopt;
    const Json& targets = field(*select, "targetList");
    if (!targets.is_array() || targets.size() != 1) return std::nullopt;
    const Json* res = as(targets[0], "ResTarget");
    if (res == nullptr) return std::nullopt;
    return text(field(*res, "val"));
  }

  bool used_placeholders() const { return m_placeholders > 0; }

 private:
  // The literal text of a constant, if the node is one.
  static std::optional<std::string> constant(const Json& node) {
    const Json* c = as(node, "A_Const");
    if (c == nullptr) {
      if (const Json* cast = as(node, "TypeCast")) return constant(field(*cast, "arg"));
      return std::nullopt;
    }
    if (const Json* s = as(*c, "sval")) return str(*s, "sval");
    if (const Json* i = as(*c, "ival")) return std::to_string(i->value("ival", 0LL));
    if (const Json* f = as(*c, "fval")) return str(*f, "fval");
    return std::nullopt;
  }

  std::string name_of(const Json& node) const {
    if (const Json* ref = as(node, "ColumnRef")) {
      std::vector<std::string> parts;
      for (const auto& f : field(*ref, "fields")) {
        if (const Json* s = as(f, "String")) parts.push_back(str(*s, "sval"));
      }
      if (!parts.empty()) return join(parts, ".");
    }
    if (const Json* call = as(node, "FuncCall")) {
      for (const auto& n : field(*call, "funcname")) {
        if (const Json* s = as(n, "String")) return str(*s, "sval") + "()";
      }
    }
    return "value";
  }

  std::string ident_placeholder(const Json& node) {
    ++m_placeholders;
    return quote_identifier("<" + name_of(node) + ">");
  }
  std::string literal_placeholder(const Json& node) {
    ++m_placeholders;
    return quote_literal("<" + name_of(node) + ">");
  }

  std::string text(const Json& node) {
    if (auto c = constant(node)) return *c;
    if (const Json* e = as(node, "A_Expr")) {
      std::string op;
      for (const auto& n : field(*e, "name")) {
        if (const Json* s = as(n, "String")) op = str(*s, "sval");
      }
      if (str(*e, "kind") == "AEXPR_OP" && op == "||") return text(field(*e, "lexpr")) + text(field(*e, "rexpr"));
    }
    if (const Json* cast = as(node, "TypeCast")) return text(field(*cast, "arg"));
    if (const Json* call = as(node, "FuncCall")) {
      std::string fn;
      for (const auto& n : field(*call, "funcname")) {
        if (const Json* s = as(n, "String")) fn = str(*s, "sval");
      }
      const Json& args = field(*call, "args");
      std::size_t argc = args.is_array() ? args.size() : 0;
      if (fn == "format" && argc >= 1) {
        if (auto f = constant(args[0])) return format(*f, args);
      } else if (fn == "quote_ident" && argc == 1) {
        auto c = constant(args[0]);
        return c ? quote_identifier(*c) : ident_placeholder(args[0]);
      } else if ((fn == "quote_literal" || fn == "quote_nullable") && argc == 1) {
        auto c = constant(args[0]);
        return c ? quote_literal(*c) : literal_placeholder(args[0]);
      } else if (fn == "concat") {
        std::string out;
        for (const auto& a : args) out += text(a);
        return out;
      }
    }
    return ident_placeholder(node);
  }

  // PostgreSQL's format(): %s, %I, %L with optional position (`%2$I`), flags and width.
  std::string format(const std::string& f, const Json& args) {
    std::string out;
    std::size_t next_arg = 1;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] != '%') {
        out += f[i];
        continue;
      }
      std::size_t j = i + 1;
      if (j < f.size() && f[j] == '%') {
        out += '%';
        i = j;
        continue;
      }
      std::size_t digits = j;
      while (digits < f.size() && std::isdigit(static_cast<unsigned char>(f[digits])) != 0) ++digits;
      std::size_t arg = next_arg;
      if (digits > j && digits < f.size() && f[digits] == '$') {
        // A position too large for size_t names no argument: stop, as at a malformed format.
        auto position = parse_integer<std::size_t>(std::string_view(f).substr(j, digits - j));
        if (!position) break;
        arg = *position;
        j = digits + 1;
      }
      while (j < f.size() && (f[j] == '-' || f[j] == '*' || std::isdigit(static_cast<unsigned char>(f[j])) != 0)) ++j;
      if (j >= f.size()) break;
      char type = f[j];
      i = j;
      next_arg = arg + 1;
      const Json& a = arg < args.size() ? args[arg] : null_json();
      auto c = constant(a);
      if (type == 'I') out += c ? quote_identifier(*c) : ident_placeholder(a);
      else if (type == 'L') out += c ? quote_literal(*c) : literal_placeholder(a);
      else out += c ? *c : text(a);
    }
    return out;
  }

  int m_placeholders = 0;
};

class BodyWalker {
 public:
  BodyWalker(FileAnalysis& a, const Stmt& at, int body_line) : m_a(a), m_at(at), m_body_line(body_line) {}

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
      lint_sql(expr_query(&field(stmt, "sqlstmt")), lineno, "statement");
    } else if (kind == "PLpgSQL_stmt_dynexecute" || kind == "PLpgSQL_stmt_dynfors") {
      dynamic(expr_query(&field(stmt, "query")), lineno);
    } else if ((kind == "PLpgSQL_stmt_open" || kind == "PLpgSQL_stmt_return_query") &&
               !field(stmt, "dynquery").is_null()) {
      dynamic(expr_query(&field(stmt, "dynquery")), lineno);
    } else if (kind == "PLpgSQL_stmt_perform") {
      // PERFORM f() runs f: its body is linted if the file created it. The
      // parser stores the expression as a query ("SELECT f()").
      lint_sql(expr_query(&field(stmt, "expr")), lineno, "statement");
    }
  }

  LineCol pos(int lineno) const {
    if (m_at.in_do) return m_at.do_pos;
    return m_a.line_pos(m_body_line + std::max(lineno, 1) - 1);
  }

  void lint_sql(const std::string& sql, int lineno, const char* what) {
    if (sql.empty()) return;
    Stmt parent;
    parent.kind = "DoStmt";
    parent.in_do = true;
    parent.do_pos = pos(lineno);
    auto parsed = parse_sql(sql);
    if (parsed.error) {
      m_a.report(Code::lint_parse_error, parent.do_pos, fmt::format("{} in a PL/pgSQL body does not parse: {}", what,
                                                           parsed.error->message));
      return;
    }
    analyse_statements(m_a, parsed.stmts, &parent);
  }

  void dynamic(const std::string& expr, int lineno) {
    DynamicSqlBuilder builder;
    if (auto text = builder.build(expr)) {
      auto parsed = parse_sql(*text);
      if (!parsed.error && !parsed.stmts.empty()) {
        Stmt parent;
        parent.kind = "DoStmt";
        parent.in_do = true;
        parent.do_pos = pos(lineno);
        analyse_statements(m_a, parsed.stmts, &parent);
        return;
      }
      // A literal that does not parse fails at run time; placeholders may be the cause otherwise.
      if (parsed.error && !builder.used_placeholders()) {
        m_a.report(Code::lint_parse_error, pos(lineno),
                   fmt::format("the string EXECUTE runs does not parse: {}", parsed.error->message));
        return;
      }
    }
    m_a.report(Code::lint_dynamic_sql, pos(lineno),
               fmt::format("EXECUTE of a string that cannot be rebuilt cannot be checked: {}",
                           expr.size() > 60 ? expr.substr(0, 57) + "..." : expr));
  }

  FileAnalysis& m_a;
  const Stmt& m_at;
  int m_body_line;
};

void find_calls(FileAnalysis& a, const Json& node, std::vector<std::string>& out) {
  if (node.is_array()) {
    for (const auto& n : node) find_calls(a, n, out);
    return;
  }
  if (!node.is_object()) return;
  for (const auto& [key, value] : node.items()) {
    if (key == "FuncCall" || key == "funccall") {
      std::string name = names_key(field(value, "funcname"));
      if (a.functions.count(name) != 0) out.push_back(name);
    }
    if (value.is_structured()) find_calls(a, value, out);
  }
}

}  // namespace

void lint_plpgsql_body(FileAnalysis& a, const Stmt& at, const std::string& body, int body_line) {
  auto parsed = parse_plpgsql_body(body);
  if (parsed.error) {
    a.report(Code::lint_parse_error, a.stmt_pos(at), fmt::format("PL/pgSQL body does not parse: {}", *parsed.error));
    return;
  }
  BodyWalker walker(a, at, body_line);
  for (const auto& f : parsed.functions) walker.walk(f, 1);
}

void check_do_block(FileAnalysis& a, const Stmt& s) {
  const Json& args = field(*s.body, "args");
  std::string body;
  std::string language = "plpgsql";
  int body_line = a.stmt_pos(s).line;
  for (const auto& arg : args.is_array() ? args : Json::array()) {
    const Json* d = as(arg, "DefElem");
    if (d == nullptr) continue;
    std::string name = str(*d, "defname");
    const Json* sv = as(field(*d, "arg"), "String");
    std::string text = sv != nullptr ? str(*sv, "sval") : std::string();
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
    a.report(Code::lint_dynamic_sql, a.stmt_pos(s), fmt::format("DO block in LANGUAGE {} cannot be checked", language));
    return;
  }
  lint_plpgsql_body(a, s, body, body_line);
}

void check_function_calls(FileAnalysis& a, const Stmt& s) {
  if (s.kind == "CreateFunctionStmt" || s.kind == "DoStmt") return;
  std::vector<std::string> called;
  find_calls(a, *s.body, called);
  for (const auto& name : called) {
    CreatedFunction& fn = a.functions[name];
    if (fn.linted || fn.body.empty()) continue;  // BEGIN ATOMIC and C functions: no string body
    fn.linted = true;  // before linting: a recursive function stops here
    Stmt at;
    at.kind = "CreateFunctionStmt";
    at.in_do = fn.in_do;
    at.do_pos = fn.pos;
    at.offset = fn.offset;
    if (fn.language == "plpgsql") {
      lint_plpgsql_body(a, at, fn.body, fn.body_line);
    } else if (fn.language == "sql") {
      auto parsed = parse_sql(fn.body);
      if (parsed.error) continue;  // PostgreSQL checks SQL bodies at CREATE time
      Stmt parent = at;
      parent.in_do = true;
      analyse_statements(a, parsed.stmts, &parent);
    }
  }
}

}  // namespace mgr::lint_detail
