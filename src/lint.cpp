#include "mgr/lint.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "lint_internal.hpp"
#include "mgr/sql.hpp"

namespace mgr {

namespace {

using S = Severity;

// The rule ids are a user contract (allow directives and CI configs name
// them): never rename one. docs/lint-rules.md documents each entry.
const std::vector<RuleInfo> k_rules = {
    // --- data loss ---
    {Code::lint_drop_table, S::error, "DROP TABLE deletes the table and every row in it",
     "Stop using the table first (contract step), back it up or rename it aside, and drop it in a later, allowed migration",
     "DROP TABLE orders;", "-- mgr:allow drop-table reason: orders moved to billing.orders in 0042, verified empty"},
    {Code::lint_drop_column, S::error, "DROP COLUMN deletes the column's data and breaks code still reading it",
     "Expand/contract: stop reading and writing the column in a deployed release, then drop it in a later migration with an allow and a reason",
     "ALTER TABLE users DROP COLUMN legacy_flag;", "-- release N stops using users.legacy_flag; release N+1:\n-- mgr:allow drop-column reason: unused since release N\nALTER TABLE users DROP COLUMN legacy_flag;"},
    {Code::lint_drop_schema, S::error, "DROP SCHEMA deletes the schema (with CASCADE, everything in it)",
     "Drop the objects one by one in reviewed migrations, or allow it with a reason",
     "DROP SCHEMA reporting CASCADE;", "DROP TABLE reporting.daily_totals;  -- each drop reviewed on its own"},
    {Code::lint_drop_database, S::error, "DROP DATABASE deletes a whole database",
     "Never from a migration: do it by hand, after a backup", "DROP DATABASE analytics;",
     "-- run by an operator, outside migrations, after pg_dump"},
    {Code::lint_truncate, S::error, "TRUNCATE deletes every row and takes an ACCESS EXCLUSIVE lock",
     "Delete the rows you mean with a WHERE clause, in batches, or allow it with a reason",
     "TRUNCATE sessions;", "DELETE FROM sessions WHERE expires_at < now() - interval '30 days';"},
    {Code::lint_delete_without_where, S::error, "DELETE without WHERE deletes every row",
     "Add a WHERE clause naming the rows to delete (and batch large deletes)",
     "DELETE FROM audit_log;", "DELETE FROM audit_log WHERE created_at < '2020-01-01';"},
    {Code::lint_update_without_where, S::error, "UPDATE without WHERE rewrites every row",
     "Add a WHERE clause; backfill large tables in batches from a no-transaction migration or a job",
     "UPDATE users SET plan = 'free';", "UPDATE users SET plan = 'free' WHERE plan IS NULL AND id BETWEEN 1 AND 10000;"},
    {Code::lint_alter_column_type, S::error, "ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock and may lose data",
     "Expand/contract: add a new column with the new type, backfill it in batches, switch the code, then drop the old column",
     "ALTER TABLE events ALTER COLUMN id TYPE bigint;", "ALTER TABLE events ADD COLUMN id_new bigint;  -- then backfill, switch, drop"},
    {Code::lint_drop_type, S::error, "DROP TYPE deletes a type (with CASCADE, the columns using it); recreating an enum loses its data",
     "Add enum values with ALTER TYPE ... ADD VALUE; migrate columns off a type before dropping it",
     "DROP TYPE mood CASCADE;", "ALTER TYPE mood ADD VALUE 'meh';"},
    {Code::lint_rename_table, S::error, "RENAME of a table breaks every running query that uses the old name",
     "Expand/contract: create the new table (or a view with the new name), move the code over, then drop the old one",
     "ALTER TABLE users RENAME TO accounts;", "CREATE VIEW accounts AS SELECT * FROM users;  -- switch code, then rename later"},
    {Code::lint_rename_column, S::error, "RENAME COLUMN breaks every running query that uses the old name",
     "Expand/contract: add the new column, write both, backfill, move reads, then drop the old column",
     "ALTER TABLE users RENAME COLUMN name TO full_name;", "ALTER TABLE users ADD COLUMN full_name text;  -- dual-write, backfill, switch, drop"},
    {Code::lint_drop_cascade, S::error, "DROP ... CASCADE (and DROP OWNED) also drops objects the statement does not name",
     "Drop the dependent objects explicitly, then drop with RESTRICT (the default), which refuses while anything still depends on it",
     "DROP FUNCTION normalize_email(text) CASCADE;", "DROP INDEX users_email_norm_idx;  -- the dependent, reviewed\nDROP FUNCTION normalize_email(text);"},
    {Code::lint_system_catalog_write, S::error, "INSERT/UPDATE/DELETE on a pg_catalog table bypasses every check PostgreSQL makes",
     "Use the command that changes that catalog (ALTER TABLE, ALTER TYPE, REINDEX, ...); a direct write can corrupt the database",
     "UPDATE pg_catalog.pg_index SET indisvalid = true WHERE indexrelid = 'orders_user_idx'::regclass;",
     "-- mgr:no-transaction\nREINDEX INDEX CONCURRENTLY orders_user_idx;"},
    {Code::lint_sequence_restart, S::error, "RESTART of a sequence or identity, or an identity added to a filled column, can hand out values that already exist",
     "Move a sequence with setval(seq, (SELECT max(id) FROM t)); give ADD GENERATED ... AS IDENTITY a START WITH above the largest value",
     "ALTER SEQUENCE orders_id_seq RESTART;", "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));"},
    {Code::lint_create_rule, S::error, "A DO INSTEAD or ON SELECT rule on an existing relation changes what every later query on it does",
     "Use a trigger (or a view with INSTEAD OF triggers), which reviewers see in the table's definition",
     "CREATE RULE keep_orders AS ON DELETE TO orders DO INSTEAD NOTHING;",
     "CREATE TRIGGER orders_no_delete BEFORE DELETE ON orders FOR EACH ROW EXECUTE FUNCTION forbid_delete();"},
    {Code::lint_publication_without_replica_identity, S::error, "Publishing UPDATE/DELETE of a table without a replica identity makes every later UPDATE and DELETE on it fail",
     "Publish tables that have a primary key, set REPLICA IDENTITY first, or publish only inserts (WITH (publish = 'insert'))",
     "CREATE PUBLICATION app_pub FOR ALL TABLES;", "ALTER TABLE events REPLICA IDENTITY FULL;\nCREATE PUBLICATION app_pub FOR TABLE events;"},
    // --- locks and rewrites on existing tables ---
    {Code::lint_index_not_concurrent, S::error, "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
     "CREATE INDEX CONCURRENTLY in a `-- mgr:no-transaction` file",
     "CREATE INDEX orders_user_idx ON orders (user_id);", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);"},
    {Code::lint_drop_index_not_concurrent, S::error, "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table",
     "DROP INDEX CONCURRENTLY in a `-- mgr:no-transaction` file",
     "DROP INDEX orders_user_idx;", "-- mgr:no-transaction\nDROP INDEX CONCURRENTLY orders_user_idx;"},
    {Code::lint_add_column_not_null_no_default, S::error, "ADD COLUMN ... NOT NULL without a default fails on a table with rows",
     "Add the column nullable (or with a constant default), backfill, then add NOT NULL via a validated CHECK",
     "ALTER TABLE users ADD COLUMN tier text NOT NULL;", "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'basic';"},
    {Code::lint_add_column_volatile_default, S::error, "ADD COLUMN with a volatile default (or any default before PostgreSQL 11, identity, serial, stored generated) rewrites the table under an ACCESS EXCLUSIVE lock",
     "Add the column without a default (or with a constant one), set the default afterwards, and backfill existing rows in batches",
     "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "ALTER TABLE users ADD COLUMN token uuid;\nALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n-- backfill in batches"},
    {Code::lint_set_not_null, S::error, "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
     "In a no-transaction file: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT NULL (PostgreSQL 12+ skips the scan)",
     "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "-- mgr:no-transaction\nALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;"},
    {Code::lint_add_foreign_key_without_not_valid, S::error, "Adding a FOREIGN KEY validates every row while blocking writes to both tables",
     "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (a no-transaction file or a later migration)",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);", "-- mgr:no-transaction\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"},
    {Code::lint_add_check_without_not_valid, S::error, "Adding a CHECK constraint scans the table under an ACCESS EXCLUSIVE lock",
     "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (a no-transaction file or a later migration)",
     "ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0);", "-- mgr:no-transaction\nALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT qty_positive;"},
    {Code::lint_add_unique_constraint, S::error, "ADD UNIQUE builds an index while blocking writes to the table",
     "CREATE UNIQUE INDEX CONCURRENTLY (no-transaction file), then ADD CONSTRAINT ... UNIQUE USING INDEX",
     "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);", "-- mgr:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;"},
    {Code::lint_add_primary_key_existing_table, S::error, "ADD PRIMARY KEY on an existing table builds an index (and checks NOT NULL) while blocking the table",
     "CREATE UNIQUE INDEX CONCURRENTLY, make the columns NOT NULL safely, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
     "ALTER TABLE events ADD PRIMARY KEY (id);", "-- mgr:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);\nALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;"},
    {Code::lint_vacuum_full, S::error, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
     "Use plain VACUUM, or pg_repack outside migrations", "VACUUM FULL orders;", "VACUUM (ANALYZE) orders;  -- in a no-transaction file"},
    {Code::lint_cluster, S::error, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
     "Use pg_repack outside migrations, or accept the downtime with an allow and a reason", "CLUSTER orders USING orders_created_idx;",
     "-- pg_repack --order-by created_at --table orders, run by an operator"},
    {Code::lint_reindex_not_concurrent, S::error, "REINDEX without CONCURRENTLY blocks writes (and reads using the index)",
     "REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a `-- mgr:no-transaction` file", "REINDEX INDEX orders_user_idx;",
     "-- mgr:no-transaction\nREINDEX INDEX CONCURRENTLY orders_user_idx;"},
    {Code::lint_lock_table, S::error, "LOCK TABLE blocks other sessions until the migration commits",
     "Rely on the locks the statements take themselves and keep the migration short; set lock_timeout for the environment",
     "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;", "-- no explicit lock; lock_timeout: 5s in environments.yaml"},
    {Code::lint_table_rewrite, S::error, "SET TABLESPACE, SET LOGGED/UNLOGGED and SET ACCESS METHOD rewrite the table (or index) under an ACCESS EXCLUSIVE lock",
     "Build the new table beside the old one and copy in batches, or run pg_repack outside migrations",
     "ALTER TABLE events SET TABLESPACE fast_ssd;", "-- pg_repack --table events --tablespace fast_ssd, run by an operator"},
    {Code::lint_refresh_matview_not_concurrent, S::error, "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view while it rebuilds",
     "REFRESH MATERIALIZED VIEW CONCURRENTLY (the view needs a unique index)", "REFRESH MATERIALIZED VIEW daily_totals;",
     "REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;"},
    {Code::lint_backfill_under_lock, S::error, "UPDATE or DELETE of a table that an ALTER TABLE earlier in the same transaction has locked",
     "Change the rows in a separate migration (or a no-transaction file), after the ALTER has committed, in batches",
     "ALTER TABLE orders ADD COLUMN currency text;\nUPDATE orders SET currency = 'EUR' WHERE currency IS NULL;",
     "-- mgr:no-transaction\nALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text;\nUPDATE orders SET currency = 'EUR' WHERE currency IS NULL AND id < 100000;"},
    {Code::lint_add_exclusion_constraint, S::error, "ADD CONSTRAINT ... EXCLUDE builds its index under an ACCESS EXCLUSIVE lock; there is no concurrent form",
     "Declare the constraint when the table is created, or accept the downtime with an allow and a reason",
     "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
     "CREATE TABLE bookings (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));"},
    {Code::lint_attach_partition_without_check, S::error, "ATTACH PARTITION scans the partition under an ACCESS EXCLUSIVE lock to prove its rows fit the bound",
     "First add a CHECK matching the bound (NOT VALID, then VALIDATE, in a no-transaction file): ATTACH then skips the scan",
     "ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
     "-- mgr:no-transaction\nALTER TABLE events_2026 ADD CONSTRAINT events_2026_bound CHECK (at >= '2026-01-01' AND at < '2027-01-01') NOT VALID;\n"
     "ALTER TABLE events_2026 VALIDATE CONSTRAINT events_2026_bound;\n"
     "ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"},
    {Code::lint_detach_partition_not_concurrent, S::error, "DETACH PARTITION takes an ACCESS EXCLUSIVE lock on the partitioned table",
     "DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) in a `-- mgr:no-transaction` file",
     "ALTER TABLE events DETACH PARTITION events_2019;",
     "-- mgr:no-transaction\nALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;"},
    // --- transactions ---
    {Code::lint_concurrently_in_transaction, S::error, "CONCURRENTLY (and VACUUM, CREATE DATABASE, ...) cannot run inside a transaction block, and mgr wraps this file in one",
     "Put the statement in its own file that starts with `-- mgr:no-transaction`",
     "CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);  -- transactional file",
     "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);"},
    {Code::lint_transaction_control, S::error, "A BEGIN/COMMIT/ROLLBACK/SAVEPOINT that mgr can neither fold into its own transaction nor keep",
     "A BEGIN/COMMIT pair is folded (a warning; new files need none). What cannot be folded: start the file with `-- mgr:no-transaction`, where balanced explicit blocks group statements",
     "BEGIN;\nUPDATE accounts SET plan = 'free' WHERE plan IS NULL;\nROLLBACK;", "-- mgr:no-transaction\nBEGIN;\nUPDATE accounts SET plan = 'free' WHERE plan IS NULL;\nCOMMIT;"},
    {Code::lint_enum_value_added_and_used, S::error, "An enum value added by ALTER TYPE ... ADD VALUE cannot be used before its transaction commits",
     "Add the value in one migration (or a no-transaction file) and use it in a later one",
     "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE mood IS NULL;",
     "-- mgr:no-transaction\nALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE mood IS NULL;"},
    // --- hygiene ---
    {Code::lint_prefer_timestamptz, S::warning, "timestamp without time zone stores wall-clock time with no zone",
     "Use timestamptz", "CREATE TABLE t (created_at timestamp);", "CREATE TABLE t (created_at timestamptz);"},
    {Code::lint_prefer_bigint_id, S::warning, "A 32-bit id (integer/serial) runs out at about 2.1 billion rows",
     "Use bigint (bigint GENERATED ALWAYS AS IDENTITY, or bigserial)",
     "CREATE TABLE t (id serial PRIMARY KEY);", "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"},
    {Code::lint_prefer_text_over_varchar, S::warning, "varchar(n) only adds a length limit that later needs an ALTER to raise",
     "Use text, with a CHECK (length(col) <= n) if a limit is really needed",
     "CREATE TABLE t (name varchar(100));", "CREATE TABLE t (name text CHECK (length(name) <= 100));"},
    {Code::lint_missing_if_not_exists, S::warning, "In a no-transaction file, CREATE without IF NOT EXISTS fails when the file is run again after a partial failure",
     "Add IF NOT EXISTS; for CREATE INDEX CONCURRENTLY put DROP INDEX CONCURRENTLY IF EXISTS before it instead (a failed build leaves an invalid index that IF NOT EXISTS would keep)",
     "-- mgr:no-transaction\nCREATE TABLE audit (id bigint);", "-- mgr:no-transaction\nCREATE TABLE IF NOT EXISTS audit (id bigint);"},
    {Code::lint_dynamic_sql, S::warning, "EXECUTE of a string that cannot be rebuilt (a variable holding the statement, a function result) cannot be checked",
     "Write the statement as static SQL, or build it with format() from a literal format string, so it can be linted",
     "DO $$ BEGIN EXECUTE (SELECT stmt FROM pending_ddl LIMIT 1); END $$;", "DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN note text', 'orders'); END $$;"},
    // --- the file and its directives ---
    {Code::lint_parse_error, S::error, "The file does not parse as PostgreSQL SQL", "Fix the syntax at the reported position",
     "ALTER TABLE users ADD COLUMN;", "ALTER TABLE users ADD COLUMN note text;"},
    {Code::lint_allow_without_reason, S::error, "A `-- mgr:allow` directive has no reason",
     "Write why the finding is acceptable: `-- mgr:allow <rule> reason: <text>`",
     "-- mgr:allow drop-column", "-- mgr:allow drop-column reason: column unused since release 41"},
    {Code::lint_allow_unknown_rule, S::error, "A `-- mgr:allow` directive names a rule that does not exist or cannot be allowed",
     "Use a rule id from `mgr lint --explain` / docs/lint-rules.md", "-- mgr:allow drop-colum reason: typo",
     "-- mgr:allow drop-column reason: unused since release 41"},
    {Code::lint_empty_down_migration, S::warning, "The down file has only comments (an unedited `mgr new` template): a rollback with it would change nothing",
     "Write the SQL that undoes the up file, or delete the down file if the migration cannot be rolled back",
     "-- down migration for 20260112100000_add_note", "ALTER TABLE users DROP COLUMN IF EXISTS note;"},
    {Code::lint_unused_allow, S::warning, "A `-- mgr:allow` directive allows a rule that no statement in the file hits",
     "Remove the stale allow so it cannot hide a future finding", "-- mgr:allow drop-table reason: old\nALTER TABLE t ADD COLUMN c text;",
     "ALTER TABLE t ADD COLUMN c text;"},
};

// These describe the file or the directives themselves; allowing them would be circular.
bool is_allowable(Code rule) {
  switch (rule) {
    case Code::lint_parse_error:
    case Code::lint_allow_without_reason:
    case Code::lint_allow_unknown_rule:
    case Code::lint_unused_allow:
    case Code::lint_system_catalog_write: return false;
    default: return true;
  }
}

// Design advice for new objects; a down file recreating old objects gets none.
bool is_hygiene_rule(Code rule) {
  switch (rule) {
    case Code::lint_prefer_timestamptz:
    case Code::lint_prefer_bigint_id:
    case Code::lint_prefer_text_over_varchar:
    case Code::lint_missing_if_not_exists: return true;
    default: return false;
  }
}

// Rules that make a file fail to run: the only ones checked in down files.
bool is_runtime_rule(Code rule) {
  switch (rule) {
    case Code::lint_parse_error:
    case Code::lint_transaction_control:
    case Code::lint_concurrently_in_transaction:
    case Code::lint_allow_without_reason:
    case Code::lint_allow_unknown_rule:
    case Code::lint_empty_down_migration: return true;
    default: return false;
  }
}

std::vector<std::string> rule_ids() {
  std::vector<std::string> ids;
  for (const auto& r : k_rules) ids.push_back(r.id());
  return ids;
}

void apply_allows(lint_detail::FileAnalysis& analysis, bool parsed) {
  const auto& file = analysis.file();
  std::map<Code, std::string> reasons;  // rule -> reason
  std::map<Code, int> allow_lines;
  for (const auto& allow : file.directives.allows) {
    LineCol pos{allow.line > 0 ? allow.line : 1, 1};
    if (allow.reason.empty()) {
      analysis.report(Code::lint_allow_without_reason, pos,
                      fmt::format("`-- mgr:allow {}` has no reason; the allow does not take effect",
                                  join(allow.rules, ",")));
    }
    for (const auto& rule : allow.rules) {
      const RuleInfo* info = find_lint_rule(rule);
      if (info == nullptr) {
        auto guess = nearest(rule, rule_ids());
        analysis.report(Code::lint_allow_unknown_rule, pos,
                        guess.empty() ? fmt::format("`-- mgr:allow` names unknown rule '{}'", rule)
                                      : fmt::format("`-- mgr:allow` names unknown rule '{}' (did you mean '{}'?)", rule, guess));
        continue;
      }
      if (!is_allowable(info->code)) {
        analysis.report(Code::lint_allow_unknown_rule, pos, fmt::format("rule '{}' cannot be allowed", rule));
        continue;
      }
      if (allow.reason.empty()) continue;
      reasons.emplace(info->code, allow.reason);
      allow_lines.emplace(info->code, pos.line);
    }
  }
  std::set<Code> hit;
  for (auto& f : analysis.findings()) {
    auto it = reasons.find(f.code);
    if (it == reasons.end()) continue;
    f.allowed = true;
    f.allow_reason = it->second;
    hit.insert(f.code);
  }
  // After a parse error nothing was analysed, so "unused" would be noise.
  for (const auto& [rule, line] : allow_lines) {
    if (parsed && hit.count(rule) == 0) {
      analysis.report(Code::lint_unused_allow, LineCol{line, 1},
                      fmt::format("`-- mgr:allow {}` allows nothing: no statement in the file hits that rule",
                                  lint_rule_id(rule)));
    }
  }
}

}  // namespace

const std::vector<RuleInfo>& lint_rules() { return k_rules; }

const RuleInfo* find_lint_rule(const std::string& id) {
  auto code = lint_rule_from_id(id);
  return code ? &find_lint_rule(*code) : nullptr;
}

const RuleInfo& find_lint_rule(Code code) {
  // Indexed once: every lint code has exactly one entry (a unit test checks).
  static const std::map<Code, const RuleInfo*> k_by_code = [] {
    std::map<Code, const RuleInfo*> out;
    for (const auto& r : k_rules) out.emplace(r.code, &r);
    return out;
  }();
  return *k_by_code.at(code);
}

bool LintResult::has_blocking() const { return has_errors(findings); }

std::vector<std::string> LintResult::allowed_rules() const {
  std::set<std::string> rules;
  for (const auto& f : findings) {
    if (f.allowed) rules.insert(std::string(f.rule()));
  }
  return {rules.begin(), rules.end()};
}

namespace lint_detail {

FileAnalysis::FileAnalysis(const MigrationFile& file, const LintSettings& settings)
    : m_file(file), m_settings(settings), m_index(file.sql) {
  m_line_starts.push_back(0);
  for (std::size_t i = 0; i < file.sql.size(); ++i) {
    if (file.sql[i] == '\n') m_line_starts.push_back(i + 1);
  }
}

LineCol FileAnalysis::stmt_pos(const Stmt& s) const { return s.in_do ? s.do_pos : m_index.at(s.offset); }

LineCol FileAnalysis::node_pos(const Stmt& s, const Json& node) const {
  if (s.in_do || !node.is_object()) return stmt_pos(s);
  auto it = node.find("location");
  if (it == node.end() || !it->is_number_integer() || it->get<long long>() < 0) return stmt_pos(s);
  return m_index.at(it->get<std::size_t>());
}

LineCol FileAnalysis::line_pos(int line) const {
  if (line < 1) line = 1;
  auto index = std::min(static_cast<std::size_t>(line - 1), m_line_starts.size() - 1);
  std::size_t i = m_line_starts[index];
  const auto& sql = m_file.sql;
  while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\t')) ++i;
  return m_index.at(i);
}

void FileAnalysis::report(Code rule, LineCol pos, std::string message, std::optional<Severity> severity,
                          std::string advice) {
  if (m_settings.runtime_only && m_settings.rollback_of == nullptr && !is_runtime_rule(rule)) return;
  if (is_down() && is_hygiene_rule(rule)) return;
  const RuleInfo& info = find_lint_rule(rule);
  Diagnostic f;
  f.code = rule;
  f.severity = severity.value_or(info.severity);
  f.message = std::move(message);
  f.hint = !advice.empty() ? std::move(advice) : info.advice;
  f.file = m_file.path;
  f.line = pos.line;
  f.column = pos.col;
  m_findings.push_back(std::move(f));
}

namespace {
std::string qualify(const std::string& schema, const std::string& name) {
  return (schema.empty() ? std::string("public") : schema) + "." + name;
}
std::vector<std::string> string_list(const Json& names) {
  std::vector<std::string> out;
  if (!names.is_array()) return out;
  for (const auto& n : names) {
    if (auto it = n.find("String"); it != n.end()) out.push_back(it->value("sval", ""));
  }
  return out;
}
}  // namespace

std::string relation_key(const Json& rv) {
  // Temporary tables shadow unqualified names, so they share the public key.
  std::string schema = rv.value("relpersistence", "p") == "t" ? "" : rv.value("schemaname", "");
  return qualify(schema, rv.value("relname", ""));
}

std::string relation_display(const Json& rv) {
  std::string schema = rv.value("schemaname", "");
  std::string name = rv.value("relname", "");
  return schema.empty() ? name : schema + "." + name;
}

std::string names_key(const Json& names) {
  auto parts = string_list(names);
  if (parts.empty()) return "";
  if (parts.size() == 1) return qualify("", parts[0]);
  return qualify(parts[parts.size() - 2], parts.back());
}

std::string names_display(const Json& names) { return join(string_list(names), "."); }

namespace {

// An explicit BEGIN ... COMMIT in a no-transaction file holds its locks until
// the COMMIT, like a transactional file (the rules ask in_transaction()).
void track_transaction_block(FileAnalysis& analysis, const Stmt& stmt) {
  if (stmt.kind != "TransactionStmt" || stmt.in_do) return;
  std::string kind = stmt.body->value("kind", "");
  if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") analysis.explicit_block = true;
  if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" || kind == "TRANS_STMT_PREPARE") {
    analysis.explicit_block = false;
    analysis.locked_tables.clear();
  }
}

// Remembers a function created here, so its body is linted when the file calls it.
void record_function(FileAnalysis& analysis, const Stmt& stmt) {
  CreatedFunction fn;
  fn.pos = analysis.stmt_pos(stmt);
  fn.offset = stmt.offset;
  fn.body_line = fn.pos.line;
  fn.in_do = stmt.in_do;
  for (const auto& o : stmt.body->value("options", Json::array())) {
    auto d = o.find("DefElem");
    if (d == o.end()) continue;
    std::string name = d->value("defname", "");
    const Json& arg = d->value("arg", Json::object());
    if (name == "language" && arg.contains("String")) fn.language = arg["String"].value("sval", "");
    if (name == "volatility" && arg.contains("String")) fn.volatility = arg["String"].value("sval", "");
    if (name == "as" && arg.contains("List")) {
      const auto& items = arg["List"].value("items", Json::array());
      if (!items.empty() && items[0].contains("String")) fn.body = items[0]["String"].value("sval", "");
      if (auto loc = d->find("location"); !stmt.in_do && loc != d->end() && loc->is_number_integer()) {
        fn.body_line = analysis.pos_at(loc->get<std::size_t>()).line;
      }
    }
  }
  analysis.functions[names_key(stmt.body->value("funcname", Json::array()))] = std::move(fn);
}

}  // namespace

void analyse_statements(FileAnalysis& analysis, const std::vector<Json>& stmts, const Stmt* parent) {
  for (const auto& raw : stmts) {
    auto it = raw.find("stmt");
    if (it == raw.end() || !it->is_object() || it->empty()) continue;
    Stmt stmt;
    stmt.kind = it->begin().key();
    stmt.body = &it->begin().value();
    if (parent != nullptr) {
      stmt.in_do = true;
      stmt.do_pos = analysis.stmt_pos(*parent);
    } else {
      // stmt_location is absent for the first statement and includes leading comments.
      stmt.offset = skip_space_and_comments(analysis.file().sql, raw.value("stmt_location", std::size_t{0}));
    }
    track_transaction_block(analysis, stmt);
    check_enum_usage(analysis, stmt);
    check_statement(analysis, stmt);
    check_data(analysis, stmt);
    if (stmt.kind == "DoStmt") check_do_block(analysis, stmt);
    if (stmt.kind == "CreateFunctionStmt") record_function(analysis, stmt);
    if (!analysis.functions.empty()) check_function_calls(analysis, stmt);
  }
}

}  // namespace lint_detail

namespace {

// What the up file creates is what its down file may remove: seeds the
// down's analysis with the up's new tables, columns, types and schemas.
void seed_from_up_file(lint_detail::FileAnalysis& down, const LintSettings& settings) {
  LintSettings up_settings = settings;
  up_settings.rollback_of = nullptr;
  up_settings.runtime_only = false;
  lint_detail::FileAnalysis up(*settings.rollback_of, up_settings);
  auto parsed = parse_sql(settings.rollback_of->sql);
  if (parsed.error) return;
  lint_detail::analyse_statements(up, parsed.stmts, nullptr);
  down.new_tables = up.new_tables;
  down.new_columns = up.new_columns;
  down.new_types = up.new_types;
  down.new_schemas = up.new_schemas;
}

}  // namespace

LintResult lint_migration(const MigrationFile& file, const LintSettings& settings) {
  lint_detail::FileAnalysis analysis(file, settings);
  if (settings.rollback_of != nullptr) seed_from_up_file(analysis, settings);
  auto parsed = parse_sql(file.sql);
  if (parsed.error) {
    analysis.report(Code::lint_parse_error, parsed.error->pos, fmt::format("does not parse: {}", parsed.error->message));
  } else if (parsed.stmts.empty() && analysis.is_down()) {
    analysis.report(Code::lint_empty_down_migration, LineCol{1, 1},
                    "the down file has no SQL statement, only comments: a rollback with it would change nothing");
  } else {
    lint_detail::analyse_statements(analysis, parsed.stmts, nullptr);
  }
  apply_allows(analysis, !parsed.error);
  LintResult result;
  result.findings = std::move(analysis.findings());
  std::stable_sort(result.findings.begin(), result.findings.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return result;
}

}  // namespace mgr
