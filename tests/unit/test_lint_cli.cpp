// `mgr lint` end to end: exit codes, text, JSON and SARIF output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

using mgr::test::run_mgr;
using mgr::test::TempDir;
using mgr::test::write_file;

namespace {

// No config around: PATH mode must not need one.
const std::map<std::string, std::string> k_env = {{"MGR_CONFIG", ""}, {"NO_COLOR", "1"}};

}  // namespace

TEST(LintCli, CleanFileExitsZero) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "CREATE TABLE IF NOT EXISTS a (id bigint PRIMARY KEY, at timestamptz);\n");
  auto r = run_mgr({"lint", (dir / "0001_a.sql").string()}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 file checked: 0 errors, 0 warnings, 0 allowed"), std::string::npos) << r.out;
}

TEST(LintCli, ErrorFindingExitsThreeWithPositionAndRule) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "-- remove\nALTER TABLE users DROP COLUMN legacy;\n");
  auto r = run_mgr({"lint", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("0001_a.sql:2:1: error [drop-column]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("safer:"), std::string::npos) << "advice only with --explain";
}

TEST(LintCli, ExplainShowsTheSaferWay) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "CREATE INDEX IF NOT EXISTS i ON orders (user_id);\n");
  auto r = run_mgr({"lint", "--explain", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("safer: CREATE INDEX CONCURRENTLY"), std::string::npos) << r.out;
}

TEST(LintCli, WarningsOnlyExitZero) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "CREATE TABLE a (id bigint, at timestamp);\n");
  auto r = run_mgr({"lint", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("warning [prefer-timestamptz]"), std::string::npos) << r.out;
}

TEST(LintCli, AllowedFindingIsListedWithReasonAndDoesNotBlock) {
  TempDir dir;
  write_file(dir / "0001_a.sql",
             "-- mgr:allow drop-column reason: unused since release 41\nALTER TABLE users DROP COLUMN legacy;\n");
  auto r = run_mgr({"lint", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("allowed [drop-column]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(reason: unused since release 41)"), std::string::npos) << r.out;
}

TEST(LintCli, AllowWithoutReasonExitsThree) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "-- mgr:allow drop-column\nALTER TABLE users DROP COLUMN legacy;\n");
  auto r = run_mgr({"lint", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("0001_a.sql:1:1: error [allow-without-reason]"), std::string::npos) << r.out;
}

TEST(LintCli, MissingFileIsAUsageError) {
  TempDir dir;
  auto r = run_mgr({"lint", "nope.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(LintCli, JsonOutput) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "SELECT 1;\nTRUNCATE t;\n");
  write_file(dir / "0002_b.sql", "-- mgr:allow truncate reason: staging only\nTRUNCATE s;\n");
  for (const auto& flag : {std::vector<std::string>{"--format", "json"}, std::vector<std::string>{"--json"}}) {
    std::vector<std::string> args = {"lint", "0001_a.sql", "0002_b.sql"};
    if (flag[0] == "--json") args.insert(args.begin(), flag[0]);
    else args.insert(args.end(), flag.begin(), flag.end());
    auto r = run_mgr(args, k_env, dir.path());
    EXPECT_EQ(r.exit_code, 3) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["files"], 2);
    ASSERT_EQ(j["findings"].size(), 2u);
    const auto& f = j["findings"][0];
    EXPECT_EQ(f["rule"], "truncate");
    EXPECT_EQ(f["severity"], "error");
    EXPECT_EQ(f["file"], "0001_a.sql");
    EXPECT_EQ(f["line"], 2);
    EXPECT_EQ(f["column"], 1);
    EXPECT_EQ(f["allowed"], false);
    EXPECT_FALSE(f["advice"].get<std::string>().empty());
    EXPECT_EQ(j["findings"][1]["allowed"], true);
    EXPECT_EQ(j["findings"][1]["reason"], "staging only");
  }
}

TEST(LintCli, SarifHasTheRequiredStructure) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "-- mgr:allow drop-table reason: replaced by v2\nDROP TABLE old;\nSELECT 1;\n  DELETE FROM t;\n");
  auto r = run_mgr({"lint", "--format", "sarif", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], "2.1.0");
  EXPECT_TRUE(j["$schema"].get<std::string>().find("sarif") != std::string::npos);
  ASSERT_EQ(j["runs"].size(), 1u);
  const auto& driver = j["runs"][0]["tool"]["driver"];
  EXPECT_EQ(driver["name"], "mgr");
  ASSERT_TRUE(driver["rules"].is_array());
  std::set<std::string> rule_ids;
  for (const auto& rule : driver["rules"]) {
    rule_ids.insert(rule["id"].get<std::string>());
    EXPECT_TRUE(rule["shortDescription"]["text"].is_string());
  }
  const auto& results = j["runs"][0]["results"];
  ASSERT_EQ(results.size(), 2u);
  for (const auto& res : results) {
    EXPECT_TRUE(rule_ids.count(res["ruleId"].get<std::string>())) << res["ruleId"];
    EXPECT_EQ(driver["rules"][res["ruleIndex"].get<int>()]["id"], res["ruleId"]);
    EXPECT_TRUE(res["level"] == "error" || res["level"] == "warning");
    EXPECT_TRUE(res["message"]["text"].is_string());
    const auto& loc = res["locations"][0]["physicalLocation"];
    EXPECT_EQ(loc["artifactLocation"]["uri"], "0001_a.sql");
    EXPECT_GE(loc["region"]["startLine"].get<int>(), 1);
    EXPECT_GE(loc["region"]["startColumn"].get<int>(), 1);
  }
  EXPECT_EQ(results[0]["ruleId"], "drop-table");
  EXPECT_EQ(results[0]["suppressions"][0]["kind"], "inSource");
  EXPECT_EQ(results[0]["suppressions"][0]["justification"], "replaced by v2");
  EXPECT_EQ(results[1]["ruleId"], "delete-without-where");
  EXPECT_FALSE(results[1].contains("suppressions"));
  EXPECT_EQ(results[1]["locations"][0]["physicalLocation"]["region"]["startLine"], 4);
  EXPECT_EQ(results[1]["locations"][0]["physicalLocation"]["region"]["startColumn"], 3);
}

