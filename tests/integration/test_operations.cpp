// mgr baseline, repair, rollback and log end to end against the sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mgr/catalog.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace {

// 0001 has no IF NOT EXISTS on purpose: running it on a database that already
// has the table fails, which proves a baseline did not run it.
const char* k_items = "CREATE TABLE items (id bigint PRIMARY KEY, label text);\n";
const char* k_items_down = "DROP TABLE items;\n";
const char* k_rows = "INSERT INTO items (id, label) VALUES (1, 'one'), (2, 'two');\n";
const char* k_rows_down = "DELETE FROM items WHERE id IN (1, 2);\n";
const char* k_note = "ALTER TABLE items ADD COLUMN IF NOT EXISTS note text;\n";
const char* k_note_down = "ALTER TABLE items DROP COLUMN note;\n";

void add_three(const Project& p) {
  p.add("0001_items.sql", k_items);
  p.add("0001_items.down.sql", k_items_down);
  p.add("0002_rows.sql", k_rows);
  p.add("0002_rows.down.sql", k_rows_down);
  p.add("0003_note.sql", k_note);
  p.add("0003_note.down.sql", k_note_down);
}

std::string history(PgTestDb& db) {
  auto rows = db.rows(
      "SELECT string_agg(migration_id || ':' || kind || ':' || success, ',' ORDER BY migration_id) FROM schema_migrations");
  return rows.empty() ? "" : rows[0][0];
}

std::string file_sum(const Project& p, const std::string& name) {
  return mgr::file_checksum(read_file(p.dir() / "migrations" / name));
}

bool has_column(PgTestDb& db, const std::string& table, const std::string& column) {
  return db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = '" + table +
                   "' AND column_name = '" + column + "'") == "1";
}

bool table_exists(PgTestDb& db, const std::string& name) {
  return db.scalar("SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
}

std::string log_of(PgTestDb& db, const std::string& action) {
  auto rows = db.rows("SELECT string_agg(coalesce(migration_id, '-') || ':' || outcome, ',' ORDER BY id) "
                      "FROM schema_migrations_log WHERE action = '" + action + "'");
  return rows.empty() ? "" : rows[0][0];
}

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};
using BaselineTest = OpsTest;
using RepairTest = OpsTest;
using RollbackTest = OpsTest;
using AuditLogTest = OpsTest;

}  // namespace

// ---- baseline ----

