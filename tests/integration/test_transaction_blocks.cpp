// Migrations with their own BEGIN/COMMIT (issue 11 #2), and the file rules
// every file of a plan passes before anything changes (issue 17 #7, issue 12
// #2/#3), against the real sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::string applied_ids(PgTestDb& db) {
  auto rows = db.rows("SELECT string_agg(migration_id || ':' || success, ',' ORDER BY migration_id) FROM schema_migrations");
  return rows.empty() ? "" : rows[0][0];
}

bool table_exists(PgTestDb& db, const std::string& name) {
  return db.scalar("SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
}

bool history_exists(PgTestDb& db) { return table_exists(db, "schema_migrations"); }

// True when the table was created by the same transaction that wrote the
// migration's history row: the file's COMMIT did not end mgr's transaction.
bool same_transaction(PgTestDb& db, const std::string& table, const std::string& migration_id) {
  return db.scalar("SELECT (SELECT xmin::text FROM pg_class WHERE oid = to_regclass('" + table +
                   "')) = (SELECT xmin::text FROM schema_migrations WHERE migration_id = '" + migration_id + "')") == "t";
}

std::string log_of(PgTestDb& db, const std::string& action) {
  auto rows = db.rows("SELECT string_agg(coalesce(migration_id, '-') || ':' || outcome, ',' ORDER BY id) "
                      "FROM schema_migrations_log WHERE action = '" + action + "'");
  return rows.empty() ? "" : rows[0][0];
}

class TransactionBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

// Shapes found in public projects written for tools that do not wrap migrations.
const char* k_whole_file =
    "-- Wraps the whole file, as psql -f users are taught\n"
    "BEGIN;\n"
    "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);\n"
    "CREATE INDEX accounts_email_idx ON accounts (email);\n"
    "COMMIT;\n";

const char* k_two_blocks_with_preamble =
    "SET client_min_messages = warning;\n"
    "CREATE TABLE IF NOT EXISTS preamble (id int);\n"
    "\n"
    "BEGIN;\n"
    "CREATE TABLE orders (id bigint PRIMARY KEY);\n"
    "COMMIT;\n"
    "\n"
    "START TRANSACTION;\n"
    "ALTER TABLE orders ADD COLUMN total numeric;\n"
    "INSERT INTO orders (id, total) VALUES (1, 9.5);\n"
    "END;\n";

}  // namespace

