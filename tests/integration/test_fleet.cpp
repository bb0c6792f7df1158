// Fleets end to end against the sandbox server: 12 databases per fleet.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "support/pg_test_db.hpp"
#include "support/test_support.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr int k_fleet_size = 12;

const char* k_items = "CREATE TABLE items (id bigint PRIMARY KEY);\n";
const char* k_labels = "ALTER TABLE items ADD COLUMN label text;\n";

// A project whose `test` is one database (or a fleet) and whose `prod` is a fleet.
class FleetProject {
 public:
  explicit FleetProject(bool test_is_fleet = false, int prod_size = k_fleet_size) {
    if (test_is_fleet) {
      for (int i = 0; i < k_fleet_size; ++i) m_test_fleet.push_back(std::make_unique<PgTestDb>("ft" + std::to_string(i)));
    } else {
      m_test = std::make_unique<PgTestDb>("test");
    }
    for (int i = 0; i < prod_size; ++i) m_prod.push_back(std::make_unique<PgTestDb>("fp" + std::to_string(i)));
    std::filesystem::create_directories(m_dir / "migrations");
    write(prod_size);
  }

  // `prod_extra`: lines added to prod's mapping (4-space indented).
  void write(int prod_count, const std::string& prod_extra = "    backup: off\n") const {
    std::string yaml = "environments:\n  test:\n    backup: off\n    drift: off\n";
    if (m_test) {
      yaml += "    url: " + m_test->url() + "\n";
    } else {
      yaml += "    databases:\n";
      for (const auto& db : m_test_fleet) yaml += "      - " + db->url() + "\n";
    }
    yaml += "  prod:\n    promote_from: test\n    drift: off\n" + prod_extra + "    databases:\n";
    for (int i = 0; i < prod_count; ++i) yaml += "      - " + m_prod[static_cast<std::size_t>(i)]->url() + "\n";
    write_file(m_dir / "config/environments.yaml", yaml);
  }
  void write_raw(const std::string& yaml) const { write_file(m_dir / "config/environments.yaml", yaml); }

  void add(const std::string& file, const std::string& sql) const { write_file(m_dir / ("migrations/" + file), sql); }
  RunResult mgr(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--config", (m_dir / "config/environments.yaml").string()});
    return run_mgr(args, {}, m_dir.path());
  }
  PgTestDb& prod(int i) { return *m_prod[static_cast<std::size_t>(i)]; }
  PgTestDb& test_fleet(int i) { return *m_test_fleet[static_cast<std::size_t>(i)]; }
  PgTestDb& test() { return *m_test; }
  const std::filesystem::path& dir() const { return m_dir.path(); }

  // The migrations applied in prod database i, "0001,0002"; "" when none.
  std::string applied(PgTestDb& db) const {
    if (db.scalar("SELECT to_regclass('public.schema_migrations') IS NOT NULL") != "t") return "";
    return db.scalar("SELECT coalesce(string_agg(migration_id, ',' ORDER BY migration_id), '') FROM schema_migrations");
  }
  int prod_with(const std::string& ids, int count = k_fleet_size) {
    int n = 0;
    for (int i = 0; i < count; ++i) n += applied(prod(i)) == ids ? 1 : 0;
    return n;
  }

 private:
  TempDir m_dir;
  std::unique_ptr<PgTestDb> m_test;
  std::vector<std::unique_ptr<PgTestDb>> m_test_fleet;
  std::vector<std::unique_ptr<PgTestDb>> m_prod;
};

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

