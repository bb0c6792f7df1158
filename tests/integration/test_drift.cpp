// Schema drift against the sandbox server: snapshots, `mgr drift <env>`,
// `--accept`, two environments, `--against-migrations`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/process.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace {

const char* k_users = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n";
const char* k_users_down = "DROP TABLE users;\n";
const char* k_orders =
    "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), total numeric);\n";
const char* k_orders_down = "DROP TABLE orders;\n";

void add_two(const Project& p) {
  p.add("0001_users.sql", k_users);
  p.add("0001_users.down.sql", k_users_down);
  p.add("0002_orders.sql", k_orders);
  p.add("0002_orders.down.sql", k_orders_down);
}

// What apply, rollback, baseline, repair and restore do after a successful
// change: record a snapshot (called directly here to test the function).
std::string record_after_change(const Project& p, const std::string& env_name, const std::string& action = "apply") {
  auto config = mgr::load_config(p.config_path());
  const auto& env = config.get(env_name);
  mgr::Session session(env, "mgr test");
  auto sha = mgr::snapshot_after_change(session, config, env, action);
  EXPECT_TRUE(sha.has_value());
  return sha.value_or("");
}

mgr::SchemaText capture(const Project& p, const std::string& env_name) {
  auto config = mgr::load_config(p.config_path());
  const auto& env = config.get(env_name);
  mgr::Session session(env, "mgr test");
  return mgr::capture_schema(session, config, env);
}

// Applied; `mgr apply` records the snapshot itself.
void apply_and_record(const Project& p, const std::string& env_name, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"apply", env_name};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = p.mgr(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

std::string current_snapshot(PgTestDb& db, const std::string& what = "sha256") {
  return db.scalar("SELECT " + what + " FROM schema_migrations_schema WHERE is_current");
}

std::string config_with_scratch(Project& p, const std::string& scratch) {
  return "scratch_url: " + scratch + "\nenvironments:\n  dev:\n    url: " + p.url(0) +
         "\n    backup: off\n  test:\n    url: " + p.url(1) + "\n    promote_from: dev\n    backup: off\n";
}

class DriftTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};
using DriftSnapshotTest = DriftTest;
using DriftCommandTest = DriftTest;
using DriftPairTest = DriftTest;
using DriftAcceptTest = DriftTest;
using DriftAgainstMigrationsTest = DriftTest;
using DriftWiringTest = DriftTest;
using DriftApplyGateTest = DriftTest;
using DriftReportTest = DriftTest;

}  // namespace

// ---- snapshots ----

TEST_F(DriftSnapshotTest, ExcludesMgrsOwnTablesAndIsStableAcrossCaptures) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  record_after_change(p, "dev");
  auto first = capture(p, "dev");
  auto second = capture(p, "dev");
  EXPECT_EQ(first.sha256, second.sha256);
  EXPECT_EQ(first.canonical, second.canonical);
  EXPECT_THAT(first.canonical, HasSubstr("CREATE TABLE public.users ("));
  EXPECT_THAT(first.canonical, HasSubstr("CREATE TABLE public.orders ("));
  // Neither the tables, nor their sequences, indexes or defaults.
  EXPECT_THAT(first.canonical, Not(HasSubstr("schema_migrations")));
  EXPECT_THAT(first.canonical, Not(HasSubstr("restrict")));
  EXPECT_THAT(first.canonical, Not(HasSubstr("Dumped by")));
  // The tables exist, so the exclusion is what keeps them out.
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('schema_migrations') IS NOT NULL AND to_regclass('schema_migrations_log') "
                           "IS NOT NULL AND to_regclass('schema_migrations_schema') IS NOT NULL"),
            "t");
}

