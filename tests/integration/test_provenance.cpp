// Provenance on history and audit rows (issue 12), end to end: a project in a
// real git checkout, CI variables given to the mgr child, the real server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mgr/catalog.hpp"
#include "mgr/process.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace {

const char* k_items = "CREATE TABLE items (id bigint PRIMARY KEY, label text);\n";
const char* k_rows = "INSERT INTO items (id, label) VALUES (1, 'one'), (2, 'two');\n";
const char* k_note = "ALTER TABLE items ADD COLUMN IF NOT EXISTS note text;\n";

void add_three(const Project& p) {
  p.add("0001_items.sql", k_items);
  p.add("0001_items.down.sql", "DROP TABLE items;\n");
  p.add("0002_rows.sql", k_rows);
  p.add("0002_rows.down.sql", "DELETE FROM items WHERE id IN (1, 2);\n");
  p.add("0003_note.sql", k_note);
  p.add("0003_note.down.sql", "ALTER TABLE items DROP COLUMN note;\n");
}

// git through env(1) on PATH, no shell; an identity of its own so it commits anywhere.
std::string git(const std::filesystem::path& dir, std::vector<std::string> args) {
  mgr::ProcessSpec spec;
  spec.program = "/usr/bin/env";
  spec.args = {"git", "-C", dir.string(), "-c", "user.name=mgr test", "-c", "user.email=test@example.invalid"};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok()) << "git " << args.front() << ": " << r.describe() << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

std::string commit_all(const Project& p) {
  git(p.dir(), {"init", "-q"});
  git(p.dir(), {"add", "-A"});
  git(p.dir(), {"commit", "-q", "-m", "migrations"});
  return git(p.dir(), {"rev-parse", "HEAD"});
}

// Every CI system mgr knows, unset (an empty value removes it from the child's
// environment), so a test run inside some CI does not leak into the results.
std::map<std::string, std::string> no_ci() {
  std::map<std::string, std::string> env;
  for (const char* v : {"CI", "GITHUB_ACTIONS", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_REPOSITORY",
                        "GITHUB_SERVER_URL", "GITLAB_CI", "CI_JOB_ID", "CI_JOB_URL", "JENKINS_URL", "BUILD_URL",
                        "BUILD_NUMBER", "JOB_NAME", "CIRCLECI", "BUILDKITE", "TF_BUILD"}) {
    env[v] = "";
  }
  return env;
}

std::map<std::string, std::string> github_run(const std::string& id) {
  auto env = no_ci();
  env["CI"] = "true";
  env["GITHUB_ACTIONS"] = "true";
  env["GITHUB_RUN_ID"] = id;
  env["GITHUB_REPOSITORY"] = "acme/shop";
  env["GITHUB_SERVER_URL"] = "https://github.example";
  return env;
}

json log_entries(const Project& p, const std::string& env, const std::map<std::string, std::string>& vars) {
  auto r = p.mgr({"log", env, "--json"}, vars);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["entries"];
}

std::string action_of(const json& entry) {
  return entry["action"].get<std::string>() + ":" + (entry["migration"].is_null() ? "-" : entry["migration"].get<std::string>());
}

class ProvenanceTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST_F(ProvenanceTest, EveryActionRecordsTheCommitTheDirtyFlagAndTheCiRun) {
  Project p;
  add_three(p);
  const auto head = commit_all(p);
  ASSERT_EQ(head.size(), 40u);
  const auto ci = github_run("4242");

