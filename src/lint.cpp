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
    {"drop-table", S::error, "DROP TABLE deletes the table and every row in it",
     "Stop using the table first (contract step), back it up or rename it aside, and drop it in a later, allowed migration",
     "DROP TABLE orders;", "-- mgr:allow drop-table reason: orders moved to billing.orders in 0042, verified empty"},
    {"drop-column", S::error, "DROP COLUMN deletes the column's data and breaks code still reading it",
     "Expand/contract: stop reading and writing the column in a deployed release, then drop it in a later migration with an allow and a reason",
     "ALTER TABLE users DROP COLUMN legacy_flag;", "-- release N stops using users.legacy_flag; release N+1:\n-- mgr:allow drop-column reason: unused since release N\nALTER TABLE users DROP COLUMN legacy_flag;"},
    {"drop-schema", S::error, "DROP SCHEMA deletes the schema (with CASCADE, everything in it)",
     "Drop the objects one by one in reviewed migrations, or allow it with a reason",
     "DROP SCHEMA reporting CASCADE;", "DROP TABLE reporting.daily_totals;  -- each drop reviewed on its own"},
    {"drop-database", S::error, "DROP DATABASE deletes a whole database",
     "Never from a migration: do it by hand, after a backup", "DROP DATABASE analytics;",
     "-- run by an operator, outside migrations, after pg_dump"},
    {"truncate", S::error, "TRUNCATE deletes every row and takes an ACCESS EXCLUSIVE lock",
     "Delete the rows you mean with a WHERE clause, in batches, or allow it with a reason",
     "TRUNCATE sessions;", "DELETE FROM sessions WHERE expires_at < now() - interval '30 days';"},
    {"delete-without-where", S::error, "DELETE without WHERE deletes every row",
     "Add a WHERE clause naming the rows to delete (and batch large deletes)",
     "DELETE FROM audit_log;", "DELETE FROM audit_log WHERE created_at < '2020-01-01';"},
    {"update-without-where", S::error, "UPDATE without WHERE rewrites every row",
     "Add a WHERE clause; backfill large tables in batches from a no-transaction migration or a job",
     "UPDATE users SET plan = 'free';", "UPDATE users SET plan = 'free' WHERE plan IS NULL AND id BETWEEN 1 AND 10000;"},
    {"alter-column-type", S::error, "ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock and may lose data",
     "Expand/contract: add a new column with the new type, backfill it in batches, switch the code, then drop the old column",
     "ALTER TABLE events ALTER COLUMN id TYPE bigint;", "ALTER TABLE events ADD COLUMN id_new bigint;  -- then backfill, switch, drop"},
    {"drop-type", S::error, "DROP TYPE deletes a type (with CASCADE, the columns using it); recreating an enum loses its data",
     "Add enum values with ALTER TYPE ... ADD VALUE; migrate columns off a type before dropping it",
     "DROP TYPE mood CASCADE;", "ALTER TYPE mood ADD VALUE 'meh';"},
    {"rename-table", S::error, "RENAME of a table breaks every running query that uses the old name",
     "Expand/contract: create the new table (or a view with the new name), move the code over, then drop the old one",
     "ALTER TABLE users RENAME TO accounts;", "CREATE VIEW accounts AS SELECT * FROM users;  -- switch code, then rename later"},
    {"rename-column", S::error, "RENAME COLUMN breaks every running query that uses the old name",
     "Expand/contract: add the new column, write both, backfill, move reads, then drop the old column",
     "ALTER TABLE users RENAME COLUMN name TO full_name;", "ALTER TABLE users ADD COLUMN full_name text;  -- dual-write, backfill, switch, drop"},
    // --- locks and rewrites on existing tables ---
    {"index-not-concurrent", S::error, "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
     "CREATE INDEX CONCURRENTLY in a `-- mgr:no-transaction` file",
     "CREATE INDEX orders_user_idx ON orders (user_id);", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);"},
    {"drop-index-not-concurrent", S::error, "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table",
     "DROP INDEX CONCURRENTLY in a `-- mgr:no-transaction` file",
     "DROP INDEX orders_user_idx;", "-- mgr:no-transaction\nDROP INDEX CONCURRENTLY orders_user_idx;"},
    {"add-column-not-null-no-default", S::error, "ADD COLUMN ... NOT NULL without a default fails on a table with rows",
     "Add the column nullable (or with a constant default), backfill, then add NOT NULL via a validated CHECK",
     "ALTER TABLE users ADD COLUMN tier text NOT NULL;", "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'basic';"},
    {"add-column-volatile-default", S::error, "ADD COLUMN with a volatile default (or any default before PostgreSQL 11, identity, serial, stored generated) rewrites the table under an ACCESS EXCLUSIVE lock",
     "Add the column without a default (or with a constant one), set the default afterwards, and backfill existing rows in batches",
     "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "ALTER TABLE users ADD COLUMN token uuid;\nALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n-- backfill in batches"},
    {"set-not-null", S::error, "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
     "In a no-transaction file: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT NULL (PostgreSQL 12+ skips the scan)",
     "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "-- mgr:no-transaction\nALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;"},
    {"add-foreign-key-without-not-valid", S::error, "Adding a FOREIGN KEY validates every row while blocking writes to both tables",
     "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (a no-transaction file or a later migration)",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);", "-- mgr:no-transaction\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"},
    {"add-check-without-not-valid", S::error, "Adding a CHECK constraint scans the table under an ACCESS EXCLUSIVE lock",
     "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (a no-transaction file or a later migration)",
     "ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0);", "-- mgr:no-transaction\nALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT qty_positive;"},
    {"add-unique-constraint", S::error, "ADD UNIQUE builds an index while blocking writes to the table",
     "CREATE UNIQUE INDEX CONCURRENTLY (no-transaction file), then ADD CONSTRAINT ... UNIQUE USING INDEX",
     "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);", "-- mgr:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;"},
    {"add-primary-key-existing-table", S::error, "ADD PRIMARY KEY on an existing table builds an index (and checks NOT NULL) while blocking the table",
     "CREATE UNIQUE INDEX CONCURRENTLY, make the columns NOT NULL safely, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
     "ALTER TABLE events ADD PRIMARY KEY (id);", "-- mgr:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);\nALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;"},
    {"vacuum-full", S::error, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
     "Use plain VACUUM, or pg_repack outside migrations", "VACUUM FULL orders;", "VACUUM (ANALYZE) orders;  -- in a no-transaction file"},
    {"cluster", S::error, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
     "Use pg_repack outside migrations, or accept the downtime with an allow and a reason", "CLUSTER orders USING orders_created_idx;",
     "-- pg_repack --order-by created_at --table orders, run by an operator"},
    {"reindex-not-concurrent", S::error, "REINDEX without CONCURRENTLY blocks writes (and reads using the index)",
     "REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a `-- mgr:no-transaction` file", "REINDEX INDEX orders_user_idx;",
     "-- mgr:no-transaction\nREINDEX INDEX CONCURRENTLY orders_user_idx;"},
    {"lock-table", S::error, "LOCK TABLE blocks other sessions until the migration commits",
     "Rely on the locks the statements take themselves and keep the migration short; set lock_timeout for the environment",
     "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;", "-- no explicit lock; lock_timeout: 5s in environments.yaml"},
    // --- transactions ---
    {"concurrently-in-transaction", S::error, "CONCURRENTLY cannot run inside a transaction block, and mgr wraps this file in one",
     "Put the statement in its own file that starts with `-- mgr:no-transaction`",
     "CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);  -- transactional file",
     "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);"},
    {"transaction-control", S::error, "A BEGIN/COMMIT/ROLLBACK/SAVEPOINT that mgr can neither fold into its own transaction nor keep",
     "A BEGIN/COMMIT pair is folded (a warning; new files need none). What cannot be folded: start the file with `-- mgr:no-transaction`, where balanced explicit blocks group statements",
     "BEGIN;\nUPDATE accounts SET plan = 'free' WHERE plan IS NULL;\nROLLBACK;", "-- mgr:no-transaction\nBEGIN;\nUPDATE accounts SET plan = 'free' WHERE plan IS NULL;\nCOMMIT;"},
    {"enum-value-added-and-used", S::error, "An enum value added by ALTER TYPE ... ADD VALUE cannot be used before its transaction commits",
     "Add the value in one migration (or a no-transaction file) and use it in a later one",
     "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE mood IS NULL;",
     "-- mgr:no-transaction\nALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE mood IS NULL;"},
    // --- hygiene ---
    {"prefer-timestamptz", S::warning, "timestamp without time zone stores wall-clock time with no zone",
     "Use timestamptz", "CREATE TABLE t (created_at timestamp);", "CREATE TABLE t (created_at timestamptz);"},
    {"prefer-bigint-id", S::warning, "A 32-bit id (integer/serial) runs out at about 2.1 billion rows",
     "Use bigint (bigint GENERATED ALWAYS AS IDENTITY, or bigserial)",
     "CREATE TABLE t (id serial PRIMARY KEY);", "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"},
    {"prefer-text-over-varchar", S::warning, "varchar(n) only adds a length limit that later needs an ALTER to raise",
     "Use text, with a CHECK (length(col) <= n) if a limit is really needed",
     "CREATE TABLE t (name varchar(100));", "CREATE TABLE t (name text CHECK (length(name) <= 100));"},
    {"missing-if-not-exists", S::warning, "CREATE without IF NOT EXISTS fails when the object is already there (e.g. created by hand)",
     "Add IF NOT EXISTS (not for CREATE INDEX CONCURRENTLY: an invalid leftover index would be silently kept)",
     "CREATE TABLE audit (id bigint);", "CREATE TABLE IF NOT EXISTS audit (id bigint);"},
    {"dynamic-sql", S::warning, "EXECUTE of a dynamic string in a DO block cannot be checked",
     "Write the statement as static SQL in the DO block or the file, so it can be linted",
     "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'old'); END $$;", "DROP TABLE IF EXISTS old;  -- visible to the linter (and to reviewers)"},
    // --- the file and its directives ---
    {"parse-error", S::error, "The file does not parse as PostgreSQL SQL", "Fix the syntax at the reported position",
     "ALTER TABLE users ADD COLUMN;", "ALTER TABLE users ADD COLUMN note text;"},
    {"allow-without-reason", S::error, "A `-- mgr:allow` directive has no reason",
     "Write why the finding is acceptable: `-- mgr:allow <rule> reason: <text>`",
     "-- mgr:allow drop-column", "-- mgr:allow drop-column reason: column unused since release 41"},
    {"allow-unknown-rule", S::error, "A `-- mgr:allow` directive names a rule that does not exist or cannot be allowed",
     "Use a rule id from `mgr lint --explain` / docs/lint-rules.md", "-- mgr:allow drop-colum reason: typo",
     "-- mgr:allow drop-column reason: unused since release 41"},
    {"unused-allow", S::warning, "A `-- mgr:allow` directive allows a rule that no statement in the file hits",
     "Remove the stale allow so it cannot hide a future finding", "-- mgr:allow drop-table reason: old\nALTER TABLE t ADD COLUMN c text;",
     "ALTER TABLE t ADD COLUMN c text;"},
};

// These describe the file or the directives themselves; allowing them would be circular.
bool is_allowable(const std::string& rule) {
  return rule != "parse-error" && rule != "allow-without-reason" && rule != "allow-unknown-rule" &&
         rule != "unused-allow";
}

// Rules that make a file fail to run: the only ones checked in down files.
bool is_runtime_rule(const std::string& rule) {
  return rule == "parse-error" || rule == "transaction-control" ||
         rule == "concurrently-in-transaction" || rule == "allow-without-reason" ||
         rule == "allow-unknown-rule";
}

std::vector<std::string> rule_ids() {
  std::vector<std::string> ids;
  for (const auto& r : k_rules) ids.push_back(r.id);
  return ids;
}

void apply_allows(lint_detail::FileAnalysis& analysis, bool parsed) {
  const auto& file = analysis.file();
  std::map<std::string, std::string> reasons;  // rule -> reason
  std::map<std::string, int> allow_lines;
  for (const auto& allow : file.directives.allows) {
    LineCol pos{allow.line > 0 ? allow.line : 1, 1};
    if (allow.reason.empty()) {
      analysis.report("allow-without-reason", pos,
                      fmt::format("`-- mgr:allow {}` has no reason; the allow does not take effect",
                                  join(allow.rules, ",")));
    }
    for (const auto& rule : allow.rules) {
      if (find_lint_rule(rule) == nullptr) {
        auto guess = nearest(rule, rule_ids());
        analysis.report("allow-unknown-rule", pos,
                        guess.empty() ? fmt::format("`-- mgr:allow` names unknown rule '{}'", rule)
                                      : fmt::format("`-- mgr:allow` names unknown rule '{}' (did you mean '{}'?)", rule, guess));
        continue;
      }
      if (!is_allowable(rule)) {
        analysis.report("allow-unknown-rule", pos, fmt::format("rule '{}' cannot be allowed", rule));
        continue;
      }
      if (allow.reason.empty()) continue;
      reasons.emplace(rule, allow.reason);
      allow_lines.emplace(rule, pos.line);
    }
  }
  std::set<std::string> hit;
  for (auto& f : analysis.findings()) {
    auto it = reasons.find(f.rule);
    if (it == reasons.end()) continue;
    f.allowed = true;
    f.allow_reason = it->second;
    hit.insert(f.rule);
  }
  // After a parse error nothing was analysed, so "unused" would be noise.
  for (const auto& [rule, line] : allow_lines) {
    if (parsed && hit.count(rule) == 0) {
      analysis.report("unused-allow", LineCol{line, 1},
                      fmt::format("`-- mgr:allow {}` allows nothing: no statement in the file hits that rule", rule));
    }
  }
}

}  // namespace

