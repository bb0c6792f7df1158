// mgr validate end to end: the built binary against the sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace {

const char* k_items = "CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, label text);\n";
const char* k_items_down = "DROP TABLE items;\n";
const char* k_tags = "CREATE TABLE IF NOT EXISTS tags (id bigint PRIMARY KEY, name text);\n";
const char* k_tags_down = "DROP TABLE tags;\n";
const char* k_note = "ALTER TABLE items ADD COLUMN IF NOT EXISTS note text;\n";
const char* k_note_down = "ALTER TABLE items DROP COLUMN note;\n";
// No server there: a port that refuses connections at once (refused_port).
const std::string k_unreachable = refused_url("nowhere", "postgres@");

void add_three(const Project& p) {
  p.add("0001_items.sql", k_items);
  p.add("0001_items.down.sql", k_items_down);
  p.add("0002_tags.sql", k_tags);
  p.add("0002_tags.down.sql", k_tags_down);
  p.add("0003_note.sql", k_note);
  p.add("0003_note.down.sql", k_note_down);
}

std::string env_yaml(const std::string& name, const std::string& url, const std::string& from = "") {
  std::string y = "  " + name + ":\n    url: \"" + url + "\"\n    backup: off\n";
  if (!from.empty()) y += "    promote_from: " + from + "\n";
  return y;
}

// The findings of `mgr validate --json` with this code.
std::vector<json> findings(const json& doc, const std::string& code) {
  std::vector<json> out;
  for (const auto& f : doc["findings"]) {
    if (f["code"] == code) out.push_back(f);
  }
  return out;
}

json validate_json(const Project& p, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"validate", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = p.mgr(args);
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.exit_code << r.err;
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc["ok"].get<bool>(), r.exit_code == 0) << r.out;
  return doc;
}

// The same database under another spelling of its URL: another host name for
// the same server when the URL names 127.0.0.1, else an extra parameter.
std::string respelled(const std::string& url) {
  auto at = url.find("127.0.0.1");
  if (at != std::string::npos) return url.substr(0, at) + "localhost" + url.substr(at + 9);
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=10";
}

class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

