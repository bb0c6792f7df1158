#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "mgr/catalog.hpp"
#include "mgr/error.hpp"
#include "mgr/lint.hpp"
#include "mgr/sql.hpp"

using namespace mgr;

TEST(SqlSplit, TrimsLeadingWhitespaceAndComments) {
  std::string sql = "SELECT 1;  \n-- note\n  SELECT 2;\n";
  auto stmts = split_statements(sql);
  ASSERT_EQ(stmts.size(), 2u);
  EXPECT_EQ(stmts[0].text, "SELECT 1");
  EXPECT_EQ(stmts[0].offset, 0u);
  EXPECT_EQ(stmts[1].text, "SELECT 2");
  EXPECT_EQ(stmts[1].offset, sql.find("SELECT 2"));
  EXPECT_EQ(stmts[1].length, 8u);
}

TEST(SqlSplit, SemicolonsInsideStringsAndDollarQuotesDoNotSplit) {
  std::string sql =
      "INSERT INTO t VALUES ('a;b');\n"
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;\n"
      "/* ; */ SELECT 3";
  auto stmts = split_statements(sql);
  ASSERT_EQ(stmts.size(), 3u);
  EXPECT_EQ(stmts[0].text, "INSERT INTO t VALUES ('a;b')");
  EXPECT_EQ(stmts[1].text.substr(0, 17), "CREATE FUNCTION f");
  EXPECT_EQ(stmts[2].text, "SELECT 3");
}

TEST(SqlSplit, SkipsEmptyStatements) {
  auto stmts = split_statements(";;\n-- only a comment\n;SELECT 1;;");
  ASSERT_EQ(stmts.size(), 1u);
  EXPECT_EQ(stmts[0].text, "SELECT 1");
}

TEST(SqlSplit, ParseErrorThrowsConfigErrorWithLineAndColumn) {
  try {
    split_statements("SELECT 1;\nSELEC 2;\n");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("2:1: syntax error", 0), 0u) << e.what();
  }
}

TEST(SqlSyntax, ValidTextHasNoError) { EXPECT_FALSE(check_syntax("SELECT 1; CREATE TABLE t (id bigint);")); }

TEST(SqlSyntax, ErrorPositionCountsCharactersNotBytes) {
  std::string sql = "SELECT 1;\nSELECT 'ééé' FROM (;";
  auto error = check_syntax(sql);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->pos.line, 2);
  EXPECT_EQ(error->pos.col, 20);
  EXPECT_EQ(error->offset, sql.rfind(';'));
  EXPECT_NE(error->message.find("syntax error"), std::string::npos);
}

TEST(SqlParse, GivesStatementsWithByteLocations) {
  auto parsed = parse_sql("SELECT 1;\nDROP TABLE t;");
  ASSERT_FALSE(parsed.error);
  ASSERT_EQ(parsed.stmts.size(), 2u);
  EXPECT_TRUE(parsed.stmts[1]["stmt"].contains("DropStmt"));
  EXPECT_EQ(parsed.stmts[1].value("stmt_location", -1), 9);
  EXPECT_FALSE(parsed.stmts[0].contains("stmt_location"));  // libpg_query omits 0
}

TEST(SqlParse, ErrorIsReportedNotThrown) {
  auto parsed = parse_sql("CREATE TABLE (");
  ASSERT_TRUE(parsed.error);
  EXPECT_EQ(parsed.error->pos.line, 1);
  EXPECT_TRUE(parsed.stmts.empty());
}

// libpg_query copies invalid UTF-8 into its JSON, which nlohmann then refuses
// with its own parse_error (fuzz/crashes/lint/invalid-utf8-json-parse-error.bin).
TEST(SqlParse, InvalidUtf8IsAnErrorAtTheBadByteNotALibraryException) {
  const std::string sql = "SELECT 1;\nSELECT 'caf\xe9 \x97';\n";
  SqlParse parsed;
  ASSERT_NO_THROW(parsed = parse_sql(sql));
  ASSERT_TRUE(parsed.error);
  EXPECT_EQ(parsed.error->offset, sql.find('\xe9'));
  EXPECT_EQ(parsed.error->pos.line, 2);
  EXPECT_EQ(parsed.error->pos.col, 12);
  EXPECT_NE(parsed.error->message.find("not valid UTF-8"), std::string::npos) << parsed.error->message;
  EXPECT_TRUE(parsed.stmts.empty());
}

