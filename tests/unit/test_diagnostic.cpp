// The one diagnostic type and its renderers (src/diagnostic.cpp): code names
// are a contract, and text, JSON and SARIF come from the same value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "mgr/diagnostic.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using ::testing::HasSubstr;

Diagnostic lint_at(Code code, Severity severity, int line, int column, const std::string& message) {
  Diagnostic d;
  d.code = code;
  d.severity = severity;
  d.file = "/proj/migrations/0002_x.sql";
  d.line = line;
  d.column = column;
  d.message = message;
  d.hint = "the safer way";
  return d;
}

Diagnostic history(Code code, const std::string& env, const std::string& migration, const std::string& message) {
  Diagnostic d;
  d.code = code;
  d.environment = env;
  d.migration = migration;
  d.message = message;
  d.hint = "restore the file";
  return d;
}

// Every name scripts and docs use, exactly as before the one Diagnostic type.
TEST(DiagnosticCodes, NamesAreTheStableContract) {
  const std::vector<std::string> expected{
      "invalid-name", "duplicate-id", "orphan-down", "empty-file", "invalid-utf8", "nul-byte", "unknown-directive",
      "read-error", "bad-symlink", "not-a-file", "parse-error", "empty-migration", "empty-down",
      "transaction-control", "environment-mismatch", "checksum-mismatch", "missing-file", "failed-migration",
      "out-of-order", "not-in-source", "source-failed", "source-checksum-differs", "source-unreachable", "lint",
      "missing-down", "down-checksum-differs",
      "unreachable", "same-database", "promotion-order-broken", "schema-drift", "drift-unchecked",
      "schema-differs", "can-apply", "can-promote"};
  for (const auto& name : expected) {
    auto code = code_from_name(name);
    ASSERT_TRUE(code) << name;
    EXPECT_EQ(code_name(*code), name);
    EXPECT_FALSE(is_lint_rule(*code)) << name;
  }
  EXPECT_EQ(code_name(Code::checksum_mismatch), "checksum-mismatch");
  EXPECT_FALSE(code_from_name("no-such-code"));
}