// Offline needs no server at all, so it runs without MGR_REQUIRE_DB.
TEST(ValidateOffline, ReportsEveryFileFindingWithoutTouchingADatabase) {
  TempDir dir;
  write_file(dir / "config/environments.yaml",
             "environments:\n" + env_yaml("dev", k_unreachable) + env_yaml("prod", k_unreachable, "dev"));
  auto m = dir / "migrations";
  write_file(m / "0001_items.sql", k_items);
  write_file(m / "0002_broken.sql", "CREATE TABLE IF NOT EXISTS a (id bigint);\nSELEC 1;\n");
  write_file(m / "0003_x.sql", "SELECT 1;\n");
  write_file(m / "3_y.sql", "SELECT 1;\n");
  write_file(m / "0004_orphan.down.sql", "SELECT 1;\n");
  write_file(m / "0005_empty.sql", "\n");
  write_file(m / "0006_directive.sql", "-- mgr:bogus\nSELECT 1;\n");
  write_file(m / "AddUsers.sql", "SELECT 1;\n");
  write_file(m / "0007_drop.sql", "ALTER TABLE items DROP COLUMN label;\n");

  auto r = run_mgr({"validate", "--offline"}, {{"MGR_CONFIG", ""}}, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  for (const char* code : {"[invalid-name]", "[duplicate-id]", "[orphan-down]", "[empty-file]", "[unknown-directive]",
                           "[parse-error] 0002", "[lint-drop-column] 0007"}) {
    EXPECT_THAT(r.out, HasSubstr(code)) << r.out;
  }
  EXPECT_THAT(r.out, HasSubstr("0002_broken.sql:2:1: does not parse"));
  EXPECT_THAT(r.out, Not(HasSubstr("unreachable")));
  EXPECT_THAT(r.out, HasSubstr("offline (no database)"));
  EXPECT_THAT(r.out, HasSubstr("release gate: FAILED"));
  EXPECT_THAT(r.err, HasSubstr("validate found"));

  auto j = run_mgr({"validate", "--offline", "--json"}, {{"MGR_CONFIG", ""}}, dir.path());
  EXPECT_EQ(j.exit_code, 3);
  auto doc = json::parse(j.out);
  EXPECT_FALSE(doc["ok"].get<bool>());
  auto parse = findings(doc, "parse-error");
  ASSERT_EQ(parse.size(), 1u);
  EXPECT_EQ(parse[0]["severity"], "error");
  EXPECT_EQ(parse[0]["migration"], "0002");
  EXPECT_TRUE(parse[0]["environment"].is_null());
  EXPECT_FALSE(parse[0]["advice"].get<std::string>().empty());
  EXPECT_EQ(findings(doc, "orphan-down").at(0)["migration"], "0004");
  EXPECT_EQ(findings(doc, "unreachable").size(), 0u);
}

TEST(ValidateOffline, CleanFilesPassWithAnUnreachableServer) {
  TempDir dir;
  write_file(dir / "config/environments.yaml", "environments:\n" + env_yaml("dev", k_unreachable));
  write_file(dir / "migrations/0001_items.sql", k_items);
  auto r = run_mgr({"validate", "--offline"}, {{"MGR_CONFIG", ""}}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("release gate: passed"));
}

TEST(ValidateOffline, ConfigErrorsExitTwo) {
  TempDir dir;
  write_file(dir / "config/environments.yaml", "environments:\n  dev:\n    urll: x\n");
  EXPECT_EQ(run_mgr({"validate", "--offline"}, {{"MGR_CONFIG", ""}}, dir.path()).exit_code, 2);
  write_file(dir / "config/environments.yaml", "environments:\n" + env_yaml("dev", k_unreachable));
  auto r = run_mgr({"validate", "--offline", "--env", "staging"}, {{"MGR_CONFIG", ""}}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("staging"));
}

TEST_F(ValidateTest, CleanProjectPassesAndSaysWhatEachEnvironmentCanTake) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test", "--to", "0002"}).exit_code, 0);
  auto r = p.mgr({"validate"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("info    [can-apply] dev: dev is up to date"));
  EXPECT_THAT(r.out, HasSubstr("[can-promote] test: test can take 1 migration from dev: 0003"));
  EXPECT_THAT(r.out, HasSubstr("[can-promote] prod: prod can take 2 migrations from test: 0001, 0002; 1 more pending wait for test"));
  EXPECT_THAT(r.out, HasSubstr("release gate: passed"));

  auto doc = validate_json(p);
  EXPECT_TRUE(doc["ok"].get<bool>());
  auto promote = findings(doc, "can-promote");
  ASSERT_EQ(promote.size(), 2u);
  EXPECT_EQ(promote[1]["environment"], "prod");
  EXPECT_EQ(promote[1]["severity"], "info");
}

TEST_F(ValidateTest, EveryEnvironmentFindingInTextAndJson) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test", "--to", "0001"}).exit_code, 0);
  // dev: a checksum that no longer matches the file.
  p.dev().exec("UPDATE schema_migrations SET checksum = 'edited' WHERE migration_id = '0002'");
  // test: a row whose file is gone (also newer than the pending 0002/0003 and
  // unknown to dev), and a failed row.
  p.test().exec(
      "INSERT INTO schema_migrations (migration_id, name, checksum, environment, success) VALUES "
      "('0009', 'gone', 'abc', 'test', true), ('0008', 'half', 'def', 'test', false)");
  // prod: a hand-made history table that says the database belongs to 'staging'.
  p.prod().exec(
      "CREATE TABLE schema_migrations (migration_id varchar(255) UNIQUE NOT NULL, name text NOT NULL, checksum text "
      "NOT NULL, environment text NOT NULL, success boolean NOT NULL);"
      "INSERT INTO schema_migrations VALUES ('0001', 'items', 'x', 'staging', true)");

  auto r = p.mgr({"validate"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("error   [checksum-mismatch] dev 0002:"));
  EXPECT_THAT(r.out, HasSubstr("[missing-file] test 0009:"));
  EXPECT_THAT(r.out, HasSubstr("[failed-migration] test 0008:"));
  EXPECT_THAT(r.out, HasSubstr("[out-of-order] test 0002:"));
  EXPECT_THAT(r.out, HasSubstr("[environment-mismatch] prod:"));
  EXPECT_THAT(r.out, HasSubstr("[promotion-order-broken] test 0009:"));
  EXPECT_THAT(r.out, HasSubstr("-> restore the file as it was applied, or run `mgr repair dev`"));

  auto doc = validate_json(p);
  EXPECT_FALSE(doc["ok"].get<bool>());
  struct Expect {
    const char* code;
    const char* env;
    const char* migration;  // nullptr: null
  };
  for (const auto& e : {Expect{"checksum-mismatch", "dev", "0002"}, Expect{"missing-file", "test", "0009"},
                        Expect{"failed-migration", "test", "0008"}, Expect{"out-of-order", "test", "0002"},
                        Expect{"environment-mismatch", "prod", nullptr},
                        Expect{"promotion-order-broken", "test", "0009"}}) {
    auto hits = findings(doc, e.code);
    ASSERT_FALSE(hits.empty()) << e.code << "\n" << doc.dump(2);
    EXPECT_EQ(hits[0]["severity"], "error") << e.code;
    EXPECT_EQ(hits[0]["environment"], e.env) << e.code;
    if (e.migration == nullptr) {
      EXPECT_TRUE(hits[0]["migration"].is_null()) << e.code;
    } else {
      EXPECT_EQ(hits[0]["migration"], e.migration) << e.code;
    }
    EXPECT_FALSE(hits[0]["message"].get<std::string>().empty());
    EXPECT_FALSE(hits[0]["advice"].get<std::string>().empty());
  }
}

TEST_F(ValidateTest, UnreachableEnvironmentIsAnErrorAndTheOthersAreStillChecked) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.dev().exec("UPDATE schema_migrations SET checksum = 'edited' WHERE migration_id = '0001'");
  p.write_config("environments:\n" + env_yaml("dev", p.url(0)) + env_yaml("test", k_unreachable, "dev") +
                 env_yaml("prod", p.url(2), "test"));
  auto r = p.mgr({"validate"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("[unreachable] test: test could not be read"));
  EXPECT_THAT(r.out, HasSubstr("[checksum-mismatch] dev 0001"));
  EXPECT_THAT(r.out, HasSubstr("[can-apply] dev"));
  // One line per finding: libpq's multi-line message is folded.
  for (std::size_t at = r.out.find("[unreachable]"); at != std::string::npos;) {
    auto line_end = r.out.find('\n', at);
    EXPECT_THAT(r.out.substr(at, line_end - at), HasSubstr("-> check the url"));
    break;
  }
  auto doc = validate_json(p);
  auto u = findings(doc, "unreachable");
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0]["environment"], "test");
  EXPECT_TRUE(u[0]["migration"].is_null());
  // prod promotes from the unreachable test: no cross-environment verdict is guessed.
  for (const auto& f : findings(doc, "can-promote")) EXPECT_NE(f["environment"], "prod");
}