TEST(LintCli, ParseErrorIsAFindingAtTheRightPosition) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "SELECT 1;\nSELECT ( FROM x;\n");
  auto r = run_mgr({"lint", "0001_a.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("0001_a.sql:2:10: error [parse-error]"), std::string::npos) << r.out;
}

TEST(LintCli, DownFileGetsOnlyRuntimeRules) {
  TempDir dir;
  write_file(dir / "0001_a.down.sql", "DROP TABLE a;\n");
  auto r = run_mgr({"lint", "0001_a.down.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(LintCli, CatalogModeUsesConfigAndLintPgVersion) {
  TempDir dir;
  std::filesystem::create_directories(dir / "config");
  std::filesystem::create_directories(dir / "migrations");
  write_file(dir / "config/environments.yaml",
             "migrations_dir: ../migrations\nlint_pg_version: 10\nenvironments:\n  dev:\n    url: postgresql://u@localhost/d\n");
  write_file(dir / "migrations/0001_a.sql", "ALTER TABLE users ADD COLUMN n int DEFAULT 0;\n");
  write_file(dir / "migrations/0001_a.down.sql", "ALTER TABLE users DROP COLUMN n;\n");
  auto r = run_mgr({"lint"}, {{"MGR_CONFIG", ""}, {"NO_COLOR", "1"}}, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("[add-column-volatile-default]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[drop-column]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 files checked"), std::string::npos) << r.out;
}

TEST(LintCli, PathsAreRelativeToTheProjectAndDownFilesAreLinted) {
  TempDir dir;
  std::filesystem::create_directories(dir / "config");
  std::filesystem::create_directories(dir / "migrations");
  write_file(dir / "config/environments.yaml",
             "environments:\n  dev:\n    url: postgresql://u@localhost/d\n");
  write_file(dir / "migrations/0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n");
  write_file(dir / "migrations/0001_a.down.sql", "DROP TABLE a;\nDROP INDEX users_email_idx;\n");
  write_file(dir / "migrations/0002_b.sql", "ALTER TABLE a ADD COLUMN b text;\n");
  write_file(dir / "migrations/0002_b.down.sql", "-- down migration for 0002_b\n");
  // Run from inside config/: the paths are still relative to the project.
  auto r = run_mgr({"lint", "--config", "environments.yaml"}, {{"MGR_CONFIG", ""}, {"NO_COLOR", "1"}},
                   dir / "config");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("migrations/0001_a.down.sql:2:1: error [drop-index-not-concurrent]"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find(dir.path().string()), std::string::npos) << "no absolute path: " << r.out;
  EXPECT_EQ(r.out.find("../"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[drop-table]"), std::string::npos) << "the up file created a: " << r.out;
  EXPECT_NE(r.out.find("migrations/0002_b.down.sql:1:1: warning [empty-down-migration]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[missing-if-not-exists]"), std::string::npos) << "transactional file: " << r.out;
}

TEST(LintCli, DownFilePathIsLintedWithItsUpFile) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "ALTER TABLE users ADD COLUMN n int;\n");
  write_file(dir / "0001_a.down.sql", "ALTER TABLE users DROP COLUMN n;\nALTER TABLE users DROP COLUMN m;\n");
  auto r = run_mgr({"lint", "0001_a.down.sql"}, k_env, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_NE(r.out.find("0001_a.down.sql:2:1: error [drop-column]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("0001_a.down.sql:1:1"), std::string::npos) << r.out;
}

TEST(LintCli, ValidateOfflineReportsDownFileFindings) {
  TempDir dir;
  std::filesystem::create_directories(dir / "config");
  std::filesystem::create_directories(dir / "migrations");
  write_file(dir / "config/environments.yaml", "environments:\n  dev:\n    url: postgresql://u@localhost/d\n");
  write_file(dir / "migrations/0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n");
  write_file(dir / "migrations/0001_a.down.sql", "-- down migration for 0001_a\n");
  write_file(dir / "migrations/0002_b.sql", "ALTER TABLE a ADD COLUMN b text;\n");
  write_file(dir / "migrations/0002_b.down.sql", "ALTER TABLE a DROP COLUMN b;\nDROP INDEX a_b_idx;\n");
  auto r = run_mgr({"validate", "--offline"}, {{"MGR_CONFIG", ""}, {"NO_COLOR", "1"}}, dir.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  std::string all = r.out + r.err;
  EXPECT_NE(all.find("lint-empty-down-migration"), std::string::npos) << all;
  EXPECT_NE(all.find("lint-drop-index-not-concurrent"), std::string::npos) << all;
  EXPECT_EQ(all.find("lint-drop-column"), std::string::npos) << "b was added by the up file: " << all;
}