TEST_F(DriftSnapshotTest, ExcludesMgrsTablesInTheirOwnSchema) {
  Project p;
  p.write_config("history_table: ops.mgr_history\nenvironments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n");
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  record_after_change(p, "dev");
  auto schema = capture(p, "dev");
  EXPECT_THAT(schema.canonical, Not(HasSubstr("mgr_history")));
  EXPECT_THAT(schema.canonical, HasSubstr("CREATE SCHEMA ops;"));  // mgr made it, but it is a schema like any other
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM ops.mgr_history_schema WHERE is_current"), "1");
  auto r = p.mgr({"drift", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(DriftSnapshotTest, RecordsOneCurrentSnapshotPerSchemaText) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  auto one = record_after_change(p, "dev");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto two = record_after_change(p, "dev");
  EXPECT_NE(one, two);
  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "1"}).exit_code, 0);
  auto back = record_after_change(p, "dev", "rollback");
  // The schema is the one after 0001 again: same key, that row current again.
  EXPECT_EQ(back, one);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_schema"), "2");
  EXPECT_EQ(p.dev().scalar("SELECT sha256 || ':' || action FROM schema_migrations_schema WHERE is_current"),
            one + ":rollback");
}

TEST_F(DriftSnapshotTest, PasswordOnlyInPgDumpsEnvironment) {
  Project p;
  const std::string role = fmt::format("mgr_drift_secret_{}", ::getpid());
  const std::string secret = "S3cret-drift-pw";
  p.dev().exec(fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN SUPERUSER PASSWORD '{1}'", role, secret));
  TempDir bin;
  const auto real = mgr::find_pg_program("pg_dump", {});
  // Records its command line as the kernel sees it and its PGPASSWORD, then does the real work.
  write_file(bin / "pg_dump", fmt::format("#!/bin/sh\ntr '\\0' ' ' < /proc/$$/cmdline >> '{0}'\necho >> '{0}'\n"
                                          "printf '%s\\n' \"$PGPASSWORD\" >> '{1}'\nexec '{2}' \"$@\"\n",
                                          (bin / "argv.log").string(), (bin / "env.log").string(), real.string()));
  ::chmod((bin / "pg_dump").c_str(), 0755);
  auto url = p.url(0);
  url.replace(url.find("://") + 3, std::string("postgres").size(), role + ":" + secret);
  p.write_config("environments:\n  dev:\n    url: " + url + "\n    backup: off\n    pg_bin_dir: " + bin.path().string() +
                 "\n");
  p.dev().exec("CREATE TABLE t (id int)");
  auto accept = p.mgr({"drift", "dev", "--accept"});
  p.dev().exec("ALTER TABLE t ADD COLUMN c text");
  auto drift = p.mgr({"drift", "dev", "--json"});
  p.dev().exec("REASSIGN OWNED BY " + role + " TO CURRENT_USER; DROP ROLE " + role);  // it made mgr's tables
  ASSERT_EQ(accept.exit_code, 0) << accept.out << accept.err;
  EXPECT_EQ(drift.exit_code, 3) << drift.out << drift.err;
  auto argv_log = read_file(bin / "argv.log");
  EXPECT_THAT(argv_log, HasSubstr("--schema-only"));
  EXPECT_THAT(argv_log, HasSubstr("--dbname="));
  EXPECT_THAT(argv_log, Not(HasSubstr(secret)));
  EXPECT_THAT(read_file(bin / "env.log"), HasSubstr(secret));
  for (const auto* text : {&accept.out, &accept.err, &drift.out, &drift.err}) EXPECT_THAT(*text, Not(HasSubstr(secret)));
}

// ---- mgr drift <env> ----

TEST_F(DriftCommandTest, AColumnAddedByHandIsFoundAndTheDiffNamesIt) {
  Project p;
  add_two(p);
  apply_and_record(p, "dev");
  auto clean = p.mgr({"drift", "dev"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("dev: no drift"));

  p.dev().exec("ALTER TABLE users ADD COLUMN nickname text");
  auto r = p.mgr({"drift", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("DRIFT"));
  EXPECT_THAT(r.out, HasSubstr("+    nickname text\n"));
  EXPECT_THAT(r.out, HasSubstr("-- Name: users; Type: TABLE"));  // the hunk names the table
  EXPECT_THAT(r.out, HasSubstr("--accept"));
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b[")));  // not a terminal: no colour
  EXPECT_THAT(r.err, HasSubstr("schema drift"));

  auto j = p.mgr({"drift", "dev", "--json"});
  EXPECT_EQ(j.exit_code, 3) << j.out << j.err;
  auto doc = json::parse(j.out);
  EXPECT_EQ(doc["status"], "drift");
  EXPECT_EQ(doc["snapshot"]["action"], "apply");
  ASSERT_EQ(doc["hunks"].size(), 1u);
  auto lines = doc["hunks"][0]["lines"].dump();
  EXPECT_THAT(lines, HasSubstr("\"+    nickname text\""));
  EXPECT_EQ(doc["added"], 2);    // the new line, and the comma after the previous one
  EXPECT_EQ(doc["removed"], 1);
}

TEST_F(DriftCommandTest, AnIndexAddedByHandInProdIsFound) {
  Project p;
  add_two(p);
  apply_and_record(p, "dev");
  apply_and_record(p, "test");
  apply_and_record(p, "prod");
  p.prod().exec("CREATE INDEX orders_user_id ON orders (user_id)");
  auto r = p.mgr({"drift", "prod"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("+CREATE INDEX orders_user_id ON public.orders USING btree (user_id);"));
  EXPECT_EQ(p.mgr({"drift", "test"}).exit_code, 0);
}

TEST_F(DriftCommandTest, AChangeMadeAndUndoneByHandIsNoDrift) {
  Project p;
  add_two(p);
  apply_and_record(p, "dev");
  p.dev().exec("ALTER TABLE users ADD COLUMN tmp text; CREATE INDEX users_email ON users (email);");
  ASSERT_EQ(p.mgr({"drift", "dev"}).exit_code, 3);
  p.dev().exec("ALTER TABLE users DROP COLUMN tmp; DROP INDEX users_email;");
  auto r = p.mgr({"drift", "dev"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("no drift"));
}

TEST_F(DriftCommandTest, NoSnapshotYetSaysSoAndIsNotAPass) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.dev().exec("DROP TABLE schema_migrations_schema");  // as after an apply from before drift detection
  auto r = p.mgr({"drift", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("no schema snapshot yet"));
  EXPECT_THAT(r.out, HasSubstr("mgr drift dev --accept"));
  auto j = json::parse(p.mgr({"drift", "dev", "--json"}).out);
  EXPECT_EQ(j["status"], "no-snapshot");
  EXPECT_TRUE(j["snapshot"].is_null());
}

TEST_F(DriftCommandTest, UsageErrors) {
  Project p;
  EXPECT_EQ(p.mgr({"drift"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "dev", "test", "prod"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "dev", "test", "--accept"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "dev", "--reason", "x"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "dev", "dev"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "nope"}).exit_code, 2);
  EXPECT_EQ(p.mgr({"drift", "dev", "--accept", "--against-migrations"}).exit_code, 2);
}

// ---- --accept ----

TEST_F(DriftAcceptTest, AcceptingADriftNeedsAReasonAndIsAudited) {
  Project p;
  add_two(p);
  apply_and_record(p, "dev");
  p.dev().exec("ALTER TABLE orders ADD COLUMN note text");
  auto no_reason = p.mgr({"drift", "dev", "--accept"});
  EXPECT_EQ(no_reason.exit_code, 2) << no_reason.out << no_reason.err;
  EXPECT_THAT(no_reason.err, HasSubstr("--reason"));
  EXPECT_EQ(p.mgr({"drift", "dev"}).exit_code, 3);  // nothing was recorded

  auto r = p.mgr({"drift", "dev", "--accept", "--reason", "hotfix INC-42, reviewed by ops"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("+    note text"));
  EXPECT_THAT(r.out, HasSubstr("recorded in the audit log"));
  auto rows = p.dev().rows(
      "SELECT action, outcome, os_user, db_user, detail FROM schema_migrations_log WHERE action = 'drift-accept'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][1], "ok");
  EXPECT_THAT(rows[0][2], HasSubstr("@"));  // who: os user@host
  EXPECT_FALSE(rows[0][3].empty());         // and the database role
  EXPECT_THAT(rows[0][4], HasSubstr("hotfix INC-42, reviewed by ops"));
  EXPECT_THAT(rows[0][4], HasSubstr("1 removed outside mgr"));
  EXPECT_EQ(p.dev().scalar("SELECT action FROM schema_migrations_schema WHERE is_current"), "drift-accept");

  auto after = p.mgr({"drift", "dev"});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_THAT(after.out, HasSubstr("after drift-accept"));
  // `mgr log` shows it too.
  EXPECT_THAT(p.mgr({"log", "dev"}).out, HasSubstr("drift-accept"));
}

TEST_F(DriftAcceptTest, FirstSnapshotOfAnOldDatabaseNeedsNoReason) {
  Project p;
  p.dev().exec(std::string(k_users));  // a database mgr never touched
  auto r = p.mgr({"drift", "dev", "--accept"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("first schema snapshot"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'drift-accept'"), "1");
  EXPECT_EQ(p.mgr({"drift", "dev"}).exit_code, 0);
  auto again = p.mgr({"drift", "dev", "--accept", "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(json::parse(again.out)["accepted"], false);  // nothing to accept: no new audit row
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'drift-accept'"), "1");
}

// ---- two environments ----

TEST_F(DriftPairTest, SameMigrationsOneChangedByHandIsDrift) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto same = p.mgr({"drift", "dev", "test"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_THAT(same.out, HasSubstr("same schema"));

  p.test().exec("ALTER TABLE users ADD COLUMN phone text");
  auto r = p.mgr({"drift", "dev", "test"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("same migrations, different schemas"));
  EXPECT_THAT(r.out, HasSubstr("--- dev"));
  EXPECT_THAT(r.out, HasSubstr("+++ test"));
  EXPECT_THAT(r.out, HasSubstr("+    phone text"));
  auto j = json::parse(p.mgr({"drift", "dev", "test", "--json"}).out);
  EXPECT_EQ(j["status"], "drift");
  EXPECT_EQ(j["same_migrations"], true);
  EXPECT_EQ(j["hunks"].size(), 1u);
}

TEST_F(DriftPairTest, DifferentMigrationsAreSaidFirstAndAreNotDrift) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test", "--to", "0001"}).exit_code, 0);
  auto r = p.mgr({"drift", "dev", "test"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("are at different migrations"));
  EXPECT_THAT(r.out, HasSubstr("only in dev: 0002_orders"));
  EXPECT_LT(r.out.find("different migrations"), r.out.find("--- dev"));
  EXPECT_THAT(r.out, HasSubstr("-CREATE TABLE public.orders ("));
  auto j = json::parse(p.mgr({"drift", "dev", "test", "--json"}).out);
  EXPECT_EQ(j["status"], "different-migrations");
  EXPECT_EQ(j["only_in"]["dev"], json::array({"0002_orders"}));
}

TEST_F(DriftPairTest, TwoNamesForOneDatabaseDoNotWaitForEachOthersLock) {
  Project p;
  p.write_config("environments:\n  dev:\n    url: " + p.url(0) + "\n    lock_wait: 1s\n  copy:\n    url: " + p.url(0) +
                 "\n    lock_wait: 1s\n");
  p.dev().exec(k_users);
  auto r = p.mgr({"drift", "dev", "copy"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("same schema"));
}

// ---- --against-migrations ----

TEST_F(DriftAgainstMigrationsTest, ABaselinedDatabaseIsComparedWithItsMigrations) {
  Project p;
  p.write_config(config_with_scratch(p, admin_url()));
  add_two(p);
  // Built before mgr, then baselined: no snapshot, the history says nothing about the schema.
  p.dev().exec(std::string(k_users) + k_orders);
  ASSERT_EQ(p.mgr({"baseline", "dev", "--to", "0002"}).exit_code, 0);
  auto r = p.mgr({"-v", "drift", "dev", "--against-migrations"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("no drift: the schema is what the 2 migration(s) recorded in dev (up to 0002) make"));

  // The scratch database is gone afterwards.
  auto at = r.err.find("created scratch database ");
  ASSERT_NE(at, std::string::npos) << r.err;
  auto name = r.err.substr(at + 25, r.err.find(' ', at + 25) - at - 25);
  EXPECT_THAT(name, HasSubstr("mgr_scratch_"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'"), "0");
  EXPECT_THAT(r.err, Not(HasSubstr("could not drop")));

  p.dev().exec("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2)");
  auto d = p.mgr({"drift", "dev", "--against-migrations"});
  EXPECT_EQ(d.exit_code, 3) << d.out << d.err;
  EXPECT_THAT(d.out, HasSubstr("-    total numeric\n"));
  EXPECT_THAT(d.out, HasSubstr("+    total numeric(12,2)\n"));
}

TEST_F(DriftAgainstMigrationsTest, OnlyTheAppliedMigrationsAreBuilt) {
  Project p;
  p.write_config(config_with_scratch(p, admin_url()));
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  auto r = p.mgr({"drift", "dev", "--against-migrations", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["status"], "same");
  EXPECT_EQ(j["migrations"], json::array({"0001_users"}));
}

TEST_F(DriftAgainstMigrationsTest, AFailingMigrationFailsAndTheScratchDatabaseIsDropped) {
  Project p;
  p.write_config(config_with_scratch(p, admin_url()));
  p.add("0001_users.sql", k_users);
  p.add("0002_needs_data.sql", "INSERT INTO users VALUES (1, 'a'); SELECT 1 / 0;\n");
  // dev got 0002 recorded without running it: a scratch database cannot build it.
  p.dev().exec(k_users);
  ASSERT_EQ(p.mgr({"baseline", "dev", "--to", "0002"}).exit_code, 0);
  auto r = p.mgr({"-v", "drift", "dev", "--against-migrations"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0002_needs_data does not apply to an empty database"));
  auto at = r.err.find("created scratch database ");
  ASSERT_NE(at, std::string::npos) << r.err;
  auto name = r.err.substr(at + 25, r.err.find(' ', at + 25) - at - 25);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'"), "0");
  EXPECT_THAT(r.err, Not(HasSubstr("could not drop")));
}

TEST_F(DriftAgainstMigrationsTest, WithoutScratchUrlIsAConfigError) {
  Project p;
  add_two(p);
  auto r = p.mgr({"drift", "dev", "--against-migrations"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("scratch_url"));
}

// ---- snapshots after every change ----

TEST_F(DriftWiringTest, ApplyRecordsASnapshotAndMarksItsAuditRowANoOpApplyRecordsNone) {
  Project p;
  add_two(p);
  auto r = p.mgr({"apply", "dev", "--to", "0001", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto sha = capture(p, "dev").sha256;
  EXPECT_EQ(json::parse(r.out)["schema_sha256"], sha);
  EXPECT_EQ(current_snapshot(p.dev(), "sha256 || ':' || action"), sha + ":apply");
  EXPECT_EQ(p.mgr({"drift", "dev"}).exit_code, 0);
  // The audit row of the apply carries the key of the schema it left.
  EXPECT_EQ(p.dev().scalar("SELECT migration_id || ':' || schema_sha256 FROM schema_migrations_log "
                           "WHERE action = 'apply' ORDER BY id DESC LIMIT 1"),
            "0001:" + sha);

  // A no-op apply changes nothing and records nothing.
  const auto recorded_at = current_snapshot(p.dev(), "recorded_at::text");
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  EXPECT_EQ(current_snapshot(p.dev(), "recorded_at::text"), recorded_at);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_schema"), "1");

  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  EXPECT_EQ(current_snapshot(p.dev()), capture(p, "dev").sha256);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE schema_sha256 IS NOT NULL"), "2");
}

TEST_F(DriftWiringTest, RollbackRepairBaselineAndRestoreRecordSnapshots) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);

  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "1", "--yes"}).exit_code, 0);
  EXPECT_EQ(current_snapshot(p.dev(), "action"), "rollback");
  EXPECT_EQ(current_snapshot(p.dev()), capture(p, "dev").sha256);
  EXPECT_EQ(p.dev().scalar("SELECT schema_sha256 FROM schema_migrations_log WHERE action = 'rollback'"),
            current_snapshot(p.dev()));

  // repair: a file edited after it was applied gets its checksum re-recorded.
  p.add("0001_users.sql", std::string(k_users) + "-- a comment\n");
  auto repaired = p.mgr({"repair", "dev", "--yes"});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_EQ(current_snapshot(p.dev(), "action"), "repair");
  EXPECT_EQ(p.dev().scalar("SELECT schema_sha256 FROM schema_migrations_log WHERE action = 'repair'"),
            current_snapshot(p.dev()));

  // baseline: a database mgr never touched.
  p.test().exec(std::string(k_users));
  auto baselined = p.mgr({"baseline", "test", "--to", "0001", "--yes"});
  ASSERT_EQ(baselined.exit_code, 0) << baselined.out << baselined.err;
  EXPECT_EQ(current_snapshot(p.test(), "action"), "baseline");
  EXPECT_EQ(current_snapshot(p.test()), capture(p, "test").sha256);
  EXPECT_EQ(p.mgr({"drift", "test"}).exit_code, 0);

  // restore: the schema that came back is the one recorded.
  auto backup = p.mgr({"backup", "dev", "--json"});
  ASSERT_EQ(backup.exit_code, 0) << backup.out << backup.err;
  const auto file = json::parse(backup.out)["file"].get<std::string>();
  const auto before = capture(p, "dev").sha256;
  p.dev().exec("ALTER TABLE users ADD COLUMN nickname text");
  auto restored = p.mgr({"restore", "dev", file, "--yes", "--no-safety-backup"});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_EQ(capture(p, "dev").sha256, before);
  EXPECT_EQ(current_snapshot(p.dev(), "sha256 || ':' || action"), before + ":restore");
  EXPECT_EQ(p.mgr({"drift", "dev"}).exit_code, 0);
}

// ---- apply checks drift first ----

TEST_F(DriftApplyGateTest, BlockRefusesWithTheDiffAndChangesNothingUnlessAllowDrift) {
  Project p("    backup: required\n");
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev", "--to", "0001"}).exit_code, 0);
  const auto log_rows = p.dev().scalar("SELECT count(*) FROM schema_migrations_log");
  p.dev().exec("ALTER TABLE users ADD COLUMN nickname text");

  auto dry = p.mgr({"apply", "dev", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 3) << dry.out << dry.err;
  EXPECT_THAT(dry.err, HasSubstr("dry run: apply to dev would be refused"));
  EXPECT_THAT(dry.err, HasSubstr("+    nickname text"));

  auto r = p.mgr({"apply", "dev"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("apply to dev refused; nothing was changed"));
  EXPECT_THAT(r.err, HasSubstr("+    nickname text"));
  EXPECT_THAT(r.err, HasSubstr("--allow-drift"));
  EXPECT_THAT(r.out, Not(HasSubstr("backup:")));  // refused before the backup
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations WHERE migration_id = '0002'"), "0");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log"), log_rows);

  auto j = p.mgr({"apply", "dev", "--json"});
  EXPECT_EQ(j.exit_code, 3);
  EXPECT_EQ(json::parse(j.out)["drift"], "drift");

  auto allowed = p.mgr({"apply", "dev", "--allow-drift"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
  EXPECT_THAT(allowed.err, HasSubstr("+    nickname text"));  // the diff is still shown
  EXPECT_THAT(allowed.out, HasSubstr("backup:"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations WHERE migration_id = '0002'"), "1");
  // The new snapshot includes the hand change: it was applied over on purpose.
  EXPECT_EQ(p.mgr({"drift", "dev"}).exit_code, 0);
}

TEST_F(DriftApplyGateTest, WarnGoesOnOffSkipsAndNoSnapshotNeverRefuses) {
  Project p;
  p.write_config("environments:\n  dev:\n    url: " + p.url(0) + "\n    backup: off\n    drift: warn\n  test:\n    url: " +
                 p.url(1) + "\n    backup: off\n    drift: off\n  prod:\n    url: " + p.url(2) + "\n    backup: off\n");
  add_two(p);
  for (const std::string env : {"dev", "test"}) {
    ASSERT_EQ(p.mgr({"apply", env, "--to", "0001"}).exit_code, 0);
  }
  p.dev().exec("ALTER TABLE users ADD COLUMN nickname text");
  p.test().exec("ALTER TABLE users ADD COLUMN nickname text");
  auto warned = p.mgr({"apply", "dev"});
  EXPECT_EQ(warned.exit_code, 0) << warned.out << warned.err;
  EXPECT_THAT(warned.err, HasSubstr("DRIFT"));
  EXPECT_THAT(warned.err, HasSubstr("+    nickname text"));
  auto off = p.mgr({"apply", "test"});
  EXPECT_EQ(off.exit_code, 0) << off.out << off.err;
  EXPECT_THAT(off.err, Not(HasSubstr("nickname")));
  // Snapshots are recorded whatever the setting.
  EXPECT_EQ(current_snapshot(p.test()), capture(p, "test").sha256);

  // prod (block) has no snapshot: never refused, said at -v.
  p.prod().exec("CREATE TABLE legacy (id int)");
  auto first = p.mgr({"-v", "apply", "prod"});
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_THAT(first.err, HasSubstr("no schema snapshot yet"));
  EXPECT_EQ(current_snapshot(p.prod(), "action"), "apply");
}

// ---- validate and status ----

TEST_F(DriftReportTest, ValidateReportsDriftAndSchemasThatDifferAtTheSameMigrations) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  auto clean = p.mgr({"validate", "--env", "dev", "--env", "test"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;

  p.test().exec("CREATE INDEX orders_user_id ON orders (user_id)");
  auto r = p.mgr({"validate", "--env", "dev", "--env", "test", "--json"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"schema-drift\""));
  EXPECT_THAT(r.out, HasSubstr("\"schema-differs\""));
  auto text = p.mgr({"validate", "--env", "dev", "--env", "test"});
  EXPECT_THAT(text.out, HasSubstr("[schema-drift] test"));
  // Offline: files only.
  auto offline = p.mgr({"validate", "--offline"});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_THAT(offline.out, Not(HasSubstr("schema-")));

  // Accepted in test: no drift any more, but test and dev still differ at the same migrations.
  ASSERT_EQ(p.mgr({"drift", "test", "--accept", "--reason", "index kept"}).exit_code, 0);
  auto differs = p.mgr({"validate", "--env", "dev", "--env", "test"});
  EXPECT_EQ(differs.exit_code, 3) << differs.out << differs.err;
  EXPECT_THAT(differs.out, Not(HasSubstr("[schema-drift]")));
  EXPECT_THAT(differs.out, HasSubstr("[schema-differs]"));
}

TEST_F(DriftReportTest, StatusMarksADriftedEnvironment) {
  Project p;
  add_two(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto same = p.mgr({"status", "dev", "test", "--json"});
  auto doc = json::parse(same.out);
  EXPECT_EQ(doc["summary"][0]["drift"], "same");
  EXPECT_EQ(doc["summary"][1]["drift"], "no-snapshot");

  p.dev().exec("ALTER TABLE users ADD COLUMN nickname text");
  auto r = p.mgr({"status", "dev", "--json"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;  // apply would refuse (drift: block)
  EXPECT_EQ(json::parse(r.out)["summary"][0]["drift"], "drifted");
  auto text = p.mgr({"status", "dev"});
  EXPECT_EQ(text.exit_code, 3);
  EXPECT_THAT(text.out, HasSubstr("drifted: dev: DRIFT"));
  EXPECT_THAT(text.out, HasSubstr("mgr drift dev"));
}
