// The lint framework: positions, allow directives, settings, the registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "mgr/lint.hpp"
#include "support/test_support.hpp"

using namespace mgr;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

MigrationFile make_file(const std::string& sql, std::vector<AllowDirective> allows = {}, bool no_tx = false) {
  MigrationFile f;
  f.path = "migrations/0002_x.sql";
  f.sql = sql;
  f.directives.no_transaction = no_tx;
  f.directives.allows = std::move(allows);
  return f;
}

const Diagnostic* find(const LintResult& r, const std::string& rule) {
  for (const auto& f : r.findings) {
    if (f.rule() == rule) return &f;
  }
  return nullptr;
}

}  // namespace

TEST(LintPosition, StatementPositionSkipsLeadingComments) {
  auto r = lint_migration(make_file("SELECT 1;\n\n-- why\n  ALTER TABLE users DROP COLUMN a;\n"), {});
  const auto* f = find(r, "drop-column");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->line, 4);
  EXPECT_EQ(f->column, 3);
  EXPECT_EQ(f->file, "migrations/0002_x.sql");
  EXPECT_FALSE(f->hint.empty());
}

TEST(LintPosition, FirstStatementWithoutStmtLocationIsAtItsLine) {
  auto r = lint_migration(make_file("-- header\n\nDROP TABLE t;"), {});
  const auto* f = find(r, "drop-table");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->line, 3);
  EXPECT_EQ(f->column, 1);
}

TEST(LintPosition, ParseErrorAtTheParsersPosition) {
  auto r = lint_migration(make_file("CREATE TABLE IF NOT EXISTS a (id bigint);\nALTER TABLE a ADD COLUMN;\n"), {});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule(), "parse-error");
  EXPECT_EQ(r.findings[0].severity, Severity::error);
  EXPECT_EQ(r.findings[0].line, 2);
  EXPECT_EQ(r.findings[0].column, 25);
  EXPECT_TRUE(r.has_blocking());
}

TEST(LintPosition, DoBlockStatementsMapToTheirFileLine) {
  std::string sql =
      "SELECT 1;\n"
      "DO $$\n"
      "BEGIN\n"
      "  RAISE NOTICE 'x';\n"
      "    DELETE FROM t;\n"
      "  EXECUTE format('DROP TABLE %I', 'y');\n"
      "END $$;\n";
  auto r = lint_migration(make_file(sql), {});
  const auto* del = find(r, "delete-without-where");
  ASSERT_NE(del, nullptr);
  EXPECT_EQ(del->line, 5);
  EXPECT_EQ(del->column, 5);
  // The format() string is rebuilt and linted at the EXECUTE's line.
  const auto* dyn = find(r, "drop-table");
  ASSERT_NE(dyn, nullptr);
  EXPECT_EQ(dyn->line, 6);
  EXPECT_NE(dyn->message.find("DROP TABLE y"), std::string::npos) << dyn->message;
}

TEST(LintPosition, ColumnTypeFindingPointsAtTheType) {
  auto r = lint_migration(make_file("CREATE TABLE IF NOT EXISTS t (\n  id bigint,\n  at timestamp\n);"), {});
  const auto* f = find(r, "prefer-timestamptz");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->line, 3);
  EXPECT_EQ(f->column, 6);
}

TEST(LintAllow, AllowWithReasonMarksFindingAllowedAndNotBlocking) {
  auto r = lint_migration(make_file("ALTER TABLE users DROP COLUMN a;", {{{"drop-column"}, "unused since r41", 1}}), {});
  const auto* f = find(r, "drop-column");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->allowed);
  EXPECT_EQ(f->allow_reason, "unused since r41");
  EXPECT_FALSE(r.has_blocking());
  EXPECT_THAT(r.allowed_rules(), ElementsAre("drop-column"));
}

TEST(LintAllow, AllowWithoutReasonIsAnErrorAndAllowsNothing) {
  auto r = lint_migration(make_file("ALTER TABLE users DROP COLUMN a;", {{{"drop-column"}, "", 1}}), {});
  const auto* missing = find(r, "allow-without-reason");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->line, 1);
  EXPECT_FALSE(find(r, "drop-column")->allowed);
  EXPECT_TRUE(r.has_blocking());
  EXPECT_THAT(r.allowed_rules(), IsEmpty());
}

TEST(LintAllow, UnknownRuleIsAnErrorWithSuggestion) {
  auto r = lint_migration(make_file("SELECT 1;", {{{"drop-colum"}, "typo", 2}}), {});
  const auto* f = find(r, "allow-unknown-rule");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->message.find("drop-column"), std::string::npos) << f->message;
  EXPECT_EQ(f->line, 2);
  EXPECT_TRUE(r.has_blocking());
}

TEST(LintAllow, MetaRulesCannotBeAllowed) {
  auto r = lint_migration(make_file("SELEC 1;", {{{"parse-error"}, "trust me", 1}}), {});
  EXPECT_NE(find(r, "allow-unknown-rule"), nullptr);
  EXPECT_FALSE(find(r, "parse-error")->allowed);
}

