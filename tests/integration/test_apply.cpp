// mgr apply and mgr status against the real sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <future>
#include <pqxx/pqxx>
#include <thread>

#include "mgr/session.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const char* k_create_t = "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, v text);\n";
const char* k_add_col = "ALTER TABLE t ADD COLUMN IF NOT EXISTS note text;\n";
const char* k_insert = "INSERT INTO t (id, v) VALUES (1, 'one');\n";

std::string applied_ids(PgTestDb& db) {
  auto rows = db.rows("SELECT string_agg(migration_id || ':' || success, ',' ORDER BY migration_id) FROM schema_migrations");
  return rows.empty() ? "" : rows[0][0];
}

bool table_exists(PgTestDb& db, const std::string& name) {
  return db.scalar("SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
}

// Every relation, column and type in the database except mgr's own tables: what a dry run must not touch.
std::string catalog_snapshot(PgTestDb& db) {
  auto rows = db.rows(
      "SELECT string_agg(c.relname || '/' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')");
  return rows.empty() ? "" : rows[0][0];
}

// Polls `cond` every 20 ms for up to 30 s; whether it came true.
template <typename F>
bool poll_until(F cond) {
  for (int i = 0; i < 1500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string advisory_locks_where(PgTestDb& db, const std::string& granted) {
  return db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = " + granted +
                   " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
}

// Whether a session holds an advisory lock in `db` (mgr's migration lock: mgr takes no other).
bool advisory_lock_held(PgTestDb& db) { return advisory_locks_where(db, "true") != "0"; }

// How many sessions wait for an advisory lock in `db`.
int waiting_for_advisory_lock(PgTestDb& db) { return std::stoi(advisory_locks_where(db, "false")); }

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST_F(ApplyTest, AppliesPendingInOrderAndRecordsHistory) {
  Project p;
  p.add("0002_add_col.sql", k_add_col);
  p.add("0001_create_t.sql", k_create_t);
  p.add("0010_insert.sql", k_insert);
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("applied 0001_create_t"));
  EXPECT_LT(r.out.find("0001_create_t"), r.out.find("0002_add_col"));
  EXPECT_LT(r.out.find("0002_add_col"), r.out.find("0010_insert"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true,0010:true");
  auto row = p.dev().rows("SELECT name, length(checksum), environment, applied_by, execution_ms IS NOT NULL, mgr_version, kind "
                          "FROM schema_migrations WHERE migration_id = '0001'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], "create_t");
  EXPECT_EQ(row[0][1], "64");
  EXPECT_EQ(row[0][2], "dev");
  EXPECT_THAT(row[0][3], HasSubstr("postgres ("));
  EXPECT_THAT(row[0][3], HasSubstr("@"));
  EXPECT_EQ(row[0][4], "t");
  EXPECT_FALSE(row[0][5].empty());
  EXPECT_EQ(row[0][6], "apply");
  // The audit log has one row per applied migration.
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'apply' AND outcome = 'ok'"), "3");
}

TEST_F(ApplyTest, NothingPendingSaysSoAndExitsZero) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("nothing to apply"));
}

TEST_F(ApplyTest, ToStopsAtTheGivenId) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  auto r = p.mgr({"apply", "dev", "--to", "0001"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.mgr({"apply", "dev", "--to", "0999"}).exit_code, 2);
}

TEST_F(ApplyTest, GateRefusesMigrationMissingInSource) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  auto r = p.mgr({"apply", "test"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("[not-in-source] 0001_create_t has not been applied in dev"));
  EXPECT_FALSE(table_exists(p.test(), "t"));
  EXPECT_FALSE(table_exists(p.test(), "schema_migrations"));
}

TEST_F(ApplyTest, GateRefusesMigrationWithOtherChecksumInSource) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0001_create_t.sql", std::string(k_create_t) + "-- edited after dev got it\n");
  auto r = p.mgr({"apply", "test"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[source-checksum-differs] 0001_create_t was applied in dev with another checksum"));
  EXPECT_FALSE(table_exists(p.test(), "t"));
}

TEST_F(ApplyTest, GateRefusesMigrationFailedInSource) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.dev().exec("UPDATE schema_migrations SET success = false");
  auto r = p.mgr({"apply", "test"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[source-failed] 0001_create_t failed in dev"));
}

TEST_F(ApplyTest, GateRefusesWhenSourceIsUnreachable) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.write_config("environments:\n  dev:\n    url: postgresql://postgres@127.0.0.1:1/nowhere\n    backup: off\n"
                 "  test:\n    url: " + p.url(1) + "\n    promote_from: dev\n    backup: off\n");
  auto r = p.mgr({"apply", "test"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[source-unreachable]"));
  EXPECT_FALSE(table_exists(p.test(), "t"));
}

TEST_F(ApplyTest, PromotesThroughTheChainWhenSourcesAgree) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test", "--to", "0001"}).exit_code, 0);
  // prod may take only what test has.
  auto r = p.mgr({"apply", "prod"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("0002_add_col has not been applied in test"));
  EXPECT_EQ(p.mgr({"apply", "prod", "--to", "0001"}).exit_code, 0);
  EXPECT_EQ(applied_ids(p.prod()), "0001:true");
  EXPECT_EQ(p.prod().scalar("SELECT environment FROM schema_migrations"), "prod");
}

TEST_F(ApplyTest, ChecksumChangeOfAppliedMigrationIsRefused) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0001_create_t.sql", "CREATE TABLE IF NOT EXISTS t (id int);\n");
  p.add("0002_add_col.sql", k_add_col);
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[checksum-mismatch] 0001_create_t.sql changed after it was applied in dev: recorded"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
}

TEST_F(ApplyTest, CrlfCheckoutIsNotAChange) {
  Project p;
  p.add("0001_create_t.sql", "CREATE TABLE IF NOT EXISTS t (id int);\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0001_create_t.sql", "\xEF\xBB\xBF" "CREATE TABLE IF NOT EXISTS t (id int);\r\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ApplyTest, AppliedMigrationWhoseFileIsGoneIsRefused) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  std::filesystem::remove(p.dir() / "migrations/0001_create_t.sql");
  p.add("0002_other.sql", "CREATE TABLE IF NOT EXISTS u (id int);\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[missing-file] 0001_create_t is applied in dev but its file is gone"));
}

TEST_F(ApplyTest, OutOfOrderIsRefusedUnlessAllowed) {
  Project p;
  p.add("0002_add_u.sql", "CREATE TABLE IF NOT EXISTS u (id int);\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0001_create_t.sql", k_create_t);
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[out-of-order] 0001_create_t is older than 0002"));
  EXPECT_FALSE(table_exists(p.dev(), "t"));
  r = p.mgr({"apply", "dev", "--allow-out-of-order"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(table_exists(p.dev(), "t"));
}

TEST_F(ApplyTest, DatabaseOfAnotherEnvironmentIsRefused) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  // test's URL now points at dev's database.
  p.write_config("environments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n"
                 "  test:\n    url: " + p.url(0) + "\n    backup: off\n");
  p.add("0002_add_col.sql", k_add_col);
  auto r = p.mgr({"apply", "test"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[environment-mismatch] this database's history records environment 'dev', not 'test'"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
}

TEST_F(ApplyTest, ConfirmationWithoutTerminalOrYesIsRefused) {
  Project p("    backup: off\n", /*confirm_prod=*/true);
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto r = p.mgr({"apply", "prod"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("--yes"));
  EXPECT_FALSE(table_exists(p.prod(), "t"));
  r = p.mgr({"apply", "prod", "--yes"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(table_exists(p.prod(), "t"));
  // Nothing to apply: no confirmation needed.
  EXPECT_EQ(p.mgr({"apply", "prod"}).exit_code, 0);
}

TEST_F(ApplyTest, DryRunChangesNothing) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  auto before = catalog_snapshot(p.dev());
  auto r = p.mgr({"apply", "dev", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0001_create_t"));
  EXPECT_THAT(r.out, HasSubstr("0002_add_col"));
  EXPECT_EQ(catalog_snapshot(p.dev()), before);
  EXPECT_FALSE(table_exists(p.dev(), "schema_migrations"));
  // A dry run that would be refused exits 3, still changing nothing.
  r = p.mgr({"apply", "test", "--dry-run"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(table_exists(p.test(), "schema_migrations"));
}

TEST_F(ApplyTest, FailingMigrationKeepsEarlierOnesAndPointsAtTheLine) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_bad.sql", "-- inserts then fails\nINSERT INTO t (id, v) VALUES (2, 'two');\n\nSELECT\n  vv FROM t;\n");
  p.add("0003_after.sql", "CREATE TABLE IF NOT EXISTS after_bad (id int);\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("0002_bad.sql:5:3: ERROR 42703: column \"vv\" does not exist"));
  EXPECT_THAT(r.err, HasSubstr("HINT:"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t"), "0");  // the failing one left nothing
  EXPECT_FALSE(table_exists(p.dev(), "after_bad"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE outcome = 'failed'"), "1");
}

TEST_F(ApplyTest, ErrorPositionCountsCharactersNotBytes) {
  Project p;
  p.add("0001_utf8.sql", "-- ünïcödé comment\nSELECT 'ääää' AS x, nope FROM pg_class;\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("0001_utf8.sql:2:21:"));
}

TEST_F(ApplyTest, JsonReportsErrorWithLocation) {
  Project p;
  p.add("0001_bad.sql", "SELECT nope;\n");
  auto r = p.mgr({"apply", "dev", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("\"sqlstate\": \"42703\""));
  EXPECT_THAT(r.out, HasSubstr("\"line\": 1"));
  EXPECT_THAT(r.out, HasSubstr("\"ok\": false"));
}

TEST_F(ApplyTest, NoTransactionFailureIsRecordedAsFailedAndBlocksNextApply) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_idx.sql",
        "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_bad_idx ON t (no_such_col);\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("0002_idx.sql:3:"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:false");
  // The first statement ran outside a transaction and stays.
  EXPECT_TRUE(table_exists(p.dev(), "t_v_idx"));
  r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("[failed-migration] 0002_idx failed in dev"));
  EXPECT_THAT(r.err, HasSubstr("mgr repair dev"));
}

TEST_F(ApplyTest, NoTransactionFileRunsConcurrentIndex) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_idx.sql", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
  EXPECT_EQ(p.dev().scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass"), "t");
}

TEST_F(ApplyTest, TimeoutsFromTheEnvironmentApply) {
  Project p("    backup: off\n    statement_timeout: 200ms\n");
  p.add("0001_slow.sql", "SELECT pg_sleep(2);\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("57014"));  // query_canceled: statement timeout
}

// Two applies that certainly overlap: the test holds the migration lock until
// both are seen waiting for it on the server, then lets them go.
TEST_F(ApplyTest, ConcurrentAppliesApplyEachMigrationOnce) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_insert.sql", "INSERT INTO t (id, v) VALUES (2, 'two');\n");
  p.add("0003_insert.sql", "INSERT INTO t (id, v) VALUES (3, 'three');\n");
  pqxx::connection holder(p.url(0));
  auto key = std::to_string(mgr::MigrationLock::key_for({"public", "schema_migrations"}));
  pqxx::nontransaction(holder).exec("SELECT pg_advisory_lock(" + key + ")");

  RunningMgr a({"--config", p.config_path(), "apply", "dev", "--lock-wait", "60s"}, {}, p.dir());
  RunningMgr b({"--config", p.config_path(), "apply", "dev", "--lock-wait", "60s"}, {}, p.dir());
  ASSERT_TRUE(poll_until([&] { return waiting_for_advisory_lock(p.dev()) == 2; })) << "both applies never waited";
  pqxx::nontransaction(holder).exec("SELECT pg_advisory_unlock(" + key + ")");

  auto ra = a.wait(), rb = b.wait();
  EXPECT_EQ(ra.exit_code, 0) << ra.err;
  EXPECT_EQ(rb.exit_code, 0) << rb.err;
  // Each saw the lock held, waited, and one of them found nothing left to do.
  EXPECT_THAT(ra.err + rb.err, HasSubstr("migration lock held by pid"));
  EXPECT_THAT(ra.out + rb.out, HasSubstr("nothing to apply"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true,0003:true");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t"), "2");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE outcome = 'ok'"), "3");
}

TEST_F(ApplyTest, LockHeldByAnotherMgrGivesUpNamingTheHolder) {
  Project p;
  p.add("0001_hold.sql", "SELECT pg_sleep(3);\n");
  auto slow = std::async(std::launch::async, [&] { return p.mgr({"apply", "dev"}); });
  ASSERT_TRUE(poll_until([&] { return advisory_lock_held(p.dev()); })) << "the first apply never took the lock";
  auto r = p.mgr({"apply", "dev", "--lock-wait", "300ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("migration lock held by pid"));
  EXPECT_THAT(r.err, HasSubstr("application_name 'mgr dev'"));
  EXPECT_EQ(slow.get().exit_code, 0);
}

TEST_F(ApplyTest, LintBlockRefusesBeforeAnythingChanges) {
  Project p("    backup: off\n    lint: block\n");
  p.add("0001_create_t.sql", k_create_t);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0002_drop.sql", "ALTER TABLE t DROP COLUMN v;\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[lint]"));
  EXPECT_THAT(r.err, HasSubstr("drop-column"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'v'"), "1");
  // Allowed with a reason: applied, and the history row keeps the allowed rule.
  p.add("0002_drop.sql", "-- mgr:allow drop-column reason: v was never read since 2025\nALTER TABLE t DROP COLUMN v;\n");
  r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(p.dev().scalar("SELECT allowed_rules FROM schema_migrations WHERE migration_id = '0002'"), "drop-column");
}

TEST_F(ApplyTest, LintWarnAndOffLetTheMigrationThrough) {
  Project warn("    backup: off\n    lint: warn\n");
  warn.add("0001_create_t.sql", k_create_t);
  warn.add("0002_drop.sql", "ALTER TABLE t DROP COLUMN v;\n");
  auto r = warn.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Said once: "mgr: warning: <file>:1:1: [drop-column] ...", not "warning: ...: error [drop-column]".
  EXPECT_THAT(r.err, HasSubstr("0002_drop.sql:1:1: [drop-column] "));
  Project off("    backup: off\n    lint: off\n");
  off.add("0001_create_t.sql", k_create_t);
  off.add("0002_drop.sql", "ALTER TABLE t DROP COLUMN v;\n");
  r = off.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("drop-column")));
}

TEST_F(ApplyTest, SchemaQualifiedHistoryTable) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  auto yaml = "history_table: ops.mgr_history\nenvironments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n";
  p.write_config(yaml);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM ops.mgr_history"), "1");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM ops.mgr_history_log"), "1");
}

TEST_F(ApplyTest, PasswordNeverPrinted) {
  Project p;
  p.prod().exec("DO $$ BEGIN CREATE ROLE mgr_pw_user LOGIN PASSWORD 'S3cret-pw' SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
  auto url = p.url(0);
  auto at = url.find("postgres@");
  ASSERT_NE(at, std::string::npos);
  url.replace(at, 9, "mgr_pw_user:S3cret-pw@");
  p.write_config("environments:\n  dev:\n    url: ${DEV_URL}\n    backup: off\n");
  p.add("0001_bad.sql", "SELECT nope;\n");
  for (auto args : std::vector<std::vector<std::string>>{{"apply", "dev", "--json"}, {"config"}, {"apply", "dev"}, {"status"}}) {
    auto r = p.mgr(args, {{"DEV_URL", url}});
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("S3cret-pw"))) << args[0];
    if (args[0] == "config" || args.size() == 3) {
      EXPECT_THAT(r.out + r.err, HasSubstr("mgr_pw_user:***@")) << args[0];
    }
  }
  // Unreachable: libpq's error text must not carry it either.
  auto bad = url;
  bad.replace(bad.find(':', bad.find('@')), std::string::npos, ":1/nowhere");
  auto r = p.mgr({"status"}, {{"DEV_URL", bad}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("S3cret-pw")));
}

class StatusTest : public ApplyTest {};

TEST_F(StatusTest, ShowsEveryCellState) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  p.add("0003_insert.sql", k_insert);
  p.add("0004_gone.sql", "SELECT 1;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test", "--to", "0002"}).exit_code, 0);
  // dev: 0003 failed (set by hand), 0002 edited after test got it, 0004 file deleted.
  p.dev().exec("UPDATE schema_migrations SET success = false WHERE migration_id = '0003'");
  p.add("0002_add_col.sql", std::string(k_add_col) + "-- edited\n");
  std::filesystem::remove(p.dir() / "migrations/0004_gone.sql");
  auto r = p.mgr({"status", "--no-color"});
  // What apply would refuse is a problem, as in validate: exit 3, and dev is not "up to date".
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("dev is up to date")));
  EXPECT_THAT(r.out, HasSubstr("dev needs attention before the next apply (3 problems)"));
  EXPECT_THAT(r.out, HasSubstr("0002_add_col: its file changed since it was applied (checksum differs)"));
  EXPECT_THAT(r.out, HasSubstr("CHECKSUM DIFFERS"));
  EXPECT_THAT(r.out, HasSubstr("FAILED"));
  EXPECT_THAT(r.out, HasSubstr("FILE MISSING"));
  EXPECT_THAT(r.out, HasSubstr("0004_gone (no file)"));
  EXPECT_THAT(r.out, HasSubstr("pending"));
  EXPECT_THAT(r.out, HasSubstr("applied 20"));
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b[")));
  r = p.mgr({"status", "--json"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("\"ok\": false"));
  for (const char* s : {"\"applied\"", "\"pending\"", "\"checksum-differs\"", "\"failed\"", "\"file-missing\""}) {
    EXPECT_THAT(r.out, HasSubstr(std::string("\"state\": ") + s)) << s;
  }
}

TEST_F(StatusTest, SaysWhatCanBePromotedNext) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  p.add("0003_insert.sql", k_insert);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto r = p.mgr({"status"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("prod can take 3 migrations from test"));
  EXPECT_THAT(r.out, HasSubstr("dev is up to date"));
}

TEST_F(StatusTest, UnreachableEnvironmentDoesNotHideTheOthers) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.write_config("environments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n"
                 "  prod:\n    url: postgresql://postgres@127.0.0.1:1/gone\n    promote_from: dev\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("prod: unreachable"));
  EXPECT_THAT(r.out, HasSubstr("dev: reachable"));
  r = p.mgr({"status", "dev"});
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(ApplyTest, CtrlCDuringAMigrationRollsItBackAndExits130) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_slow.sql", "INSERT INTO t (id, v) VALUES (9, 'nine');\nSELECT pg_sleep(20);\n");
  RunningMgr run({"--config", p.config_path(), "apply", "dev"}, {}, p.dir());
  // Wait until the slow migration is running on the server.
  for (int i = 0; i < 100; ++i) {
    if (p.dev().scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()") == "1") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto start = std::chrono::steady_clock::now();
  ::kill(run.pid(), SIGINT);
  auto r = run.wait();
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_THAT(r.err, HasSubstr("interrupted"));
  EXPECT_LT(waited, std::chrono::seconds(10));  // cancelled, not waited out
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t"), "0");
}

TEST_F(ApplyTest, FailedBackupAppliesNothing) {
  Project p("    backup: required\n    pg_bin_dir: /nonexistent/bin\n");
  p.add("0001_create_t.sql", k_create_t);
  auto r = p.mgr({"apply", "dev"}, {{"MGR_PG_BIN_DIR", "/nonexistent/bin"}, {"PATH", "/nonexistent"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("pg_dump"));
  EXPECT_FALSE(table_exists(p.dev(), "t"));
  EXPECT_FALSE(table_exists(p.dev(), "schema_migrations"));
}

TEST_F(ApplyTest, BackupBeforeApplyIsRecordedOnTheHistoryRows) {
  Project p("    backup: required\n");
  p.write_config("backups_dir: ../backups\nenvironments:\n  dev:\n    url: " + p.url(0) + "\n    backup: required\n");
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto backup = p.dev().scalar("SELECT min(backup) FROM schema_migrations");
  EXPECT_EQ(p.dev().scalar("SELECT count(DISTINCT backup) FROM schema_migrations"), "1");
  EXPECT_TRUE(std::filesystem::exists(p.dir() / "backups/dev" / backup)) << backup;
  EXPECT_TRUE(std::filesystem::exists(p.dir() / "backups/dev" / (backup + ".json")));
  // The full pg_dump version, read from the dump's own header (no `pg_dump --version` child for
  // Debian's /usr/lib/postgresql/<major>/bin binaries), e.g. "15.18 (Debian 15.18-0+deb12u1)".
  auto manifest = read_file(p.dir() / "backups/dev" / (backup + ".json"));
  EXPECT_THAT(manifest, ::testing::ContainsRegex("\"pg_dump_version\": \"[0-9]+\\.[0-9]+"));
  EXPECT_FALSE(std::filesystem::exists(p.dir() / "backups/dev" / (backup + ".list.tmp")));
  // Nothing pending: no backup, no pg_dump at all.
  r = p.mgr({"apply", "dev"}, {{"PATH", "/nonexistent"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ApplyTest, CommentOnlyMigrationIsRefused) {
  Project p;
  p.add("0001_todo.sql", "-- add_users_phone\n-- Created by mgr new.\n\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[empty-migration]"));
  EXPECT_FALSE(table_exists(p.dev(), "schema_migrations"));
}

TEST_F(ApplyTest, HistoryTableOfAnOlderShapeIsReadAndUpgraded) {
  Project p;
  // The table another team's tool created: no success, applied_by, kind, ... columns.
  p.dev().exec(
      "CREATE TABLE schema_migrations (id SERIAL PRIMARY KEY, migration_id VARCHAR(255) UNIQUE NOT NULL, "
      "name VARCHAR(255) NOT NULL, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, checksum VARCHAR(64) NOT NULL, "
      "environment VARCHAR(50) NOT NULL)");
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_add_col.sql", k_add_col);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  // Drop the upgrade columns again to read an old-shape table with a row in it.
  p.dev().exec("ALTER TABLE schema_migrations DROP COLUMN kind, DROP COLUMN backup");
  auto r = p.mgr({"status", "dev", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"applied\""));
  r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
}
