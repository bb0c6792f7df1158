// Ctrl-C (SIGINT) and SIGTERM to every command that changes a database or
// writes a file (issue 11 item 5, issue 17 item 3): exit 130 / 143, the
// running work cancelled on the server, partial files removed, children
// (pg_dump, psql) gone, the database in the state the message says; a second
// signal ends mgr at once.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <set>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

int expected_exit(int sig) { return 128 + sig; }

std::string signal_name(const ::testing::TestParamInfo<int>& info) { return info.param == SIGINT ? "SIGINT" : "SIGTERM"; }

// Regular files under `dir` (relative paths), and any directory mgr uses as
// a work area (.mgr-*).
std::set<std::string> leftovers(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (it->is_regular_file() || name.rfind(".mgr", 0) == 0) out.insert(fs::relative(it->path(), dir).string());
  }
  return out;
}

// A pg_dump that writes the start of a dump, records its pid and then hangs,
// as a dump of a big database would.
fs::path slow_fake_pg_dump(const fs::path& bin) {
  write_script(bin / "pg_dump",
               fmt::format("case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\n"
                           "for a in \"$@\"; do case \"$a\" in --file=*) printf 'PGDMP partial' > \"${{a#--file=}}\";; "
                           "esac; done\n"
                           "echo $$ > '{}'\nexec sleep 600\n",
                           (bin / "pg_dump.pid").string()));
  return bin / "pg_dump.pid";
}

ProcInfo wait_for_pid_file(const fs::path& pid_file, const Proc& mgr) {
  EXPECT_TRUE(wait_until(
      [&] {
        std::ifstream in(pid_file);
        long pid = 0;
        return static_cast<bool>(in >> pid) && pid > 0;
      },
      60s))
      << mgr.err_so_far();
  std::ifstream in(pid_file);
  long pid = 0;
  in >> pid;
  for (const auto& c : descendants_of(mgr.pid())) {
    if (c.pid == pid) return c;
  }
  ProcInfo p;
  p.pid = static_cast<pid_t>(pid);
  return p;
}

class SignalTest : public ::testing::TestWithParam<int> {};

