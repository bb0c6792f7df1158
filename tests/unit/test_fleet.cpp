// fleet.hpp and the fleet keys of environments.yaml: pure, no server.
#include "mgr/fleet.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mgr/error.hpp"

namespace mgr {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path k_path = "/srv/app/config/environments.yaml";

Config parse(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
  return parse_config(yaml, k_path, [vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << yaml;
  return "";
}

const char* k_fleet_yaml =
    "environments:\n"
    "  test:\n"
    "    url: postgresql://app@db0/app_test\n"
    "  prod:\n"
    "    promote_from: test\n"
    "    databases:\n"
    "      - postgresql://app:${PW}@db1:5433/tenant_a\n"
    "      - host=db2 dbname=tenant_b user=app\n"
    "    parallel: 8\n"
    "    on_error: continue\n";

TEST(FleetConfig, DatabasesListParallelAndOnError) {
  auto config = parse(k_fleet_yaml, {{"PW", "s3cret"}});
  const auto& prod = config.get("prod");
  ASSERT_TRUE(prod.fleet);
  EXPECT_EQ(prod.fleet->databases.size(), 2u);
  EXPECT_EQ(prod.fleet->parallel, 8);
  EXPECT_EQ(prod.fleet->on_error, OnError::continue_on);
  EXPECT_EQ(prod.fleet->databases[0].text, k_path.string() + ":7:9");
  EXPECT_FALSE(config.get("test").fleet);
  // The fleet itself has no single URL: using it says how to pick one.
  try {
    (void)prod.url.get();
    ADD_FAILURE() << "a fleet's url resolved";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--database NAME"));
  }
  const auto members = fleet_members(prod.fleet->databases);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "tenant_a");
  EXPECT_EQ(members[0].identity, "tenant_a@db1:5433");
  EXPECT_EQ(members[1].identity, "tenant_b@db2:5432");
  EXPECT_EQ(members[0].identity.find("s3cret"), std::string::npos);
}

TEST(FleetConfig, DefaultsAreFourAndStop) {
  auto config = parse("environments:\n  prod:\n    databases: ['postgresql://h/a', 'postgresql://h/b']\n");
  EXPECT_EQ(config.get("prod").fleet->parallel, 4);
  EXPECT_EQ(config.get("prod").fleet->on_error, OnError::stop);
}

TEST(FleetConfig, DatabasesQuery) {
  auto config = parse(
      "environments:\n  prod:\n    databases_query:\n      url: postgresql://app@cat/catalog\n"
      "      sql: SELECT datname FROM tenants\n");
  const auto& q = config.get("prod").fleet->query;
  ASSERT_TRUE(q);
  EXPECT_EQ(q->sql, "SELECT datname FROM tenants");
  EXPECT_EQ(q->where, k_path.string() + ":5:12");
}

TEST(FleetConfig, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("environments:\n  prod:\n    url: postgresql://h/a\n    databases: ['postgresql://h/b']\n"),
            k_path.string() + ":4:5: environment 'prod' has more than one of 'url', 'databases' and "
                              "'databases_query'; give exactly one");
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases: []\n"),
              HasSubstr(":3:16: 'databases' in environment 'prod' must be a non-empty list"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases:\n      - {a: 1}\n"),
              HasSubstr(":4:9: 'databases' in environment 'prod': each entry must be a URL"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases: ['postgresql://h/a']\n    parallel: 0\n"),
              HasSubstr(":4:15: 'parallel' in environment 'prod' must be an integer from 1 to 256"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases: ['postgresql://h/a']\n    parallel: 1000\n"),
              HasSubstr(":4:15: 'parallel'"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases: ['postgresql://h/a']\n    on_error: skip\n"),
              HasSubstr(":4:15: 'on_error' in environment 'prod' must be one of stop, continue"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    url: postgresql://h/a\n    parallel: 2\n"),
              HasSubstr(":4:5: 'parallel' in environment 'prod' applies only to a fleet"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases_query:\n      url: postgresql://h/a\n"),
              HasSubstr(":4:7: 'databases_query' of environment 'prod' has no 'sql'"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases_query:\n      url: postgresql://h/a\n      sq: x\n"),
              HasSubstr(":5:7: unknown key 'sq'"));
  EXPECT_THAT(error_of("environments:\n  prod:\n    databases: ['host=h bogus_option=1']\n"),
              HasSubstr(":3:17: 'databases' in environment 'prod': "));
}

TEST(FleetConfig, UnsetVariableFailsOnlyWhenTheDatabasesAreUsed) {
  auto config = parse("environments:\n  prod:\n    databases: ['postgresql://h/a', '${TENANT_B_URL}']\n");
  try {
    fleet_members(config.get("prod").fleet->databases);
    ADD_FAILURE() << "an unset variable was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("TENANT_B_URL is not set"));
  }
}

TEST(FleetConfig, TheSameDatabaseTwiceIsAnError) {
  auto config = parse("environments:\n  prod:\n    databases:\n      - postgresql://h/a\n      - host=h dbname=a\n");
  try {
    fleet_members(config.get("prod").fleet->databases);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr(":5:9: a@h:5432 is listed twice in 'databases' (first at "));
  }
}

TEST(FleetMembers, SharedDatabaseNamesAreQualifiedWithTheServer) {
  auto config = parse("environments:\n  prod:\n    databases: ['postgresql://h1/app', 'postgresql://h2/app', 'postgresql://h1/other']\n");
  const auto members = fleet_members(config.get("prod").fleet->databases);
  EXPECT_EQ(members[0].name, "app@h1:5432");
  EXPECT_EQ(members[1].name, "app@h2:5432");
  EXPECT_EQ(members[2].name, "other");
  EXPECT_EQ(find_member(members, "prod", "other").identity, "other@h1:5432");
  EXPECT_EQ(find_member(members, "prod", "app@h2:5432").name, "app@h2:5432");
  EXPECT_THROW(find_member(members, "prod", "app"), UsageError);
}

TEST(FleetMembers, QueryRowsAreNamesOnTheCatalogServerOrUrls) {
  const auto catalog = DbUrl::parse("postgresql://app:pw@cat:6000/catalog?sslmode=disable");
  const auto by_name = fleet_url_from_query_value(catalog, "tenant 'x'");
  EXPECT_EQ(by_name.option("dbname"), "tenant 'x'");
  EXPECT_EQ(by_name.option("host"), "cat");
  EXPECT_EQ(by_name.option("port"), "6000");
  EXPECT_EQ(by_name.option("sslmode"), "disable");
  EXPECT_EQ(by_name.password().value_or(""), "pw");
  EXPECT_EQ(by_name.redacted().find("pw'"), std::string::npos);
  const auto by_url = fleet_url_from_query_value(catalog, "postgresql://other/t2");
  EXPECT_EQ(by_url.option("host"), "other");
  const auto members = fleet_members_from_query(catalog, {"t1", "t2", "t1"}, "q");
  ASSERT_EQ(members.size(), 2u);  // a name given twice runs once
  EXPECT_EQ(members[1].identity, "t2@cat:6000");
}

std::vector<FleetMember> synthetic(int n) {
  std::vector<FleetMember> out;
  for (int i = 0; i < n; ++i) {
    FleetMember m;
    m.identity = "tenant_" + std::to_string(i) + "@db" + std::to_string(i % 7) + ":5432";
    m.name = m.identity;
    out.push_back(m);
  }
  return out;
}

std::set<std::string> identities(const std::vector<FleetMember>& members) {
  std::set<std::string> out;
  for (const auto& m : members) out.insert(m.identity);
  return out;
}

TEST(FleetShards, CoverTheFleetExactlyOnceForEveryN) {
  const auto fleet = synthetic(500);
  for (int n : {1, 2, 3, 7, 16, 64}) {
    std::multiset<std::string> seen;
    for (int k = 1; k <= n; ++k) {
      for (const auto& m : shard_slice(fleet, Shard{k, n})) seen.insert(m.identity);
    }
    EXPECT_EQ(seen.size(), fleet.size()) << n;
    for (const auto& m : fleet) EXPECT_EQ(seen.count(m.identity), 1u) << n << " " << m.identity;
  }
  // Spread: no slice of 4 is empty or holds more than half.
  for (int k = 1; k <= 4; ++k) {
    const auto size = shard_slice(fleet, Shard{k, 4}).size();
    EXPECT_GT(size, 60u);
    EXPECT_LT(size, 250u);
  }
}

TEST(FleetShards, StableUnderReorderingAndGrowth) {
  auto fleet = synthetic(200);
  const auto before = identities(shard_slice(fleet, Shard{2, 5}));
  std::mt19937 random(42);
  std::shuffle(fleet.begin(), fleet.end(), random);
  EXPECT_EQ(identities(shard_slice(fleet, Shard{2, 5})), before);
  // A database added later joins one slice; the others keep theirs.
  auto grown = synthetic(201);
  auto after = identities(shard_slice(grown, Shard{2, 5}));
  after.erase("tenant_200@db4:5432");
  EXPECT_EQ(after, before);
}

TEST(FleetShards, ParseShard) {
  EXPECT_EQ(parse_shard("3/8").k, 3);
  EXPECT_EQ(parse_shard("3/8").n, 8);
  for (const char* bad : {"0/4", "5/4", "4", "a/b", "-1/4", "1/0", "", "1/4/2"}) {
    EXPECT_THROW(parse_shard(bad), UsageError) << bad;
  }
}

Migration mig(const std::string& id) {
  Migration m;
  m.id = id;
  m.name = "m" + id;
  m.up.path = "/m/" + id + "_m.sql";
  m.up.checksum = sha256_hex("file " + id);
  return m;
}

HistoryRow row(const std::string& id, bool success = true, const std::string& checksum = "") {
  HistoryRow r;
  r.migration_id = id;
  r.name = "m" + id;
  r.checksum = checksum.empty() ? sha256_hex("file " + id) : checksum;
  r.environment = "test";
  r.success = success;
  return r;
}

TEST(FleetGate, EverySourceDatabaseMustHaveTheMigrationWithTheSameChecksum) {
  const auto m1 = mig("0001"), m2 = mig("0002"), m3 = mig("0003");
  FleetSource source("test");
  source.add("t1", {row("0001"), row("0002"), row("0003")});
  source.add("t2", {row("0001"), row("0002")});
  source.add("t3", {row("0001"), row("0002"), row("0003", false)});
  EXPECT_TRUE(source.check({&m1, &m2}).empty());
  const auto problems = source.check({&m1, &m2, &m3});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].code, code_from_name("not-in-source"));
  EXPECT_THAT(problems[0].message, HasSubstr("test/t2"));
}

TEST(FleetGate, ChecksumsFailuresUnreachableAndAbsentEverywhere) {
  const auto m1 = mig("0001"), m2 = mig("0002"), m4 = mig("0004");
  FleetSource differs("test");
  differs.add("t1", {row("0001")});
  differs.add("t2", {row("0001", true, "other")});
  EXPECT_EQ(differs.check({&m1}).at(0).code, code_from_name("source-checksum-differs"));
  FleetSource all_old("test");  // every source agrees, on another file
  all_old.add("t1", {row("0001", true, "old")});
  all_old.add("t2", {row("0001", true, "old")});
  EXPECT_EQ(all_old.check({&m1}).at(0).code, code_from_name("source-checksum-differs"));
  FleetSource failed("test");
  failed.add("t1", {row("0002", false)});
  failed.add("t2", {row("0002")});
  EXPECT_EQ(failed.check({&m2}).at(0).code, code_from_name("source-failed"));
  FleetSource later("test");  // the first source lacks what a later one has
  later.add("t1", {});
  later.add("t2", {row("0002")});
  EXPECT_THAT(later.check({&m2}).at(0).message, HasSubstr("test/t1"));
  FleetSource none("test");
  none.add("t1", {row("0001")});
  EXPECT_THAT(none.check({&m4}).at(0).message, HasSubstr("none of its 1 databases"));
  FleetSource down("test");
  down.add("t1", {row("0001")});
  down.add_unreachable("t2", "connection refused");
  EXPECT_EQ(down.check({&m1}).at(0).code, code_from_name("source-unreachable"));
  EXPECT_TRUE(down.check({}).empty());  // nothing to promote: nothing to refuse
}

TEST(FleetCounts, ClassifyAndCount) {
  Catalog catalog;
  catalog.migrations = {mig("0001"), mig("0002")};
  EXPECT_EQ(classify_database(catalog, {row("0001"), row("0002")}), DatabaseState::at_head);
  EXPECT_EQ(classify_database(catalog, {row("0001")}), DatabaseState::behind);
  EXPECT_EQ(classify_database(catalog, {row("0001"), row("0002"), row("0003")}), DatabaseState::ahead);
  EXPECT_EQ(classify_database(catalog, {row("0001"), row("0002", false)}), DatabaseState::failed);
  FleetCounts c;
  c.add(DatabaseState::at_head, false);
  c.add(DatabaseState::at_head, true);
  c.add(DatabaseState::behind, false);
  c.add(DatabaseState::unreachable, false);
  EXPECT_EQ(c.text(), "2/4 at head, 1 behind, 0 ahead, 0 failed, 1 drifted, 1 unreachable");
  EXPECT_EQ(c.head_fraction(), "2/4");
  EXPECT_FALSE(c.all_at_head());
}

TEST(FleetMembers, MemberEnvironmentKeepsTheFleetsSettingsAndNamesItsBackupFolder) {
  auto config = parse(k_fleet_yaml, {{"PW", "x"}});
  const auto members = fleet_members(config.get("prod").fleet->databases);
  const auto env = fleet_member_environment(config.get("prod"), members[1]);
  EXPECT_EQ(env.name, "prod");
  EXPECT_EQ(env.database, "tenant_b");
  EXPECT_EQ(env.promote_from.value_or(""), "test");
  EXPECT_FALSE(env.fleet);
  EXPECT_EQ(env.url.option("host"), "db2");
  const auto member_config = fleet_member_config(config, env);
  EXPECT_EQ(member_config.get("prod").database, "tenant_b");
  EXPECT_EQ(member_config.environments.size(), 2u);
}

}  // namespace
}  // namespace mgr