TEST_F(BaselineTest, RecordsWithoutRunningThenApplyRunsOnlyWhatComesAfter) {
  Project p;
  add_three(p);
  // The database was built before mgr: 0001 and 0002 are already in it.
  p.dev().exec(std::string(k_items) + k_rows);
  auto r = p.mgr({"baseline", "dev", "--to", "0002"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("baseline recorded 2 migration(s) up to 0002"));
  EXPECT_EQ(history(p.dev()), "0001:baseline:true,0002:baseline:true");
  EXPECT_EQ(p.dev().scalar("SELECT checksum FROM schema_migrations WHERE migration_id = '0001'"),
            file_sum(p, "0001_items.sql"));
  EXPECT_EQ(p.dev().scalar("SELECT down_checksum FROM schema_migrations WHERE migration_id = '0002'"),
            file_sum(p, "0002_rows.down.sql"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");  // 0002 did not run again
  EXPECT_EQ(log_of(p.dev(), "baseline"), "0001:ok,0002:ok");

  auto a = p.mgr({"apply", "dev"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;  // 0001 would fail if it ran again
  EXPECT_THAT(a.out, HasSubstr("applied 0003_note"));
  EXPECT_THAT(a.out, Not(HasSubstr("0001_items")));
  EXPECT_EQ(history(p.dev()), "0001:baseline:true,0002:baseline:true,0003:apply:true");
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
}

TEST_F(BaselineTest, RefusesWhenHistoryAlreadyReachesTheId) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  auto r = p.mgr({"baseline", "dev", "--to", "0002"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0001_items is already recorded in dev"));
  EXPECT_EQ(history(p.dev()), "0001:apply:true");
  EXPECT_EQ(log_of(p.dev(), "baseline"), "");
}

TEST_F(BaselineTest, SkipsThePromotionGateButAsksForConfirmation) {
  Project p("    backup: off\n", /*confirm_prod=*/true);
  add_three(p);
  // test is empty, so `apply prod` would be refused by the gate; baseline is not.
  auto r = p.mgr({"baseline", "prod", "--to", "0001"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--yes"));
  EXPECT_FALSE(table_exists(p.prod(), "schema_migrations"));
  auto ok = p.mgr({"baseline", "prod", "--to", "0001", "--yes"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(history(p.prod()), "0001:baseline:true");
}

TEST_F(BaselineTest, UnknownIdIsAUsageError) {
  Project p;
  add_three(p);
  EXPECT_EQ(p.mgr({"baseline", "dev", "--to", "0042"}).exit_code, 2);
}

// ---- repair ----

TEST_F(RepairTest, RemovesAFailedRowAfterAsking) {
  Project p;
  add_three(p);
  p.add("0004_half.sql", "-- mgr:no-transaction\nCREATE TABLE IF NOT EXISTS half (id bigint);\nSELECT 1 / 0;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 1);
  ASSERT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true,0004:apply:false");

  auto asked = p.mgr({"repair", "dev"});  // no terminal, no --yes
  EXPECT_EQ(asked.exit_code, 3) << asked.out << asked.err;
  EXPECT_THAT(asked.out, HasSubstr("remove the failed row of 0004_half"));
  EXPECT_THAT(asked.err, HasSubstr("--yes"));
  EXPECT_THAT(history(p.dev()), HasSubstr("0004:apply:false"));

  auto r = p.mgr({"repair", "dev", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
  EXPECT_EQ(log_of(p.dev(), "repair"), "0004:ok");

  // The operator fixed the file; apply can go on.
  p.add("0004_half.sql", "-- mgr:no-transaction\nCREATE TABLE IF NOT EXISTS half (id bigint);\n");
  EXPECT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
}

TEST_F(RepairTest, ReRecordsEditedChecksumsPrintingOldAndNew) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto old_up = file_sum(p, "0003_note.sql");
  auto old_down = file_sum(p, "0002_rows.down.sql");
  p.add("0003_note.sql", std::string("-- a comment added after review\n") + k_note);
  p.add("0002_rows.down.sql", std::string("-- clearer down\n") + k_rows_down);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 3);  // checksum-mismatch until repaired
  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "2", "--dry-run"}).exit_code, 3);  // down file differs

  auto r = p.mgr({"repair", "dev", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto new_up = file_sum(p, "0003_note.sql");
  auto new_down = file_sum(p, "0002_rows.down.sql");
  EXPECT_THAT(r.out, HasSubstr("0003_note: up " + old_up + " -> " + new_up));
  EXPECT_THAT(r.out, HasSubstr("0002_rows: down " + old_down + " -> " + new_down));
  EXPECT_EQ(p.dev().scalar("SELECT checksum FROM schema_migrations WHERE migration_id = '0003'"), new_up);
  EXPECT_EQ(p.dev().scalar("SELECT down_checksum FROM schema_migrations WHERE migration_id = '0002'"), new_down);
  EXPECT_EQ(log_of(p.dev(), "repair"), "0002:ok,0003:ok");

  auto again = p.mgr({"apply", "dev"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("nothing to apply"));
  EXPECT_EQ(p.mgr({"rollback", "dev", "--steps", "2", "--dry-run"}).exit_code, 0);
}

TEST_F(RepairTest, NothingToRepairSaysSo) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"repair", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("nothing to repair"));
  auto j = p.mgr({"repair", "dev", "--json"});
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_TRUE(json::parse(j.out)["changes"].empty());
  EXPECT_EQ(log_of(p.dev(), "repair"), "");
}

// ---- rollback ----

TEST_F(RollbackTest, StepsUndoTheNewestFirstWithTheirData) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_TRUE(has_column(p.dev(), "items", "note"));
  auto r = p.mgr({"rollback", "dev", "--steps", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(r.out.find("rolled back 0003_note"), r.out.find("rolled back 0002_rows"));
  EXPECT_THAT(r.out, HasSubstr("newest applied is now 0001"));
  EXPECT_FALSE(has_column(p.dev(), "items", "note"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "0");
  EXPECT_EQ(history(p.dev()), "0001:apply:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "0003:ok,0002:ok");
}

TEST_F(RollbackTest, ToIdUndoesEverythingAfterItAndApplyRedoesIt) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--to", "0001", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = json::parse(r.out);
  ASSERT_EQ(doc["rolled_back"].size(), 2u);
  EXPECT_EQ(doc["rolled_back"][0]["id"], "0003");
  EXPECT_EQ(doc["newest_applied"], "0001");
  EXPECT_EQ(history(p.dev()), "0001:apply:true");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "0");

  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
  auto none = p.mgr({"rollback", "dev", "--to", "0003"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_THAT(none.out, HasSubstr("nothing to roll back"));
}

TEST_F(RollbackTest, RefusesBeforeDoingAnythingWhenADownFileIsMissing) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  std::filesystem::remove(p.dir() / "migrations/0002_rows.down.sql");
  auto r = p.mgr({"rollback", "dev", "--steps", "2"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("[missing-down] 0002_rows"));
  // 0003's down file exists but did not run either.
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "");
}

TEST_F(RollbackTest, RefusesWhenADownFileChangedSinceItsMigrationWasApplied) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.add("0003_note.down.sql", "ALTER TABLE items DROP COLUMN note;\nDROP TABLE items;\n");
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("[down-checksum-differs] 0003_note.down.sql"));
  EXPECT_TRUE(table_exists(p.dev(), "items"));
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
}

TEST_F(RollbackTest, DryRunPrintsThePlanAndChangesNothing) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "2", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("0003_note.down.sql"));
  EXPECT_THAT(r.out, HasSubstr("0002_rows.down.sql"));
  EXPECT_THAT(r.out, HasSubstr("nothing was changed"));
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "");
}

TEST_F(RollbackTest, NoTransactionDownFileRunsOutsideATransaction) {
  Project p;
  add_three(p);
  p.add("0004_idx.sql", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_label ON items (label);\n");
  p.add("0004_idx.down.sql", "-- mgr:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS items_label;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_TRUE(table_exists(p.dev(), "items_label"));
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;  // CONCURRENTLY fails inside a transaction
  EXPECT_FALSE(table_exists(p.dev(), "items_label"));
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "0004:ok");
}

TEST_F(RollbackTest, AFailingNoTransactionDownFileMarksItsRowFailed) {
  Project p;
  add_three(p);
  p.add("0004_idx.sql", "-- mgr:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_label ON items (label);\n");
  p.add("0004_idx.down.sql", "-- mgr:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS items_label;\nSELECT 1 / 0;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0004_idx.down.sql:3:"));
  EXPECT_THAT(r.err, HasSubstr("mgr repair dev"));
  // The first statement stayed done; the row says the database is half-changed.
  EXPECT_FALSE(table_exists(p.dev(), "items_label"));
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true,0004:apply:false");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "0004:failed");
  EXPECT_EQ(p.mgr({"apply", "dev"}).exit_code, 3);  // stops until repaired
  ASSERT_EQ(p.mgr({"repair", "dev", "--yes"}).exit_code, 0);
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
}

TEST_F(RollbackTest, AFailingDownFileStopsAndKeepsItsRow) {
  Project p;
  add_three(p);
  p.add("0003_note.down.sql", "ALTER TABLE items DROP COLUMN note;\nSELECT nope FROM items;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"rollback", "dev", "--steps", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0003_note.down.sql:2:"));
  EXPECT_THAT(r.err, HasSubstr("42703"));
  // The failing transaction left nothing behind, and 0002 was not touched.
  EXPECT_TRUE(has_column(p.dev(), "items", "note"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");
  EXPECT_EQ(history(p.dev()), "0001:apply:true,0002:apply:true,0003:apply:true");
  EXPECT_EQ(log_of(p.dev(), "rollback"), "0003:failed");
}

TEST_F(RollbackTest, RefusesWithAFailedRowOrTooManySteps) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0002"}).exit_code, 0);
  auto many = p.mgr({"rollback", "dev", "--steps", "3"});
  EXPECT_EQ(many.exit_code, 3);
  EXPECT_THAT(many.err, HasSubstr("only 2 migration(s) are applied"));
  p.dev().exec("UPDATE schema_migrations SET success = false WHERE migration_id = '0002'");
  auto failed = p.mgr({"rollback", "dev", "--steps", "1"});
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_THAT(failed.err, HasSubstr("[failed-migration]"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");
}

TEST_F(RollbackTest, AsksForConfirmationWhenTheEnvironmentSaysSo) {
  Project p("    backup: off\n", /*confirm_prod=*/true);
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "prod", "--yes"}).exit_code, 0);
  auto r = p.mgr({"rollback", "prod", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--yes"));
  EXPECT_TRUE(has_column(p.prod(), "items", "note"));
  // No need for test to roll back first.
  auto ok = p.mgr({"rollback", "prod", "--steps", "1", "--yes"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_FALSE(has_column(p.prod(), "items", "note"));
}

TEST_F(RollbackTest, TakesABackupFirstWhenTheEnvironmentRequiresIt) {
  Project p("    backup: required\n");
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto dir = p.dir() / "schema-backups/dev";
  std::size_t before = 0;
  if (std::filesystem::exists(dir)) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) before += e.path().extension() == ".dump";
  }
  auto r = p.mgr({"rollback", "dev", "--steps", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("backup: "));
  std::size_t after = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) after += e.path().extension() == ".dump";
  EXPECT_EQ(after, before + 1);
  auto logged = p.dev().scalar("SELECT backup FROM schema_migrations_log WHERE action = 'rollback'");
  EXPECT_THAT(logged, HasSubstr("dev-"));
  EXPECT_TRUE(std::filesystem::exists(dir / logged));
}

// ---- audit log ----

TEST_F(AuditLogTest, EveryActionIsLoggedAndShownNewestFirst) {
  Project p;
  add_three(p);
  p.dev().exec(k_items);
  ASSERT_EQ(p.mgr({"baseline", "dev", "--to", "0001"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "1"}).exit_code, 0);
  p.add("0002_rows.sql", std::string("-- edited\n") + k_rows);
  ASSERT_EQ(p.mgr({"repair", "dev", "--yes"}).exit_code, 0);

  auto r = p.mgr({"log", "dev", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc["environment"], "dev");
  const auto& e = doc["entries"];
  ASSERT_EQ(e.size(), 5u) << doc.dump(2);
  std::vector<std::string> seen;
  for (const auto& x : e) seen.push_back(x["action"].get<std::string>() + ":" + x["migration"].get<std::string>());
  EXPECT_EQ(seen, (std::vector<std::string>{"repair:0002", "rollback:0003", "apply:0003", "apply:0002", "baseline:0001"}));
  for (const auto& x : e) {
    EXPECT_EQ(x["outcome"], "ok");
    EXPECT_THAT(x["os_user"].get<std::string>(), HasSubstr("@"));
    EXPECT_EQ(x["db_user"], "postgres");
    EXPECT_FALSE(x["mgr_version"].get<std::string>().empty());
    EXPECT_FALSE(x["at"].get<std::string>().empty());
  }
  EXPECT_THAT(e[0]["detail"].get<std::string>(), HasSubstr("re-record the checksum"));
  // The rollback removed 0003's history row, never its log rows.
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE migration_id = '0003'"), "2");

  auto limited = p.mgr({"log", "dev", "--limit", "2", "--json"});
  ASSERT_EQ(limited.exit_code, 0);
  EXPECT_EQ(json::parse(limited.out)["entries"].size(), 2u);

  auto text = p.mgr({"log", "dev"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("action"));
  EXPECT_LT(text.out.find("repair"), text.out.find("baseline"));
  EXPECT_THAT(text.out, HasSubstr("5 entries, newest first"));
}

TEST_F(AuditLogTest, AnEnvironmentWithoutHistorySaysTheLogIsEmpty) {
  Project p;
  auto r = p.mgr({"log", "test"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("is empty"));
  auto j = p.mgr({"log", "test", "--json"});
  EXPECT_TRUE(json::parse(j.out)["entries"].empty());
}