TEST(LintAllow, AllowOnlyCoversTheNamedRules) {
  auto r = lint_migration(
      make_file("ALTER TABLE users DROP COLUMN a;\nDROP TABLE old;", {{{"drop-column"}, "ok", 1}}), {});
  EXPECT_TRUE(find(r, "drop-column")->allowed);
  EXPECT_FALSE(find(r, "drop-table")->allowed);
  EXPECT_TRUE(r.has_blocking());
}

TEST(LintAllow, SeveralRulesInOneDirective) {
  auto r = lint_migration(make_file("ALTER TABLE users DROP COLUMN a;\nDROP TABLE old;",
                                    {{{"drop-column", "drop-table"}, "cleanup after r40", 1}}),
                          {});
  EXPECT_FALSE(r.has_blocking());
  EXPECT_THAT(r.allowed_rules(), ElementsAre("drop-column", "drop-table"));
}

TEST(LintAllow, UnusedAllowIsAWarning) {
  auto r = lint_migration(make_file("ALTER TABLE t ADD COLUMN c text;", {{{"drop-table"}, "old", 1}}), {});
  const auto* f = find(r, "unused-allow");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_FALSE(r.has_blocking());
}

TEST(LintSettingsTest, UnknownFunctionDefaultIsAWarningNotAnError) {
  auto r = lint_migration(make_file("ALTER TABLE users ADD COLUMN c int DEFAULT my_func();"), {});
  const auto* f = find(r, "add-column-volatile-default");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_FALSE(r.has_blocking());
}

TEST(LintSettingsTest, DownFilesOnlyGetRuntimeRules) {
  LintSettings down;
  down.runtime_only = true;
  auto r = lint_migration(make_file("DROP TABLE t;\nBEGIN;\nCREATE INDEX CONCURRENTLY i ON u (a);"), down);
  std::set<std::string> rules;
  for (const auto& f : r.findings) rules.insert(std::string(f.rule()));
  EXPECT_EQ(rules, (std::set<std::string>{"transaction-control", "concurrently-in-transaction"}));
}

TEST(LintSettingsTest, WarningsAloneDoNotBlock) {
  auto r = lint_migration(make_file("CREATE TABLE t (at timestamp);"), {});
  EXPECT_FALSE(r.findings.empty());
  EXPECT_FALSE(r.has_blocking());
}

TEST(LintExecutionModel, TableCreatedThenAlteredIsExemptButOtherTablesAreNot) {
  auto r = lint_migration(make_file("CREATE TABLE IF NOT EXISTS \"Orders\" (id bigint);\n"
                                    "ALTER TABLE \"Orders\" ADD COLUMN n int NOT NULL;\n"
                                    "ALTER TABLE orders ADD COLUMN n int NOT NULL;\n"),
                          {});
  std::vector<int> lines;
  for (const auto& f : r.findings) {
    if (f.rule() == "add-column-not-null-no-default") lines.push_back(f.line);
  }
  EXPECT_THAT(lines, ElementsAre(3));  // quoted "Orders" and unquoted orders are different tables
}

TEST(LintExecutionModel, RenamedNewTableStaysNew) {
  auto r = lint_migration(make_file("CREATE TABLE IF NOT EXISTS a (id bigint);\nALTER TABLE a RENAME TO b;\n"
                                    "CREATE INDEX IF NOT EXISTS b_id ON b (id);"),
                          {});
  EXPECT_FALSE(r.has_blocking());
}

TEST(LintExecutionModel, PublicSchemaMatchesUnqualifiedName) {
  auto r = lint_migration(make_file("CREATE TABLE IF NOT EXISTS public.t (id bigint);\nTRUNCATE t;"), {});
  EXPECT_EQ(find(r, "truncate"), nullptr);
}

TEST(LintRegistry, IdsAreUniqueAndEveryRuleIsDocumented) {
  std::ifstream in(mgr::test::source_dir() / "docs/lint-rules.md");
  ASSERT_TRUE(in) << "docs/lint-rules.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  std::set<std::string> ids;
  for (const auto& r : lint_rules()) {
    EXPECT_TRUE(ids.insert(r.id()).second) << r.id();
    EXPECT_NE(doc.find("`" + r.id() + "`"), std::string::npos) << r.id() << " is not in docs/lint-rules.md";
    EXPECT_FALSE(r.summary.empty() || r.advice.empty() || r.bad_example.empty() || r.good_example.empty()) << r.id();
  }
  EXPECT_GE(ids.size(), 30u);
  EXPECT_NE(find_lint_rule("drop-column"), nullptr);
  EXPECT_EQ(find_lint_rule("no-such-rule"), nullptr);
}

// The registry and the code list (diagnostic.hpp) describe the same rules, one entry each.
TEST(LintRegistry, EveryLintCodeHasExactlyOneRule) {
  ASSERT_EQ(lint_rules().size(), lint_rule_codes().size());
  for (auto code : lint_rule_codes()) {
    EXPECT_EQ(find_lint_rule(code).code, code) << code_name(code);
    EXPECT_EQ(find_lint_rule(std::string(lint_rule_id(code))), &find_lint_rule(code)) << code_name(code);
  }
}