std::string read_doc(const std::string& name) {
  std::ifstream in(mgr::test::source_dir() / "docs" / name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// docs/ and the code name the same codes: every code in the finding tables of
// docs/operations.md and every `[code]` of docs/cli.md exists, and every
// code that is not a lint rule is documented in one of them.
TEST(DiagnosticCodes, DocsNameTheSameCodes) {
  const auto operations = read_doc("operations.md");
  const auto cli = read_doc("cli.md");
  ASSERT_FALSE(operations.empty());
  ASSERT_FALSE(cli.empty());
  std::set<std::string> documented;
  const std::regex table_row(R"(\n\| `([a-z0-9-]+)` \| (error|warning|info|as `))");
  for (std::sregex_iterator it(operations.begin(), operations.end(), table_row), end; it != end; ++it) {
    documented.insert((*it)[1]);
  }
  const std::regex bracketed(R"(`\[([a-z0-9-]+)\]`)");
  for (const auto* doc : {&operations, &cli}) {
    for (std::sregex_iterator it(doc->begin(), doc->end(), bracketed), end; it != end; ++it) documented.insert((*it)[1]);
  }
  EXPECT_GE(documented.size(), 30u);
  for (const auto& name : documented) EXPECT_TRUE(code_from_name(name)) << "docs name unknown code " << name;
  for (const auto& name : {"lint", "missing-down", "down-checksum-differs", "not-in-source", "source-unreachable"}) {
    EXPECT_TRUE(documented.count(name)) << name << " is not documented";
  }
  for (int i = 0; !is_lint_rule(static_cast<Code>(i)); ++i) {
    const auto name = std::string(code_name(static_cast<Code>(i)));
    EXPECT_TRUE(documented.count(name) != 0 || operations.find("`" + name + "`") != std::string::npos)
        << name << " is not in docs/operations.md or docs/cli.md";
  }
}

TEST(DiagnosticCodes, LintRulesAreNamedLintDashTheirId) {
  EXPECT_EQ(code_name(Code::lint_drop_column), "lint-drop-column");
  EXPECT_EQ(lint_rule_id(Code::lint_drop_column), "drop-column");
  EXPECT_EQ(lint_rule_from_id("drop-column"), Code::lint_drop_column);
  EXPECT_EQ(code_from_name("lint-drop-column"), Code::lint_drop_column);
  EXPECT_FALSE(lint_rule_from_id("checksum-mismatch"));  // not a lint rule
  // The lint rule parse-error and the file rule parse-error are two codes.
  EXPECT_EQ(lint_rule_from_id("parse-error"), Code::lint_parse_error);
  EXPECT_EQ(code_from_name("parse-error"), Code::parse_error);
  std::set<std::string> names;
  for (auto code : lint_rule_codes()) {
    EXPECT_TRUE(is_lint_rule(code));
    EXPECT_TRUE(names.insert(std::string(code_name(code))).second) << code_name(code);
  }
  EXPECT_EQ(names.size(), 48u);
}

TEST(DiagnosticLocation, WhereAndLocatedOmitWhatIsUnknown) {
  Diagnostic d;
  d.message = "m";
  EXPECT_EQ(d.where(), "");
  EXPECT_EQ(d.located(), "m");
  d.file = "m/0001_a.sql";
  EXPECT_EQ(d.located(), "m/0001_a.sql: m");
  d.line = 3;
  EXPECT_EQ(d.located(), "m/0001_a.sql:3: m");
  d.column = 7;
  EXPECT_EQ(d.located(), "m/0001_a.sql:3:7: m");
  EXPECT_EQ(d.where("/elsewhere"), std::filesystem::absolute("m/0001_a.sql").lexically_normal().generic_string() +
                                       ":3:7");
}

TEST(DiagnosticText, ListingCompilerAndRefusalLayouts) {
  auto h = history(Code::checksum_mismatch, "test", "0002", "0002_b.sql changed\n\tafter it was applied");
  EXPECT_EQ(format_listing(h), "error   [checksum-mismatch] test 0002: 0002_b.sql changed after it was applied -> "
                               "restore the file");
  EXPECT_EQ(format_refusal(h), "[checksum-mismatch] 0002_b.sql changed\n\tafter it was applied");

  auto l = lint_at(Code::lint_drop_column, Severity::error, 2, 5, "DROP COLUMN t.c deletes the column's data");
  RenderOptions root;
  root.root = "/proj";
  EXPECT_EQ(format_compiler(l, root),
            "migrations/0002_x.sql:2:5: error [drop-column] DROP COLUMN t.c deletes the column's data");
  l.allowed = true;
  l.allow_reason = "unused since 41";
  auto paint = [](const Diagnostic&, const std::string& word) { return "<" + word + ">"; };
  EXPECT_EQ(format_compiler(l, root, paint),
            "migrations/0002_x.sql:2:5: <allowed> [drop-column] DROP COLUMN t.c deletes the column's data "
            "(reason: unused since 41)");

  EXPECT_EQ(refusal_text("apply to prod refused:", {h}),
            "apply to prod refused:\n  - [checksum-mismatch] 0002_b.sql changed\n\tafter it was applied");
  Diagnostic file;
  file.code = Code::empty_file;
  file.file = "/m/0001_a.sql";
  file.message = "migration file is empty";
  EXPECT_EQ(located_list("problems in /m:", {file}), "problems in /m:\n  /m/0001_a.sql: migration file is empty");
}

TEST(DiagnosticJson, OneShapeWithNullsForWhatIsUnknown) {
  auto h = history(Code::out_of_order, "prod", "0003", "older than 0004");
  auto j = to_json(h);
  EXPECT_EQ(j["code"], "out-of-order");
  EXPECT_EQ(j["severity"], "error");
  EXPECT_EQ(j["message"], "older than 0004");
  EXPECT_EQ(j["advice"], "restore the file");
  EXPECT_EQ(j["environment"], "prod");
  EXPECT_EQ(j["migration"], "0003");
  EXPECT_TRUE(j["file"].is_null());
  EXPECT_TRUE(j["line"].is_null());
  EXPECT_TRUE(j["column"].is_null());
  EXPECT_FALSE(j.contains("rule"));  // lint fields only on lint codes

  auto l = lint_at(Code::lint_truncate, Severity::error, 2, 1, "TRUNCATE t deletes every row");
  RenderOptions lint_options;
  lint_options.root = "/proj";
  lint_options.location_in_message = false;
  auto lj = to_json(l, lint_options);
  EXPECT_EQ(lj["code"], "lint-truncate");
  EXPECT_EQ(lj["rule"], "truncate");
  EXPECT_EQ(lj["message"], "TRUNCATE t deletes every row");
  EXPECT_EQ(lj["file"], "migrations/0002_x.sql");
  EXPECT_EQ(lj["line"], 2);
  EXPECT_EQ(lj["column"], 1);
  EXPECT_EQ(lj["allowed"], false);
  EXPECT_TRUE(lj["reason"].is_null());
  EXPECT_TRUE(lj["environment"].is_null());
  // With the location in the message (validate, apply: as documented).
  EXPECT_EQ(to_json(l)["message"], "/proj/migrations/0002_x.sql:2:1: TRUNCATE t deletes every row");
}

TEST(DiagnosticJson, RefusalsKeepTheirMigrationIdField) {
  auto h = history(Code::not_in_source, "prod", "0003", "0003_c has not been applied in test");
  auto gate = history(Code::source_unreachable, "prod", "", "cannot check the promotion gate");
  auto j = refusal_json({h, gate});
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["code"], "not-in-source");
  EXPECT_EQ(j[0]["migration_id"], "0003");
  EXPECT_EQ(j[0]["message"], "0003_c has not been applied in test");
  EXPECT_EQ(j[1]["migration_id"], "");
}

TEST(DiagnosticSarif, ResultsPointAtRulesAndLocations) {
  auto l = lint_at(Code::lint_drop_table, Severity::error, 4, 1, "DROP TABLE old deletes the table");
  l.allowed = true;
  l.allow_reason = "replaced by v2";
  auto w = lint_at(Code::lint_prefer_timestamptz, Severity::warning, 1, 38, "column at is timestamp");
  w.file = "/proj/migrations/0002 x.sql";
  std::vector<SarifRule> rules{{"drop-table", "DROP TABLE deletes", "stop using it first", Severity::error},
                               {"prefer-timestamptz", "timestamp loses the zone", "use timestamptz", Severity::warning}};
  RenderOptions options;
  options.root = "/proj";
  auto s = to_sarif({l, w}, rules, "9.9.9", options);
  EXPECT_EQ(s["version"], "2.1.0");
  const auto& run = s["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["version"], "9.9.9");
  ASSERT_EQ(run["tool"]["driver"]["rules"].size(), 2u);
  EXPECT_EQ(run["tool"]["driver"]["rules"][1]["defaultConfiguration"]["level"], "warning");
  const auto& results = run["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["ruleId"], "drop-table");
  EXPECT_EQ(results[0]["ruleIndex"], 0);
  EXPECT_EQ(results[0]["level"], "error");
  EXPECT_EQ(results[0]["message"]["text"], "DROP TABLE old deletes the table. Safer: the safer way");
  const auto& loc = results[0]["locations"][0]["physicalLocation"];
  EXPECT_EQ(loc["artifactLocation"]["uri"], "migrations/0002_x.sql");
  EXPECT_EQ(loc["region"]["startLine"], 4);
  EXPECT_EQ(loc["region"]["startColumn"], 1);
  EXPECT_EQ(results[0]["suppressions"][0]["kind"], "inSource");
  EXPECT_EQ(results[0]["suppressions"][0]["justification"], "replaced by v2");
  EXPECT_EQ(results[1]["ruleIndex"], 1);
  EXPECT_EQ(results[1]["level"], "warning");
  EXPECT_FALSE(results[1].contains("suppressions"));
  // A URI reference: reserved bytes escaped.
  EXPECT_EQ(results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "migrations/0002%20x.sql");
}

TEST(DiagnosticSeverity, HasErrorsIgnoresWarningsInfoAndAllowed) {
  auto l = lint_at(Code::lint_drop_table, Severity::warning, 1, 1, "m");
  EXPECT_FALSE(has_errors({l}));
  l.severity = Severity::error;
  EXPECT_TRUE(has_errors({l}));
  l.allowed = true;
  EXPECT_FALSE(has_errors({l}));
  EXPECT_TRUE(has_code({l}, Code::lint_drop_table));
  EXPECT_FALSE(has_code({l}, Code::lint_drop_column));
  EXPECT_STREQ(to_string(Severity::info), "info");
}

}  // namespace
}  // namespace mgr
