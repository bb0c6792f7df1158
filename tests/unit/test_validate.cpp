// The pure rules behind `mgr validate` (src/validate.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "mgr/lint_findings.hpp"
#include "mgr/validate.hpp"
#include "support/test_support.hpp"

using mgr::test::TempDir;
using mgr::test::write_file;

namespace mgr {
namespace {

// By the code's stable name: the names are what scripts match on.
std::vector<const Diagnostic*> with_code(const std::vector<Diagnostic>& findings, const std::string& code) {
  std::vector<const Diagnostic*> out;
  for (const auto& f : findings) {
    if (code_name(f.code) == code) out.push_back(&f);
  }
  return out;
}

HistoryRow row(const std::string& id, const std::string& name, const std::string& checksum, const std::string& env,
               bool success = true) {
  HistoryRow r;
  r.migration_id = id;
  r.name = name;
  r.checksum = checksum;
  r.environment = env;
  r.success = success;
  r.applied_at = "2025-01-01T00:00:00Z";
  return r;
}

class ValidateFiles : public ::testing::Test {
 protected:
  TempDir dir;
  void add(const std::string& name, const std::string& sql) { write_file(dir / name, sql); }
  std::vector<Diagnostic> findings(LintPolicy policy = LintPolicy::block) {
    return file_findings(scan_catalog(dir.path()), LintSettings{}, policy);
  }
};

// apply's and rollback's file rules (issue 12 #2/#3): validate passes nothing they refuse.
TEST_F(ValidateFiles, CommentOnlyUpFileIsAnErrorAndCommentOnlyDownFileAWarning) {
  add("0001_todo.sql", "-- Write your migration here.\n");
  add("0002_ok.sql", "SELECT 1;\n");
  add("0002_ok.down.sql", "-- Write the SQL that undoes 0002_ok here.\n");
  auto fs = findings();
  auto up = with_code(fs, "empty-migration");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0]->severity, Severity::error);
  EXPECT_EQ(up[0]->migration, "0001");
  auto down = with_code(fs, "empty-down");
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0]->severity, Severity::warning);
  EXPECT_EQ(down[0]->migration, "0002");
}

TEST_F(ValidateFiles, UnfoldableTransactionControlIsAnErrorWhateverTheLintPolicyAndReportedOnce) {
  add("0001_rb.sql", "BEGIN;\nSELECT 1;\nROLLBACK;\n");
  for (auto policy : {LintPolicy::off, LintPolicy::warn, LintPolicy::block}) {
    auto fs = findings(policy);
    auto hits = with_code(fs, "transaction-control");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0]->severity, Severity::error);
    EXPECT_NE(hits[0]->located().find("0001_rb.sql:3: ROLLBACK"), std::string::npos) << hits[0]->located();
    EXPECT_TRUE(with_code(fs, "lint-transaction-control").empty());
  }
}

TEST_F(ValidateFiles, FoldableBlockIsOnlyALintWarning) {
  add("0001_blk.sql", "BEGIN;\nCREATE TABLE IF NOT EXISTS a (id bigint);\nCOMMIT;\n");
  auto fs = findings();
  EXPECT_FALSE(has_errors(fs));
  EXPECT_TRUE(with_code(fs, "transaction-control").empty());
  auto lint = with_code(fs, "lint-transaction-control");
  ASSERT_EQ(lint.size(), 2u);
  EXPECT_EQ(lint[0]->severity, Severity::warning);
}

TEST_F(ValidateFiles, AdviceDoesNotRepeatTheAllowItAlreadyMentions) {
  add("0001_drop.sql", "ALTER TABLE items DROP COLUMN label;\n");
  add("0002_lock.sql", "LOCK TABLE items;\n");
  auto fs = findings();
  auto drop = with_code(fs, "lint-drop-column");
  ASSERT_EQ(drop.size(), 1u);
  EXPECT_EQ(drop[0]->hint.find("if intended"), std::string::npos) << drop[0]->hint;
  EXPECT_NE(drop[0]->hint.find("with an allow and a reason: `-- mgr:allow drop-column reason: <why>`"), std::string::npos)
      << drop[0]->hint;
  auto lock = with_code(fs, "lint-lock-table");
  ASSERT_EQ(lock.size(), 1u);
  EXPECT_NE(lock[0]->hint.find("(if intended: `-- mgr:allow lock-table reason: <why>`)"), std::string::npos)
      << lock[0]->hint;
}

