// The session under every command: the migration lock, the one connection
// (never silently re-opened), each migration starting from the same session
// state, truthful outcomes when the connection goes, and the history table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/session.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const char* k_create_t = "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, v text);\n";

std::string applied_ids(PgTestDb& db) {
  auto rows = db.rows("SELECT string_agg(migration_id || ':' || success, ',' ORDER BY migration_id) FROM schema_migrations");
  return rows.empty() ? "" : rows[0][0];
}

// Another session holding mgr's lock for public.schema_migrations, as a running mgr would.
class LockHolder {
 public:
  explicit LockHolder(const std::string& url) : m_conn(url) {
    pqxx::nontransaction tx(m_conn);
    tx.exec_params("SELECT pg_advisory_lock($1)", mgr::MigrationLock::key_for({"public", "schema_migrations"}));
  }

 private:
  pqxx::connection m_conn;
};

// Waits until a backend of `db` runs a query containing `needle`; its pid, or "".
std::string wait_for_query(PgTestDb& db, const std::string& needle) {
  for (int i = 0; i < 200; ++i) {
    auto pid = db.scalar("SELECT min(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%" +
                         needle + "%' AND pid <> pg_backend_pid() AND state = 'active'");
    if (!pid.empty()) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST_F(SessionTest, LockWaitGivesUpWithTheDocumentedMessageForApply) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  LockHolder holder(p.url(0));
  auto r = p.mgr({"apply", "dev", "--lock-wait", "1s"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("another mgr is working on this database: migration lock held by pid"));
  EXPECT_THAT(r.err, HasSubstr("since"));
  EXPECT_THAT(r.err, HasSubstr("gave up after 1s"));
  EXPECT_THAT(r.err, Not(HasSubstr("nontransaction")));
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('t') IS NULL"), "t");
}

TEST_F(SessionTest, LockWaitGivesUpWithTheDocumentedMessageForRepairAndRollback) {
  Project p("    backup: off\n    lock_wait: 1s\n");
  p.add("0001_create_t.sql", k_create_t);
  p.add("0001_create_t.down.sql", "DROP TABLE t;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  LockHolder holder(p.url(0));
  for (auto args : std::vector<std::vector<std::string>>{{"repair", "dev", "--yes"}, {"rollback", "dev", "--steps", "1"}}) {
    auto r = p.mgr(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("another mgr is working on this database: migration lock held by pid")) << args[0];
    EXPECT_THAT(r.err, HasSubstr("gave up after 1s")) << args[0];
  }
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
}

TEST_F(SessionTest, DifferentlySpelledHistoryTablesTakeTheSameLock) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  LockHolder holder(p.url(0));  // public.schema_migrations
  // The default, unqualified name resolves to the same table, hence the same lock.
  auto r = p.mgr({"apply", "dev", "--lock-wait", "200ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("migration lock held by"));
  p.write_config("history_table: public.schema_migrations\nenvironments:\n  dev:\n    url: " + p.url(0) +
                 "\n    backup: off\n");
  r = p.mgr({"apply", "dev", "--lock-wait", "200ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("migration lock held by"));
}

// search_path, a pg_dump-style set_config and a GUC set by one migration do
// not reach the next one, and mgr's own SQL does not depend on them.
TEST_F(SessionTest, EachMigrationStartsFromTheSameSession) {
  auto add_files = [](const Project& p) {
    p.add("0001_schema.sql", "CREATE SCHEMA s2;\nSET search_path = s2, public;\n");
    p.add("0002_table.sql", "CREATE TABLE t2 (id int);\n");
    p.add("0003_dump_style.sql", "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.t3 (id int);\n");
    p.add("0004_table.sql", "CREATE TABLE t4 (id int);\nSET application_name = 'changed by a migration';\n");
    p.add("0005_idx.sql", "-- mgr:no-transaction\nSELECT pg_catalog.set_config('search_path', '', false);\n"
                          "CREATE INDEX CONCURRENTLY t4_id ON public.t4 (id);\n");
    p.add("0006_table.sql", "CREATE TABLE t6 (app text DEFAULT current_setting('application_name'));\n"
                            "INSERT INTO t6 DEFAULT VALUES;\n");
  };
  auto where = [](PgTestDb& db) {
    return db.scalar("SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY c.relname) FROM pg_class c "
                     "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ('t2', 't3', 't4', 't6')") +
           " app=" + db.scalar("SELECT app FROM t6");
  };
  Project all;
  add_files(all);
  auto r = all.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Project one;
  add_files(one);
  for (const char* id : {"0001", "0002", "0003", "0004", "0005", "0006"}) {
    r = one.mgr({"apply", "dev", "--to", id});
    ASSERT_EQ(r.exit_code, 0) << id << ": " << r.err;
  }
  EXPECT_EQ(where(all.dev()), "public.t2,public.t3,public.t4,public.t6 app=mgr dev");
  EXPECT_EQ(where(all.dev()), where(one.dev()));
  EXPECT_EQ(applied_ids(all.dev()), "0001:true,0002:true,0003:true,0004:true,0005:true,0006:true");
}

TEST_F(SessionTest, AHistoryTableThatIsNotMgrsIsRefused) {
  Project p;
  p.dev().exec("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL); INSERT INTO users VALUES (1, 'a@b')");
  p.add("0001_create_t.sql", k_create_t);
  p.write_config("history_table: users\nenvironments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("history_table users"));
  EXPECT_THAT(r.err, HasSubstr("is not a mgr table"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users'"), "2");
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('t') IS NULL"), "t");
}

// The library level: a terminated backend is never replaced by a fresh
// connection (which would not hold the lock), and the error names the
// environment and what mgr was doing.
TEST_F(SessionTest, ALostConnectionIsNeverReopenedAndNamesTheEnvironment) {
  Project p;
  auto config = mgr::load_config(p.config_path());
  const auto& env = config.get("dev");
  mgr::Session session(env, "mgr dev");
  mgr::MigrationLock lock(session, config.history_table, std::chrono::milliseconds(1000));
  mgr::HistoryStore history(session, config.history_table);
  history.read_all();
  p.dev().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mgr dev' "
               "AND datname = current_database()");
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      history.read_all();
      ADD_FAILURE() << "read the history on a connection that was terminated (attempt " << attempt << ")";
    } catch (const mgr::ConnectionLost& e) {
      EXPECT_THAT(e.what(), HasSubstr("lost the connection to dev (postgresql://")) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("reading the history table")) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a mgr error: " << e.what();
    }
  }
  EXPECT_FALSE(session.connected());
  // The identity came with the migration lock's query: it is answered from
  // that, without a connection.
  EXPECT_EQ(session.identity().database, p.dev().name());
  // A session that has not read it yet cannot, and says so.
  mgr::Session other(env, "mgr dev other");
  p.dev().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mgr dev other' "
               "AND datname = current_database()");
  try {
    other.identity();
    ADD_FAILURE() << "read the identity on a terminated connection";
  } catch (const mgr::ConnectionLost& e) {
    EXPECT_THAT(e.what(), HasSubstr("lost the connection to dev (postgresql://")) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("reading the server identity")) << e.what();
  }
  // Bookkeeping SQL is still built (quoting needs no server), for the message that follows.
  EXPECT_THAT(history.log_sql(mgr::LogEntry::of("apply", std::string("0001"), "me@host")), HasSubstr("'0001'"));
  // No fresh connection took the terminated one's place.
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mgr dev' "
                           "AND datname = current_database()"), "0");
}

TEST_F(SessionTest, TerminatedBackendMidMigrationSaysTheOutcomeIsUnknownNotRolledBack) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_slow.sql", "INSERT INTO t (id, v) VALUES (2, 'two');\nSELECT pg_sleep(30);\n");
  RunningMgr run({"--config", p.config_path(), "apply", "dev"}, {}, p.dir());
  auto pid = wait_for_query(p.dev(), "pg_sleep(30)");
  ASSERT_FALSE(pid.empty());
  p.dev().exec("SELECT pg_terminate_backend(" + pid + ")");
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("lost the connection to dev (postgresql://"));
  EXPECT_THAT(r.err, HasSubstr("0002_slow"));
  EXPECT_THAT(r.err, HasSubstr("mgr status dev"));
  EXPECT_THAT(r.err, Not(HasSubstr("rolled back")));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t"), "0");
  // Nothing is left half-done: the next run applies it.
  p.add("0002_slow.sql", "INSERT INTO t (id, v) VALUES (2, 'two');\n");
  r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:true");
}

