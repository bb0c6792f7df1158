// Rules driven by the lock table (lint_locks.cpp) for the commands and
// ALTER TABLE subcommands the first rules did not know: rewrites (SET
// TABLESPACE, SET LOGGED, SET ACCESS METHOD), partitions, exclusion
// constraints, sequences and identities, domains, rules, publications,
// materialized views, DROP ... CASCADE, and statements that cannot run in a
// transaction block.
#include <algorithm>

#include <fmt/format.h>

#include "lint_internal.hpp"

namespace mgr::lint_detail {

namespace {

bool is_new_relation(const FileAnalysis& a, const Json& rv) { return a.new_tables.count(relation_key(rv)) != 0; }

// A finding whose advice is the lock table's non-blocking form for `key`.
void report_row(FileAnalysis& a, LineCol pos, const char* key, std::string message,
                std::optional<Severity> severity = std::nullopt) {
  const LockTableRow* row = lock_row(key);
  std::string advice = row != nullptr && row->safer != "-" ? row->safer : std::string();
  // The table's rule ids are checked against the registry by a unit test (LintDoc).
  auto rule = row != nullptr ? lint_rule_from_id(row->rule) : std::nullopt;
  a.report(rule.value_or(Code::lint_table_rewrite), pos, std::move(message), severity, std::move(advice));
}

const char* object_word(const std::string& objtype) {
  if (objtype == "OBJECT_INDEX") return "INDEX";
  if (objtype == "OBJECT_MATVIEW") return "MATERIALIZED VIEW";
  return "TABLE";
}

void check_attach(FileAnalysis& a, const Stmt& s, const Json& rv, const Json& part) {
  const Json& child = field(part, "name");
  if (is_new_relation(a, child) || a.checked_tables.count(relation_key(child)) != 0) return;
  report_row(a, a.node_pos(s, child), "AT_AttachPartition",
             fmt::format("ATTACH PARTITION {} to {} scans {} under an ACCESS EXCLUSIVE lock to check the partition "
                         "bound (no CHECK constraint proving it was validated in this file)",
                         relation_display(child), relation_display(rv), relation_display(child)));
}

void check_detach(FileAnalysis& a, const Stmt& s, const Json& rv, const Json& part, bool finalize) {
  if (flag(part, "concurrent") || finalize) {
    if (a.in_transaction() || s.in_do) {
      report_concurrently(a, s, fmt::format("DETACH PARTITION {} on {}", finalize ? "FINALIZE" : "CONCURRENTLY",
                                            relation_display(rv)));
    }
    return;
  }
  if (is_new_relation(a, rv)) return;
  report_row(a, a.stmt_pos(s), "AT_DetachPartition",
             fmt::format("DETACH PARTITION {} takes an ACCESS EXCLUSIVE lock on {}: every query on the partitioned "
                         "table waits",
                         relation_display(field(part, "name")), relation_display(rv)));
}

}  // namespace

bool check_alter_table_subcommand(FileAnalysis& a, const Stmt& s, const Json& rv, const Json& cmd, bool is_new) {
  std::string subtype = str(cmd, "subtype");
  std::string objtype = str(*s.body, "objtype");
  const Json& def = field(cmd, "def");
  std::string target = relation_display(rv);
  LineCol pos = a.stmt_pos(s);
  if (subtype == "AT_SetTableSpace" || subtype == "AT_SetLogged" || subtype == "AT_SetUnLogged" ||
      subtype == "AT_SetAccessMethod") {
    bool is_new_object = is_new || (objtype == "OBJECT_INDEX" && a.new_indexes.count(relation_key(rv)) != 0);
    if (is_new_object) return true;
    std::string what = subtype == "AT_SetTableSpace"    ? "SET TABLESPACE " + str(cmd, "name")
                       : subtype == "AT_SetLogged"       ? std::string("SET LOGGED")
                       : subtype == "AT_SetUnLogged"     ? std::string("SET UNLOGGED")
                                                         : "SET ACCESS METHOD " + str(cmd, "name");
    const char* key = subtype == "AT_SetUnLogged" ? "AT_SetLogged" : subtype.c_str();
    report_row(a, pos, key,
               fmt::format("ALTER {} {} {} rewrites it under an ACCESS EXCLUSIVE lock", object_word(objtype), target,
                           what));
    return true;
  }
  if (objtype == "OBJECT_INDEX") return true;  // everything else on an index is catalog only
  if (subtype == "AT_AttachPartition") {
    if (const Json* part = as(def, "PartitionCmd")) check_attach(a, s, rv, *part);
    return true;
  }
  if (subtype == "AT_DetachPartition" || subtype == "AT_DetachPartitionFinalize") {
    if (const Json* part = as(def, "PartitionCmd")) check_detach(a, s, rv, *part, subtype == "AT_DetachPartitionFinalize");
    return true;
  }
  if (subtype == "AT_DropConstraint") {
    if (str(cmd, "behavior") == "DROP_CASCADE" && !is_new) {
      a.report(Code::lint_drop_cascade, pos,
               fmt::format("DROP CONSTRAINT {} CASCADE on {} also drops the foreign keys that depend on it",
                           str(cmd, "name"), target));
    }
    return true;
  }
  if (subtype == "AT_AddIdentity") {
    const Json* con = as(def, "Constraint");
    bool has_start = con != nullptr && def_elem(field(*con, "options"), "start") != nullptr;
    if (!is_new && !has_start && a.new_columns.count(relation_key(rv) + "." + str(cmd, "name")) == 0) {
      report_row(a, pos, "AT_AddIdentity",
                 fmt::format("ADD GENERATED AS IDENTITY on existing column {}.{} starts its sequence at 1: later "
                             "inserts collide with the ids already there",
                             target, str(cmd, "name")));
    }
    return true;
  }
  if (subtype == "AT_SetIdentity") {
    if (def_elem(items_of(def), "restart") != nullptr && !is_new) {
      report_row(a, pos, "AT_SetIdentity",
                 fmt::format("ALTER COLUMN {}.{} RESTART moves the identity sequence back: later inserts may collide "
                             "with existing ids",
                             target, str(cmd, "name")));
    }
    return true;
  }
  if (subtype == "AT_ReplicaIdentity") {
    a.keyed_tables.insert(relation_key(rv));
    return true;
  }
  return false;
}

void check_alter_composite_type(FileAnalysis& a, const Stmt& s) {
  const Json& rv = field(*s.body, "relation");
  if (a.new_types.count(relation_key(rv)) != 0) return;
  for (const auto& c : field(*s.body, "cmds")) {
    const Json* cmd = as(c, "AlterTableCmd");
    if (cmd == nullptr) continue;
    std::string subtype = str(*cmd, "subtype");
    if (subtype == "AT_DropColumn") {
      a.report(Code::lint_drop_column, a.stmt_pos(s),
               fmt::format("ALTER TYPE {} DROP ATTRIBUTE {} deletes that field from every value of the type, in "
                           "every table using it",
                           relation_display(rv), str(*cmd, "name")));
    } else if (subtype == "AT_AlterColumnType") {
      a.report(Code::lint_alter_column_type, a.stmt_pos(s),
               fmt::format("ALTER TYPE {} ALTER ATTRIBUTE {} TYPE rewrites every table using the type",
                           relation_display(rv), str(*cmd, "name")));
    }
  }
}

namespace {

void check_domain(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  std::string sub = str(b, "subtype");
  const Json& names = field(b, "typeName");
  if (a.new_types.count(names_key(names)) != 0) return;
  std::string domain = names_display(names);
  if (sub == "C") {
    const Json* con = as(field(b, "def"), "Constraint");
    if (con == nullptr || flag(*con, "skip_validation")) return;
    report_row(a, a.stmt_pos(s), "AlterDomainStmt/constraint",
               fmt::format("ALTER DOMAIN {} ADD CONSTRAINT checks every column of that domain in every table, "
                           "holding SHARE locks that block writes",
                           domain));
  } else if (sub == "V") {
    report_row(a, a.stmt_pos(s), "AlterDomainStmt/validate",
               fmt::format("ALTER DOMAIN {} VALIDATE CONSTRAINT {} scans every column of that domain holding SHARE "
                           "locks (PostgreSQL 15): writes to those tables wait",
                           domain, str(b, "name")));
  } else if (sub == "O") {
    report_row(a, a.stmt_pos(s), "AlterDomainStmt/notnull",
               fmt::format("ALTER DOMAIN {} SET NOT NULL scans every column of that domain, blocking writes to "
                           "those tables",
                           domain));
  }
}

void check_sequence(FileAnalysis& a, const Stmt& s) {
  const Json& rv = field(*s.body, "sequence");
  if (is_new_relation(a, rv) || def_elem(field(*s.body, "options"), "restart") == nullptr) return;
  report_row(a, a.stmt_pos(s), "AlterSeqStmt",
             fmt::format("ALTER SEQUENCE {} RESTART moves the sequence: values it hands out may already be used, "
                         "and later inserts fail on duplicate keys",
                         relation_display(rv)));
}

void check_rule(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  const Json& rv = field(b, "relation");
  std::string event = str(b, "event");
  bool on_select = event == "CMD_SELECT";
  if (is_new_relation(a, rv) || (!flag(b, "instead") && !on_select)) return;
  std::string what = event.rfind("CMD_", 0) == 0 ? event.substr(4) : event;
  report_row(a, a.stmt_pos(s), "RuleStmt",
             fmt::format("CREATE RULE {} ON {} {} {}: every later {} on it is rewritten{}", str(b, "rulename"), what,
                         relation_display(rv), on_select ? "" : "DO INSTEAD", what,
                         flag(b, "instead") && field(b, "actions").empty() ? " into nothing (silently discarded)" : ""));
}

// What a publication of UPDATE/DELETE breaks depends on the tables' replica
// identity. The linter sees it only for tables this file created (or gave a
// key or REPLICA IDENTITY): a table created here without one is an error;
// FOR ALL TABLES and TABLES IN SCHEMA are errors (some table there usually
// has none); a table it cannot see is a warning.
void check_publication(FileAnalysis& a, const Stmt& s) {
  const Json& b = *s.body;
  if (s.kind == "AlterPublicationStmt" && str(b, "action") == "AP_DropObjects") return;
  std::string pub = str(b, "pubname");
  bool inserts_only = false;
  if (const Json* publish = def_elem(field(b, "options"), "publish")) {
    const Json* sv = as(field(*publish, "arg"), "String");
    std::string list = sv != nullptr ? str(*sv, "sval") : std::string();
    inserts_only = list.find("update") == std::string::npos && list.find("delete") == std::string::npos;
  }
  std::vector<const Json*> tables;
  for (const auto& o : field(b, "pubobjects")) {
    const Json* spec = as(o, "PublicationObjSpec");
    if (spec != nullptr && str(*spec, "pubobjtype") == "PUBLICATIONOBJ_TABLE") {
      tables.push_back(&field(field(*spec, "pubtable"), "relation"));
      a.publication_tables[pub].push_back(relation_key(*tables.back()));
    }
  }
  if (inserts_only) return;
  auto unkeyed_new = [&](const std::string& key) { return a.new_tables.count(key) != 0 && a.keyed_tables.count(key) == 0; };
  if (s.kind == "AlterPublicationStmt" && field(b, "pubobjects").is_null()) {  // SET (publish = ...)
    auto it = a.publication_tables.find(pub);
    std::vector<std::string> bad;
    if (it != a.publication_tables.end()) {
      for (const auto& key : it->second) {
        if (unkeyed_new(key)) bad.push_back(key);
      }
    }
    report_row(a, a.stmt_pos(s), "CreatePublicationStmt",
               bad.empty() ? fmt::format("ALTER PUBLICATION {} SET (publish) publishes UPDATE and DELETE of the tables "
                                         "in it: on any without a primary key or replica identity they start failing",
                                         pub)
                           : fmt::format("ALTER PUBLICATION {} SET (publish) publishes UPDATE and DELETE of {}, created "
                                         "without a primary key or replica identity: they start failing",
                                         pub, join(bad, ", ")),
               bad.empty() ? std::optional<Severity>(Severity::warning) : std::nullopt);
    return;
  }
  if (flag(b, "for_all_tables")) {
    report_row(a, a.stmt_pos(s), "CreatePublicationStmt",
               fmt::format("PUBLICATION {} FOR ALL TABLES publishes UPDATE and DELETE: on every table without a "
                           "primary key or replica identity they start failing",
                           pub));
  }
  for (const auto& o : field(b, "pubobjects")) {
    const Json* spec = as(o, "PublicationObjSpec");
    if (spec != nullptr && str(*spec, "pubobjtype") == "PUBLICATIONOBJ_TABLES_IN_SCHEMA") {
      report_row(a, a.stmt_pos(s), "CreatePublicationStmt",
                 fmt::format("PUBLICATION {} FOR TABLES IN SCHEMA {} publishes UPDATE and DELETE: on every table "
                             "there without a primary key or replica identity they start failing",
                             pub, str(*spec, "name")));
    }
  }
  for (const Json* rv : tables) {
    std::string key = relation_key(*rv);
    if (a.keyed_tables.count(key) != 0) continue;
    bool known = unkeyed_new(key);
    report_row(a, a.node_pos(s, *rv), "CreatePublicationStmt",
               known ? fmt::format("PUBLICATION {} publishes UPDATE and DELETE of {}, created in this file without a "
                                   "primary key or replica identity: every UPDATE and DELETE on it will fail",
                                   pub, relation_display(*rv))
                     : fmt::format("PUBLICATION {} publishes UPDATE and DELETE of {}: if it has no primary key or "
                                   "replica identity, they start failing",
                                   pub, relation_display(*rv)),
               known ? std::nullopt : std::optional<Severity>(Severity::warning));
  }
}

// Statements PostgreSQL refuses inside a transaction block (besides CONCURRENTLY).
void check_not_in_transaction(FileAnalysis& a, const Stmt& s) {
  const std::string& k = s.kind;
  std::string what;
  if (k == "VacuumStmt" && flag(*s.body, "is_vacuumcmd")) what = "VACUUM";
  else if (k == "CreatedbStmt") what = "CREATE DATABASE";
  else if (k == "DropdbStmt") what = "DROP DATABASE";
  else if (k == "CreateTableSpaceStmt") what = "CREATE TABLESPACE";
  else if (k == "DropTableSpaceStmt") what = "DROP TABLESPACE";
  else if (k == "AlterSystemStmt") what = "ALTER SYSTEM";
  else if (k == "CreateSubscriptionStmt") what = "CREATE SUBSCRIPTION";
  else if (k == "DropSubscriptionStmt") what = "DROP SUBSCRIPTION";
  if (what.empty() || !(a.in_transaction() || s.in_do)) return;
  report_concurrently(a, s, what);
}

}  // namespace

void report_concurrently(FileAnalysis& a, const Stmt& s, const std::string& what) {
  a.report(Code::lint_concurrently_in_transaction, a.stmt_pos(s),
           s.in_do ? fmt::format("{} cannot run inside a DO block", what)
           : a.transactional()
               ? fmt::format("{} cannot run inside a transaction block; this file has no `-- mgr:no-transaction`", what)
               : fmt::format("{} cannot run inside the explicit BEGIN ... COMMIT block", what));
}

void check_more_statements(FileAnalysis& a, const Stmt& s) {
  const std::string& k = s.kind;
  const Json& b = *s.body;
  check_not_in_transaction(a, s);
  if (k == "RefreshMatViewStmt") {
    const Json& rv = field(b, "relation");
    if (flag(b, "concurrent") || is_new_relation(a, rv)) return;
    report_row(a, a.stmt_pos(s), "RefreshMatViewStmt",
               flag(b, "skipData")
                   ? fmt::format("REFRESH MATERIALIZED VIEW {} WITH NO DATA empties the view: every read of it fails "
                                 "until the next refresh",
                                 relation_display(rv))
                   : fmt::format("REFRESH MATERIALIZED VIEW {} holds an ACCESS EXCLUSIVE lock while it rebuilds: "
                                 "every read waits",
                                 relation_display(rv)));
  } else if (k == "AlterTableMoveAllStmt") {
    report_row(a, a.stmt_pos(s), "AlterTableMoveAllStmt",
               fmt::format("ALTER ... ALL IN TABLESPACE {} SET TABLESPACE {} rewrites every such relation under an "
                           "ACCESS EXCLUSIVE lock",
                           str(b, "orig_tablespacename"), str(b, "new_tablespacename")));
  } else if (k == "AlterDomainStmt") {
    check_domain(a, s);
  } else if (k == "CreateSeqStmt") {
    a.new_tables.insert(relation_key(field(b, "sequence")));
  } else if (k == "AlterSeqStmt") {
    check_sequence(a, s);
  } else if (k == "RuleStmt") {
    check_rule(a, s);
  } else if (k == "CreatePublicationStmt" || k == "AlterPublicationStmt") {
    check_publication(a, s);
  } else if (k == "AlterEnumStmt") {
    const Json& names = field(b, "typeName");
    if (!field(b, "oldVal").is_null() && a.new_types.count(names_key(names)) == 0) {
      a.report(Code::lint_rename_column, a.stmt_pos(s),
               fmt::format("ALTER TYPE {} RENAME VALUE '{}' TO '{}' breaks running code that writes or compares the "
                           "old label",
                           names_display(names), str(b, "oldVal"), str(b, "newVal")));
    }
  } else if (k == "DropOwnedStmt") {
    a.report(Code::lint_drop_cascade, a.stmt_pos(s),
             "DROP OWNED drops every object the roles own in this database, tables and their rows included");
  } else if (k == "AlterObjectSchemaStmt") {
    std::string type = str(b, "objectType");
    const Json& rv = field(b, "relation");
    if ((type == "OBJECT_TABLE" || type == "OBJECT_VIEW" || type == "OBJECT_MATVIEW") && !is_new_relation(a, rv)) {
      a.report(Code::lint_rename_table, a.stmt_pos(s),
               fmt::format("SET SCHEMA {} moves {}: running code that names it without the new schema breaks",
                           str(b, "newschema"), relation_display(rv)));
    }
  }
}

}  // namespace mgr::lint_detail