TEST(SqlParse, InvalidUtf8InAnIdentifierIsAnError) {
  SqlParse parsed;
  ASSERT_NO_THROW(parsed = parse_sql("CREATE TABLE t\xff (id int);"));
  EXPECT_TRUE(parsed.error);
}

TEST(SqlPlpgsql, InvalidUtf8BodyIsAnErrorNotALibraryException) {
  PlpgsqlParse parsed;
  ASSERT_NO_THROW(parsed = parse_plpgsql_body("\nBEGIN\n  PERFORM 'caf\xe9';\nEND\n"));
  ASSERT_TRUE(parsed.error);
  EXPECT_NE(parsed.error->find("not valid UTF-8"), std::string::npos) << *parsed.error;
}

// The fuzz finding itself, through the linter as the fuzz target calls it.
TEST(SqlParse, FuzzFindingInvalidUtf8ThroughTheLinterIsAParseErrorFinding) {
  const auto input = std::filesystem::path(MGR_SOURCE_DIR) / "fuzz" / "crashes" / "lint" /
                     "invalid-utf8-json-parse-error.bin";
  std::ifstream in(input, std::ios::binary);
  ASSERT_TRUE(in) << input;
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_GT(bytes.size(), 1u);
  MigrationFile file;
  file.path = "migrations/0001_x.sql";
  file.sql = normalize_sql_text(bytes.substr(1));  // the first byte picks pg_version in the harness
  ASSERT_FALSE(is_valid_utf8(file.sql));
  LintResult result;
  ASSERT_NO_THROW(result = lint_migration(file, LintSettings{}));
  bool parse_error = false;
  for (const auto& f : result.findings) parse_error = parse_error || f.code == Code::lint_parse_error;
  EXPECT_TRUE(parse_error);
  EXPECT_TRUE(result.has_blocking());
}

TEST(SqlPlpgsql, ParsesBodyEvenWhenItContainsTheWrapperTag) {
  auto parsed = parse_plpgsql_body("\nBEGIN\n  PERFORM '$mgr_do$';\n  DELETE FROM t;\nEND\n");
  ASSERT_FALSE(parsed.error) << *parsed.error;
  ASSERT_EQ(parsed.functions.size(), 1u);
  EXPECT_NE(parsed.functions[0].dump().find("DELETE FROM t"), std::string::npos);
}

TEST(SqlPlpgsql, BadBodyIsAnError) {
  auto parsed = parse_plpgsql_body("BEGIN IF THEN END");
  EXPECT_TRUE(parsed.error);
}

TEST(SqlSkip, SkipsNestedBlockCommentsAndLineComments) {
  std::string sql = "  /* a /* nested */ still */ -- line\n\tSELECT";
  EXPECT_EQ(skip_space_and_comments(sql, 0), sql.find("SELECT"));
}

// --- a migration's own transaction statements (issue 11 #2) ---

namespace {

using Fate = TransactionStatement::Fate;

std::vector<Fate> fates(const TransactionControl& c) {
  std::vector<Fate> out;
  for (const auto& t : c.statements) out.push_back(t.fate);
  return out;
}

}  // namespace

TEST(SqlTransactionControl, WholeFileBlockIsFolded) {
  std::string sql = "-- comment\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n";
  auto c = analyse_transaction_control(sql, true);
  ASSERT_FALSE(c.error);
  EXPECT_EQ(c.statement_count, 3u);
  EXPECT_EQ(fates(c), (std::vector<Fate>{Fate::folded, Fate::folded}));
  EXPECT_EQ(c.statements[0].pos.line, 2);
  EXPECT_EQ(c.statements[0].text, "BEGIN");
  EXPECT_EQ(c.statements[1].pos.line, 4);
  EXPECT_TRUE(c.folds());
  EXPECT_FALSE(c.refused());
}