TEST_F(SessionTest, KilledNoTransactionMigrationLeavesAnInProgressRowThatBlocksTheNextApply) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_slow.sql", "-- mgr:no-transaction\nINSERT INTO t (id, v) VALUES (2, 'two');\nSELECT pg_sleep(30);\n");
  RunningMgr run({"--config", p.config_path(), "apply", "dev"}, {}, p.dir());
  ASSERT_FALSE(wait_for_query(p.dev(), "pg_sleep(30)").empty());
  ::kill(run.pid(), SIGKILL);
  run.wait();
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:false");
  EXPECT_EQ(p.dev().scalar("SELECT in_progress FROM schema_migrations WHERE migration_id = '0002'"), "t");
  // The sleeping backend ends when its client is gone; the statement that ran is not rerun.
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002_slow"));
  EXPECT_THAT(r.err, HasSubstr("mgr repair dev"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t WHERE id = 2"), "1");
  r = p.mgr({"status", "dev", "--no-color"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("NEVER FINISHED"));
}

TEST_F(SessionTest, TerminatedBackendDuringANoTransactionMigrationBlocksTheNextApply) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_slow.sql", "-- mgr:no-transaction\nINSERT INTO t (id, v) VALUES (2, 'two');\nSELECT pg_sleep(30);\n");
  RunningMgr run({"--config", p.config_path(), "apply", "dev"}, {}, p.dir());
  auto pid = wait_for_query(p.dev(), "pg_sleep(30)");
  ASSERT_FALSE(pid.empty());
  p.dev().exec("SELECT pg_terminate_backend(" + pid + ")");
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("lost the connection to dev"));
  EXPECT_THAT(r.err, HasSubstr("line 3"));
  EXPECT_THAT(r.err, Not(HasSubstr("rolled back")));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:false");
  EXPECT_EQ(p.mgr({"apply", "dev"}).exit_code, 3);
}