const char* to_string(Severity severity) { return severity == Severity::error ? "error" : "warning"; }

const std::vector<RuleInfo>& lint_rules() { return k_rules; }

const RuleInfo* find_lint_rule(const std::string& id) {
  for (const auto& r : k_rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

bool LintResult::has_blocking() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const LintFinding& f) { return f.severity == Severity::error && !f.allowed; });
}

std::vector<std::string> LintResult::allowed_rules() const {
  std::set<std::string> rules;
  for (const auto& f : findings) {
    if (f.allowed) rules.insert(f.rule);
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

void FileAnalysis::report(const std::string& rule, LineCol pos, std::string message,
                          std::optional<Severity> severity) {
  if (m_settings.runtime_only && !is_runtime_rule(rule)) return;
  const RuleInfo* info = find_lint_rule(rule);
  LintFinding f;
  f.rule = rule;
  f.severity = severity.value_or(info != nullptr ? info->severity : Severity::error);
  f.message = std::move(message);
  f.advice = info != nullptr ? info->advice : std::string();
  f.path = m_file.path;
  f.pos = pos;
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
    check_enum_usage(analysis, stmt);
    check_statement(analysis, stmt);
    if (stmt.kind == "DoStmt") check_do_block(analysis, stmt);
  }
}

}  // namespace lint_detail

LintResult lint_migration(const MigrationFile& file, const LintSettings& settings) {
  lint_detail::FileAnalysis analysis(file, settings);
  auto parsed = parse_sql(file.sql);
  if (parsed.error) {
    analysis.report("parse-error", parsed.error->pos, fmt::format("does not parse: {}", parsed.error->message));
  } else {
    lint_detail::analyse_statements(analysis, parsed.stmts, nullptr);
  }
  apply_allows(analysis, !parsed.error);
  LintResult result;
  result.findings = std::move(analysis.findings());
  std::stable_sort(result.findings.begin(), result.findings.end(), [](const LintFinding& a, const LintFinding& b) {
    return a.pos.line != b.pos.line ? a.pos.line < b.pos.line : a.pos.col < b.pos.col;
  });
  return result;
}

}  // namespace mgr