TEST(SqlTransactionControl, SeveralBlocksStartTransactionEndAndStatementsAroundThemFold) {
  std::string sql =
      "CREATE TABLE before_all (id int);\n"
      "START TRANSACTION;\nCREATE TABLE a (id int);\nEND;\n"
      "begin work;\nCREATE TABLE b (id int);\ncommit\n;\n"
      "BEGIN TRANSACTION;\nSAVEPOINT s1;\nCREATE TABLE c (id int);\nRELEASE SAVEPOINT s1;\nCOMMIT;\n"
      "CREATE TABLE after_all (id int);\n";
  auto c = analyse_transaction_control(sql, true);
  EXPECT_EQ(fates(c), (std::vector<Fate>{Fate::folded, Fate::folded, Fate::folded, Fate::folded, Fate::folded,
                                         Fate::kept, Fate::kept, Fate::folded}));
  EXPECT_EQ(c.statements[1].text, "END");
  EXPECT_EQ(c.statements[2].text, "begin work");
}

TEST(SqlTransactionControl, WhatCannotBeFoldedIsRefusedWithItsLine) {
  struct Case {
    const char* sql;
    int refused_line;
  };
  const Case cases[] = {
      {"BEGIN;\nCREATE TABLE a (id int);\nROLLBACK;\n", 3},
      {"CREATE TABLE a (id int);\nCOMMIT;\n", 2},
      {"BEGIN;\nCREATE TABLE a (id int);\n", 1},
      {"BEGIN;\nBEGIN;\nCOMMIT;\nCOMMIT;\n", 2},
      {"BEGIN;\nCREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCOMMIT;\n", 3},
      {"BEGIN;\nCREATE TABLE a (id int);\nPREPARE TRANSACTION 'x';\nCOMMIT;\n", 3},
      {"COMMIT PREPARED 'x';\n", 1},
      {"BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (id int);\nCOMMIT;\n", 1},
      {"ABORT;\n", 1},
      // A savepoint of the first block rolled back to from the second: folded, it would reach across the COMMIT.
      {"BEGIN;\nSAVEPOINT s;\nCOMMIT;\nBEGIN;\nROLLBACK TO SAVEPOINT s;\nCOMMIT;\n", 5},
  };
  for (const auto& k : cases) {
    auto c = analyse_transaction_control(k.sql, true);
    ASSERT_TRUE(c.refused()) << k.sql;
    const TransactionStatement* refused = nullptr;
    for (const auto& t : c.statements) {
      if (t.fate == Fate::refused && refused == nullptr) refused = &t;
    }
    ASSERT_NE(refused, nullptr) << k.sql;
    EXPECT_EQ(refused->pos.line, k.refused_line) << k.sql;
    EXPECT_FALSE(refused->reason.empty()) << k.sql;
    EXPECT_THROW(transaction_body(k.sql, "m.sql"), Refused) << k.sql;
  }
}

TEST(SqlTransactionControl, NoTransactionFileKeepsBalancedBlocks) {
  std::string sql = "BEGIN;\nUPDATE t SET a = 1 WHERE id = 1;\nSAVEPOINT s;\nROLLBACK TO s;\nCOMMIT;\n"
                    "CREATE INDEX CONCURRENTLY i ON t (a);\nSTART TRANSACTION;\nSELECT 1;\nROLLBACK;\n";
  auto c = analyse_transaction_control(sql, false);
  EXPECT_FALSE(c.refused());
  EXPECT_FALSE(c.folds());
  EXPECT_EQ(c.statements.size(), 6u);
  // Unbalanced is still refused there: a block left open would swallow mgr's bookkeeping.
  EXPECT_TRUE(analyse_transaction_control("BEGIN;\nSELECT 1;\n", false).refused());
  EXPECT_TRUE(analyse_transaction_control("SELECT 1;\nCOMMIT;\n", false).refused());
  EXPECT_TRUE(analyse_transaction_control("PREPARE TRANSACTION 'x';\n", false).refused());
}

TEST(SqlTransactionControl, CommentOnlyFileHasNoStatements) {
  auto c = analyse_transaction_control("-- write your migration here\n/* later */\n", true);
  EXPECT_FALSE(c.error);
  EXPECT_EQ(c.statement_count, 0u);
}

