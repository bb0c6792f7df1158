// Data loss anywhere in a statement: DELETE and UPDATE nested in WITH
// clauses and subqueries, WHERE clauses that are always true (folded from
// constants, `x = x`, `c IS NULL OR c IS NOT NULL`), and writes to the
// system catalogs.
#include <algorithm>
#include <iterator>
#include <set>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "lint_internal.hpp"

namespace mgr::lint_detail {

namespace {

// --- constant folding -----------------------------------------------------------

// The value of an expression when the parse tree alone decides it.
struct Value {
  enum Kind { unknown, null, boolean, number, text } kind = unknown;
  bool b = false;
  double n = 0;
  std::string s;
};

Value unknown_value() { return {}; }
Value bool_value(bool b) {
  Value v;
  v.kind = Value::boolean;
  v.b = b;
  return v;
}

std::optional<double> as_number(const Value& v) {
  if (v.kind == Value::number) return v.n;
  if (v.kind != Value::text) return std::nullopt;
  try {
    std::size_t used = 0;
    double d = std::stod(v.s, &used);
    if (used == v.s.size()) return d;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<bool> as_bool(const Value& v) {
  if (v.kind == Value::boolean) return v.b;
  if (v.kind == Value::text) {
    if (v.s == "t" || v.s == "true" || v.s == "yes" || v.s == "on" || v.s == "1") return true;
    if (v.s == "f" || v.s == "false" || v.s == "no" || v.s == "off" || v.s == "0") return false;
  }
  return std::nullopt;
}

std::string column_name(const Json& ref) {
  std::vector<std::string> parts;
  for (const auto& f : field(ref, "fields")) {
    if (const Json* s = as(f, "String")) parts.push_back(str(*s, "sval"));
  }
  return join(parts, ".");
}

struct Folder {
  const FileAnalysis& a;
  std::string table;  // key of the table the WHERE filters
  std::string why;    // what made it always true, for the message

  bool known_not_null(const std::string& column) const {
    auto dot = column.rfind('.');
    return a.not_null_columns.count(table + "." + (dot == std::string::npos ? column : column.substr(dot + 1))) != 0;
  }

  // Same column on both sides.
  std::optional<std::string> same_column(const Json& l, const Json& r) const {
    const Json* lc = as(l, "ColumnRef");
    const Json* rc = as(r, "ColumnRef");
    if (lc == nullptr || rc == nullptr) return std::nullopt;
    std::string ln = column_name(*lc);
    if (ln.empty() || ln != column_name(*rc)) return std::nullopt;
    return ln;
  }

  Value compare(const std::string& op, const Value& l, const Value& r) const {
    if (l.kind == Value::unknown || r.kind == Value::unknown) return unknown_value();
    if (l.kind == Value::null || r.kind == Value::null) {
      Value v;
      v.kind = Value::null;
      return v;
    }
    int c = 0;
    auto ln = as_number(l);
    auto rn = as_number(r);
    if (ln && rn && (l.kind == Value::number || r.kind == Value::number)) {
      c = *ln < *rn ? -1 : *ln > *rn ? 1 : 0;
    } else if (l.kind == Value::boolean || r.kind == Value::boolean) {
      auto lb = as_bool(l);
      auto rb = as_bool(r);
      if (!lb || !rb) return unknown_value();
      c = static_cast<int>(*lb) - static_cast<int>(*rb);
    } else if (l.kind == Value::text && r.kind == Value::text) {
      c = l.s.compare(r.s);
    } else {
      return unknown_value();
    }
    if (op == "=") return bool_value(c == 0);
    if (op == "<>" || op == "!=") return bool_value(c != 0);
    if (op == "<") return bool_value(c < 0);
    if (op == "<=") return bool_value(c <= 0);
    if (op == ">") return bool_value(c > 0);
    if (op == ">=") return bool_value(c >= 0);
    return unknown_value();
  }

  Value operator_expr(const Json& e) {
    std::string kind = str(e, "kind");
    std::string op;
    for (const auto& n : field(e, "name")) {
      if (const Json* s = as(n, "String")) op = str(*s, "sval");
    }
    const Json& l = field(e, "lexpr");
    const Json& r = field(e, "rexpr");
    if (kind == "AEXPR_NOT_DISTINCT" || kind == "AEXPR_DISTINCT") {
      if (auto col = same_column(l, r)) {
        why = fmt::format("{} IS NOT DISTINCT FROM {}", *col, *col);
        return bool_value(kind == "AEXPR_NOT_DISTINCT");
      }
      Value lv = eval(l), rv = eval(r);
      if (lv.kind == Value::unknown || rv.kind == Value::unknown) return unknown_value();
      bool equal = lv.kind == rv.kind && (lv.kind == Value::null || compare("=", lv, rv).b);
      return bool_value(kind == "AEXPR_NOT_DISTINCT" ? equal : !equal);
    }
    if (kind == "AEXPR_IN") {
      Value lv = eval(l);
      bool any = false;
      const Json& list = items_of(r);
      for (const auto& item : list.is_array() ? list : Json::array()) {
        Value c = compare("=", lv, eval(item));
        if (c.kind != Value::boolean) return unknown_value();
        any = any || c.b;
      }
      return bool_value(op == "=" ? any : !any);
    }
    if (kind != "AEXPR_OP") return unknown_value();
    if (auto col = same_column(l, r)) {
      if (op == "=" || op == "<=" || op == ">=") {
        why = fmt::format("{} {} {}{}", *col, op, *col,
                          known_not_null(*col) ? " (a NOT NULL column)" : ": true for every row where it is not null");
        return bool_value(true);
      }
      if (op == "<>" || op == "!=" || op == "<" || op == ">") return bool_value(false);
    }
    return compare(op, eval(l), eval(r));
  }

  Value eval(const Json& node) {
    if (const Json* c = as(node, "A_Const")) {
      Value v;
      if (c->value("isnull", false)) {
        v.kind = Value::null;
      } else if (const Json* b = as(*c, "boolval")) {
        v = bool_value(b->value("boolval", false));
      } else if (const Json* i = as(*c, "ival")) {
        v.kind = Value::number;
        v.n = static_cast<double>(i->value("ival", 0LL));
      } else if (const Json* f = as(*c, "fval")) {
        v.kind = Value::number;
        v.n = std::atof(str(*f, "fval").c_str());
      } else if (const Json* s = as(*c, "sval")) {
        v.kind = Value::text;
        v.s = str(*s, "sval");
      }
      return v;
    }
    if (const Json* cast = as(node, "TypeCast")) {
      Value v = eval(field(*cast, "arg"));
      std::string type;
      for (const auto& n : field(field(*cast, "typeName"), "names")) {
        if (const Json* s = as(n, "String")) type = str(*s, "sval");
      }
      if (type == "bool" || type == "boolean") {
        if (auto b = as_bool(v)) return bool_value(*b);
      }
      return v;
    }
    if (const Json* be = as(node, "BoolExpr")) {
      std::string op = str(*be, "boolop");
      const Json& args = field(*be, "args");
      if (op == "NOT_EXPR") {
        Value v = args.empty() ? unknown_value() : eval(args[0]);
        return v.kind == Value::boolean ? bool_value(!v.b) : v.kind == Value::null ? v : unknown_value();
      }
      bool is_and = op == "AND_EXPR";
      bool all_known = true;
      for (const auto& arg : args) {
        Value v = eval(arg);
        if (v.kind == Value::boolean && v.b != is_and) return bool_value(!is_and);  // false AND / true OR
        if (v.kind != Value::boolean) all_known = false;
      }
      if (!is_and && tautology(args)) return bool_value(true);
      return all_known ? bool_value(is_and) : unknown_value();
    }
    if (const Json* e = as(node, "A_Expr")) return operator_expr(*e);
    if (const Json* t = as(node, "NullTest")) {
      bool is_null_test = str(*t, "nulltesttype") == "IS_NULL";
      const Json& arg = field(*t, "arg");
      if (const Json* ref = as(arg, "ColumnRef"); ref != nullptr && known_not_null(column_name(*ref))) {
        why = fmt::format("{} IS NOT NULL on a NOT NULL column", column_name(*ref));
        return bool_value(!is_null_test);
      }
      Value v = eval(arg);
      if (v.kind == Value::unknown) return v;
      return bool_value((v.kind == Value::null) == is_null_test);
    }
    if (const Json* t = as(node, "BooleanTest")) {
      Value v = eval(field(*t, "arg"));
      auto b = as_bool(v);
      if (!b && v.kind != Value::null) return unknown_value();
      std::string test = str(*t, "booltesttype");
      bool is_null = v.kind == Value::null;
      if (test == "IS_TRUE") return bool_value(!is_null && *b);
      if (test == "IS_NOT_TRUE") return bool_value(is_null || !*b);
      if (test == "IS_FALSE") return bool_value(!is_null && !*b);
      if (test == "IS_NOT_FALSE") return bool_value(is_null || *b);
      if (test == "IS_UNKNOWN") return bool_value(is_null);
      if (test == "IS_NOT_UNKNOWN") return bool_value(!is_null);
      return unknown_value();
    }
    return unknown_value();
  }

  // `c IS NULL OR c IS NOT NULL` among the OR's arguments.
  bool tautology(const Json& args) {
    std::set<std::string> is_null, is_not_null;
    for (const auto& arg : args) {
      const Json* t = as(arg, "NullTest");
      const Json* ref = t != nullptr ? as(field(*t, "arg"), "ColumnRef") : nullptr;
      if (ref == nullptr) continue;
      (str(*t, "nulltesttype") == "IS_NULL" ? is_null : is_not_null).insert(column_name(*ref));
    }
    for (const auto& c : is_null) {
      if (is_not_null.count(c) != 0) {
        why = fmt::format("{} IS NULL OR {} IS NOT NULL", c, c);
        return true;
      }
    }
    return false;
  }
};

// --- the walk -------------------------------------------------------------------

// Unqualified names resolve to pg_catalog first (it is searched before the
// search_path), so these are catalog tables even without the schema.
constexpr std::string_view k_catalog_tables[] = {
    "pg_aggregate", "pg_am", "pg_amop", "pg_amproc", "pg_attrdef", "pg_attribute", "pg_auth_members",
    "pg_authid", "pg_cast", "pg_class", "pg_collation", "pg_constraint", "pg_conversion", "pg_database",
    "pg_db_role_setting", "pg_default_acl", "pg_depend", "pg_description", "pg_enum", "pg_event_trigger",
    "pg_extension", "pg_foreign_data_wrapper", "pg_foreign_server", "pg_foreign_table", "pg_index", "pg_inherits",
    "pg_init_privs", "pg_language", "pg_largeobject", "pg_largeobject_metadata", "pg_namespace", "pg_opclass",
    "pg_operator", "pg_opfamily", "pg_parameter_acl", "pg_partitioned_table", "pg_policy", "pg_proc",
    "pg_publication", "pg_publication_namespace", "pg_publication_rel", "pg_range", "pg_replication_origin",
    "pg_rewrite", "pg_seclabel", "pg_sequence", "pg_shdepend", "pg_shdescription", "pg_shseclabel",
    "pg_statistic", "pg_statistic_ext", "pg_statistic_ext_data", "pg_subscription", "pg_subscription_rel",
    "pg_tablespace", "pg_transform", "pg_trigger", "pg_ts_config", "pg_ts_config_map", "pg_ts_dict",
    "pg_ts_parser", "pg_ts_template", "pg_type", "pg_user_mapping"};

bool is_catalog_relation(const Json& rv) {
  std::string schema = str(rv, "schemaname");
  if (schema == "pg_catalog" || schema == "information_schema") return true;
  if (!schema.empty()) return false;
  std::string name = str(rv, "relname");
  return std::find(std::begin(k_catalog_tables), std::end(k_catalog_tables), name) != std::end(k_catalog_tables);
}

class DataWalker {
 public:
  DataWalker(FileAnalysis& a, const Stmt& s) : m_a(a), m_s(s) {}

  void walk(const Json& node) {
    if (node.is_array()) {
      for (const auto& n : node) walk(n);
      return;
    }
    if (!node.is_object()) return;
    for (const auto& [key, value] : node.items()) {
      if (key == "DeleteStmt" || key == "UpdateStmt" || key == "InsertStmt" || key == "MergeStmt") {
        dml(key, value, false);
      }
      if (value.is_structured()) walk(value);
    }
  }

  void dml(const std::string& kind, const Json& b, bool top) {
    const Json& rv = field(b, "relation");
    std::string verb = kind == "DeleteStmt" ? "DELETE FROM" : kind == "UpdateStmt" ? "UPDATE" : kind == "InsertStmt" ? "INSERT INTO" : "MERGE INTO";
    LineCol pos = top ? m_a.stmt_pos(m_s) : m_a.node_pos(m_s, rv);
    if (is_catalog_relation(rv)) {
      m_a.report(Code::lint_system_catalog_write, pos,
                 fmt::format("{} {} writes a system catalog directly: PostgreSQL's own checks, locks and cache "
                             "invalidation are bypassed, and a wrong row can make the database unusable",
                             verb, relation_display(rv)));
      return;
    }
    if (kind != "DeleteStmt" && kind != "UpdateStmt") return;
    if (m_a.new_tables.count(relation_key(rv)) != 0) return;
    if (auto locked = m_a.locked_tables.find(relation_key(rv));
        locked != m_a.locked_tables.end() && m_a.in_transaction()) {
      m_a.report(Code::lint_backfill_under_lock, pos,
                 fmt::format("{} {} runs while this transaction holds the lock ALTER TABLE took at line {}: every "
                             "read and write of {} waits until the {} commits",
                             verb, relation_display(rv), locked->second, relation_display(rv),
                             kind == "UpdateStmt" ? "backfill" : "delete"));
    }
    const Code rule = kind == "DeleteStmt" ? Code::lint_delete_without_where : Code::lint_update_without_where;
    std::string where = top ? "" : " inside a WITH clause or subquery";
    const Json& clause = field(b, "whereClause");
    if (clause.is_null()) {
      m_a.report(rule, pos, fmt::format("{} {}{} without WHERE affects every row", verb, relation_display(rv), where));
      return;
    }
    Folder folder{m_a, relation_key(rv), {}};
    Value v = folder.eval(clause);
    if (v.kind == Value::boolean && v.b) {
      m_a.report(rule, pos,
                 fmt::format("{} {}{}: the WHERE clause is always true{}, so it affects every row", verb,
                             relation_display(rv), where, folder.why.empty() ? "" : " (" + folder.why + ")"));
    }
  }


 private:
  FileAnalysis& m_a;
  const Stmt& m_s;
};

}  // namespace

void check_data(FileAnalysis& a, const Stmt& s) {
  // Bodies that do not run now: a function's BEGIN ATOMIC body, a rule's actions.
  if (s.kind == "CreateFunctionStmt" || s.kind == "RuleStmt") return;
  DataWalker walker(a, s);
  // The statement itself is reported at its start; nested ones at their table.
  if (s.kind == "DeleteStmt" || s.kind == "UpdateStmt" || s.kind == "InsertStmt" || s.kind == "MergeStmt") {
    walker.dml(s.kind, *s.body, true);
  }
  walker.walk(*s.body);
  if (s.kind == "TruncateStmt" || s.kind == "AlterTableStmt") {
    const Json& rels = s.kind == "TruncateStmt" ? field(*s.body, "relations") : Json::array({Json{{"RangeVar", field(*s.body, "relation")}}});
    for (const auto& r : rels) {
      const Json* rv = as(r, "RangeVar");
      if (rv != nullptr && is_catalog_relation(*rv)) {
        a.report(Code::lint_system_catalog_write, a.stmt_pos(s),
                 fmt::format("{} on system catalog {}: catalogs are changed only through the commands that own them",
                             s.kind == "TruncateStmt" ? "TRUNCATE" : "ALTER TABLE", relation_display(*rv)));
      }
    }
  }
}

}  // namespace mgr::lint_detail