TEST_F(ValidateFiles, CleanFilesHaveNoFindings) {
  add("0001_items.sql", "CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, label text);\n");
  add("0001_items.down.sql", "DROP TABLE items;\n");  // destructive down files are fine
  EXPECT_TRUE(findings().empty());
}

TEST_F(ValidateFiles, CatalogProblemsBecomeErrorsWithTheirCodeAndMigration) {
  add("0001_items.sql", "CREATE TABLE IF NOT EXISTS items (id bigint);\n");
  add("Bad-Name.sql", "SELECT 1;\n");
  add("0002_a.sql", "SELECT 1;\n");
  add("2_b.sql", "SELECT 1;\n");
  add("0003_gone.down.sql", "SELECT 1;\n");
  add("0004_empty.sql", "  \n");
  add("0005_directive.sql", "-- mgr:no-transactoin\nSELECT 1;\n");
  auto fs = findings();
  for (const char* code : {"invalid-name", "duplicate-id", "orphan-down", "empty-file", "unknown-directive"}) {
    auto hits = with_code(fs, code);
    ASSERT_FALSE(hits.empty()) << code;
    EXPECT_EQ(hits[0]->severity, Severity::error) << code;
    EXPECT_TRUE(hits[0]->environment.empty()) << code;
    EXPECT_FALSE(hits[0]->hint.empty()) << code;
  }
  EXPECT_TRUE(with_code(fs, "invalid-name")[0]->migration.empty());
  EXPECT_EQ(with_code(fs, "orphan-down")[0]->migration, "0003");
  EXPECT_EQ(with_code(fs, "unknown-directive")[0]->migration, "0005");
  EXPECT_NE(with_code(fs, "unknown-directive")[0]->located().find("0005_directive.sql:1"), std::string::npos);
}

TEST_F(ValidateFiles, SqlThatDoesNotParseIsReportedOnceWithLineAndColumn) {
  add("0001_items.sql", "CREATE TABLE IF NOT EXISTS items (id bigint);\nALTER TABLE items ADD COLUMN;\n");
  add("0001_items.down.sql", "DROP TABLE items;\nDROPP TABLE x;\n");
  auto fs = findings();
  auto hits = with_code(fs, "parse-error");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_NE(hits[0]->located().find("0001_items.sql:2:"), std::string::npos) << hits[0]->located();
  EXPECT_NE(hits[1]->located().find("0001_items.down.sql:2:1"), std::string::npos) << hits[1]->located();
  EXPECT_EQ(hits[0]->migration, "0001");
  // The linter's own parse-error finding is not repeated.
  EXPECT_TRUE(with_code(fs, "lint-parse-error").empty());
}

TEST_F(ValidateFiles, LintErrorsFollowTheStrictestPolicy) {
  add("0001_items.sql", "CREATE TABLE IF NOT EXISTS items (id bigint, label text);\n");
  add("0002_drop.sql", "ALTER TABLE items DROP COLUMN label;\n");
  add("0003_allowed.sql", "-- mgr:allow drop-column reason: unused since v2\nALTER TABLE items DROP COLUMN id;\n");
  add("0004_ts.sql", "CREATE TABLE IF NOT EXISTS ev (id bigint, at timestamp);\n");

  auto block = findings(LintPolicy::block);
  auto drop = with_code(block, "lint-drop-column");
  ASSERT_EQ(drop.size(), 1u);  // the allowed one is not reported
  EXPECT_EQ(drop[0]->severity, Severity::error);
  EXPECT_EQ(drop[0]->migration, "0002");
  EXPECT_NE(drop[0]->located().find("0002_drop.sql:1:"), std::string::npos);
  EXPECT_NE(drop[0]->hint.find("-- mgr:allow drop-column"), std::string::npos);
  auto ts = with_code(block, "lint-prefer-timestamptz");
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0]->severity, Severity::warning);

  auto warn = findings(LintPolicy::warn);
  ASSERT_EQ(with_code(warn, "lint-drop-column").size(), 1u);
  EXPECT_EQ(with_code(warn, "lint-drop-column")[0]->severity, Severity::warning);
  EXPECT_FALSE(has_errors(warn));

  EXPECT_TRUE(findings(LintPolicy::off).empty());
}