TEST_F(FleetTest, AppliesToEveryDatabaseThroughTheGate) {
  FleetProject p;
  p.add("0001_items.sql", k_items);
  p.add("0002_labels.sql", k_labels);
  // The gate: test has nothing yet, so prod is refused and nothing changes.
  auto refused = p.mgr({"apply", "prod", "--yes"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("not-in-source"));
  EXPECT_THAT(refused.err, HasSubstr("nothing was changed in any database"));
  EXPECT_EQ(p.prod_with(""), k_fleet_size);

  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto r = p.mgr({"apply", "prod", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("prod: 12 of 12 databases applied (0 were at head), 0 failed"));
  EXPECT_EQ(p.prod_with("0001,0002"), k_fleet_size);
  // Each database records its own history and audit log under the fleet's name.
  EXPECT_EQ(p.prod(7).scalar("SELECT string_agg(DISTINCT environment, ',') FROM schema_migrations"), "prod");
  EXPECT_EQ(p.prod(7).scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'apply'"), "2");

  auto again = p.mgr({"apply", "prod", "--yes"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("nothing to apply; 12/12 databases at head"));
}

TEST_F(FleetTest, OneDatabaseThatWouldBeRefusedStopsTheWholeFleetBeforeAnyChange) {
  FleetProject p;
  p.add("0001_items.sql", k_items);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "prod", "--yes"}).exit_code, 0);
  p.add("0002_labels.sql", k_labels);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  // Database 5 recorded 0001 with another checksum: apply would refuse it.
  p.prod(5).exec("UPDATE schema_migrations SET checksum = repeat('0', 64)");
  auto r = p.mgr({"apply", "prod", "--yes", "--on-error", "continue"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(p.prod(5).name() + " (refused)"));
  EXPECT_THAT(r.err, HasSubstr("checksum-mismatch"));
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size);  // no database got 0002
}

// A drifted database under `drift: block` is a refusal like any other: found
// while every database is checked, so no database of the fleet changes.
TEST_F(FleetTest, ADriftedDatabaseStopsTheWholeFleetBeforeAnyChange) {
  FleetProject p;
  p.add("0001_items.sql", k_items);
  std::string yaml = "environments:\n  test:\n    backup: off\n    drift: off\n    url: " + p.test().url() +
                     "\n  prod:\n    promote_from: test\n    drift: block\n    backup: off\n    databases:\n";
  for (int i = 0; i < k_fleet_size; ++i) yaml += "      - " + p.prod(i).url() + "\n";
  p.write_raw(yaml);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "prod", "--yes"}).exit_code, 0);  // each database records its schema snapshot
  p.add("0002_labels.sql", k_labels);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  p.prod(7).exec("CREATE TABLE made_by_hand (id int)");
  auto r = p.mgr({"apply", "prod", "--yes", "--on-error", "continue"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(p.prod(7).name() + " (refused)"));
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size);  // no database got 0002
}

TEST_F(FleetTest, StopStartsNoNewDatabaseAfterAFailure) {
  FleetProject p;
  p.add("0001_items.sql", k_items);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  p.prod(3).exec("CREATE TABLE items (x int)");  // 0001 fails there at run time
  auto r = p.mgr({"apply", "prod", "--yes", "--parallel", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(p.prod(3).name() + " (failed)"));
  EXPECT_THAT(r.out, HasSubstr("already exists"));
  EXPECT_THAT(r.out, HasSubstr("3 of 12 databases applied"));
  EXPECT_THAT(r.out, HasSubstr("8 not started"));
  EXPECT_EQ(p.prod_with("0001"), 3);
  for (int i = 4; i < k_fleet_size; ++i) EXPECT_EQ(p.applied(p.prod(i)), "") << i;

  // continue: every other database gets it; exit 1 still names the one that failed.
  auto c = p.mgr({"apply", "prod", "--yes", "--on-error", "continue"});
  EXPECT_EQ(c.exit_code, 1) << c.out << c.err;
  EXPECT_THAT(c.out, HasSubstr(p.prod(3).name() + " (failed)"));
  EXPECT_THAT(c.out, HasSubstr("8 of 9 databases applied (3 were at head), 1 failed"));
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size - 1);

  // status: the fleet as counts, per database, and in JSON.
  auto s = p.mgr({"status", "prod"});
  EXPECT_EQ(s.exit_code, 0) << s.out << s.err;
  EXPECT_THAT(s.out, HasSubstr("prod: fleet of 12 databases: 11/12 at head, 1 behind, 0 ahead, 0 failed, 0 drifted, 0 unreachable"));
  EXPECT_THAT(s.out, HasSubstr("11/12"));  // the migration's cell
  auto per = p.mgr({"status", "prod", "--databases"});
  EXPECT_THAT(per.out, HasSubstr(p.prod(3).name() + "  behind (1 pending)"));
  auto j = p.mgr({"status", "--json"});
  auto doc = nlohmann::json::parse(j.out);
  ASSERT_EQ(doc["fleets"].size(), 1u);
  EXPECT_EQ(doc["fleets"][0]["at_head"], 11);
  EXPECT_EQ(doc["fleets"][0]["behind"], 1);
  EXPECT_EQ(doc["migrations"][0]["environments"]["prod"]["applied"], "11/12");
  // validate names the database that is behind.
  auto v = p.mgr({"validate"});
  EXPECT_THAT(v.out, HasSubstr("prod/" + p.prod(3).name() + ": behind: 1 pending"));
}

