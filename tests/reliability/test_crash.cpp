// Crash consistency: mgr killed with SIGKILL at random moments, and the server
// stopped with `pg_ctl stop -m immediate`, in the middle of an apply.
//
// The invariant after every fault: the set of migrations recorded as applied
// is exactly the set whose effects exist (a marker row each), it is a prefix of
// the plan (in id order), no advisory lock is left, and the next apply
// completes the plan with every marker exactly once.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;
constexpr long k_plan = 200;

void expect_consistent(const std::string& url, const std::string& context) {
  auto recorded = recorded_ids(url);
  auto markers = marker_ids(url);
  EXPECT_EQ(recorded, markers) << context << ": the recorded set differs from the set whose effects exist";
  EXPECT_EQ(recorded, iota_ids(1, static_cast<long>(recorded.size()))) << context << ": not a prefix of the plan";
  EXPECT_EQ(unsuccessful_rows(url), 0) << context;
  EXPECT_EQ(advisory_locks(url), 0) << context << ": an advisory lock is still held";
}

void expect_next_apply_completes(const fs::path& config, const std::string& url, const std::string& context) {
  auto r = run_mgr_env(config, {"apply", "dev", "--lock-wait", "30s"});
  EXPECT_EQ(r.exit_code, 0) << context << ": " << r.err;
  EXPECT_EQ(recorded_ids(url), iota_ids(1, k_plan)) << context;
  EXPECT_EQ(marker_ids(url), iota_ids(1, k_plan)) << context;
  EXPECT_EQ(advisory_locks(url), 0) << context;
}

TEST(Crash, SigkillAtRandomMomentsKeepsHistoryAndEffectsEqual) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("crash_kill");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  write_marker_migrations(dir / "migrations", 1, k_plan);
  auto reset = [&] {
    sql_exec(url, "DROP TABLE IF EXISTS schema_migrations, schema_migrations_log; TRUNCATE public.markers;");
  };

  // Undisturbed runs measure how long mgr takes here to reach its first
  // migration (a run of one) and the whole plan; kill moments are drawn from
  // those windows: a fifth before the first migration, the rest across the
  // plan and a little past its end. Nothing is asserted about the times.
  auto timed = [&](std::vector<std::string> args) {
    reset();
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_mgr_env(config, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  };
  const auto startup = timed({"apply", "dev", "--to", "1"});
  const auto window = timed({"apply", "dev"});
  ASSERT_EQ(recorded_ids(url), iota_ids(1, k_plan));

  const unsigned seed = seed_from_env();
  std::cout << "seed " << seed << " (MGR_SEED=" << seed << " repeats this run)" << std::endl;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<long> before_plan(0, startup.count());
  std::uniform_int_distribution<long> in_plan(startup.count() * 9 / 10, std::max(window.count() * 21 / 20, startup.count()));
  std::bernoulli_distribution early(0.2);
  const int n = trials(20, 200);
  int none = 0, partial = 0, all = 0;
  for (int trial = 0; trial < n; ++trial) {
    reset();
    const auto delay = std::chrono::microseconds(early(rng) ? before_plan(rng) : in_plan(rng));
    SpawnOptions o;
    o.argv = mgr_argv(config, {"apply", "dev"});
    o.cwd = dir.path();
    Proc p(o);
    std::this_thread::sleep_for(delay);
    p.signal(SIGKILL);
    p.wait();
    const auto context = fmt::format("trial {} (seed {}, kill after {} us)", trial, seed, delay.count());
    // The server notices the dead client at its next read; until its backend
    // is gone a transaction may still be finishing.
    ASSERT_TRUE(wait_until([&] { return other_backends(url) == 0; }, std::chrono::seconds(60))) << context;
    expect_consistent(url, context);
    const auto applied = recorded_ids(url).size();
    (applied == 0 ? none : applied == static_cast<size_t>(k_plan) ? all : partial)++;
    expect_next_apply_completes(config, url, context);
    if (::testing::Test::HasFailure()) break;
  }
  report(fmt::format("crash/SIGKILL: seed {}, {} trials of a {}-migration apply (~{} ms, first migration after "
                     "~{} ms): killed before any migration {}, mid-plan {}, after all {}; invariant held in {}",
                     seed, n, k_plan, window.count() / 1000, startup.count() / 1000, none, partial, all,
                     ::testing::Test::HasFailure() ? "NOT all" : "all"));
}