TEST(ValidatePolicy, StrictestLintPolicyWins) {
  Environment a, b;
  a.lint = LintPolicy::off;
  b.lint = LintPolicy::warn;
  EXPECT_EQ(strictest_lint_policy({&a}), LintPolicy::off);
  EXPECT_EQ(strictest_lint_policy({&a, &b}), LintPolicy::warn);
  b.lint = LintPolicy::block;
  EXPECT_EQ(strictest_lint_policy({&a, &b}), LintPolicy::block);
}

class ValidateHistory : public ::testing::Test {
 protected:
  TempDir dir;
  Catalog catalog;
  void SetUp() override {
    write_file(dir / "0001_a.sql", "SELECT 1;\n");
    write_file(dir / "0002_b.sql", "SELECT 2;\n");
    write_file(dir / "0003_c.sql", "SELECT 3;\n");
    catalog = load_catalog(dir.path());
  }
  std::string sum(const std::string& id) { return catalog.find(id)->up.checksum; }
};

TEST_F(ValidateHistory, EachEnvironmentRuleHasItsCode) {
  // 0003 recorded by another environment: this database is prod's.
  std::vector<HistoryRow> rows{row("0001", "a", "0000", "dev"), row("0003", "c", sum("0003"), "prod"),
                               row("0009", "gone", "x", "dev"), row("0010", "broken", "y", "dev", false)};
  auto fs = environment_findings(catalog, "dev", rows);
  for (const char* code : {"checksum-mismatch", "missing-file", "failed-migration", "out-of-order", "environment-mismatch"}) {
    auto hits = with_code(fs, code);
    ASSERT_EQ(hits.size(), 1u) << code;
    EXPECT_EQ(hits[0]->severity, Severity::error);
    EXPECT_EQ(hits[0]->environment, "dev");
  }
  EXPECT_EQ(with_code(fs, "checksum-mismatch")[0]->migration, "0001");
  EXPECT_EQ(with_code(fs, "missing-file")[0]->migration, "0009");
  EXPECT_EQ(with_code(fs, "failed-migration")[0]->migration, "0010");
  EXPECT_EQ(with_code(fs, "out-of-order")[0]->migration, "0002");
  EXPECT_TRUE(with_code(fs, "environment-mismatch")[0]->migration.empty());
  EXPECT_NE(with_code(fs, "checksum-mismatch")[0]->hint.find("mgr repair dev"), std::string::npos);
}

TEST_F(ValidateHistory, InOrderHistoryIsClean) {
  std::vector<HistoryRow> rows{row("0001", "a", sum("0001"), "dev")};
  EXPECT_TRUE(environment_findings(catalog, "dev", rows).empty());
}

EnvironmentState state(const std::string& name, std::optional<std::string> from, std::vector<HistoryRow> rows,
                       const std::string& key) {
  EnvironmentState s;
  s.name = name;
  s.promote_from = std::move(from);
  s.rows = std::move(rows);
  s.reachable = true;
  s.identity_key = key;
  return s;
}

TEST_F(ValidateHistory, PromotionOrderBrokenWhenTargetHasWhatSourceLacksOrHasDifferently) {
  std::vector<EnvironmentState> states{
      state("dev", std::nullopt, {row("0001", "a", sum("0001"), "dev"), row("0002", "b", "old", "dev")}, "k1"),
      state("test", "dev",
            {row("0001", "a", sum("0001"), "test"), row("0002", "b", sum("0002"), "test"),
             row("0003", "c", sum("0003"), "test")},
            "k2")};
  auto fs = cross_environment_findings(catalog, states, {"dev", "test"});
  auto broken = with_code(fs, "promotion-order-broken");
  ASSERT_EQ(broken.size(), 2u);
  EXPECT_EQ(broken[0]->migration, "0002");
  EXPECT_NE(broken[0]->message.find("another checksum"), std::string::npos);
  EXPECT_EQ(broken[1]->migration, "0003");
  EXPECT_NE(broken[1]->message.find("dev does not"), std::string::npos);
  EXPECT_EQ(broken[1]->environment, "test");
  EXPECT_TRUE(with_code(fs, "same-database").empty());
}

