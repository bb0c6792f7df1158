// Each migration starts from the same session (issue 17 item 5), and every
// file of the plan is parsed before anything changes (item 7).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;

// The same files give the same schema whether applied in one run or one at
// a time: SET search_path and SET ROLE in one migration do not reach the next.
TEST(Isolation, SessionSettingsDoNotLeakIntoTheNextMigration) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("iso_leak");
  const auto url = db.url();
  const auto role = fmt::format("rel_role_{}", ::getpid());
  // A member of the connecting user: it may write mgr's tables, but what it
  // creates is its own.
  const auto me = sql_scalar(url, "SELECT current_user");
  sql_exec(url, fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0}; GRANT \"{1}\" TO {0}", role, me));
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  mgr::test::write_file(dir / "migrations/0001_path.sql", "CREATE SCHEMA s2;\nSET search_path = s2, public;\n");
  mgr::test::write_file(dir / "migrations/0002_table.sql", "CREATE TABLE t2 (id int);\n");
  mgr::test::write_file(dir / "migrations/0003_role.sql", fmt::format("SET ROLE {};\n", role));
  mgr::test::write_file(dir / "migrations/0004_table.sql", "CREATE TABLE public.t4 (id int);\n");
  auto r = run_mgr_env(config, {"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(table_exists(url, "public.t2")) << "t2 went where 0001's search_path sent it";
  EXPECT_FALSE(table_exists(url, "s2.t2"));
  EXPECT_EQ(sql_scalar(url, "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 't4'"),
            me)
      << "0004 ran as the role 0003 set";
  sql_exec(url, fmt::format("DROP TABLE IF EXISTS public.t4; DROP ROLE {0}", role));
}

// pg_dump-style `set_config('search_path', '', false)` must not break mgr's
// own SQL (the history insert): mgr qualifies its tables.
TEST(Isolation, EmptySearchPathDoesNotBreakTheHistoryInsert) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("iso_path");
  const auto url = db.url();
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  mgr::test::write_file(dir / "migrations/0001_dumpstyle.sql",
                        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.a (id int);\n");
  mgr::test::write_file(dir / "migrations/0002_next.sql", "CREATE TABLE public.b (id int);\n");
  auto r = run_mgr_env(config, {"apply", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(recorded_ids(url), iota_ids(1, 2));
  EXPECT_TRUE(table_exists(url, "public.b"));
}

// Issue 17 #7: a no-transaction file that does not parse is found before the
// first migration runs: exit 2, the file named, nothing applied, and the same
// for a file far down the plan.
TEST(Isolation, EveryFileOfThePlanIsParsedBeforeAnythingChanges) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("iso_parse");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url, "    lint: off\n"));
  write_marker_migrations(dir / "migrations", 1, 5);
  mgr::test::write_file(dir / "migrations/0006_bad.sql", "-- mgr:no-transaction\nSELECT 1;\nSELEC broken syntax;\n");
  auto r = run_mgr_env(config, {"apply", "dev"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("0006_bad.sql"));
  EXPECT_EQ(recorded_ids(url), std::vector<long>{});
  EXPECT_EQ(marker_ids(url), std::vector<long>{});
}

}  // namespace
}  // namespace mgr::rel