TEST(SqlTransactionControl, ParseErrorIsReportedNotClassified) {
  auto c = analyse_transaction_control("BEGIN;\nCREATE TABLE (;\nCOMMIT;\n", true);
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->pos.line, 2);
  EXPECT_TRUE(c.statements.empty());
  EXPECT_THROW(transaction_body("CREATE TABLE (;", "m.sql"), ConfigError);
}

// A statement the parser cannot turn into a tree must make the file an error:
// skipped unclassified, a COMMIT would end mgr's transaction.
TEST(SqlTransactionControl, InvalidUtf8FileIsAnErrorNamingTheFileNeverSkipped) {
  const std::string sql = "BEGIN;\nSAVEPOINT \"s\x97\";\nCOMMIT;\n";
  TransactionControl c;
  ASSERT_NO_THROW(c = analyse_transaction_control(sql, true));
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->pos.line, 2);
  EXPECT_TRUE(c.statements.empty());
  try {
    transaction_body(sql, "migrations/0001_x.sql");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("migrations/0001_x.sql:2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
  // The bad byte in a statement that is not a transaction statement, too.
  EXPECT_THROW(transaction_body("SELECT '\xe9';\nCOMMIT;\n", "m.sql"), ConfigError);
}

TEST(SqlTransactionControl, BodyBlanksFoldedStatementsKeepingEveryOffset) {
  std::string sql = "BEGIN; -- é\nCREATE TABLE a (id int);\nCOMMIT\n;\nSELECT 'é';";
  auto body = transaction_body(sql, "m.sql");
  ASSERT_EQ(body.size(), sql.size());
  EXPECT_EQ(body, "     ; -- é\nCREATE TABLE a (id int);\n      \n;\nSELECT 'é';");
  // Nothing to fold: the text is sent as it is.
  EXPECT_EQ(transaction_body("SELECT 1;", "m.sql"), "SELECT 1;");
  // The last statement without `;` and a trailing comment.
  EXPECT_EQ(transaction_body("BEGIN;\nSELECT 1;\nCOMMIT -- done", "m.sql"), "     ;\nSELECT 1;\n              ");
}

TEST(SqlTransactionControl, RefusalNamesFileLineAndStatement) {
  try {
    transaction_body("BEGIN;\nSELECT 1;\nROLLBACK;\n", "migrations/0001_x.sql");
    FAIL() << "expected Refused";
  } catch (const Refused& e) {
    EXPECT_NE(std::string(e.what()).find("migrations/0001_x.sql:3: ROLLBACK:"), std::string::npos) << e.what();
  }
}

TEST(SqlTransactionControl, EnclosingBlockOfANoTransactionFile) {
  std::string sql = "-- mgr:no-transaction\nSELECT 1;\nBEGIN;\nSELECT 2;\nSELECT 3;\nCOMMIT;\nSELECT 4;\n";
  EXPECT_FALSE(enclosing_block(sql, LineCol{2, 1}));
  auto inside = enclosing_block(sql, LineCol{5, 1});
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->line, 3);
  EXPECT_FALSE(enclosing_block(sql, LineCol{7, 1}));
}

TEST(SqlTransactionControl, OnlyTheParserDecidesWhatIsATransactionStatement) {
  // Mixed case, comments inside, and statements that start like one but are not.
  std::string sql = "PREPARE q AS SELECT 1;\nBeGiN/* why */;\nCREATE TABLE \"begin\" (id int);\n"
                    "SELECT 'COMMIT';\nEXECUTE q;\nCommit\n-- done\n;\n";
  auto c = analyse_transaction_control(sql, true);
  ASSERT_EQ(c.statements.size(), 2u);
  EXPECT_EQ(c.statements[0].pos.line, 2);
  EXPECT_EQ(c.statements[0].text, "BeGiN/* why */");
  EXPECT_EQ(c.statements[1].pos.line, 6);
  EXPECT_EQ(fates(c), (std::vector<Fate>{Fate::folded, Fate::folded}));
  EXPECT_EQ(c.statement_count, 6u);
}
