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
  for (const auto& f : r.findings) out.push_back(std::string(f.rule()));
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
    {"drop_type_bad", "DROP TYPE mood CASCADE;", "drop-type", true},
    {"drop_type_restrict_refuses_while_used", "DROP TYPE mood;", "drop-type", false},
    {"drop_schema_restrict_refuses_unless_empty", "DROP SCHEMA reporting;", "drop-schema", false},
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
    {"missing_if_not_exists_table", "CREATE TABLE t (id bigint);", "missing-if-not-exists", true, true},
    {"missing_if_not_exists_index", "CREATE TABLE t (id bigint);\nCREATE INDEX t_id ON t (id);", "missing-if-not-exists", true, true},
    {"transactional_file_needs_no_if_not_exists", "CREATE TABLE t (id bigint);\nCREATE INDEX t_id ON t (id);\nCREATE SCHEMA s;", "missing-if-not-exists", false},
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
    {"do_block_dynamic_execute_warned", "DO $$ DECLARE s text; BEGIN SELECT stmt INTO s FROM q; EXECUTE s; END $$;", "dynamic-sql", true},
    {"do_block_format_literal_rebuilt", "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'x'); END $$;", "drop-table", true},
    {"do_block_format_rebuilt_not_dynamic", "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'x'); END $$;", "dynamic-sql", false},
    {"do_block_concat_with_variable", "DO $$ DECLARE t text := 'a'; BEGIN EXECUTE 'TRUNCATE ' || quote_ident(t); END $$;", "truncate", true},
    {"do_block_format_placeholder_table_is_existing", "DO $$ DECLARE t text; BEGIN EXECUTE format('CREATE INDEX ON %I (at)', t); END $$;", "index-not-concurrent", true},
    {"do_block_format_positional", "DO $$ BEGIN EXECUTE format('ALTER TABLE %1$I DROP COLUMN %2$I', 'users', 'legacy'); END $$;", "drop-column", true},
    {"do_block_format_safe_statement", "DO $$ DECLARE t text; BEGIN EXECUTE format('COMMENT ON TABLE %I IS %L', t, 'x'); END $$;", "dynamic-sql", false},
    {"do_block_execute_literal_parse_error", "DO $$ BEGIN EXECUTE 'DROPP TABLE x'; END $$;", "parse-error", true},
    {"do_block_dynfor_format_lints_query", "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE format('DELETE FROM %I RETURNING *', 'x') LOOP END LOOP; END $$;", "delete-without-where", true},
    // --- functions created and called by the file ---
    {"function_called_body_linted", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; END $$;\nSELECT f();", "delete-without-where", true},
    {"procedure_called_body_linted", "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('TRUNCATE %I', 'x'); END $$;\nCALL p();", "truncate", true},
    {"sql_function_called_body_linted", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE t SET a = 1 $$;\nSELECT f();", "update-without-where", true},
    {"function_called_from_do_perform", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN TRUNCATE t; END $$;\nDO $$ BEGIN PERFORM f(); END $$;", "truncate", true},
    {"function_not_called_not_linted", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; END $$;\nSELECT g();", "delete-without-where", false},
    {"recursive_function_linted_once", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM f(); END $$;\nSELECT f();", "parse-error", false},
    // --- data loss anywhere in a statement ---
    {"cte_delete_without_where", "WITH d AS (DELETE FROM t RETURNING *) INSERT INTO a SELECT * FROM d;", "delete-without-where", true},
    {"cte_update_without_where", "WITH u AS (UPDATE t SET a = 1 RETURNING id) SELECT count(*) FROM u;", "update-without-where", true},
    {"cte_delete_with_where", "WITH d AS (DELETE FROM t WHERE at < now() RETURNING *) INSERT INTO a SELECT * FROM d;", "delete-without-where", false},
    {"where_true", "DELETE FROM t WHERE true;", "delete-without-where", true},
    {"where_one_equals_one", "UPDATE t SET a = 0 WHERE 1 = 1;", "update-without-where", true},
    {"where_or_true", "DELETE FROM t WHERE a = 2 OR true;", "delete-without-where", true},
    {"where_column_equals_itself", "DELETE FROM t WHERE id = id;", "delete-without-where", true},
    {"where_not_distinct_from_itself", "DELETE FROM t WHERE a IS NOT DISTINCT FROM a;", "delete-without-where", true},
    {"where_null_or_not_null", "UPDATE t SET a = 1 WHERE b IS NULL OR b IS NOT NULL;", "update-without-where", true},
    {"where_cast_true", "DELETE FROM t WHERE 'yes'::boolean;", "delete-without-where", true},
    {"where_in_constant_list", "DELETE FROM t WHERE 2 IN (1, 2, 3);", "delete-without-where", true},
    {"where_not_equal_constants", "DELETE FROM t WHERE 1 <> 2;", "delete-without-where", true},
    {"where_is_not_null_on_unknown_column", "DELETE FROM t WHERE a IS NOT NULL;", "delete-without-where", false},
    {"where_true_and_condition", "DELETE FROM t WHERE 1 = 1 AND a < 3;", "delete-without-where", false},
    {"where_false", "DELETE FROM t WHERE false;", "delete-without-where", false},
    {"where_two_columns", "UPDATE t SET a = b WHERE a <> b;", "update-without-where", false},
    {"where_column_not_equal_itself_is_false", "DELETE FROM t WHERE a <> a;", "delete-without-where", false},
    // --- backfills under an ALTER's lock ---
    {"backfill_after_add_column", "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 0 WHERE c IS NULL;", "backfill-under-lock", true},
    {"delete_after_add_fk", "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES u (id) NOT VALID;\nDELETE FROM t WHERE u IS NULL;", "backfill-under-lock", true},
    {"backfill_in_cte_after_alter", "ALTER TABLE t ADD COLUMN c int;\nWITH x AS (UPDATE t SET c = 0 WHERE c IS NULL RETURNING 1) SELECT count(*) FROM x;", "backfill-under-lock", true},
    {"backfill_notx_after_alter", "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 0 WHERE c IS NULL;", "backfill-under-lock", false, true},
    {"backfill_after_explicit_commit_notx", "BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;\nUPDATE t SET c = 0 WHERE c IS NULL;", "backfill-under-lock", false, true},
    {"backfill_other_table", "ALTER TABLE t ADD COLUMN c int;\nUPDATE u SET c = 0 WHERE c IS NULL;", "backfill-under-lock", false},
    {"backfill_after_set_statistics", "ALTER TABLE t ALTER COLUMN c SET STATISTICS 100;\nUPDATE t SET c = 0 WHERE c IS NULL;", "backfill-under-lock", false},
    {"update_new_table", "CREATE TABLE n (c int);\nALTER TABLE n ADD COLUMN d int;\nUPDATE n SET d = 1 WHERE c = 1;", "backfill-under-lock", false},
    // --- system catalogs ---
    {"catalog_update_qualified", "UPDATE pg_catalog.pg_index SET indisvalid = true WHERE indexrelid = 1;", "system-catalog-write", true},
    {"catalog_update_unqualified", "UPDATE pg_attribute SET attnotnull = true WHERE attrelid = 1;", "system-catalog-write", true},
    {"catalog_insert_in_cte", "WITH x AS (INSERT INTO pg_enum VALUES (1) RETURNING 1) SELECT 1;", "system-catalog-write", true},
    {"catalog_read", "SELECT relname FROM pg_class;", "system-catalog-write", false},
    {"user_table_named_like_catalog_in_schema", "UPDATE app.pg_class SET a = 1 WHERE id = 1;", "system-catalog-write", false},
    // --- rewrites ---
    {"set_tablespace", "ALTER TABLE t SET TABLESPACE fast;", "table-rewrite", true},
    {"set_logged", "ALTER TABLE t SET LOGGED;", "table-rewrite", true},
    {"set_unlogged", "ALTER TABLE t SET UNLOGGED;", "table-rewrite", true},
    {"set_access_method", "ALTER TABLE t SET ACCESS METHOD heap;", "table-rewrite", true},
    {"alter_index_set_tablespace", "ALTER INDEX i SET TABLESPACE fast;", "table-rewrite", true},
    {"move_all_in_tablespace", "ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b;", "table-rewrite", true},
    {"set_tablespace_new_table", "CREATE TABLE n (id bigint);\nALTER TABLE n SET TABLESPACE fast;", "table-rewrite", false},
    {"set_fillfactor_is_catalog_only", "ALTER TABLE t SET (fillfactor = 90);", "table-rewrite", false},
    {"refresh_matview", "REFRESH MATERIALIZED VIEW mv;", "refresh-matview-not-concurrent", true},
    {"refresh_matview_concurrently", "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;", "refresh-matview-not-concurrent", false},
    {"refresh_new_matview", "CREATE MATERIALIZED VIEW mv AS SELECT 1 WITH NO DATA;\nREFRESH MATERIALIZED VIEW mv;", "refresh-matview-not-concurrent", false},
    // --- constraints ---
    {"add_exclusion", "ALTER TABLE b ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);", "add-exclusion-constraint", true},
    {"exclusion_on_new_table", "CREATE TABLE b (r int4range);\nALTER TABLE b ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);", "add-exclusion-constraint", false},
    {"drop_constraint_cascade", "ALTER TABLE u DROP CONSTRAINT u_pkey CASCADE;", "drop-cascade", true},
    {"drop_constraint_restrict", "ALTER TABLE u DROP CONSTRAINT u_check;", "drop-cascade", false},
    // --- partitions ---
    {"attach_partition", "ALTER TABLE m ATTACH PARTITION m1 FOR VALUES FROM (1) TO (2);", "attach-partition-without-check", true},
    {"attach_new_partition", "CREATE TABLE m1 (a int);\nALTER TABLE m ATTACH PARTITION m1 FOR VALUES FROM (1) TO (2);", "attach-partition-without-check", false},
    {"attach_after_validated_check",
     "ALTER TABLE m1 ADD CONSTRAINT b CHECK (a >= 1 AND a < 2) NOT VALID;\nALTER TABLE m1 VALIDATE CONSTRAINT b;\nALTER TABLE m ATTACH PARTITION m1 FOR VALUES FROM (1) TO (2);",
     "attach-partition-without-check", false, true},
    {"detach_partition", "ALTER TABLE m DETACH PARTITION m1;", "detach-partition-not-concurrent", true},
    {"detach_concurrently_notx", "ALTER TABLE m DETACH PARTITION m1 CONCURRENTLY;", "detach-partition-not-concurrent", false, true},
    {"detach_concurrently_in_tx", "ALTER TABLE m DETACH PARTITION m1 CONCURRENTLY;", "concurrently-in-transaction", true},
    {"index_on_only_parent", "CREATE INDEX i ON ONLY m (a);", "index-not-concurrent", false},
    // --- domains ---
    {"domain_add_check", "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0);", "add-check-without-not-valid", true},
    {"domain_add_check_not_valid", "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID;", "add-check-without-not-valid", false},
    {"domain_set_not_null", "ALTER DOMAIN d SET NOT NULL;", "set-not-null", true},
    {"domain_validate_blocks_writes", "ALTER DOMAIN d VALIDATE CONSTRAINT c;", "add-check-without-not-valid", true},
    {"publication_set_publish_keyless", "CREATE TABLE t (a int);\nCREATE PUBLICATION p FOR TABLE t WITH (publish = 'insert');\nALTER PUBLICATION p SET (publish = 'insert, update');", "publication-without-replica-identity", true},
    {"publication_set_publish_insert_only", "ALTER PUBLICATION p SET (publish = 'insert');", "publication-without-replica-identity", false},
    {"default_from_function_created_volatile", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\nALTER TABLE t ADD COLUMN c int DEFAULT f();", "add-column-volatile-default", true},
    {"default_from_function_created_immutable", "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';\nALTER TABLE t ADD COLUMN c int DEFAULT f();", "add-column-volatile-default", false},
    {"alter_type_numeric_is_a_warning_only", "ALTER TABLE t ALTER COLUMN c TYPE numeric(14,2);", "parse-error", false},
    {"new_domain_add_check", "CREATE DOMAIN d AS int;\nALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0);", "add-check-without-not-valid", false},
    // --- sequences and identities ---
    {"sequence_restart", "ALTER SEQUENCE s RESTART;", "sequence-restart", true},
    {"sequence_restart_with", "ALTER SEQUENCE s RESTART WITH 10;", "sequence-restart", true},
    {"identity_restart", "ALTER TABLE t ALTER COLUMN id RESTART;", "sequence-restart", true},
    {"add_identity_without_start", "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;", "sequence-restart", true},
    {"add_identity_with_start", "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH 900);", "sequence-restart", false},
    {"sequence_cache", "ALTER SEQUENCE s CACHE 10;", "sequence-restart", false},
    {"new_sequence_restart", "CREATE SEQUENCE s;\nALTER SEQUENCE s RESTART WITH 5;", "sequence-restart", false},
    // --- DROP ... CASCADE ---
    {"drop_function_cascade", "DROP FUNCTION f(int) CASCADE;", "drop-cascade", true},
    {"drop_view_cascade", "DROP VIEW v CASCADE;", "drop-cascade", true},
    {"drop_extension_cascade", "DROP EXTENSION citext CASCADE;", "drop-cascade", true},
    {"drop_sequence_cascade", "DROP SEQUENCE s CASCADE;", "drop-cascade", true},
    {"drop_owned", "DROP OWNED BY old_role;", "drop-cascade", true},
    {"drop_function_restrict", "DROP FUNCTION f(int);", "drop-cascade", false},
    {"drop_new_view_cascade", "CREATE VIEW v AS SELECT 1;\nDROP VIEW v CASCADE;", "drop-cascade", false},
    // --- rules ---
    {"rule_do_instead", "CREATE RULE r AS ON DELETE TO t DO INSTEAD NOTHING;", "create-rule", true},
    {"rule_on_select", "CREATE RULE \"_RETURN\" AS ON SELECT TO t DO INSTEAD SELECT * FROM u;", "create-rule", true},
    {"rule_do_also", "CREATE RULE r AS ON UPDATE TO t DO ALSO INSERT INTO log VALUES (1);", "create-rule", false},
    {"rule_on_new_view", "CREATE VIEW v AS SELECT 1 AS a;\nCREATE RULE r AS ON INSERT TO v DO INSTEAD NOTHING;", "create-rule", false},
    // --- publications ---
    {"publication_all_tables", "CREATE PUBLICATION p FOR ALL TABLES;", "publication-without-replica-identity", true},
    {"publication_keyless_new_table", "CREATE TABLE t (a int);\nCREATE PUBLICATION p FOR TABLE t;", "publication-without-replica-identity", true},
    {"publication_add_keyless_new_table", "CREATE TABLE t (a int);\nALTER PUBLICATION p ADD TABLE t;", "publication-without-replica-identity", true},
    {"publication_in_schema", "CREATE PUBLICATION p FOR TABLES IN SCHEMA s;", "publication-without-replica-identity", true},
    {"publication_insert_only", "CREATE PUBLICATION p FOR TABLE t WITH (publish = 'insert');", "publication-without-replica-identity", false},
    {"publication_after_replica_identity", "ALTER TABLE t REPLICA IDENTITY FULL;\nCREATE PUBLICATION p FOR TABLE t;", "publication-without-replica-identity", false},
    {"publication_new_table_with_pk", "CREATE TABLE t (id bigint PRIMARY KEY);\nCREATE PUBLICATION p FOR TABLE t;", "publication-without-replica-identity", false},
    {"publication_drop_table", "ALTER PUBLICATION p DROP TABLE t;", "publication-without-replica-identity", false},
    // --- renames of other relations ---
    {"rename_view", "ALTER VIEW v RENAME TO w;", "rename-table", true},
    {"set_schema", "ALTER TABLE t SET SCHEMA archive;", "rename-table", true},
    {"set_schema_new_table", "CREATE TABLE n (a int);\nALTER TABLE n SET SCHEMA archive;", "rename-table", false},
    {"enum_rename_value", "ALTER TYPE mood RENAME VALUE 'sad' TO 'unhappy';", "rename-column", true},
    {"composite_drop_attribute", "ALTER TYPE address DROP ATTRIBUTE line3;", "drop-column", true},
    {"drop_column_added_in_same_file", "ALTER TABLE t ADD COLUMN tmp int;\nALTER TABLE t DROP COLUMN tmp;", "drop-column", false},
    // --- statements that cannot run in a transaction block ---
    {"vacuum_in_transaction", "VACUUM t;", "concurrently-in-transaction", true},
    {"vacuum_notx", "VACUUM t;", "concurrently-in-transaction", false, true},
    {"analyze_in_transaction", "ANALYZE t;", "concurrently-in-transaction", false},
    {"cic_in_explicit_block_notx", "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;", "concurrently-in-transaction", true, true},
    {"cic_after_explicit_block_notx", "BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);", "concurrently-in-transaction", false, true},
    {"validate_in_explicit_block_notx",
     "BEGIN;\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\nCOMMIT;",
     "add-check-without-not-valid", true, true},
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