TEST_F(FleetTest, ShardsTogetherCoverTheFleetExactlyOnce) {
  FleetProject p;
  p.add("0001_items.sql", k_items);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  int total = 0;
  for (const char* shard : {"1/3", "2/3", "3/3"}) {
    auto r = p.mgr({"apply", "prod", "--yes", "--shard", shard, "--json"});
    ASSERT_EQ(r.exit_code, 0) << shard << r.out << r.err;
    auto doc = nlohmann::json::parse(r.out);
    total += doc["databases"].get<int>();
    EXPECT_EQ(doc["applied"], doc["databases"]) << shard;
  }
  EXPECT_EQ(total, k_fleet_size);
  // Every database applied exactly once: one apply in each audit log.
  for (int i = 0; i < k_fleet_size; ++i) {
    EXPECT_EQ(p.prod(i).scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'apply'"), "1") << i;
  }
  auto bad = p.mgr({"apply", "prod", "--yes", "--shard", "4/3"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--shard must be K/N"));
}

TEST_F(FleetTest, AFleetPromotesFromAFleetOnlyWhatEverySourceDatabaseHas) {
  FleetProject p(/*test_is_fleet=*/true);
  p.add("0001_items.sql", k_items);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto first = p.mgr({"apply", "prod", "--yes"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size);
  // 0002 fails in test database 0 (its column exists), so test is not all there.
  p.test_fleet(0).exec("ALTER TABLE items ADD COLUMN label text");
  p.add("0002_labels.sql", k_labels);
  auto t = p.mgr({"apply", "test", "--on-error", "continue"});
  EXPECT_EQ(t.exit_code, 1) << t.out << t.err;
  auto r = p.mgr({"apply", "prod", "--yes"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("test/" + p.test_fleet(0).name()));
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size);  // nothing changed
}

TEST_F(FleetTest, DatabasesQueryAndADatabaseAddedLaterCatchesUp) {
  FleetProject p(false, k_fleet_size + 1);
  PgTestDb catalog("fcat");
  catalog.exec("CREATE TABLE tenants (name text)");
  for (int i = 0; i < k_fleet_size; ++i) catalog.exec("INSERT INTO tenants VALUES ('" + p.prod(i).name() + "')");
  std::string yaml = "environments:\n  test:\n    url: " + p.test().url() +
                     "\n    backup: off\n  prod:\n    promote_from: test\n    backup: off\n    drift: off\n"
                     "    databases_query:\n      url: " + catalog.url() +
                     "\n      sql: SELECT name FROM tenants ORDER BY name\n";
  p.write_raw(yaml);
  p.add("0001_items.sql", k_items);
  p.add("0002_labels.sql", k_labels);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto r = p.mgr({"apply", "prod", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.prod_with("0001,0002", k_fleet_size + 1), k_fleet_size);
  // A tenant added later: the next apply catches it up and leaves the others alone.
  catalog.exec("INSERT INTO tenants VALUES ('" + p.prod(k_fleet_size).name() + "')");
  auto later = p.mgr({"apply", "prod", "--yes"});
  ASSERT_EQ(later.exit_code, 0) << later.out << later.err;
  EXPECT_THAT(later.out, HasSubstr("1 of 1 databases applied (12 were at head)"));
  EXPECT_EQ(p.prod_with("0001,0002", k_fleet_size + 1), k_fleet_size + 1);
  // A query that returns two columns is a config error naming where it is written.
  p.write_raw(yaml.substr(0, yaml.find("      sql:")) + "      sql: SELECT name, 1 FROM tenants\n");
  auto bad = p.mgr({"apply", "prod", "--yes"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("environments.yaml:"));
  EXPECT_THAT(bad.err, HasSubstr("must return one column"));
}

TEST_F(FleetTest, OneDatabaseCommandsNeedDatabaseOnAFleet) {
  FleetProject p;
  p.write(k_fleet_size, "");  // backups required
  p.add("0001_items.sql", k_items);
  p.add("0001_items.down.sql", "DROP TABLE items;\n");
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto r = p.mgr({"apply", "prod", "--yes", "--parallel", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Each database backs up into its own folder.
  const auto name = p.prod(2).name();
  EXPECT_TRUE(std::filesystem::is_directory(p.dir() / "schema-backups/prod" / name));
  for (const char* command : {"log", "backup", "backups", "drift", "reset"}) {
    auto no = p.mgr({command, "prod"});
    EXPECT_EQ(no.exit_code, 2) << command << no.err;
    EXPECT_THAT(no.err, HasSubstr("pick it with --database NAME")) << command;
  }
  auto rb = p.mgr({"rollback", "prod", "--steps", "1", "--yes"});
  EXPECT_EQ(rb.exit_code, 2) << rb.err;
  auto log = p.mgr({"log", "prod", "--database", name});
  EXPECT_EQ(log.exit_code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("0001"));
  auto unknown = p.mgr({"log", "prod", "--database", "nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no such database in fleet 'prod'"));
  auto single = p.mgr({"log", "test", "--database", name});
  EXPECT_EQ(single.exit_code, 2);
  auto backups = p.mgr({"backups", "prod", "--database", name});
  EXPECT_EQ(backups.exit_code, 0) << backups.err;
  EXPECT_THAT(backups.out, HasSubstr(name));
  // rollback of one database leaves the others alone.
  auto one = p.mgr({"rollback", "prod", "--database", name, "--steps", "1", "--yes"});
  EXPECT_EQ(one.exit_code, 0) << one.out << one.err;
  EXPECT_EQ(p.applied(p.prod(2)), "");
  EXPECT_EQ(p.prod_with("0001"), k_fleet_size - 1);
}

TEST_F(FleetTest, CtrlCStartsNoNewDatabaseAndRollsBackTheRunningOnes) {
  FleetProject p(false, 6);
  std::string yaml = "environments:\n  prod:\n    backup: off\n    drift: off\n    databases:\n";
  for (int i = 0; i < 6; ++i) yaml += "      - " + p.prod(i).url() + "\n";
  p.write_raw(yaml);
  p.add("0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY);\nSELECT pg_sleep(20);\n");
  std::string names;
  for (int i = 0; i < 6; ++i) names += std::string(i ? "," : "") + "'" + p.prod(i).name() + "'";
  RunningMgr run({"--config", (p.dir() / "config/environments.yaml").string(), "apply", "prod", "--yes", "--parallel", "2"},
                 {}, p.dir());
  for (int i = 0; i < 300; ++i) {
    if (p.prod(0).scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND datname IN (" +
                         names + ") AND pid <> pg_backend_pid()") == "2") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(run.pid(), SIGINT);
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("interrupted"));
  EXPECT_THAT(r.out, HasSubstr("0 of 6 databases applied"));
  EXPECT_THAT(r.out, HasSubstr("2 interrupted, 4 not started"));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(p.prod(i).scalar("SELECT to_regclass('public.items') IS NULL"), "t") << i;  // rolled back or never run
  }
}

}  // namespace