TEST_F(ValidateHistory, SameDatabaseComparesIdentityKeys) {
  std::vector<EnvironmentState> states{state("dev", std::nullopt, {}, "sys:5432:app"),
                                       state("test", "dev", {}, "sys:5432:app"),
                                       state("prod", "test", {}, "sys:5432:app_prod")};
  auto fs = cross_environment_findings(catalog, states, {"dev", "test", "prod"});
  auto same = with_code(fs, "same-database");
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0]->severity, Severity::error);
  EXPECT_NE(same[0]->message.find("dev and test"), std::string::npos);
}

TEST_F(ValidateHistory, CanPromoteCountsWhatTheGateWouldAccept) {
  std::vector<EnvironmentState> states{
      state("dev", std::nullopt, {row("0001", "a", sum("0001"), "dev"), row("0002", "b", sum("0002"), "dev")}, "k1"),
      state("test", "dev", {}, "k2")};
  auto fs = cross_environment_findings(catalog, states, {"dev", "test"});
  auto apply = with_code(fs, "can-apply");
  ASSERT_EQ(apply.size(), 1u);
  EXPECT_EQ(apply[0]->severity, Severity::info);
  EXPECT_NE(apply[0]->message.find("dev can take 1 pending migration: 0003"), std::string::npos) << apply[0]->message;
  auto promote = with_code(fs, "can-promote");
  ASSERT_EQ(promote.size(), 1u);
  EXPECT_NE(promote[0]->message.find("test can take 2 migrations from dev: 0001, 0002; 1 more pending wait for dev"),
            std::string::npos)
      << promote[0]->message;
  EXPECT_FALSE(has_errors(fs));
}

TEST_F(ValidateHistory, UnreachableSourceSkipsCrossChecksForItsTargets) {
  auto dev = state("dev", std::nullopt, {}, "");
  dev.reachable = false;
  std::vector<EnvironmentState> states{dev, state("test", "dev", {row("0001", "a", sum("0001"), "test")}, "k2")};
  auto fs = cross_environment_findings(catalog, states, {"test"});
  EXPECT_TRUE(with_code(fs, "promotion-order-broken").empty());
  EXPECT_TRUE(with_code(fs, "can-promote").empty());
  auto u = unreachable_finding("dev", "cannot connect\n\tIs the server running?");
  EXPECT_EQ(u.code, Code::unreachable);
  EXPECT_EQ(u.message.find('\n'), std::string::npos);
}

Diagnostic finding_of(Severity severity, Code code, const std::string& env, const std::string& migration,
                      const std::string& message, const std::string& hint) {
  Diagnostic d;
  d.severity = severity;
  d.code = code;
  d.environment = env;
  d.migration = migration;
  d.message = message;
  d.hint = hint;
  return d;
}

TEST(ValidateOutput, JsonAndTextCarryTheSameFields) {
  std::vector<Diagnostic> fs{finding_of(Severity::warning, Code::lint_prefer_timestamptz, "", "0004", "m1", "a1"),
                             finding_of(Severity::error, Code::checksum_mismatch, "test", "0002", "m2", "a2")};
  fs[0].file = "migrations/0004_x.sql";
  fs[0].line = 1;
  fs[0].column = 38;
  auto j = findings_json(fs);
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["findings"].size(), 2u);
  EXPECT_EQ(j["findings"][0]["severity"], "warning");
  EXPECT_EQ(j["findings"][0]["code"], "lint-prefer-timestamptz");
  EXPECT_TRUE(j["findings"][0]["environment"].is_null());
  // As documented (docs/operations.md): a file finding's message starts with its location.
  EXPECT_EQ(j["findings"][0]["message"], "migrations/0004_x.sql:1:38: m1");
  EXPECT_EQ(j["findings"][1]["code"], "checksum-mismatch");
  EXPECT_EQ(j["findings"][1]["environment"], "test");
  EXPECT_EQ(j["findings"][1]["migration"], "0002");
  EXPECT_EQ(j["findings"][1]["message"], "m2");
  EXPECT_EQ(j["findings"][1]["advice"], "a2");
  EXPECT_EQ(format_listing(fs[1]), "error   [checksum-mismatch] test 0002: m2 -> a2");
  EXPECT_EQ(format_listing(fs[0]), "warning [lint-prefer-timestamptz] 0004: migrations/0004_x.sql:1:38: m1 -> a1");
  EXPECT_TRUE(findings_json({fs[0]})["ok"].get<bool>());
}

}  // namespace
}  // namespace mgr
