// Issue 16 §1: every migration but the run's last commits with
// synchronous_commit = off, and mgr flushes before it reports. The server is
// stopped with `pg_ctl stop -m immediate` at random moments of an apply (the
// WAL of asynchronous commits not yet written is lost then), restarted, and:
// the recorded set equals the applied set, it is a prefix of the plan, and
// every migration mgr reported as applied before the stop is among them.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <thread>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

constexpr long k_plan = 300;

// Ids of the "  applied <id>_m<id>" lines mgr printed.
std::vector<long> reported_applied(const std::string& out) {
  std::vector<long> ids;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const std::string mark = "  applied ";
    if (line.rfind(mark, 0) != 0) continue;
    ids.push_back(std::stol(line.substr(mark.size(), line.find('_') - mark.size())));
  }
  return ids;
}

void run_trials(const std::string& yaml_extra, const std::string& name) {
  PrivateCluster cluster;
  cluster.create_database("app");
  const auto url = cluster.admin_url("app");
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url, yaml_extra));
  write_marker_migrations(dir / "migrations", 1, k_plan);
  const unsigned seed = seed_from_env();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<long> stop_after(1, k_plan - 1);
  const int n = trials(4, 20);
  int lost_visible = 0;  // trials where commits seen before the stop were gone after it (the async window hit)
  for (int trial = 0; trial < n; ++trial) {
    if (trial > 0) sql_exec(url, "DROP TABLE schema_migrations, schema_migrations_log; TRUNCATE public.markers;");
    SpawnOptions o;
    o.argv = mgr_argv(config, {"apply", "dev"});
    o.cwd = dir.path();
    Proc p(o);
    const long at = stop_after(rng);
    // Committed rows are visible before they are durable: stopping once `at`
    // are visible lands in the window that asynchronous commit opens.
    wait_until(
        [&] {
          try {
            return recorded_ids(url).size() >= static_cast<size_t>(at);
          } catch (const std::exception&) {
            return false;
          }
        },
        std::chrono::seconds(120));
    std::size_t visible = 0;
    try {
      visible = recorded_ids(url).size();
    } catch (const std::exception&) {
    }
    cluster.stop_immediate();
    auto r = p.wait();
    cluster.start();
    const auto context = fmt::format("{} trial {} (seed {}, stop once {} were visible)", name, trial, seed, at);
    auto recorded = recorded_ids(url);
    EXPECT_EQ(recorded, marker_ids(url)) << context << ": the recorded set differs from the applied set";
    EXPECT_EQ(recorded, iota_ids(1, static_cast<long>(recorded.size()))) << context << ": not a prefix of the plan";
    auto reported = reported_applied(r.out);
    EXPECT_LE(reported.size(), recorded.size()) << context << ": mgr reported more applied than survived\n" << r.out;
    for (auto id : reported) {
      EXPECT_TRUE(std::binary_search(recorded.begin(), recorded.end(), id))
          << context << ": mgr reported " << id << " applied, and it did not survive the stop";
    }
    if (recorded.size() < visible) ++lost_visible;
    auto next = run_mgr_env(config, {"apply", "dev"});
    EXPECT_EQ(next.exit_code, 0) << context << ": " << next.err;
    EXPECT_EQ(marker_ids(url), iota_ids(1, k_plan)) << context;
    if (::testing::Test::HasFailure()) break;
  }
  report(fmt::format("durability/{}: seed {}, {} immediate stops of a {}-migration apply; commits seen before the "
                     "stop lost by it in {}; invariant and reported-applied-survived held in {}",
                     name, seed, n, k_plan, lost_visible, ::testing::Test::HasFailure() ? "NOT all" : "all"));
}

TEST(Durability, ImmediateStopNeverLosesWhatMgrReportedApplied) { run_trials("", "async"); }

TEST(Durability, DurableEachAlsoKeepsTheInvariant) { run_trials("    durable_each: true\n", "durable_each"); }

}  // namespace
}  // namespace mgr::rel
