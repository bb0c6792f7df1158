// Concurrency: several mgr processes on one database at the same moment.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <map>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;

// 8 applies released by one barrier (so they really overlap) on 50 pending
// migrations: every one exits 0, each migration is recorded once and its
// marker exists once.
TEST(Concurrency, EightAppliesTogetherApplyEachMigrationOnce) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("conc8");
  create_fixture_tables(db.url());
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(db.url()));
  write_marker_migrations(dir / "migrations", 1, 50);
  const int runs = trials(1, 10);
  int exits_ok = 0;
  for (int round = 0; round < runs; ++round) {
    if (round > 0) {
      sql_exec(db.url(), "DROP TABLE schema_migrations, schema_migrations_log; TRUNCATE public.markers;");
    }
    Barrier barrier;
    std::vector<std::unique_ptr<Proc>> procs;
    for (int i = 0; i < 8; ++i) {
      SpawnOptions o;
      o.argv = mgr_argv(config, {"apply", "dev", "--lock-wait", "120s"});
      o.cwd = dir.path();
      o.barrier_fd = barrier.read_fd();
      procs.push_back(std::make_unique<Proc>(o));
    }
    barrier.release();
    for (auto& p : procs) {
      auto r = p->wait();
      EXPECT_EQ(r.exit_code, 0) << r.err;
      if (r.exit_code == 0) ++exits_ok;
    }
    EXPECT_EQ(recorded_ids(db.url()), iota_ids(1, 50));
    EXPECT_EQ(unsuccessful_rows(db.url()), 0);
    EXPECT_EQ(marker_ids(db.url()), iota_ids(1, 50));
    EXPECT_EQ(sql_scalar(db.url(), "SELECT count(*) FROM schema_migrations"), "50");
    EXPECT_EQ(advisory_locks(db.url()), 0);
  }
  report(fmt::format("concurrency: {} round(s) x 8 applies x 50 migrations: {}/{} exit 0", runs, exits_ok, runs * 8));
}

// Issue 17 #12: `schema_migrations` and `public.schema_migrations` are the same
// table, so they must take the same lock: a second run spelled differently waits
// for the first (and gives up after --lock-wait) instead of running beside it.
TEST(Concurrency, DifferentSpellingsOfTheHistoryTableShareTheLock) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("conc_spell");
  create_fixture_tables(db.url());
  TempDir dir;
  const auto a = write_config(dir.path(), one_env_yaml(db.url(), "", "history_table: schema_migrations\n"), "a.yaml");
  const auto b = write_config(dir.path(), one_env_yaml(db.url(), "    statement_timeout: 2s\n", "history_table: public.schema_migrations\n"),
                              "b.yaml");
  // (b's statement_timeout only keeps this test short when the runs are not
  // serialised: its copy of the slow migration then fails on the timeout.)
  write_marker_migrations(dir / "migrations", 1, 1, slow_sql(60));
  SpawnOptions o;
  o.argv = mgr_argv(a, {"apply", "dev"});
  o.cwd = dir.path();
  Proc first(o);
  ASSERT_TRUE(wait_until([&] { return advisory_locks(db.url()) > 0; }, std::chrono::seconds(30))) << first.err_so_far();
  auto second = run_mgr_env(b, {"apply", "dev", "--lock-wait", "1s"}, {}, dir.path());
  sql_exec(db.url(), "UPDATE public.ctl SET slow = false");
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("lock")) << second.err;
  ::kill(first.pid(), SIGINT);
  auto r = first.wait();
  (void)r;
  auto third = run_mgr_env(b, {"apply", "dev"}, {}, dir.path());
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(marker_ids(db.url()), iota_ids(1, 1));
  EXPECT_EQ(recorded_ids(db.url()), iota_ids(1, 1));
}

// Issue 11 #3: waiting for the lock ends with mgr's own message (who holds it,
// that mgr gave up), exit 1, not a library error.
TEST(Concurrency, LockWaitGivesUpWithAClearMessage) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("conc_wait");
  create_fixture_tables(db.url());
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(db.url()));
  write_marker_migrations(dir / "migrations", 1, 1, slow_sql(60));
  SpawnOptions o;
  o.argv = mgr_argv(config, {"apply", "dev"});
  o.cwd = dir.path();
  Proc first(o);
  ASSERT_TRUE(wait_until([&] { return advisory_locks(db.url()) > 0; }, std::chrono::seconds(30))) << first.err_so_far();
  auto second = run_mgr_env(config, {"apply", "dev", "--lock-wait", "1s"});
  sql_exec(db.url(), "UPDATE public.ctl SET slow = false");
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("another mgr")) << second.err;
  EXPECT_THAT(second.err, HasSubstr("gave up")) << second.err;
  EXPECT_THAT(second.err, ::testing::Not(HasSubstr("nontransaction"))) << second.err;
  first.signal(SIGINT);
  first.wait();
  EXPECT_EQ(run_mgr_env(config, {"apply", "dev"}).exit_code, 0);
  EXPECT_EQ(marker_ids(db.url()), iota_ids(1, 1));
}

}  // namespace
}  // namespace mgr::rel
