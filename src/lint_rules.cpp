// The rules that look at one statement's parse tree. Framework, registry and
// allow handling live in lint.cpp; DO bodies in lint_do.cpp.
#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "lint_internal.hpp"
#include "mgr/sql.hpp"

namespace mgr::lint_detail {

namespace {

const Json& items(const Json& node) {
  if (const Json* list = as(node, "List")) return field(*list, "items");
  return node;
}

// The type as the parser resolved it: "pg_catalog.int4", "serial", "public.mood".
std::string type_name(const Json& type) {
  std::vector<std::string> parts;
  for (const auto& n : field(type, "names")) {
    if (const Json* s = as(n, "String")) parts.push_back(str(*s, "sval"));
  }
  return join(parts, ".");
}

std::string last_name(const Json& names) {
  std::string out;
  for (const auto& n : names) {
    if (const Json* s = as(n, "String")) out = str(*s, "sval");
  }
  return out;
}

bool is_new_table(const FileAnalysis& a, const Json& rv) { return a.new_tables.count(relation_key(rv)) != 0; }

// --- default expressions -----------------------------------------------------

enum class Volatility { safe, unknown, volatile_ };

// Functions whose volatility decides whether ADD COLUMN ... DEFAULT rewrites
// the table. now() and friends are STABLE: evaluated once, no rewrite.
constexpr std::array k_volatile_functions = {
    std::string_view("random"),        std::string_view("gen_random_uuid"), std::string_view("uuid_generate_v1"),
    std::string_view("uuid_generate_v1mc"), std::string_view("uuid_generate_v4"), std::string_view("clock_timestamp"),
    std::string_view("timeofday"),     std::string_view("nextval"),         std::string_view("setval"),
    std::string_view("gen_random_bytes"), std::string_view("random_normal"), std::string_view("txid_current"),
    std::string_view("pg_current_xact_id")};
constexpr std::array k_non_volatile_functions = {
    std::string_view("now"),        std::string_view("transaction_timestamp"), std::string_view("statement_timestamp"),
    std::string_view("current_setting"), std::string_view("current_database"), std::string_view("current_schema"),
    std::string_view("lower"),      std::string_view("upper"),      std::string_view("btrim"), std::string_view("trim"),
    std::string_view("concat"),     std::string_view("length"),     std::string_view("abs"),   std::string_view("round"),
    std::string_view("to_char"),    std::string_view("to_timestamp"), std::string_view("to_date"),
    std::string_view("make_date"),  std::string_view("make_interval"), std::string_view("make_timestamptz"),
    std::string_view("jsonb_build_object"), std::string_view("json_build_object"), std::string_view("jsonb_build_array"),
    std::string_view("json_build_array"), std::string_view("array_fill"), std::string_view("md5"),
    std::string_view("date_trunc"), std::string_view("timezone"), std::string_view("greatest"), std::string_view("least")};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Walks the whole expression: the worst function call decides. A function
// created in this file has the volatility it was declared with (VOLATILE
// unless it says IMMUTABLE or STABLE).
void classify(const FileAnalysis& a, const Json& node, Volatility& worst, std::string& culprit) {
  if (node.is_array()) {
    for (const auto& n : node) classify(a, n, worst, culprit);
    return;
  }
  if (!node.is_object()) return;
  if (const Json* call = as(node, "FuncCall")) {
    std::string name = last_name(field(*call, "funcname"));
    auto created = a.functions.find(names_key(field(*call, "funcname")));
    bool created_volatile = created != a.functions.end() && created->second.volatility == "volatile";
    if (created != a.functions.end() && !created_volatile) {
      // declared IMMUTABLE or STABLE: evaluated once
    } else if (created_volatile || contains(k_volatile_functions, name)) {
      if (worst != Volatility::volatile_) culprit = name;
      worst = Volatility::volatile_;
    } else if (!contains(k_non_volatile_functions, name) && worst == Volatility::safe) {
      worst = Volatility::unknown;
      culprit = name;
    }
  } else if (as(node, "SubLink") != nullptr && worst == Volatility::safe) {
    worst = Volatility::unknown;
    culprit = "a subquery";
  }
  for (const auto& [key, value] : node.items()) {
    if (value.is_structured()) classify(a, value, worst, culprit);
  }
}

bool is_null_constant(const Json& expr) {
  const Json* c = as(expr, "A_Const");
  return c != nullptr && flag(*c, "isnull");
}

// --- column types (hygiene) -------------------------------------------------------

bool is_serial_type(const std::string& t) {
  return t == "serial" || t == "serial4" || t == "smallserial" || t == "serial2" || t == "bigserial" ||
         t == "serial8";
}
bool is_small_id_type(const std::string& t) {
  return t == "pg_catalog.int4" || t == "pg_catalog.int2" || t == "serial" || t == "serial4" ||
         t == "smallserial" || t == "serial2";
}

void check_column_type(FileAnalysis& a, const Stmt& s, const std::string& column, const Json& type,
                       bool is_id) {
  std::string t = type_name(type);
  LineCol pos = a.node_pos(s, type);
  if (t == "pg_catalog.timestamp") {
    a.report(Code::lint_prefer_timestamptz, pos, fmt::format("column {} is timestamp without time zone", column));
  } else if (t == "pg_catalog.varchar" && !field(type, "typmods").is_null()) {
    a.report(Code::lint_prefer_text_over_varchar, pos, fmt::format("column {} is varchar(n)", column));
  } else if (is_id && is_small_id_type(t)) {
    a.report(Code::lint_prefer_bigint_id, pos,
             fmt::format("id column {} is a 32-bit {}", column, t.substr(t.find('.') + 1)));
  }
}

bool has_constraint(const Json& column_def, const char* contype) {
  for (const auto& c : field(column_def, "constraints")) {
    if (const Json* con = as(c, "Constraint"); con != nullptr && str(*con, "contype") == contype) return true;
  }
  return false;
}

// --- statements ----------------------------------------------------------------

void check_create_table(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  const Json& rv = field(b, "relation");
  std::string key = relation_key(rv);
  a.new_tables.insert(key);
  // In a transaction the file is all-or-nothing: a re-run never finds a half-made table.
  if (!flag(b, "if_not_exists") && !a.in_transaction()) {
    a.report(Code::lint_missing_if_not_exists, a.stmt_pos(s),
             fmt::format("CREATE TABLE {} without IF NOT EXISTS in a no-transaction file", relation_display(rv)));
  }
  std::set<std::string> pk_columns;
  for (const auto& elt : field(b, "tableElts")) {
    const Json* con = as(elt, "Constraint");
    if (con != nullptr && str(*con, "contype") == "CONSTR_PRIMARY") {
      for (const auto& k : field(*con, "keys")) {
        if (const Json* sv = as(k, "String")) pk_columns.insert(str(*sv, "sval"));
      }
      a.keyed_tables.insert(key);
    }
  }
  for (const auto& elt : field(b, "tableElts")) {
    const Json* col = as(elt, "ColumnDef");
    if (col == nullptr) continue;
    std::string name = str(*col, "colname");
    bool is_id = pk_columns.count(name) != 0 || has_constraint(*col, "CONSTR_PRIMARY") ||
                 has_constraint(*col, "CONSTR_IDENTITY");
    if (has_constraint(*col, "CONSTR_PRIMARY")) a.keyed_tables.insert(key);
    if (is_id || has_constraint(*col, "CONSTR_PRIMARY") || has_constraint(*col, "CONSTR_NOTNULL")) {
      a.not_null_columns.insert(key + "." + name);
    }
    check_column_type(a, s, name, field(*col, "typeName"), is_id);
  }
}

void check_add_column(FileAnalysis& a, const Stmt& s, const Json& rv, const Json& col, bool is_new) {
  std::string name = str(col, "colname");
  std::string table = relation_display(rv);
  const Json& type = field(col, "typeName");
  check_column_type(a, s, name, type, has_constraint(col, "CONSTR_PRIMARY") || has_constraint(col, "CONSTR_IDENTITY"));
  a.new_columns.insert(relation_key(rv) + "." + name);
  if (is_new) return;

  LineCol pos = a.node_pos(s, col);
  bool not_null = false;
  bool fills_values = is_serial_type(type_name(type));  // serial = a nextval() default
  const Json* default_expr = nullptr;
  for (const auto& c : field(col, "constraints")) {
    const Json* con = as(c, "Constraint");
    if (con == nullptr) continue;
    std::string type_of = str(*con, "contype");
    LineCol cpos = a.node_pos(s, *con);
    if (type_of == "CONSTR_NOTNULL") {
      not_null = true;
    } else if (type_of == "CONSTR_DEFAULT") {
      default_expr = &field(*con, "raw_expr");
    } else if (type_of == "CONSTR_IDENTITY" || type_of == "CONSTR_GENERATED") {
      fills_values = true;
      a.report(Code::lint_add_column_volatile_default, cpos,
               fmt::format("ADD COLUMN {}.{} as {} column rewrites the table", table, name,
                           type_of == "CONSTR_IDENTITY" ? "an identity" : "a stored generated"));
    } else if (type_of == "CONSTR_PRIMARY") {
      a.report(Code::lint_add_primary_key_existing_table, cpos,
               fmt::format("ADD COLUMN {}.{} PRIMARY KEY builds an index on existing table {}", table, name, table));
    } else if (type_of == "CONSTR_UNIQUE") {
      a.report(Code::lint_add_unique_constraint, cpos,
               fmt::format("ADD COLUMN {}.{} UNIQUE builds an index while blocking writes", table, name));
    } else if (type_of == "CONSTR_FOREIGN") {
      a.report(Code::lint_add_foreign_key_without_not_valid, cpos,
               fmt::format("ADD COLUMN {}.{} REFERENCES validates existing rows while blocking writes", table, name));
    } else if (type_of == "CONSTR_CHECK") {
      a.report(Code::lint_add_check_without_not_valid, cpos,
               fmt::format("ADD COLUMN {}.{} CHECK scans existing rows under an ACCESS EXCLUSIVE lock", table, name));
    }
  }
  if (is_serial_type(type_name(type))) {
    a.report(Code::lint_add_column_volatile_default, pos,
             fmt::format("ADD COLUMN {}.{} {} fills every row from a sequence: table rewrite", table, name,
                         type_name(type)));
  }
  if (default_expr != nullptr && !is_null_constant(*default_expr)) {
    fills_values = true;
    Volatility v = Volatility::safe;
    std::string culprit;
    classify(a, *default_expr, v, culprit);
    if (a.settings().pg_version < 11) {
      a.report(Code::lint_add_column_volatile_default, pos,
               fmt::format("ADD COLUMN {}.{} with a DEFAULT rewrites the table before PostgreSQL 11 (lint_pg_version {})",
                           table, name, a.settings().pg_version));
    } else if (v == Volatility::volatile_) {
      a.report(Code::lint_add_column_volatile_default, pos,
               fmt::format("ADD COLUMN {}.{} DEFAULT {}() is volatile: table rewrite", table, name, culprit));
    } else if (v == Volatility::unknown) {
      a.report(Code::lint_add_column_volatile_default, pos,
               fmt::format("ADD COLUMN {}.{} DEFAULT uses {}{}, which may be volatile (table rewrite if so)", table,
                           name, culprit, culprit == "a subquery" ? "" : "()"),
               Severity::warning);
    }
  }
  if (not_null && !fills_values) {
    a.report(Code::lint_add_column_not_null_no_default, pos,
             fmt::format("ADD COLUMN {}.{} NOT NULL without a default fails if {} has rows", table, name, table));
  }
}

// The old type is not in the parse tree. To text, varchar(n) or numeric(p,s)
// without USING is the change PostgreSQL makes without a rewrite when the
// column already is of that kind and the limit only goes up: a warning that
// says so. Everything else is an error.
void check_alter_column_type(FileAnalysis& a, const Stmt& s, const std::string& table, const std::string& name,
                             const Json& def) {
  const Json* col = as(def, "ColumnDef");
  std::string type = col != nullptr ? type_name(field(*col, "typeName")) : std::string("?");
  bool has_using = col != nullptr && !field(*col, "raw_default").is_null();
  bool stringish = type == "text" || type == "pg_catalog.varchar";
  bool widening = stringish || type == "pg_catalog.numeric";
  if (widening && !has_using) {
    a.report(Code::lint_alter_column_type, a.stmt_pos(s),
             fmt::format("ALTER COLUMN {}.{} TYPE {}: no rewrite only if the column already is {} and the new type "
                         "only raises or removes a limit; anything else rewrites the table under an ACCESS EXCLUSIVE "
                         "lock",
                         table, name, type.substr(type.find('.') + 1), stringish ? "varchar or text" : "numeric"),
             Severity::warning);
    return;
  }
  a.report(Code::lint_alter_column_type, a.stmt_pos(s),
           fmt::format("ALTER COLUMN {}.{} TYPE {} rewrites the table under an ACCESS EXCLUSIVE lock", table, name,
                       type));
}

std::optional<std::string> not_null_check_column(const Json& con) {
  const Json* test = as(field(con, "raw_expr"), "NullTest");
  if (test == nullptr || str(*test, "nulltesttype") != "IS_NOT_NULL") return std::nullopt;
  const Json* ref = as(field(*test, "arg"), "ColumnRef");
  if (ref == nullptr) return std::nullopt;
  std::string name = last_name(field(*ref, "fields"));
  if (name.empty()) return std::nullopt;
  return name;
}

void check_add_constraint(FileAnalysis& a, const Stmt& s, const Json& rv, const Json& con, bool is_new) {
  std::string table = relation_display(rv);
  std::string key = relation_key(rv);
  std::string contype = str(con, "contype");
  std::string conname = str(con, "conname");
  LineCol pos = a.node_pos(s, con);
  bool not_valid = flag(con, "skip_validation");
  const auto rule = contype == "CONSTR_FOREIGN" ? std::optional(Code::lint_add_foreign_key_without_not_valid)
                    : contype == "CONSTR_CHECK" ? std::optional(Code::lint_add_check_without_not_valid)
                                                : std::nullopt;
  if (rule) {
    auto nn_column = contype == "CONSTR_CHECK" ? not_null_check_column(con) : std::nullopt;
    if (not_valid) {
      if (!conname.empty()) a.not_valid_constraints[key + "." + conname] = NotValidConstraint{*rule, nn_column};
    } else {
      if (nn_column) a.not_null_checked.insert(key + "." + *nn_column);
      if (contype == "CONSTR_CHECK") a.checked_tables.insert(key);
      if (!is_new) {
        a.report(*rule, pos,
                 fmt::format("ADD {} {} on {} without NOT VALID checks every row under lock",
                             contype == "CONSTR_FOREIGN" ? "FOREIGN KEY" : "CHECK",
                             conname.empty() ? std::string("(unnamed)") : conname, table));
      }
    }
    return;
  }
  if (contype == "CONSTR_PRIMARY") a.keyed_tables.insert(key);
  if (is_new || !str(con, "indexname").empty()) return;  // USING INDEX: the index already exists
  if (contype == "CONSTR_EXCLUSION") {
    a.report(Code::lint_add_exclusion_constraint, pos,
             fmt::format("ADD EXCLUDE on {} builds an index under an ACCESS EXCLUSIVE lock (no concurrent form exists)",
                         table));
  } else if (contype == "CONSTR_UNIQUE") {
    a.report(Code::lint_add_unique_constraint, pos,
             fmt::format("ADD UNIQUE on {} builds an index while blocking writes", table));
  } else if (contype == "CONSTR_PRIMARY") {
    a.report(Code::lint_add_primary_key_existing_table, pos,
             fmt::format("ADD PRIMARY KEY on existing table {} builds an index while blocking the table", table));
  }
}

void check_alter_table(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  std::string objtype = str(b, "objtype");
  const Json& rv = field(b, "relation");
  if (objtype == "OBJECT_TYPE") {
    check_alter_composite_type(a, s);
    return;
  }
  if (objtype != "OBJECT_TABLE" && objtype != "OBJECT_MATVIEW" && objtype != "OBJECT_INDEX" &&
      objtype != "OBJECT_FOREIGN_TABLE") {
    return;
  }
  std::string table = relation_display(rv);
  std::string key = relation_key(rv);
  bool is_new = is_new_table(a, rv);
  LineCol pos = a.stmt_pos(s);
  for (const auto& c : field(b, "cmds")) {
    const Json* cmd = as(c, "AlterTableCmd");
    if (cmd == nullptr) continue;
    std::string subtype = str(*cmd, "subtype");
    std::string name = str(*cmd, "name");
    const Json& def = field(*cmd, "def");
    // Every subcommand but these takes a lock that blocks writes, held to the end of the transaction.
    bool weak_lock = subtype == "AT_SetStatistics" || subtype == "AT_SetOptions" || subtype == "AT_ResetOptions" ||
                     subtype == "AT_ValidateConstraint" || subtype == "AT_ClusterOn" || subtype == "AT_DropCluster" ||
                     subtype == "AT_SetRelOptions" || subtype == "AT_ResetRelOptions" ||
                     subtype == "AT_AttachPartition" || subtype == "AT_DetachPartitionFinalize";
    if (!weak_lock && !is_new && a.in_transaction() && objtype != "OBJECT_INDEX") {
      a.locked_tables.emplace(key, pos.line);
    }
    if (check_alter_table_subcommand(a, s, rv, *cmd, is_new)) continue;
    if (subtype == "AT_DropColumn") {
      if (!is_new && a.new_columns.count(key + "." + name) == 0) {
        a.report(Code::lint_drop_column, pos, fmt::format("DROP COLUMN {}.{} deletes the column's data", table, name));
      }
    } else if (subtype == "AT_AlterColumnType") {
      if (const Json* col = as(def, "ColumnDef")) check_column_type(a, s, name, field(*col, "typeName"), false);
      if (!is_new) check_alter_column_type(a, s, table, name, def);
    } else if (subtype == "AT_AddColumn") {
      if (const Json* col = as(def, "ColumnDef")) check_add_column(a, s, rv, *col, is_new);
    } else if (subtype == "AT_AddConstraint") {
      if (const Json* con = as(def, "Constraint")) check_add_constraint(a, s, rv, *con, is_new);
    } else if (subtype == "AT_ValidateConstraint") {
      auto it = a.not_valid_constraints.find(key + "." + name);
      if (it == a.not_valid_constraints.end()) continue;
      if (it->second.not_null_column) a.not_null_checked.insert(key + "." + *it->second.not_null_column);
      if (it->second.rule == Code::lint_add_check_without_not_valid) a.checked_tables.insert(key);
      // One transaction holds the ADD's lock until the end: the split gains nothing.
      if (a.in_transaction() && !is_new) {
        a.report(it->second.rule, pos,
                 fmt::format("VALIDATE CONSTRAINT {} in the same transaction as its ADD ... NOT VALID: the lock is "
                             "held until commit, so nothing is gained",
                             name));
      }
    } else if (subtype == "AT_SetNotNull") {
      bool proven = a.settings().pg_version >= 12 && a.not_null_checked.count(key + "." + name) != 0;
      if (!is_new && !proven) {
        a.report(Code::lint_set_not_null, pos,
                 fmt::format("SET NOT NULL on {}.{} scans the table under an ACCESS EXCLUSIVE lock", table, name));
      }
    }
  }
}

void check_index(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  const Json& rv = field(b, "relation");
  std::string idx = str(b, "idxname");
  if (!idx.empty()) a.new_indexes.insert((rv.value("schemaname", "").empty() ? "public" : rv.value("schemaname", "")) + "." + idx);
  std::string what = fmt::format("CREATE {}INDEX CONCURRENTLY {}", flag(b, "unique") ? "UNIQUE " : "",
                                 idx.empty() ? std::string("on ") + relation_display(rv) : idx);
  // ON ONLY a partitioned table makes an invalid parent index without building anything.
  bool only_parent = !flag(rv, "inh");  // the parser leaves out inh = false
  if (flag(b, "concurrent")) {
    if (a.in_transaction() || s.in_do) report_concurrently(a, s, what);
  } else if (!is_new_table(a, rv) && !only_parent) {
    a.report(Code::lint_index_not_concurrent, a.stmt_pos(s),
             fmt::format("CREATE INDEX {}on {} without CONCURRENTLY blocks writes while it builds",
                         idx.empty() ? "" : idx + " ", relation_display(rv)));
  }
  // IF NOT EXISTS would keep an invalid index left by a failed concurrent build.
  if (!flag(b, "if_not_exists") && !flag(b, "concurrent") && !idx.empty() && !a.in_transaction()) {
    a.report(Code::lint_missing_if_not_exists, a.stmt_pos(s), fmt::format("CREATE INDEX {} without IF NOT EXISTS", idx));
  }
}

// DROP ... CASCADE of anything but a table, schema or type (their own rules
// say it): a function takes the defaults, indexes and generated columns that
// use it, a sequence the defaults, an extension the columns of its types.
void check_drop_cascade(FileAnalysis& a, const Stmt& s, const std::string& type, const Json& obj) {
  std::string name;
  if (const Json* func = as(obj, "ObjectWithArgs")) {
    name = names_display(field(*func, "objname"));
    if (a.functions.count(names_key(field(*func, "objname"))) != 0) return;
  } else if (const Json* sv = as(obj, "String")) {
    name = str(*sv, "sval");
  } else {
    const Json& names = items(obj);
    name = names_display(names);
    if (a.new_tables.count(names_key(names)) != 0) return;
  }
  std::string what = type.rfind("OBJECT_", 0) == 0 ? type.substr(7) : type;
  std::replace(what.begin(), what.end(), '_', ' ');
  a.report(Code::lint_drop_cascade, a.stmt_pos(s),
           fmt::format("DROP {} {} CASCADE also drops every object that depends on it (defaults, views, indexes, "
                       "constraints, even columns), none of them named here",
                       what, name));
}

void check_drop(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  std::string type = str(b, "removeType");
  LineCol pos = a.stmt_pos(s);
  for (const auto& obj : field(b, "objects")) {
    if (type == "OBJECT_TABLE") {
      const Json& names = items(obj);
      if (a.new_tables.count(names_key(names)) == 0) {
        a.report(Code::lint_drop_table, pos, fmt::format("DROP TABLE {} deletes the table and all its rows", names_display(names)));
      }
    } else if (type == "OBJECT_SCHEMA") {
      std::string name = as(obj, "String") != nullptr ? str(*as(obj, "String"), "sval") : std::string();
      // RESTRICT (the default) refuses unless the schema is empty.
      if (a.new_schemas.count(name) == 0 && str(b, "behavior") == "DROP_CASCADE") {
        a.report(Code::lint_drop_schema, pos,
                 fmt::format("DROP SCHEMA {}{} deletes the schema", name,
                             str(b, "behavior") == "DROP_CASCADE" ? " CASCADE" : ""));
      }
    } else if (type == "OBJECT_INDEX") {
      const Json& names = items(obj);
      std::string what = fmt::format("DROP INDEX CONCURRENTLY {}", names_display(names));
      if (flag(b, "concurrent")) {
        if (a.in_transaction() || s.in_do) report_concurrently(a, s, what);
      } else if (a.new_indexes.count(names_key(names)) == 0) {
        a.report(Code::lint_drop_index_not_concurrent, pos,
                 fmt::format("DROP INDEX {} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock", names_display(names)));
      }
    } else if (type == "OBJECT_TYPE" || type == "OBJECT_DOMAIN") {
      const Json* tn = as(obj, "TypeName");
      const Json& names = tn != nullptr ? field(*tn, "names") : items(obj);
      // RESTRICT (the default) refuses while a column uses the type.
      if (a.new_types.count(names_key(names)) == 0 && str(b, "behavior") == "DROP_CASCADE") {
        a.report(Code::lint_drop_type, pos,
                 fmt::format("DROP {} {} deletes the type{}", type == "OBJECT_TYPE" ? "TYPE" : "DOMAIN",
                             names_display(names),
                             str(b, "behavior") == "DROP_CASCADE" ? " and every column using it" : ""));
      }
    } else if (str(b, "behavior") == "DROP_CASCADE") {
      check_drop_cascade(a, s, type, obj);
    }
  }
}

void check_rename(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  std::string type = str(b, "renameType");
  const Json& rv = field(b, "relation");
  if (type == "OBJECT_TABLE" || type == "OBJECT_VIEW" || type == "OBJECT_MATVIEW") {
    if (is_new_table(a, rv)) {
      // The new name is just as new.
      a.new_tables.insert(relation_key(rv).substr(0, relation_key(rv).rfind('.') + 1) + str(b, "newname"));
      return;
    }
    a.report(Code::lint_rename_table, a.stmt_pos(s),
             fmt::format("RENAME {} {} TO {} breaks running code using the old name",
                         type == "OBJECT_TABLE" ? "TABLE" : type == "OBJECT_VIEW" ? "VIEW" : "MATERIALIZED VIEW",
                         relation_display(rv), str(b, "newname")));
  } else if (type == "OBJECT_COLUMN" && !is_new_table(a, rv) &&
             a.new_columns.count(relation_key(rv) + "." + str(b, "subname")) == 0 &&
             (str(b, "relationType") == "OBJECT_TABLE" || str(b, "relationType") == "OBJECT_VIEW" ||
              str(b, "relationType") == "OBJECT_MATVIEW")) {
    a.report(Code::lint_rename_column, a.stmt_pos(s),
             fmt::format("RENAME COLUMN {}.{} TO {} breaks running code using the old name", relation_display(rv),
                         str(b, "subname"), str(b, "newname")));
  }
}

bool all_new(const FileAnalysis& a, const Json& relations, const char* wrapper) {
  bool any = false;
  for (const auto& r : relations) {
    const Json* rv = wrapper != nullptr ? as(r, wrapper) : &r;
    if (rv == nullptr) continue;
    if (std::string(wrapper != nullptr ? wrapper : "") == "VacuumRelation") rv = &field(*rv, "relation");
    any = true;
    if (!is_new_table(a, *rv)) return false;
  }
  return any;
}

std::string relation_list(const Json& relations) {
  std::vector<std::string> names;
  for (const auto& r : relations) {
    if (const Json* rv = as(r, "RangeVar")) names.push_back(relation_display(*rv));
  }
  return join(names, ", ");
}

// transaction-control: the file-level verdict apply and rollback enforce
// (sql.hpp), looked up for this statement. Cached per file text so a file
// with several such statements is classified once.
void report_transaction_control(FileAnalysis& a, const Stmt& s) {
  if (s.in_do) {
    a.report(Code::lint_transaction_control, a.stmt_pos(s), "transaction control inside a DO block: mgr controls the transaction");
    return;
  }
  thread_local std::string cached_sql;
  thread_local bool cached_transactional = true;
  thread_local TransactionControl cached;
  if (cached_sql != a.file().sql || cached_transactional != a.transactional() || cached.statements.empty()) {
    cached = analyse_transaction_control(a.file().sql, a.transactional());
    cached_sql = a.file().sql;
    cached_transactional = a.transactional();
  }
  // A refused file runs nothing: only the refused statements are worth reading then.
  const bool refused = cached.refused();
  for (const auto& t : cached.statements) {
    if (t.offset != s.offset || (refused && t.fate != TransactionStatement::Fate::refused)) continue;
    switch (t.fate) {
      case TransactionStatement::Fate::folded:
        a.report(Code::lint_transaction_control, a.stmt_pos(s),
                 fmt::format("{} folded into mgr's transaction: the whole file runs as one transaction, this "
                             "statement is not sent", t.text),
                 Severity::warning);
        break;
      case TransactionStatement::Fate::kept:
        if (a.transactional()) {
          a.report(Code::lint_transaction_control, a.stmt_pos(s),
                   fmt::format("{} runs inside mgr's transaction", t.text), Severity::warning);
        }
        break;
      case TransactionStatement::Fate::refused:
        a.report(Code::lint_transaction_control, a.stmt_pos(s),
                 fmt::format("{}: {}; apply and rollback refuse the file whatever the lint policy", t.text, t.reason));
        break;
    }
  }
}

void check_reindex(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  bool concurrently = false;
  for (const auto& p : field(b, "params")) {
    if (const Json* d = as(p, "DefElem"); d != nullptr && str(*d, "defname") == "concurrently") concurrently = true;
  }
  const Json& rv = field(b, "relation");
  std::string target = rv.is_null() ? str(b, "name") : relation_display(rv);
  if (concurrently) {
    if (a.in_transaction() || s.in_do) report_concurrently(a, s, fmt::format("REINDEX CONCURRENTLY {}", target));
  } else if (!(str(b, "kind") == "REINDEX_OBJECT_TABLE" && is_new_table(a, rv)) &&
             a.new_indexes.count(rv.is_null() ? std::string() : relation_key(rv)) == 0) {
    a.report(Code::lint_reindex_not_concurrent, a.stmt_pos(s),
             fmt::format("REINDEX {} without CONCURRENTLY blocks writes", target));
  }
}

// VACUUM FULL, CLUSTER and LOCK TABLE on existing tables: an ACCESS EXCLUSIVE lock for the duration.
void check_exclusive_lock_commands(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  if (s.kind == "VacuumStmt") {
    bool full = false;
    for (const auto& o : field(b, "options")) {
      if (const Json* d = as(o, "DefElem"); d != nullptr && str(*d, "defname") == "full") full = true;
    }
    if (full && flag(b, "is_vacuumcmd") && !all_new(a, field(b, "rels"), "VacuumRelation")) {
      a.report(Code::lint_vacuum_full, a.stmt_pos(s), "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock");
    }
  } else if (s.kind == "ClusterStmt") {
    const Json& rv = field(b, "relation");
    if (rv.is_null() || !is_new_table(a, rv)) {
      a.report(Code::lint_cluster, a.stmt_pos(s),
               fmt::format("CLUSTER {}rewrites the table under an ACCESS EXCLUSIVE lock",
                           rv.is_null() ? "" : relation_display(rv) + " "));
    }
  } else if (s.kind == "LockStmt") {
    if (!all_new(a, field(b, "relations"), "RangeVar")) {
      a.report(Code::lint_lock_table, a.stmt_pos(s),
               fmt::format("LOCK TABLE {} blocks other sessions until the migration commits",
                           relation_list(field(b, "relations"))));
    }
  }
}

// Types and schemas created here (new, so the rules leave them alone), enum
// labels added in this transaction, and CREATE ... without IF NOT EXISTS in a
// no-transaction file.
void check_creates(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  const std::string& k = s.kind;
  auto if_not_exists = [&](const std::string& what) {
    if (!flag(b, "if_not_exists") && !a.in_transaction()) {
      a.report(Code::lint_missing_if_not_exists, a.stmt_pos(s), fmt::format("CREATE {} without IF NOT EXISTS", what));
    }
  };
  if (k == "AlterEnumStmt") {
    std::string label = str(b, "newVal");
    if (!label.empty() && field(b, "oldVal").is_null() && a.in_transaction()) {
      a.enum_values_added.push_back(
          EnumValueAdded{label, names_display(field(b, "typeName")), a.stmt_pos(s), false});
    }
  } else if (k == "CreateEnumStmt") {
    a.new_types.insert(names_key(field(b, "typeName")));
  } else if (k == "CreateDomainStmt") {
    a.new_types.insert(names_key(field(b, "domainname")));
  } else if (k == "CompositeTypeStmt") {
    a.new_types.insert(relation_key(field(b, "typevar")));
  } else if (k == "CreateSchemaStmt") {
    a.new_schemas.insert(str(b, "schemaname"));
    if_not_exists("SCHEMA " + str(b, "schemaname"));
  } else if (k == "CreateSeqStmt") {
    if_not_exists("SEQUENCE " + relation_display(field(b, "sequence")));
  } else if (k == "CreateExtensionStmt") {
    if_not_exists("EXTENSION " + str(b, "extname"));
  }
}

}  // namespace

void check_statement(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  const std::string& k = s.kind;
  if (k == "CreateStmt") {
    check_create_table(a, s);
  } else if (k == "CreateTableAsStmt") {
    const Json& into = field(b, "into");
    a.new_tables.insert(relation_key(field(into, "rel")));
  } else if (k == "ViewStmt") {
    a.new_tables.insert(relation_key(field(b, "view")));
  } else if (k == "AlterTableStmt") {
    check_alter_table(a, s);
  } else if (k == "IndexStmt") {
    check_index(a, s);
  } else if (k == "DropStmt") {
    check_drop(a, s);
  } else if (k == "DropdbStmt") {
    a.report(Code::lint_drop_database, a.stmt_pos(s), fmt::format("DROP DATABASE {}", str(b, "dbname")));
  } else if (k == "TruncateStmt") {
    if (!all_new(a, field(b, "relations"), "RangeVar")) {
      a.report(Code::lint_truncate, a.stmt_pos(s),
               fmt::format("TRUNCATE {} deletes every row", relation_list(field(b, "relations"))));
    }
  } else if (k == "RenameStmt") {
    check_rename(a, s);
  } else if (k == "ReindexStmt") {
    check_reindex(a, s);
  } else if (k == "VacuumStmt" || k == "ClusterStmt" || k == "LockStmt") {
    check_exclusive_lock_commands(a, s);
  } else if (k == "TransactionStmt") {
    report_transaction_control(a, s);
  } else {
    check_creates(a, s);
  }
  check_more_statements(a, s);
}

namespace {
// String constants anywhere in the statement (A_Const sval), compared to the added labels.
void find_labels(FileAnalysis& a, const Stmt& s, const Json& node) {
  if (node.is_array()) {
    for (const auto& n : node) find_labels(a, s, n);
    return;
  }
  if (!node.is_object()) return;
  if (const Json* c = as(node, "A_Const")) {
    if (const Json* sv = as(*c, "sval")) {
      std::string value = str(*sv, "sval");
      for (auto& added : a.enum_values_added) {
        if (added.reported || added.label != value) continue;
        added.reported = true;
        a.report(Code::lint_enum_value_added_and_used, a.node_pos(s, *c),
                 fmt::format("enum value '{}' added to {} at line {} is used in the same transaction", value,
                             added.type_name, added.pos.line));
      }
    }
    return;
  }
  for (const auto& [key, value] : node.items()) {
    if (value.is_structured()) find_labels(a, s, value);
  }
}
}  // namespace

void check_enum_usage(FileAnalysis& a, const Stmt& s) {
  if (a.enum_values_added.empty()) return;
  // A DO body is a string constant here; its statements are checked on their own.
  if (s.kind == "DoStmt") return;
  find_labels(a, s, *s.body);
}

}  // namespace mgr::lint_detail
