#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mgr/error.hpp"
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
