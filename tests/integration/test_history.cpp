// The history store owns every SQL text on the history and audit tables:
// the changes commands make outside a migration (baseline, repair, a
// restore's audit row) commit together or not at all, and the audit log's
// schema_sha256 column is the store's own (create and upgrade).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/history.hpp"
#include "mgr/session.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;

namespace {

class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

mgr::HistoryRow row(const std::string& id) {
  mgr::HistoryRow r;
  r.migration_id = id;
  r.name = "m" + id;
  r.checksum = std::string(64, 'a');
  r.environment = "dev";
  r.applied_by = "me@host";
  r.kind = "baseline";
  return r;
}

std::string column_exists(PgTestDb& db, const std::string& table, const std::string& column) {
  return db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('" + table +
                   "') AND attname = '" + column + "' AND NOT attisdropped");
}

TEST_F(HistoryStoreTest, EnsureCreatesTheAuditLogWithItsSchemaSha256Column) {
  Project p;
  auto config = mgr::load_config(p.config_path());
  mgr::Session session(config.get("dev"), "mgr dev");
  mgr::HistoryStore history(session, config.history_table);
  history.ensure();
  EXPECT_EQ(column_exists(p.dev(), "schema_migrations_log", "schema_sha256"), "1");

  // An audit log of an older mgr, without the column, is upgraded in place.
  p.dev().exec("ALTER TABLE schema_migrations_log DROP COLUMN schema_sha256");
  history.ensure();
  EXPECT_EQ(column_exists(p.dev(), "schema_migrations_log", "schema_sha256"), "1");
}

TEST_F(HistoryStoreTest, AnEditCommitsRowsAndAuditRowsTogetherOrNotAtAll) {
  Project p;
  auto config = mgr::load_config(p.config_path());
  mgr::Session session(config.get("dev"), "mgr dev");
  mgr::HistoryStore history(session, config.history_table);
  history.ensure();

  mgr::HistoryEdit edit;
  edit.inserts = {row("0001"), row("0002")};
  edit.log = {mgr::LogEntry::of("baseline", std::string("0001"), "me@host", "one"),
              mgr::LogEntry::of("baseline", std::string("0002"), "me@host", "two")};
  history.commit(edit, "baseline");
  EXPECT_EQ(history.read_all().size(), 2u);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'baseline'"), "2");

  mgr::HistoryEdit repair;
  repair.removals = {"0001"};
  repair.checksums = {{"0002", std::string(64, 'b'), std::string(64, 'c')}};
  repair.log = {mgr::LogEntry::of("repair", std::string("0002"), "me@host", "fixed")};
  history.commit(repair, "repair");
  auto rows = history.read_all();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].checksum, std::string(64, 'b'));
  EXPECT_EQ(rows[0].down_checksum.value_or(""), std::string(64, 'c'));

  // 0002 is already recorded: the insert fails, and the new row and the audit row go with it.
  mgr::HistoryEdit clash;
  clash.inserts = {row("0003"), row("0002")};
  clash.log = {mgr::LogEntry::of("baseline", std::string("0003"), "me@host", "clash")};
  try {
    history.commit(clash, "baseline");
    ADD_FAILURE() << "a duplicate history row was accepted";
  } catch (const mgr::Failure& e) {
    EXPECT_THAT(e.what(), HasSubstr("dev: baseline failed, nothing was changed:")) << e.what();
  }
  EXPECT_EQ(history.read_all().size(), 1u);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE detail = 'clash'"), "0");
}

TEST_F(HistoryStoreTest, AuditLogQueriesForRestoreAndSnapshots) {
  Project p;
  auto config = mgr::load_config(p.config_path());
  mgr::Session session(config.get("dev"), "mgr dev");
  mgr::HistoryStore history(session, config.history_table);
  EXPECT_FALSE(history.log_has("restore", "tok123")) << "no log table yet";
  EXPECT_EQ(history.log_schema(), "public");
  history.ensure();

  mgr::HistoryEdit edit;
  edit.log = {mgr::LogEntry::of("restore", std::nullopt, "me@host", "restored (token tok123)"),
              mgr::LogEntry::of("repair", std::nullopt, "me@host", "older"),
              mgr::LogEntry::of("repair", std::nullopt, "me@host", "newest")};
  history.commit(edit, "restore's audit row");
  EXPECT_TRUE(history.log_has("restore", "tok123"));
  EXPECT_FALSE(history.log_has("restore", "tok999"));
  EXPECT_FALSE(history.log_has("repair", "tok123"));

  // A log without the column (brought back by a restore of an older backup) gets it when a snapshot is marked.
  p.dev().exec("ALTER TABLE schema_migrations_log DROP COLUMN schema_sha256");
  session.resolve(config.history_table);  // as snapshot_after_change does: before the transaction
  {
    pqxx::work tx(session.connection());
    history.mark_schema_snapshot(tx, "repair", std::string(64, 'f'));
    tx.commit();
  }
  EXPECT_EQ(p.dev().scalar("SELECT string_agg(detail, ',') FROM schema_migrations_log WHERE schema_sha256 = '" +
                           std::string(64, 'f') + "'"),
            "newest");
}

}  // namespace