TEST_F(TransactionBlocksTest, WholeFileBlockIsFoldedIntoMgrsTransactionAndSaysWhere) {
  Project p;
  p.add("0001_accounts.sql", k_whole_file);
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("folded into mgr's transaction"));
  EXPECT_THAT(r.out, HasSubstr("0001_accounts.sql:2 BEGIN"));
  EXPECT_THAT(r.out, HasSubstr("0001_accounts.sql:5 COMMIT"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  // The history row committed with the migration, not after the file's COMMIT in autocommit.
  EXPECT_TRUE(same_transaction(p.dev(), "accounts", "0001"));
  // The checksum recorded is the file's own, so other environments still match.
  EXPECT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
}

TEST_F(TransactionBlocksTest, TwoBlocksAndStatementsBeforeTheFirstBeginApplyAsOneTransaction) {
  Project p("    backup: off\n    lint: warn\n");
  p.add("0001_orders.sql", k_two_blocks_with_preamble);
  auto r = p.mgr({"apply", "dev", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["plan"][0]["folded"].size(), 4u) << r.out;
  EXPECT_THAT(j["plan"][0]["folded"][2].get<std::string>(), HasSubstr("0001_orders.sql:8 START TRANSACTION"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.dev().scalar("SELECT total FROM orders WHERE id = 1"), "9.5");
  EXPECT_TRUE(same_transaction(p.dev(), "preamble", "0001"));
  EXPECT_TRUE(same_transaction(p.dev(), "orders", "0001"));
}

TEST_F(TransactionBlocksTest, FailureAfterAFileCommitLeavesNothingAndTheMessageIsTrue) {
  Project p("    backup: off\n    lint: off\n");  // the policy does not matter: the file cannot end mgr's transaction
  p.add("0001_first.sql", "CREATE TABLE first_one (id int);\n");
  p.add("0002_blocks.sql",
        "BEGIN;\n"
        "CREATE TABLE kept_if_committed (id int);\n"
        "COMMIT;\n"
        "BEGIN;\n"
        "CREATE TABLE broken (id no_such_type);\n"
        "COMMIT;\n");
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  // The server's error position maps to the file's line:col through the blanked statements.
  EXPECT_THAT(r.err, HasSubstr("0002_blocks.sql:5:25: ERROR 42704"));
  EXPECT_THAT(r.err, HasSubstr("0002_blocks was rolled back"));
  // ... and it was: nothing of the first block stayed, and no history row.
  EXPECT_FALSE(table_exists(p.dev(), "kept_if_committed"));
  EXPECT_FALSE(table_exists(p.dev(), "broken"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(log_of(p.dev(), "apply"), "0001:ok,0002:failed");
}

TEST_F(TransactionBlocksTest, WhatCannotBeFoldedIsRefusedBeforeAnythingRunsEvenWithLintOff) {
  Project p("    backup: off\n    lint: off\n");
  p.add("0001_fine.sql", "CREATE TABLE fine (id int);\n");
  p.add("0002_commits_early.sql", "CREATE TABLE early (id int);\nCOMMIT;\nCREATE TABLE late (id int);\n");
  p.add("0003_rollback.sql", "BEGIN;\nDELETE FROM fine;\nROLLBACK;\n");
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("[transaction-control]"));
  EXPECT_THAT(r.err, HasSubstr("0002_commits_early.sql:2: COMMIT: no BEGIN before it"));
  EXPECT_THAT(r.err, HasSubstr("0003_rollback.sql:3: ROLLBACK"));
  EXPECT_THAT(r.err, HasSubstr("-- mgr:no-transaction"));
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
  // Nothing ran, not even the migration before them.
  EXPECT_FALSE(history_exists(p.dev()));
  EXPECT_FALSE(table_exists(p.dev(), "fine"));
  EXPECT_FALSE(table_exists(p.dev(), "early"));
}

TEST_F(TransactionBlocksTest, NoTransactionFileGroupsStatementsWithExplicitBlocks) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE IF NOT EXISTS t (id bigint, v int);\n");
  p.add("0002_backfill.sql",
        "-- mgr:no-transaction\n"
        "BEGIN;\n"
        "INSERT INTO t (id, v) VALUES (1, 1);\n"
        "UPDATE t SET v = 2 WHERE id = 1;\n"
        "COMMIT;\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);\n");
  auto lint = p.mgr({"lint"});
  EXPECT_THAT(lint.out, Not(HasSubstr("[transaction-control]"))) << lint.out;
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("folded")));
  EXPECT_EQ(p.dev().scalar("SELECT v FROM t WHERE id = 1"), "2");
  EXPECT_TRUE(table_exists(p.dev(), "t_v_idx"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
}

TEST_F(TransactionBlocksTest, LintReportsFoldedBlocksAsWarningsAndUnfoldableOnesAsErrors) {
  Project p;
  p.add("0001_accounts.sql", k_whole_file);
  auto folded = p.mgr({"lint"});
  EXPECT_EQ(folded.exit_code, 0) << folded.out << folded.err;
  EXPECT_THAT(folded.out, HasSubstr("0001_accounts.sql:2:1: warning [transaction-control] BEGIN folded into mgr's transaction"));
  p.add("0002_rollback.sql", "BEGIN;\nSELECT 1;\nROLLBACK;\n");
  auto refused = p.mgr({"lint"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("0002_rollback.sql:3:1: error [transaction-control] ROLLBACK"));
}

TEST_F(TransactionBlocksTest, DownFileWithItsOwnBlockIsFoldedOnRollback) {
  Project p;
  p.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  p.add("0001_a.down.sql", "BEGIN;\nDROP TABLE a;\nCOMMIT;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("0001_a.down.sql:1 BEGIN"));
  EXPECT_FALSE(table_exists(p.dev(), "a"));
  EXPECT_EQ(applied_ids(p.dev()), "");
}

TEST_F(TransactionBlocksTest, DownFileThatCannotBeFoldedIsRefusedBeforeAnyRollback) {
  Project p;
  p.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  p.add("0001_a.down.sql", "DROP TABLE a;\nCOMMIT;\n");
  p.add("0002_b.sql", "CREATE TABLE b (id int);\n");
  p.add("0002_b.down.sql", "DROP TABLE b;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "2"});
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0001_a.down.sql:2: COMMIT"));
  EXPECT_TRUE(table_exists(p.dev(), "b"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
}

// ---- the file rules, checked for the whole plan before anything changes ----

TEST_F(TransactionBlocksTest, UnparseableNoTransactionFileIsFoundBeforeAnythingIsApplied) {
  Project p;
  p.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  p.add("0002_b.sql", "-- mgr:no-transaction\nCREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY ON b (id;\n");
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002_b.sql:3:35: does not parse: syntax error"));
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
  EXPECT_FALSE(table_exists(p.dev(), "a"));
  EXPECT_FALSE(history_exists(p.dev()));
}

TEST_F(TransactionBlocksTest, UnparseableDownFileIsFoundBeforeAnyRollback) {
  Project p;
  p.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  p.add("0001_a.down.sql", "DROP TABEL a;\n");  // a typo nobody ran
  p.add("0002_b.sql", "CREATE TABLE b (id int);\n");
  p.add("0002_b.down.sql", "DROP TABLE b;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "2"});
  ASSERT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0001_a.down.sql:1:6: does not parse: syntax error"));
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
  // 0002's down file, which comes first, did not run.
  EXPECT_TRUE(table_exists(p.dev(), "b"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "");
}

TEST_F(TransactionBlocksTest, CommentOnlyDownFileIsRefusedAndTheRowStays) {
  Project p;
  p.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  p.add("0001_a.down.sql", "-- Write the SQL that undoes 0001_a here.\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("[empty-down]"));
  EXPECT_THAT(r.err, HasSubstr("0001_a.down.sql: contains no SQL statement"));
  EXPECT_TRUE(table_exists(p.dev(), "a"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "");
  // validate reports it too (a warning: apply is not affected).
  auto v = p.mgr({"validate", "--offline"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_THAT(v.out, HasSubstr("warning [empty-down] 0001"));
}

TEST_F(TransactionBlocksTest, ValidateRefusesTheCommentOnlyUpFileThatApplyRefuses) {
  Project p;
  p.add("0001_todo.sql", "-- Write your migration here.\n");
  auto v = p.mgr({"validate", "--offline"});
  EXPECT_EQ(v.exit_code, 3) << v.out;
  EXPECT_THAT(v.out, HasSubstr("error   [empty-migration] 0001"));
  auto a = p.mgr({"apply", "dev"});
  EXPECT_EQ(a.exit_code, 3) << a.err;
  EXPECT_THAT(a.err, HasSubstr("[empty-migration]"));
}

TEST_F(TransactionBlocksTest, ValidateRefusesWhatApplyRefusesForTransactionControlWhateverTheLintPolicy) {
  Project p("    backup: off\n    lint: off\n");
  p.add("0001_rollback.sql", "BEGIN;\nSELECT 1;\nROLLBACK;\n");
  auto v = p.mgr({"validate", "--offline"});
  EXPECT_EQ(v.exit_code, 3) << v.out;
  EXPECT_THAT(v.out, HasSubstr("error   [transaction-control] 0001"));
  EXPECT_EQ(p.mgr({"apply", "dev"}).exit_code, 3);
}

// ---- what apply shows before it runs (issue 12 #5, #8) ----

TEST_F(TransactionBlocksTest, ConfirmationNamesEveryMigrationItWouldApplyInAGrammaticalRefusal) {
  Project p("    backup: off\n", /*confirm_prod=*/true);
  p.write_config("environments:\n  prod:\n    url: " + p.url(2) + "\n    backup: off\n    confirm: true\n");
  p.add("0001_create_a.sql", "CREATE TABLE IF NOT EXISTS a (id int);\n");
  p.add("0002_create_b.sql", "CREATE TABLE IF NOT EXISTS b (id int);\n");
  auto r = p.mgr({"apply", "prod"});  // stdin is /dev/null: no terminal
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("About to apply 2 migration(s) to prod"));
  EXPECT_THAT(r.err, HasSubstr("\n  0001_create_a\n  0002_create_b\n"));
  EXPECT_THAT(r.err, HasSubstr("That needs confirmation and there is no terminal to ask on: pass --yes"));
  EXPECT_THAT(r.err, Not(HasSubstr(". needs confirmation")));
  EXPECT_FALSE(table_exists(p.prod(), "a"));
}

TEST_F(TransactionBlocksTest, DryRunSqlPrintsTheExactQueriesWrapperIncludedAndChangesNothing) {
  Project p("    backup: off\n    lock_timeout: 5s\n");
  p.add("0001_accounts.sql", k_whole_file);
  p.add("0002_idx.sql", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_id ON accounts (id);\n");
  auto r = p.mgr({"apply", "dev", "--dry-run", "--sql"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("-- 0001_accounts: sent as one query, then the session reset that follows every "
                               "migration\nBEGIN;\nSET LOCAL lock_timeout = '5s';\n"));
  // The folded BEGIN/COMMIT are blanks in what is sent; the file's other lines are there as written.
  EXPECT_THAT(r.out, HasSubstr("\n     ;\nCREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);\n"));
  EXPECT_THAT(r.out, HasSubstr("INSERT INTO"));
  EXPECT_THAT(r.out, HasSubstr("COMMIT;"));
  EXPECT_THAT(r.out, HasSubstr("-- 0002_idx: no-transaction, each query below is sent on its own"));
  EXPECT_THAT(r.out, HasSubstr("\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_id ON accounts (id)\n"));
  EXPECT_FALSE(history_exists(p.dev()));
  EXPECT_FALSE(table_exists(p.dev(), "accounts"));
  auto j = p.mgr({"apply", "dev", "--dry-run", "--sql", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto plan = nlohmann::json::parse(j.out)["plan"];
  ASSERT_EQ(plan[0]["sql"].size(), 2u);  // the migration's one query, then the session reset
  EXPECT_THAT(plan[0]["sql"][0].get<std::string>(), HasSubstr("SET LOCAL lock_timeout"));
  EXPECT_EQ(plan[0]["sql"][1].get<std::string>(), "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL");
  // The in-progress row, the settings, the statement, the bookkeeping, the reset.
  ASSERT_EQ(plan[1]["sql"].size(), 5u);
  EXPECT_THAT(plan[1]["sql"][0].get<std::string>(), HasSubstr("in_progress"));
  EXPECT_THAT(plan[1]["sql"][4].get<std::string>(), HasSubstr("RESET ALL"));
  // --sql without --dry-run is a usage error.
  EXPECT_EQ(p.mgr({"apply", "dev", "--sql"}).exit_code, 2);
}

TEST_F(TransactionBlocksTest, NoTransactionFailureInsideABlockSaysThatBlockWasRolledBack) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE IF NOT EXISTS t (id bigint);\n");
  p.add("0002_fill.sql",
        "-- mgr:no-transaction\n"
        "INSERT INTO t (id) VALUES (1);\n"
        "BEGIN;\n"
        "INSERT INTO t (id) VALUES (2);\n"
        "INSERT INTO t (id) VALUES ('not a number');\n"
        "COMMIT;\n");
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002_fill.sql:5:"));
  EXPECT_THAT(r.err, HasSubstr("except those of its BEGIN block from line 3, which was rolled back"));
  // ... and that is what happened: the row before the block stayed, the block's did not.
  EXPECT_EQ(p.dev().scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1");
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:false");
}