  p.dev().exec(k_items);
  ASSERT_EQ(p.mgr({"baseline", "dev", "--to", "0001"}, ci).exit_code, 0);
  ASSERT_EQ(p.mgr({"apply", "dev"}, ci).exit_code, 0);
  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "1"}, ci).exit_code, 0);
  p.dev().exec("CREATE TABLE hotfix (x int)");
  auto accepted = p.mgr({"drift", "dev", "--accept", "--reason", "hotfix kept"}, ci);
  ASSERT_EQ(accepted.exit_code, 0) << accepted.out << accepted.err;
  ASSERT_EQ(p.mgr({"backup", "dev"}, ci).exit_code, 0);
  std::filesystem::path dump;
  for (const auto& f : std::filesystem::directory_iterator(p.dir() / "schema-backups/dev")) {
    if (f.path().extension() == ".dump") dump = f.path();
  }
  ASSERT_FALSE(dump.empty());
  auto restored = p.mgr({"restore", "dev", dump.string(), "--yes", "--no-safety-backup"}, ci);
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  // An edited file makes the checkout dirty: the repair that re-records it says so.
  p.add("0002_rows.sql", std::string("-- edited\n") + k_rows);
  ASSERT_EQ(p.mgr({"repair", "dev", "--yes"}, ci).exit_code, 0);

  auto e = log_entries(p, "dev", ci);
  std::vector<std::string> seen;
  for (const auto& x : e) seen.push_back(action_of(x));
  EXPECT_EQ(seen, (std::vector<std::string>{"repair:0002", "restore:0002", "drift-accept:-", "rollback:0003",
                                            "apply:0003", "apply:0002", "baseline:0001"}))
      << e.dump(2);
  for (const auto& x : e) {
    const auto& prov = x["provenance"];
    EXPECT_EQ(prov["git_commit"], head) << action_of(x);
    EXPECT_EQ(prov["git_dirty"], action_of(x) == "repair:0002") << action_of(x);
    EXPECT_EQ(prov["ci"]["system"], "github-actions") << action_of(x);
    EXPECT_EQ(prov["ci"]["job"], "4242") << action_of(x);
    EXPECT_EQ(prov["ci"]["url"], "https://github.example/acme/shop/actions/runs/4242") << action_of(x);
    EXPECT_TRUE(prov["source_environment"].is_null()) << action_of(x);  // dev is promoted from nothing
  }
  // The history rows too, as status --json shows them.
  auto status = p.mgr({"status", "dev", "--json"}, ci);
  auto doc = json::parse(status.out);
  int applied = 0;
  for (const auto& m : doc["migrations"]) {
    const auto& cell = m["environments"]["dev"];
    if (cell["state"] == "pending") {  // 0003, rolled back: no row, no provenance
      EXPECT_FALSE(cell.contains("provenance")) << m.dump();
      continue;
    }
    ++applied;
    ASSERT_TRUE(cell.contains("provenance")) << m.dump();
    EXPECT_EQ(cell["provenance"]["git_commit"], head);
    EXPECT_EQ(cell["provenance"]["git_dirty"], false);
    EXPECT_EQ(cell["provenance"]["ci"]["job"], "4242");
  }
  EXPECT_EQ(applied, 2);
  // The text log fits 100 columns with the short commit and the job.
  auto text = p.mgr({"log", "dev"}, ci);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr(head.substr(0, 7) + "+dirty github-actions#4242"));
  EXPECT_THAT(text.out, HasSubstr(head.substr(0, 7) + " github-actions#4242"));
}

TEST_F(ProvenanceTest, APromotedApplyNamesItsSourceAndAResetItsAppliesOnly) {
  Project p;
  add_three(p);
  const auto head = commit_all(p);
  // Untracked files in the migrations folder make it dirty.
  p.add("0004_more.sql", "ALTER TABLE items ADD COLUMN IF NOT EXISTS more text;\n");
  auto vars = no_ci();
  vars["CI_JOB_ID"] = "77";
  vars["CI_JOB_URL"] = "https://gitlab-ci-token:s3cr3t-token@gitlab.example/acme/shop/-/jobs/77";
  for (const char* e : {"dev", "test", "prod"}) ASSERT_EQ(p.mgr({"apply", e, "--yes"}, vars).exit_code, 0) << e;
  auto reset = p.mgr({"reset", "prod", "--yes"}, vars);
  ASSERT_EQ(reset.exit_code, 0) << reset.out << reset.err;

  auto e = log_entries(p, "prod", vars);
  ASSERT_GE(e.size(), 5u);
  for (const auto& x : e) {
    const auto& prov = x["provenance"];
    EXPECT_EQ(prov["git_commit"], head);
    EXPECT_EQ(prov["git_dirty"], true);
    EXPECT_EQ(prov["ci"]["system"], "gitlab");
    EXPECT_EQ(prov["ci"]["job"], "77");
    EXPECT_EQ(prov["ci"]["url"], "https://***:***@gitlab.example/acme/shop/-/jobs/77");
    // The source is an apply's: a reset takes nothing from test.
    if (x["action"] == "apply") {
      EXPECT_EQ(prov["source_environment"], "test") << action_of(x);
    } else {
      EXPECT_TRUE(prov["source_environment"].is_null()) << action_of(x);
    }
  }
  EXPECT_EQ(log_entries(p, "test", vars)[0]["provenance"]["source_environment"], "dev");
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM schema_migrations WHERE source_environment = 'test'"), "4");
  // The token never reaches a table.
  for (auto* db : {&p.dev(), &p.test(), &p.prod()}) {
    EXPECT_EQ(db->scalar("SELECT count(*) FROM schema_migrations_log l WHERE l::text LIKE '%s3cr3t%'"), "0");
    EXPECT_EQ(db->scalar("SELECT count(*) FROM schema_migrations h WHERE h::text LIKE '%s3cr3t%'"), "0");
  }
  auto status = p.mgr({"status", "--json"}, vars);
  auto doc = json::parse(status.out);
  EXPECT_EQ(doc["migrations"][0]["environments"]["prod"]["provenance"]["source_environment"], "test");
  EXPECT_EQ(doc["migrations"][0]["environments"]["test"]["provenance"]["source_environment"], "dev");
  EXPECT_THAT(status.out, Not(HasSubstr("s3cr3t")));
}