// The slow migration is cancelled on the server: the ones before it stay, it
// leaves nothing, nothing after it runs, the lock is released.
TEST_P(SignalTest, ApplyMidMigration) {
  MGR_REQUIRE_DB();
  const int sig = GetParam();
  mgr::test::PgTestDb db("sig_apply");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  write_marker_migrations(dir / "migrations", 1, 1);
  mgr::test::write_file(dir / "migrations/0002_slow.sql", "INSERT INTO public.markers (id) VALUES (2);\n" + slow_sql(60));
  write_marker_migrations(dir / "migrations", 3, 3);
  SpawnOptions o;
  o.argv = mgr_argv(config, {"apply", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  ASSERT_TRUE(wait_until([&] { return sql_scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
                                                      "'%pg_sleep(CASE%' AND pid <> pg_backend_pid()") == "1"; },
                         60s))
      << p.err_so_far();
  p.signal(sig);
  auto r = p.wait();
  EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
  EXPECT_EQ(r.exit_code, expected_exit(sig)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002"));
  EXPECT_TRUE(wait_until([&] { return other_backends(url) == 0; }, 30s));
  EXPECT_EQ(recorded_ids(url), iota_ids(1, 1));
  EXPECT_EQ(marker_ids(url), iota_ids(1, 1));
  EXPECT_EQ(advisory_locks(url), 0);
  sql_exec(url, "UPDATE public.ctl SET slow = false");
  auto next = run_mgr_env(config, {"apply", "dev"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(marker_ids(url), iota_ids(1, 3));
}

// `mgr backup` while pg_dump runs: the child is stopped, the partial dump
// (and any manifest) removed.
TEST_P(SignalTest, BackupMidPgDump) {
  MGR_REQUIRE_DB();
  const int sig = GetParam();
  mgr::test::PgTestDb db("sig_backup");
  TempDir dir, bin;
  const auto pid_file = slow_fake_pg_dump(bin.path());
  const auto config = write_config(dir.path(), one_env_yaml(db.url(), "    pg_bin_dir: " + bin.path().string() + "\n"));
  SpawnOptions o;
  o.argv = mgr_argv(config, {"backup", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  auto child = wait_for_pid_file(pid_file, p);
  ASSERT_FALSE(leftovers(dir / "schema-backups").empty()) << "the fake pg_dump wrote no partial file";
  p.signal(sig);
  auto r = p.wait();
  EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
  EXPECT_EQ(r.exit_code, expected_exit(sig)) << r.err;
  EXPECT_TRUE(wait_gone_or_kill(child, 10s)) << "pg_dump (pid " << child.pid << ") outlived mgr";
  EXPECT_EQ(leftovers(dir / "schema-backups"), std::set<std::string>{});
}

// Issue 17 #3: a signal during the backup that apply takes first stops pg_dump
// at once, removes the partial dump, applies nothing, and exits 130/143
// (not 1, not after backup_timeout).
TEST_P(SignalTest, BackupInsideApply) {
  MGR_REQUIRE_DB();
  const int sig = GetParam();
  mgr::test::PgTestDb db("sig_apply_bk");
  create_fixture_tables(db.url());
  TempDir dir, bin;
  const auto pid_file = slow_fake_pg_dump(bin.path());
  const auto config = write_config(
      dir.path(), one_env_yaml(db.url(), "    backup: required\n    pg_bin_dir: " + bin.path().string() + "\n"));
  write_marker_migrations(dir / "migrations", 1, 3);
  SpawnOptions o;
  o.argv = mgr_argv(config, {"apply", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  auto child = wait_for_pid_file(pid_file, p);
  p.signal(sig);
  auto r = p.wait_for(20s);
  EXPECT_TRUE(r.has_value()) << "mgr still running 20 s after the signal (waiting for pg_dump?)";
  if (!r) {
    p.signal(SIGKILL);
    r = p.wait();
  } else {
    EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
    EXPECT_EQ(r->exit_code, expected_exit(sig)) << r->err;
  }
  EXPECT_TRUE(wait_gone_or_kill(child, 10s)) << "pg_dump (pid " << child.pid << ") outlived mgr";
  EXPECT_EQ(leftovers(dir / "schema-backups"), std::set<std::string>{});
  EXPECT_EQ(recorded_ids(db.url()), std::vector<long>{});
  EXPECT_EQ(marker_ids(db.url()), std::vector<long>{});
}

// A restore that is interrupted while psql loads the dump: the wipe and the
// load are one transaction, so the database is as it was before; restore.sql
// (full data in plain text) and the work directory are gone; psql is gone.
TEST_P(SignalTest, RestoreMidLoad) {
  MGR_REQUIRE_DB();
  const int sig = GetParam();
  mgr::test::PgTestDb db("sig_restore");
  const auto url = db.url();
  // Loading `slow` takes 50 ms a row (a CHECK calling a sleeping function),
  // switched on only in the backup, so the setup itself is quick.
  sql_exec(url,
           "CREATE TABLE public.flags (fast boolean NOT NULL); INSERT INTO public.flags VALUES (true);"
           "CREATE FUNCTION public.slow_ok(v int) RETURNS boolean LANGUAGE sql AS $$ SELECT "
           "pg_catalog.pg_sleep(CASE WHEN (SELECT fast FROM public.flags) THEN 0 ELSE 0.05 END) IS NOT NULL $$;"
           "CREATE TABLE public.slow (v int CHECK (public.slow_ok(v)));"
           "INSERT INTO public.slow SELECT generate_series(1, 1200); UPDATE public.flags SET fast = false;");
  TempDir dir, tmp;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  auto b = run_mgr_env(config, {"--json", "backup", "dev"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto before = leftovers(dir / "schema-backups");
  ASSERT_EQ(before.size(), 2u);  // the dump and its manifest
  std::string dump;
  for (const auto& f : before) {
    if (f.size() < 5 || f.substr(f.size() - 5) != ".json") dump = (dir / "schema-backups" / f).string();
  }
  sql_exec(url, "CREATE TABLE public.after_backup (id int); INSERT INTO public.after_backup VALUES (1);");

  SpawnOptions o;
  o.argv = mgr_argv(config, {"restore", "dev", dump, "--yes", "--no-safety-backup"});
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
  p.signal(sig);
  auto r = p.wait_for(20s);
  if (!r) {
    // Still checked below: what its children and the database do once it is gone.
    ADD_FAILURE() << "mgr still running 20 s after the signal";
    p.signal(SIGKILL);
    r = p.wait();
  } else {
    EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
    EXPECT_EQ(r->exit_code, expected_exit(sig)) << r->err;
  }
  bool orphans = false;
  for (const auto& c : children) {
    if (!wait_gone_or_kill(c, 10s)) {
      orphans = true;
      ADD_FAILURE() << c.cmdline << " outlived mgr";
    }
  }
  // An orphaned psql's backend would sleep through the whole load; end it to
  // look at the state (the failure above is already recorded).
  if (orphans) sql_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  EXPECT_TRUE(wait_until([&] { return other_backends(url) == 0; }, 30s));
  EXPECT_EQ(leftovers(dir / "schema-backups"), before);
  EXPECT_EQ(leftovers(tmp.path()), std::set<std::string>{});
  EXPECT_TRUE(table_exists(url, "public.after_backup")) << "the database is not as it was before the restore";
  EXPECT_EQ(sql_scalar(url, "SELECT count(*) FROM public.slow"), "1200");
  EXPECT_EQ(advisory_locks(url), 0);
}

// A rollback interrupted inside a slow down file: the down file's work is
// rolled back and the migration stays recorded.
TEST_P(SignalTest, RollbackMidDownFile) {
  MGR_REQUIRE_DB();
  const int sig = GetParam();
  mgr::test::PgTestDb db("sig_rollback");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  write_marker_migrations(dir / "migrations", 1, 2);
  mgr::test::write_file(dir / "migrations" / "0002_m0002.down.sql",
                        "DELETE FROM public.markers WHERE id = 2;\n" + slow_sql(60));
  auto a = run_mgr_env(config, {"apply", "dev"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  SpawnOptions o;
  o.argv = mgr_argv(config, {"rollback", "dev", "--steps", "1", "--yes"});
  o.cwd = dir.path();
  Proc p(o);
  ASSERT_TRUE(wait_until([&] { return sql_scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
                                                      "'%pg_sleep(CASE%' AND pid <> pg_backend_pid()") == "1"; },
                         60s))
      << p.err_so_far();
  p.signal(sig);
  auto r = p.wait_for(20s);
  if (!r) {
    ADD_FAILURE() << "mgr still running 20 s after the signal";
    p.signal(SIGKILL);
    r = p.wait();
    sql_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND "
                  "pid <> pg_backend_pid()");
  } else {
    EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
    EXPECT_EQ(r->exit_code, expected_exit(sig)) << r->err;
  }
  EXPECT_TRUE(wait_until([&] { return other_backends(url) == 0; }, 30s));
  EXPECT_EQ(recorded_ids(url), iota_ids(1, 2));
  EXPECT_EQ(marker_ids(url), iota_ids(1, 2));
  EXPECT_EQ(advisory_locks(url), 0);
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalTest, ::testing::Values(SIGINT, SIGTERM), signal_name);

// The first Ctrl-C cancels the query; here the migration swallows the cancel
// (a PL/pgSQL handler for query_canceled) and sleeps on, so mgr would wait.
// A second Ctrl-C ends mgr at once, and the server rolls the migration back.
TEST(Signals, SecondSignalExitsAtOnce) {
  MGR_REQUIRE_DB();
  mgr::test::PgTestDb db("sig_twice");
  const auto url = db.url();
  create_fixture_tables(url);
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url));
  mgr::test::write_file(dir / "migrations/0001_stubborn.sql",
                        "CREATE FUNCTION public.stubborn() RETURNS void LANGUAGE plpgsql AS $$\n"
                        "BEGIN\n  PERFORM pg_sleep(300);\nEXCEPTION WHEN query_canceled THEN\n  PERFORM pg_sleep(300);\n"
                        "END $$;\nINSERT INTO public.markers (id) VALUES (1);\nSELECT public.stubborn();\n");
  SpawnOptions o;
  o.argv = mgr_argv(config, {"apply", "dev"});
  o.cwd = dir.path();
  Proc p(o);
  ASSERT_TRUE(wait_until([&] { return sql_scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE "
                                                      "'%stubborn()%' AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'") == "1"; },
                         60s))
      << p.err_so_far();
  p.signal(SIGINT);
  // The cancel reached the server and was swallowed: still sleeping.
  ASSERT_TRUE(wait_until([&] { return sql_scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                                                      "query LIKE '%stubborn()%' AND pid <> pg_backend_pid()") == "1"; },
                         5s));
  EXPECT_FALSE(p.wait_for(1s).has_value()) << "the first signal already ended mgr";
  p.signal(SIGINT);
  auto r = p.wait_for(20s);
  ASSERT_TRUE(r.has_value()) << "mgr still running 20 s after the second Ctrl-C";
  EXPECT_FALSE(p.killed_by_signal()) << "mgr died of the signal instead of handling it";
  EXPECT_EQ(r->exit_code, 130) << r->err;
  // mgr's backend ends the sleep when it next talks to the client; stop it here.
  sql_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%stubborn()%' AND pid <> "
                "pg_backend_pid()");
  EXPECT_TRUE(wait_until([&] { return other_backends(url) == 0; }, 30s));
  EXPECT_EQ(recorded_ids(url), std::vector<long>{});
  EXPECT_EQ(marker_ids(url), std::vector<long>{});
}

}  // namespace
}  // namespace mgr::rel
