// One bad and one good case per rule, plus traps where a keyword appears
// somewhere the parser says is not a statement of that kind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "mgr/lint.hpp"

using namespace mgr;

namespace {

MigrationFile make_file(const std::string& sql, bool no_transaction = false) {
  MigrationFile f;
  f.path = "migrations/0001_test.sql";
  f.sql = sql;
  f.directives.no_transaction = no_transaction;
  return f;
}

std::vector<std::string> rules_hit(const LintResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.rule);
  return out;
}

struct RuleCase {
  const char* name;
  const char* sql;
  const char* rule;  // the rule under test
  bool hit;          // expected to fire?
  bool no_transaction = false;
  int pg_version = 12;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class LintRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(LintRule, FiresExactlyWhenExpected) {
  const auto& c = GetParam();
  LintSettings settings;
  settings.pg_version = c.pg_version;
  auto result = lint_migration(make_file(c.sql, c.no_transaction), settings);
  auto hit = rules_hit(result);
  bool found = std::find(hit.begin(), hit.end(), c.rule) != hit.end();
  EXPECT_EQ(found, c.hit) << c.sql << "\nrules hit: " << testing::PrintToString(hit);
  if (!c.hit) {
    // A good case must not trade one finding for a parse error.
    EXPECT_EQ(std::count(hit.begin(), hit.end(), "parse-error"), 0);
  }
}

const RuleCase k_cases[] = {
    // --- data loss ---
    {"drop_table_bad", "DROP TABLE orders;", "drop-table", true},
    {"drop_table_lower_case_schema_qualified", "drop table if exists billing.orders cascade;", "drop-table", true},
    {"drop_table_created_in_same_file", "CREATE TABLE tmp_x (id bigint);\nDROP TABLE tmp_x;", "drop-table", false},
    {"drop_view_is_not_drop_table", "DROP VIEW orders_view;", "drop-table", false},
    {"drop_column_bad", "ALTER TABLE users DROP COLUMN legacy;", "drop-column", true},
    {"drop_column_quoted_name", "ALTER TABLE \"Users\" DROP COLUMN \"Legacy\";", "drop-column", true},
    {"drop_column_good_add_column", "ALTER TABLE users ADD COLUMN note text;", "drop-column", false},
    {"drop_column_on_new_table", "CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;", "drop-column", false},
    {"drop_schema_bad", "DROP SCHEMA reporting CASCADE;", "drop-schema", true},
    {"drop_schema_good", "CREATE SCHEMA IF NOT EXISTS reporting;", "drop-schema", false},
    {"drop_database_bad", "DROP DATABASE analytics;", "drop-database", true},
    {"drop_database_good", "CREATE TABLE IF NOT EXISTS t (id bigint);", "drop-database", false},
    {"truncate_bad", "TRUNCATE sessions, tokens;", "truncate", true},
    {"truncate_good", "DELETE FROM sessions WHERE expires_at < now();", "truncate", false},
    {"delete_without_where_bad", "DELETE FROM audit_log;", "delete-without-where", true},
    {"delete_with_where_good", "DELETE FROM audit_log WHERE id < 10;", "delete-without-where", false},
    {"update_without_where_bad", "update users set plan = 'free';", "update-without-where", true},
    {"update_with_where_good", "UPDATE users SET plan = 'free' WHERE plan IS NULL;", "update-without-where", false},
    {"alter_column_type_bad", "ALTER TABLE events ALTER COLUMN id TYPE bigint;", "alter-column-type", true},
    {"alter_column_type_set_data_type", "ALTER TABLE events ALTER id SET DATA TYPE text;", "alter-column-type", true},
    {"alter_column_type_new_table", "CREATE TABLE e (id int);\nALTER TABLE e ALTER COLUMN id TYPE bigint;", "alter-column-type", false},
    {"drop_type_bad", "DROP TYPE mood;", "drop-type", true},
    {"drop_type_good_add_value", "ALTER TYPE mood ADD VALUE 'meh';", "drop-type", false},
    {"drop_type_created_here", "CREATE TYPE tmp_mood AS ENUM ('a');\nDROP TYPE tmp_mood;", "drop-type", false},
    {"rename_table_bad", "ALTER TABLE users RENAME TO accounts;", "rename-table", true},
    {"rename_table_good_view", "CREATE VIEW accounts AS SELECT * FROM users;", "rename-table", false},
    {"rename_column_bad", "ALTER TABLE users RENAME COLUMN name TO full_name;", "rename-column", true},
    {"rename_constraint_is_not_rename_column", "ALTER TABLE users RENAME CONSTRAINT a TO b;", "rename-column", false},
    // --- locks ---
    {"index_not_concurrent_bad", "CREATE INDEX IF NOT EXISTS i ON orders (user_id);", "index-not-concurrent", true},
    {"index_concurrent_good", "CREATE INDEX CONCURRENTLY i ON orders (user_id);", "index-not-concurrent", false, true},
    {"index_on_new_table", "CREATE TABLE o (id bigint);\nCREATE INDEX i ON o (id);", "index-not-concurrent", false},
    {"index_on_new_table_schema_qualified", "CREATE TABLE app.o (id bigint);\nCREATE INDEX i ON app.o (id);", "index-not-concurrent", false},
    {"index_on_other_schema_same_name", "CREATE TABLE app.o (id bigint);\nCREATE INDEX i ON o (id);", "index-not-concurrent", true},
    {"drop_index_bad", "DROP INDEX orders_user_idx;", "drop-index-not-concurrent", true},
    {"drop_index_concurrent_good", "DROP INDEX CONCURRENTLY orders_user_idx;", "drop-index-not-concurrent", false, true},
    {"add_column_not_null_no_default_bad", "ALTER TABLE users ADD COLUMN tier text NOT NULL;", "add-column-not-null-no-default", true},
    {"add_column_not_null_with_default_good", "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'basic';", "add-column-not-null-no-default", false},
    {"add_column_not_null_new_table", "CREATE TABLE u (id bigint);\nALTER TABLE u ADD COLUMN tier text NOT NULL;", "add-column-not-null-no-default", false},
    {"volatile_default_bad", "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "add-column-volatile-default", true},
    {"volatile_default_random", "ALTER TABLE users ADD COLUMN r float8 DEFAULT random() * 10;", "add-column-volatile-default", true},
    {"volatile_default_clock_timestamp", "ALTER TABLE users ADD COLUMN at timestamptz DEFAULT clock_timestamp();", "add-column-volatile-default", true},
    {"volatile_default_bigserial", "ALTER TABLE users ADD COLUMN seq bigserial;", "add-column-volatile-default", true},
    {"volatile_default_identity", "ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;", "add-column-volatile-default", true},
    {"now_default_is_stable_good", "ALTER TABLE users ADD COLUMN at timestamptz DEFAULT now();", "add-column-volatile-default", false},
    {"current_timestamp_default_good", "ALTER TABLE users ADD COLUMN at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP;", "add-column-volatile-default", false},
    {"constant_default_good", "ALTER TABLE users ADD COLUMN n int DEFAULT 0;", "add-column-volatile-default", false},
    {"constant_default_pg10_rewrites", "ALTER TABLE users ADD COLUMN n int DEFAULT 0;", "add-column-volatile-default", true, false, 10},
    {"null_default_pg10_good", "ALTER TABLE users ADD COLUMN n int DEFAULT NULL;", "add-column-volatile-default", false, false, 10},
    {"set_not_null_bad", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "set-not-null", true},
    {"set_not_null_after_validated_check_no_tx",
     "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
     "set-not-null", false, true},
    {"set_not_null_check_on_other_column",
     "ALTER TABLE users ADD CONSTRAINT nn CHECK (name IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
     "set-not-null", true, true},
    {"set_not_null_pg11_check_does_not_help",
     "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
     "set-not-null", true, true, 11},
    {"fk_without_not_valid_bad", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);", "add-foreign-key-without-not-valid", true},
    {"fk_not_valid_good", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;", "add-foreign-key-without-not-valid", false},
    {"fk_not_valid_then_validate_same_transaction",
     "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n"
     "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
     "add-foreign-key-without-not-valid", true},
    {"fk_not_valid_then_validate_no_transaction_good",
     "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n"
     "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
     "add-foreign-key-without-not-valid", false, true},
    {"fk_inline_on_add_column", "ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);", "add-foreign-key-without-not-valid", true},
    {"fk_on_new_table_good", "CREATE TABLE o (id bigint);\nALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES users (id);", "add-foreign-key-without-not-valid", false},
    {"check_without_not_valid_bad", "ALTER TABLE orders ADD CONSTRAINT qty CHECK (qty > 0);", "add-check-without-not-valid", true},
    {"check_not_valid_good", "ALTER TABLE orders ADD CONSTRAINT qty CHECK (qty > 0) NOT VALID;", "add-check-without-not-valid", false},
    {"check_not_valid_then_validate_same_transaction",
     "ALTER TABLE orders ADD CONSTRAINT qty CHECK (qty > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT qty;",
     "add-check-without-not-valid", true},
    {"validate_existing_constraint_good", "ALTER TABLE orders VALIDATE CONSTRAINT qty;", "add-check-without-not-valid", false},
    {"unique_constraint_bad", "ALTER TABLE users ADD CONSTRAINT k UNIQUE (email);", "add-unique-constraint", true},
    {"unique_using_index_good", "ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX users_email_idx;", "add-unique-constraint", false},
    {"primary_key_bad", "ALTER TABLE events ADD PRIMARY KEY (id);", "add-primary-key-existing-table", true},
    {"primary_key_using_index_good", "ALTER TABLE events ADD CONSTRAINT pk PRIMARY KEY USING INDEX events_pk;", "add-primary-key-existing-table", false},
    {"primary_key_new_table_good", "CREATE TABLE ev (id bigint);\nALTER TABLE ev ADD PRIMARY KEY (id);", "add-primary-key-existing-table", false},
    {"vacuum_full_bad", "VACUUM FULL orders;", "vacuum-full", true},
    {"vacuum_full_options_syntax", "VACUUM (FULL, ANALYZE) orders;", "vacuum-full", true},
    {"vacuum_analyze_good", "VACUUM (ANALYZE) orders;", "vacuum-full", false, true},
    {"cluster_bad", "CLUSTER orders USING orders_idx;", "cluster", true},
    {"cluster_good", "ANALYZE orders;", "cluster", false},
    {"reindex_bad", "REINDEX INDEX orders_idx;", "reindex-not-concurrent", true},
    {"reindex_concurrently_good", "REINDEX INDEX CONCURRENTLY orders_idx;", "reindex-not-concurrent", false, true},
    {"lock_table_bad", "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;", "lock-table", true},
    {"lock_table_new_table_good", "CREATE TABLE o2 (id bigint);\nLOCK TABLE o2;", "lock-table", false},
    // --- transactions ---
    {"concurrently_in_transaction_bad", "CREATE INDEX CONCURRENTLY i ON orders (a);", "concurrently-in-transaction", true},
    {"concurrently_no_transaction_good", "CREATE INDEX CONCURRENTLY i ON orders (a);", "concurrently-in-transaction", false, true},
    {"drop_index_concurrently_in_transaction", "DROP INDEX CONCURRENTLY i;", "concurrently-in-transaction", true},
    {"reindex_concurrently_in_transaction", "REINDEX TABLE CONCURRENTLY orders;", "concurrently-in-transaction", true},
    {"detach_concurrently_in_transaction", "ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY;", "concurrently-in-transaction", true},
    {"transaction_control_begin_commit", "BEGIN;\nALTER TABLE t ADD COLUMN c text;\nCOMMIT;", "transaction-control", true},
    {"transaction_control_savepoint", "SAVEPOINT s1;", "transaction-control", true},
    {"transaction_control_in_no_tx_file", "ROLLBACK;", "transaction-control", true, true},
    {"transaction_control_good", "ALTER TABLE t ADD COLUMN c text;", "transaction-control", false},
    {"enum_added_and_used_bad", "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE id = 1;", "enum-value-added-and-used", true},
    {"enum_added_and_used_cast", "ALTER TYPE mood ADD VALUE 'meh';\nSELECT 'meh'::mood;", "enum-value-added-and-used", true},
    {"enum_added_used_no_transaction_good", "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE id = 1;", "enum-value-added-and-used", false, true},
    {"enum_added_other_label_used_good", "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'sad' WHERE id = 1;", "enum-value-added-and-used", false},
    {"enum_label_only_in_comment_good", "ALTER TYPE mood ADD VALUE 'meh';\n-- SET mood = 'meh'\nSELECT 1;", "enum-value-added-and-used", false},
    // --- hygiene ---
    {"timestamp_bad", "CREATE TABLE IF NOT EXISTS t (at timestamp);", "prefer-timestamptz", true},
    {"timestamp_without_time_zone_bad", "ALTER TABLE t ADD COLUMN at timestamp without time zone;", "prefer-timestamptz", true},
    {"timestamptz_good", "CREATE TABLE IF NOT EXISTS t (at timestamptz, b timestamp with time zone);", "prefer-timestamptz", false},
    {"int_id_bad", "CREATE TABLE IF NOT EXISTS t (id integer PRIMARY KEY);", "prefer-bigint-id", true},
    {"serial_table_pk_bad", "CREATE TABLE IF NOT EXISTS t (id serial, PRIMARY KEY (id));", "prefer-bigint-id", true},
    {"bigint_identity_good", "CREATE TABLE IF NOT EXISTS t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);", "prefer-bigint-id", false},
    {"varchar_n_bad", "CREATE TABLE IF NOT EXISTS t (name varchar(100));", "prefer-text-over-varchar", true},
    {"character_varying_n_bad", "ALTER TABLE t ALTER COLUMN name TYPE character varying(50);", "prefer-text-over-varchar", true},
    {"text_good", "CREATE TABLE IF NOT EXISTS t (name text, other varchar);", "prefer-text-over-varchar", false},
    {"missing_if_not_exists_table", "CREATE TABLE t (id bigint);", "missing-if-not-exists", true},
    {"missing_if_not_exists_index", "CREATE TABLE t (id bigint);\nCREATE INDEX t_id ON t (id);", "missing-if-not-exists", true},
    {"if_not_exists_good", "CREATE TABLE IF NOT EXISTS t (id bigint);\nCREATE INDEX IF NOT EXISTS t_id ON t (id);", "missing-if-not-exists", false},
    {"concurrent_index_not_asked_for_if_not_exists", "CREATE INDEX CONCURRENTLY t_id ON t (id);", "missing-if-not-exists", false, true},
    // --- traps: keywords outside statements of that kind ---
    {"trap_keyword_in_line_comment", "-- DROP TABLE users;\nSELECT 1;", "drop-table", false},
    {"trap_keyword_in_block_comment", "/* TRUNCATE users; DELETE FROM users; */ SELECT 1;", "truncate", false},
    {"trap_keyword_in_string", "INSERT INTO notes (body) VALUES ('DROP TABLE users; DELETE FROM users');", "drop-table", false},
    {"trap_keyword_in_dollar_quote", "SELECT $x$ ALTER TABLE users DROP COLUMN a $x$;", "drop-column", false},
    {"trap_column_named_drop_table", "ALTER TABLE IF EXISTS t ADD COLUMN drop_table text;", "drop-table", false},
    {"trap_quoted_identifier_truncate", "CREATE TABLE IF NOT EXISTS \"truncate\" (\"delete\" text);", "truncate", false},
    {"trap_function_body_not_linted",
     "CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM audit; DROP TABLE x; END $$;",
     "delete-without-where", false},
    {"trap_sql_function_body_not_linted", "CREATE PROCEDURE p() LANGUAGE sql AS $$ TRUNCATE t $$;", "truncate", false},
    {"trap_delete_with_where_in_subquery", "DELETE FROM t WHERE id IN (SELECT id FROM u);", "delete-without-where", false},
    {"trap_second_statement_of_many", "SELECT 1;\nSELECT 2;\nDROP TABLE users;\nSELECT 3;", "drop-table", true},
    // --- DO blocks ---
    {"do_block_static_sql_linted", "DO $$ BEGIN ALTER TABLE users DROP COLUMN legacy; END $$;", "drop-column", true},
    {"do_block_nested_if_linted", "DO $$ BEGIN IF true THEN DELETE FROM t; END IF; END $$;", "delete-without-where", true},
    {"do_block_dynamic_execute_warned", "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'x'); END $$;", "dynamic-sql", true},
    {"do_block_constant_execute_linted", "DO $$ BEGIN EXECUTE 'TRUNCATE t'; END $$;", "truncate", true},
    {"do_block_without_execute_not_dynamic", "DO $$ BEGIN UPDATE t SET a = 1 WHERE id = 2; END $$;", "dynamic-sql", false},
    {"do_block_sees_tables_created_before", "CREATE TABLE n (id bigint);\nDO $$ BEGIN CREATE INDEX i ON n (id); END $$;", "index-not-concurrent", false},
    // --- parse errors ---
    {"parse_error", "ALTER TABLE users ADD COLUMN;", "parse-error", true},
    {"parse_error_in_do_block", "DO $$ BEGIN IF THEN END $$;", "parse-error", true},
};

INSTANTIATE_TEST_SUITE_P(Cases, LintRule, ::testing::ValuesIn(k_cases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
