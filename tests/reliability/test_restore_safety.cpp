// Restore and backup under faults (issue 17 items 1, 2, 4): the identity check
// apply makes, children that die with mgr, leftovers of a killed run listed
// and cleaned up.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::vector<fs::path> files_named(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ext) out.push_back(it->path());
  }
  return out;
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory() || it->path().filename().string().rfind(".mgr", 0) == 0) {
      out.insert(fs::relative(it->path(), dir).string());
    }
  }
  return out;
}

// Issue 17 #1: test's URL points at prod's database by mistake. apply refuses
// (environment-mismatch); restore and backup must refuse the same way, before
// touching anything.
TEST(RestoreSafety, RestoreAndBackupCheckTheDatabaseIdentityLikeApply) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb test_db("id_test"), prod_db("id_prod");
  create_fixture_tables(test_db.url());
  create_fixture_tables(prod_db.url());
  TempDir dir;
  write_marker_migrations(dir / "migrations", 1, 2);
  const std::string right = "environments:\n  test:\n    url: " + test_db.url() +
                            "\n    backup: off\n  prod:\n    url: " + prod_db.url() + "\n    backup: off\n";
  const std::string mistaken = "environments:\n  test:\n    url: " + prod_db.url() +
                               "\n    backup: off\n  prod:\n    url: " + prod_db.url() + "\n    backup: off\n";
  const auto good = write_config(dir.path(), right, "right.yaml");
  const auto bad = write_config(dir.path(), mistaken, "mistaken.yaml");
  ASSERT_EQ(run_mgr_env(good, {"apply", "test", "--to", "1"}).exit_code, 0);
  ASSERT_EQ(run_mgr_env(good, {"apply", "prod"}).exit_code, 0);
  auto b = run_mgr_env(good, {"backup", "test"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto dumps = files_named(dir / "schema-backups/test", ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  const auto prod_before = marker_ids(prod_db.url());
  ASSERT_EQ(prod_before, iota_ids(1, 2));

  // The control: apply sees the mistake.
  auto a = run_mgr_env(bad, {"apply", "test"});
  EXPECT_EQ(a.exit_code, 3) << a.err;
  EXPECT_THAT(a.err, HasSubstr("environment-mismatch"));

  auto r = run_mgr_env(bad, {"restore", "test", dumps[0].string(), "--yes", "--no-safety-backup"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("environment-mismatch"));
  EXPECT_EQ(marker_ids(prod_db.url()), prod_before) << "prod was overwritten with test's backup";
  EXPECT_EQ(recorded_ids(prod_db.url()), iota_ids(1, 2));

  auto bk = run_mgr_env(bad, {"backup", "test"});
  EXPECT_EQ(bk.exit_code, 3) << bk.err;
  EXPECT_THAT(bk.err, HasSubstr("environment-mismatch"));
  EXPECT_EQ(files_named(dir / "schema-backups/test", ".dump").size(), 1u) << "a backup of prod was filed as test's";
}

// A database whose restore takes a while (50 ms a row at load time).
void make_slow_to_restore(const std::string& url, int rows) {
  sql_exec(url,
           fmt::format("CREATE TABLE public.flags (fast boolean NOT NULL); INSERT INTO public.flags VALUES (true);"
                       "CREATE FUNCTION public.slow_ok(v int) RETURNS boolean LANGUAGE sql AS $$ SELECT "
                       "pg_catalog.pg_sleep(CASE WHEN (SELECT fast FROM public.flags) THEN 0 ELSE 0.05 END) IS NOT "
                       "NULL $$;"
                       "CREATE TABLE public.slow (v int CHECK (public.slow_ok(v)));"
                       "INSERT INTO public.slow SELECT generate_series(1, {}); UPDATE public.flags SET fast = false;",
                       rows));
}

// Issue 17 #2: SIGKILL to mgr alone mid-restore. Its psql must not go on and
// commit without it: the child dies with mgr, the database stays as it was,
// and the plain-text restore script (the full data) does not outlive the next run.
TEST(RestoreSafety, SigkillMidRestoreTakesPsqlWithIt) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("kill_restore");
  const auto url = db.url();
  make_slow_to_restore(url, 1200);
  TempDir dir, tmp;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  auto b = run_mgr_env(config, {"backup", "dev"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto dumps = files_named(dir / "schema-backups", ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  const auto before = entries(dir / "schema-backups");
  sql_exec(url, "CREATE TABLE public.after_backup (id int)");

  SpawnOptions o;
  o.argv = mgr_argv(config, {"restore", "dev", dumps[0].string(), "--yes", "--no-safety-backup"});
  o.cwd = dir.path();
  o.env = {{"TMPDIR", tmp.path().string()}};
  Proc p(o);
  std::vector<ProcInfo> children;
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& c : descendants_of(p.pid())) children.push_back(c);
        return sql_scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY public.slow%'") == "1";
      },
      120s))
      << p.err_so_far();
  p.signal(SIGKILL);
  p.wait();
  bool orphans = false;
  for (const auto& c : children) {
    if (!wait_gone_or_kill(c, 10s)) {
      orphans = true;
      ADD_FAILURE() << c.cmdline << " outlived mgr";
    }
  }
  // An orphaned psql's backend would sleep through the whole load; end it to
  // look at the state (the failure above is already recorded).
  if (orphans) {
    sql_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND datname = current_database() "
                  "AND pid <> pg_backend_pid()");
  }
  ASSERT_TRUE(wait_until([&] { return other_backends(url) == 0; }, 60s));
  EXPECT_TRUE(table_exists(url, "public.after_backup")) << "the restore went on after mgr died";
  EXPECT_EQ(advisory_locks(url), 0);
  // Leftovers of the killed run: listed by `backups` until the next run
  // removes them.
  auto leftover = entries(dir / "schema-backups");
  for (const auto& e : before) leftover.erase(e);
  auto tmp_left = entries(tmp.path());
  if (!leftover.empty() || !tmp_left.empty()) {
    auto l = run_mgr_env(config, {"backups", "dev"});
    for (const auto& e : leftover) {
      if (leftover.count(fs::path(e).parent_path().string())) continue;  // inside a listed work directory
      EXPECT_THAT(l.out + l.err, HasSubstr(fs::path(e).filename().string())) << "a leftover is not listed";
    }
  }
  // The next runs: a backup, then a restore (quick now: the flag is loaded first).
  sql_exec(url, "UPDATE public.flags SET fast = true");
  auto next = run_mgr_env(config, {"--json", "backup", "dev"}, {{"TMPDIR", tmp.path().string()}});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  std::string quick_dump;
  try {
    quick_dump = nlohmann::json::parse(next.out).at("file").get<std::string>();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "backup --json: " << e.what() << "\n" << next.out;
  }
  if (!quick_dump.empty()) {
    auto again = run_mgr_env(config, {"restore", "dev", quick_dump, "--yes", "--no-safety-backup"},
                             {{"TMPDIR", tmp.path().string()}});
    EXPECT_EQ(again.exit_code, 0) << again.err;
  }
  for (const auto& e : entries(dir / "schema-backups")) {
    EXPECT_EQ(e.find(".mgr-restore"), std::string::npos) << e << " was left by the killed restore";
    EXPECT_EQ(e.find("restore.sql"), std::string::npos) << e;
  }
  EXPECT_EQ(entries(tmp.path()), std::set<std::string>{}) << "the killed restore's temp files are still there";
}