// The server itself dies (no shutdown checkpoint, clients cut off) while mgr
// is mid-plan, then comes back after crash recovery.
TEST(Crash, ImmediateServerStopMidApplyThenRestart) {
  PrivateCluster cluster;
  cluster.create_database("app");
  const auto url = cluster.admin_url("app");
  create_fixture_tables(url);
  sql_exec(url, "UPDATE public.ctl SET slow = false");
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  // A few ms per migration, so the stop lands mid-plan.
  write_marker_migrations(dir / "migrations", 1, k_plan, "SELECT pg_sleep(0.01);\n");
  const int n = trials(2, 10);
  int mid = 0;
  for (int trial = 0; trial < n; ++trial) {
    if (trial > 0) sql_exec(url, "DROP TABLE schema_migrations, schema_migrations_log; TRUNCATE public.markers;");
    SpawnOptions o;
    o.argv = mgr_argv(config, {"apply", "dev"});
    o.cwd = dir.path();
    Proc p(o);
    const long stop_after = 10 + trial * 37 % 150;
    ASSERT_TRUE(wait_until(
        [&] {
          try {
            return recorded_ids(url).size() >= static_cast<size_t>(stop_after);
          } catch (const std::exception&) {
            return false;
          }
        },
        std::chrono::seconds(120)))
        << p.err_so_far();
    cluster.stop_immediate();
    auto r = p.wait();
    const auto context = fmt::format("immediate stop trial {} (after >= {} migrations)", trial, stop_after);
    EXPECT_EQ(r.exit_code, 1) << context << ": " << r.err;
    cluster.start();
    expect_consistent(url, context);
    if (recorded_ids(url).size() < static_cast<size_t>(k_plan)) ++mid;
    expect_next_apply_completes(config, url, context);
    if (::testing::Test::HasFailure()) break;
  }
  report(fmt::format("crash/immediate stop: {} trials of a {}-migration apply, {} stopped mid-plan; invariant held in {}",
                     n, k_plan, mid, ::testing::Test::HasFailure() ? "NOT all" : "all"));
}

// Issue 17 #10: a SIGKILL inside a no-transaction migration leaves statements
// that already ran. A `started` row is recorded before the first statement, so
// the next apply refuses (exit 3, as for a failed migration) instead of running
// those statements again; after `repair` it goes on.
TEST(Crash, SigkillInsideANoTransactionMigrationIsRefusedNotRerun) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("crash_notx");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  write_marker_migrations(dir / "migrations", 1, 1);
  mgr::test::write_file(dir / "migrations/0002_notx.sql",
                        "-- mgr:no-transaction\nINSERT INTO public.markers (id) VALUES (2);\n" + slow_sql(60) +
                            "INSERT INTO public.markers (id) VALUES (2);\n");
  SpawnOptions o;
  o.argv = mgr_argv(config, {"apply", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  ASSERT_TRUE(wait_until([&] { return marker_ids(url).size() >= 2; }, std::chrono::seconds(30))) << p.err_so_far();
  p.signal(SIGKILL);
  p.wait();
  // Its backend sleeps on until the statement ends; end it now.
  sql_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'mgr dev'");
  ASSERT_TRUE(wait_until([&] { return other_backends(url) == 0; }, std::chrono::seconds(30)));
  sql_exec(url, "UPDATE public.ctl SET slow = false");
  EXPECT_EQ(recorded_ids(url), iota_ids(1, 1));
  EXPECT_EQ(sql_scalar(url, "SELECT count(*) FROM schema_migrations WHERE migration_id::bigint = 2"), "1")
      << "no row records that 0002 started";
  auto again = run_mgr_env(config, {"apply", "dev"});
  EXPECT_EQ(again.exit_code, 3) << again.err;
  EXPECT_THAT(again.err, HasSubstr("0002"));
  EXPECT_EQ(marker_ids(url), (std::vector<long>{1, 2})) << "statements of 0002 ran a second time";
}

}  // namespace
}  // namespace mgr::rel