TEST_F(SessionTest, SigtermDuringARollbackStepCancelsItAndExits143) {
  Project p;
  p.add("0001_create_t.sql", k_create_t);
  p.add("0001_create_t.down.sql", "DROP TABLE t;\nSELECT pg_sleep(30);\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  RunningMgr run({"--config", p.config_path(), "rollback", "dev", "--steps", "1"}, {}, p.dir());
  ASSERT_FALSE(wait_for_query(p.dev(), "pg_sleep(30)").empty());
  ::kill(run.pid(), SIGTERM);
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_THAT(r.err, HasSubstr("its transaction was rolled back"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true");
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('t') IS NOT NULL"), "t");
}

// Issue 11 #8: when recording a no-transaction failure fails too, mgr says so,
// and the in-progress row still stops the next apply from rerunning what ran.
TEST_F(SessionTest, AFailureThatCannotBeRecordedIsReportedAndStillBlocks) {
  Project p("    backup: off\n    lint: off\n");
  p.add("0001_create_t.sql", k_create_t);
  p.add("0002_breaks_log.sql", "-- mgr:no-transaction\nALTER TABLE schema_migrations_log RENAME TO moved_log;\n"
                               "SELECT 1 / 0;\n");
  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002_breaks_log.sql:3:"));
  EXPECT_THAT(r.err, HasSubstr("recording the failure failed"));
  EXPECT_EQ(applied_ids(p.dev()), "0001:true,0002:false");
  p.dev().exec("ALTER TABLE moved_log RENAME TO schema_migrations_log");
  r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[failed-migration] 0002_breaks_log"));
}