// The documented examples are part of the contract: the bad one must fire
// its rule and the good one must not (directives in them are honoured).
TEST(LintRegistry, DocumentedExamplesBehaveAsDocumented) {
  auto lint_text = [](const std::string& sql, bool down) {
    MigrationFile f;
    f.path = "example.sql";
    f.sql = sql;
    f.directives = parse_directives(sql, f.path, nullptr);
    LintSettings settings;
    settings.runtime_only = down;
    return lint_migration(f, settings);
  };
  for (const auto& rule : lint_rules()) {
    bool down = rule.id() == "empty-down-migration";  // its examples are down files
    auto bad = lint_text(rule.bad_example, down);
    auto good = lint_text(rule.good_example, down);
    auto unallowed_hit = [&](const LintResult& r) {
      for (const auto& f : r.findings) {
        if (f.rule() == rule.id() && !f.allowed) return true;
      }
      return false;
    };
    EXPECT_TRUE(unallowed_hit(bad)) << rule.id() << " bad example does not fire:\n" << rule.bad_example;
    EXPECT_FALSE(unallowed_hit(good)) << rule.id() << " good example fires:\n" << rule.good_example;
  }
}

TEST(LintDownFiles, LockAndDataLossRulesApplyExceptToWhatTheUpFileCreated) {
  MigrationFile up = make_file(
      "CREATE TABLE audit (id bigint PRIMARY KEY);\n"
      "ALTER TABLE users ADD COLUMN nickname text;\n"
      "CREATE TYPE mood AS ENUM ('a');\n"
      "CREATE INDEX users_nick_idx ON users (nickname);\n");
  LintSettings down;
  down.rollback_of = &up;
  auto r = lint_migration(make_file("DROP TABLE audit;\n"
                                    "ALTER TABLE users DROP COLUMN nickname;\n"
                                    "DROP TYPE mood CASCADE;\n"
                                    "DROP INDEX users_nick_idx;\n"
                                    "DELETE FROM users;\n"
                                    "ALTER TABLE orders DROP COLUMN note;\n"
                                    "CREATE TABLE old_t (at timestamp);\n"),
                          down);
  std::vector<std::pair<std::string, int>> hits;
  for (const auto& f : r.findings) hits.emplace_back(std::string(f.rule()), f.line);
  // The index is dropped from an existing table (a lock on prod); the rows of
  // users and the column of orders were not created by the up file; the
  // recreated table gets no hygiene warning.
  // users is locked by the DROP COLUMN of line 2 while line 5 deletes.
  EXPECT_THAT(hits, ElementsAre(std::make_pair(std::string("drop-index-not-concurrent"), 4),
                                std::make_pair(std::string("backfill-under-lock"), 5),
                                std::make_pair(std::string("delete-without-where"), 5),
                                std::make_pair(std::string("drop-column"), 6)));
}

TEST(LintDownFiles, CommentOnlyDownFileIsReported) {
  MigrationFile up = make_file("ALTER TABLE users ADD COLUMN n int;\n");
  LintSettings down;
  down.rollback_of = &up;
  auto r = lint_migration(make_file("-- down migration for 0001_add_n\n\n"), down);
  const auto* f = find(r, "empty-down-migration");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  LintSettings runtime;
  runtime.runtime_only = true;
  EXPECT_NE(find(lint_migration(make_file("-- todo\n"), runtime), "empty-down-migration"), nullptr);
  // An up file with only comments is not a down file.
  EXPECT_EQ(find(lint_migration(make_file("-- nothing\n"), {}), "empty-down-migration"), nullptr);
}

TEST(LintAdvice, LockTableSaferFormIsTheAdvice) {
  auto r = lint_migration(make_file("ALTER TABLE t SET TABLESPACE fast;"), {});
  const auto* f = find(r, "table-rewrite");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->hint.find("pg_repack"), std::string::npos) << f->hint;
}

TEST(LintAllow, SystemCatalogWriteCannotBeAllowed) {
  auto r = lint_migration(
      make_file("UPDATE pg_index SET indisvalid = true WHERE indexrelid = 1;", {{{"system-catalog-write"}, "trust me", 1}}),
      {});
  EXPECT_NE(find(r, "allow-unknown-rule"), nullptr);
  EXPECT_FALSE(find(r, "system-catalog-write")->allowed);
  EXPECT_TRUE(r.has_blocking());
}

TEST(LintPublications, TablesTheFileCannotSeeAreWarningsNotErrors) {
  auto r = lint_migration(make_file("CREATE PUBLICATION p FOR TABLE orders;\n"
                                    "ALTER PUBLICATION q SET (publish = 'insert, update');\n"),
                          {});
  ASSERT_EQ(r.findings.size(), 2u);
  for (const auto& f : r.findings) {
    EXPECT_EQ(f.rule(), "publication-without-replica-identity");
    EXPECT_EQ(f.severity, Severity::warning) << f.message;
  }
  EXPECT_FALSE(r.has_blocking());
}