TEST_F(ValidateTest, EnvFlagChecksOnlyThoseEnvironments) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  p.write_config("environments:\n" + env_yaml("dev", p.url(0)) + env_yaml("test", p.url(1), "dev") +
                 env_yaml("prod", k_unreachable, "test"));
  auto r = p.mgr({"validate", "--env", "test"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("test can take 3 migrations from dev"));
  EXPECT_THAT(r.out, Not(HasSubstr("prod")));
  EXPECT_EQ(p.mgr({"validate", "--env", "prod"}).exit_code, 3);
}

TEST_F(ValidateTest, SameDatabaseUnderTwoSpellingsIsFound) {
  Project p;
  add_three(p);
  auto other = respelled(p.url(0));
  ASSERT_NE(other, p.url(0));
  p.write_config("environments:\n" + env_yaml("dev", p.url(0)) + env_yaml("test", other, "dev") +
                 env_yaml("prod", p.url(2), "test"));
  auto r = p.mgr({"validate"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("[same-database] test: dev and test point at the same database"));
  auto doc = validate_json(p);
  auto same = findings(doc, "same-database");
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0]["environment"], "test");
  EXPECT_EQ(same[0]["severity"], "error");
}

TEST_F(ValidateTest, RollbackInTheSourceBreaksThePromotionOrderUntilTheyAgree) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "test"}).exit_code, 0);
  ASSERT_EQ(p.mgr({"validate"}).exit_code, 0);
  auto rb = p.mgr({"rollback", "dev", "--steps", "1"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  auto doc = validate_json(p);
  auto broken = findings(doc, "promotion-order-broken");
  ASSERT_EQ(broken.size(), 1u) << doc.dump(2);
  EXPECT_EQ(broken[0]["environment"], "test");
  EXPECT_EQ(broken[0]["migration"], "0003");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  EXPECT_EQ(p.mgr({"validate"}).exit_code, 0);
}