// Issue 17 #4: a dump left without a manifest by a kill is listed as
// incomplete and removed by retention.
TEST(RestoreSafety, DumpsLeftByAKillAreListedAsIncompleteAndPruned) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("kill_backup");
  TempDir dir, bin;
  write_script(bin / "pg_dump",
               fmt::format("case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\n"
                           "for a in \"$@\"; do case \"$a\" in --file=*) printf 'PGDMP partial' > \"${{a#--file=}}\";; "
                           "esac; done\necho $$ > '{}'\nexec sleep 600\n",
                           (bin / "pid").string()));
  const auto slow = write_config(dir.path(), one_env_yaml(db.url(), "    pg_bin_dir: " + bin.path().string() + "\n"),
                                 "slow.yaml");
  const auto real = write_config(dir.path(), one_env_yaml(db.url(), "    backup_keep: 1\n"), "real.yaml");
  SpawnOptions o;
  o.argv = mgr_argv(slow, {"backup", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  ASSERT_TRUE(wait_until([&] { return fs::exists(bin / "pid") && !entries(dir / "schema-backups").empty(); }, 60s));
  std::vector<ProcInfo> children = descendants_of(p.pid());
  p.signal(SIGKILL);
  p.wait();
  for (const auto& c : children) EXPECT_TRUE(wait_gone_or_kill(c, 10s)) << c.cmdline << " outlived mgr";
  const auto leftover = entries(dir / "schema-backups");
  ASSERT_FALSE(leftover.empty());
  auto l = run_mgr_env(real, {"backups", "dev"});
  for (const auto& e : leftover) {
    EXPECT_THAT(l.out + l.err, HasSubstr(fs::path(e).filename().string())) << "the partial dump is not listed:\n"
                                                                           << l.out << l.err;
  }
  EXPECT_THAT(l.out + l.err, HasSubstr("incomplete")) << l.out << l.err;
  for (int i = 0; i < 2; ++i) {
    auto r = run_mgr_env(real, {"backup", "dev"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto after = entries(dir / "schema-backups");
  for (const auto& e : leftover) EXPECT_EQ(after.count(e), 0u) << e << " was never pruned";
  EXPECT_EQ(files_named(dir / "schema-backups", ".json").size(), 1u);
}

}  // namespace
}  // namespace mgr::rel