TEST_F(ProvenanceTest, OutsideACheckoutAndCiEverythingIsNull) {
  Project p;
  add_three(p);
  ASSERT_EQ(p.mgr({"apply", "dev"}, no_ci()).exit_code, 0);
  for (const auto& x : log_entries(p, "dev", no_ci())) {
    EXPECT_EQ(x["provenance"], (json{{"git_commit", nullptr}, {"git_dirty", nullptr}, {"ci", nullptr},
                                      {"source_environment", nullptr}}));
  }
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations WHERE git_commit IS NULL AND ci_system IS NULL"),
            "3");
  // A generic CI says only that.
  auto vars = no_ci();
  vars["CI"] = "true";
  ASSERT_EQ(p.mgr({"rollback", "dev", "--steps", "1"}, vars).exit_code, 0);
  EXPECT_EQ(log_entries(p, "dev", vars)[0]["provenance"]["ci"], (json{{"system", "ci"}, {"job", nullptr}, {"url", nullptr}}));
  auto text = p.mgr({"log", "dev"}, vars);
  EXPECT_THAT(text.out, HasSubstr("\n    ci; ran 0003_note.down.sql"));
}

TEST_F(ProvenanceTest, TablesOfAnOlderMgrAreReadThenUpgradedInPlace) {
  Project p;
  add_three(p);
  // The history and log tables as mgr wrote them before provenance.
  p.dev().exec(
      "CREATE TABLE schema_migrations (id serial PRIMARY KEY, migration_id varchar(255) UNIQUE NOT NULL, "
      "name varchar(255) NOT NULL, checksum varchar(64) NOT NULL, environment varchar(50) NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now(), applied_by text, execution_ms integer, success boolean NOT NULL, "
      "mgr_version text, kind varchar(16) NOT NULL DEFAULT 'apply', down_checksum varchar(64), backup text, "
      "allowed_rules text NOT NULL DEFAULT '', in_progress boolean NOT NULL DEFAULT false);"
      "CREATE TABLE schema_migrations_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), "
      "action varchar(32) NOT NULL, migration_id varchar(255), os_user text NOT NULL, "
      "db_user text NOT NULL DEFAULT current_user, mgr_version text NOT NULL, outcome varchar(16) NOT NULL, "
      "duration_ms integer, backup text, detail text NOT NULL DEFAULT '');" +
      std::string(k_items) +
      "INSERT INTO schema_migrations (migration_id, name, checksum, environment, success) VALUES "
      "('0001', 'items', '" + mgr::file_checksum(read_file(p.dir() / "migrations/0001_items.sql")) + "', 'dev', true);"
      "INSERT INTO schema_migrations_log (action, migration_id, os_user, mgr_version, outcome) "
      "VALUES ('apply', '0001', 'old@host', '0.1', 'ok');");
  const auto head = commit_all(p);

  // Read as they are: nothing is added by reading.
  auto log = p.mgr({"log", "dev", "--json"}, no_ci());
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_TRUE(json::parse(log.out)["entries"][0]["provenance"]["git_commit"].is_null());
  auto status = p.mgr({"status", "dev", "--json"}, no_ci());
  ASSERT_EQ(json::parse(status.out)["migrations"][0]["environments"]["dev"]["state"], "applied") << status.out;
  EXPECT_TRUE(json::parse(status.out)["migrations"][0]["environments"]["dev"]["provenance"]["git_commit"].is_null());
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'git_commit'"), "0");

  // The next change adds the columns to both tables; old rows keep NULL.
  ASSERT_EQ(p.mgr({"apply", "dev"}, no_ci()).exit_code, 0);
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM information_schema.columns WHERE column_name IN ('git_commit', "
                           "'git_dirty', 'ci_system', 'ci_job', 'ci_url', 'source_environment')"),
            "12");
  EXPECT_EQ(p.dev().scalar("SELECT string_agg(migration_id || ':' || coalesce(git_commit, '-'), ',' ORDER BY "
                           "migration_id) FROM schema_migrations"),
            "0001:-,0002:" + head + ",0003:" + head);
  auto entries = log_entries(p, "dev", no_ci());
  EXPECT_EQ(entries[0]["provenance"]["git_commit"], head);
  EXPECT_TRUE(entries.back()["provenance"]["git_commit"].is_null());
}
