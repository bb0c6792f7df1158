// Integers from text go through std::from_chars (text.hpp parse_integer):
// garbage and overflow are reported, never thrown as std::out_of_range from
// deep inside mgr, where user input (SQL, tool output) reaches them.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "mgr/lint.hpp"
#include "mgr/process.hpp"
#include "mgr/text.hpp"

namespace mgr {
namespace {

TEST(ParseInteger, WholeTextOnly) {
  EXPECT_EQ(parse_integer<int>("42"), 42);
  EXPECT_EQ(parse_integer<int>("-7"), -7);
  EXPECT_EQ(parse_integer<std::size_t>("0"), 0u);
  EXPECT_FALSE(parse_integer<int>(""));
  EXPECT_FALSE(parse_integer<int>("12a"));
  EXPECT_FALSE(parse_integer<int>(" 12"));
  EXPECT_FALSE(parse_integer<int>("+12"));
  EXPECT_FALSE(parse_integer<std::size_t>("-1"));
  EXPECT_FALSE(parse_integer<int>("abc"));
}

TEST(ParseInteger, OverflowIsReported) {
  EXPECT_EQ(parse_integer<int>("2147483647"), std::numeric_limits<int>::max());
  EXPECT_FALSE(parse_integer<int>("2147483648"));
  EXPECT_FALSE(parse_integer<std::size_t>("99999999999999999999999"));
  EXPECT_EQ(parse_integer<std::uint64_t>("ffffffffffffffff", 16), std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(parse_integer<std::uint64_t>("1ffffffffffffffff", 16));
}

TEST(ByteOffsetOfChar, CountsCodePoints) {
  const std::string text = "aé€b";  // 1 + 2 + 3 + 1 bytes
  EXPECT_EQ(byte_offset_of_char(text, 0), 0u);
  EXPECT_EQ(byte_offset_of_char(text, 1), 0u);
  EXPECT_EQ(byte_offset_of_char(text, 2), 1u);
  EXPECT_EQ(byte_offset_of_char(text, 3), 3u);
  EXPECT_EQ(byte_offset_of_char(text, 4), 6u);
  EXPECT_EQ(byte_offset_of_char(text, 5), text.size());
  EXPECT_EQ(byte_offset_of_char(text, 500), text.size());
}

TEST(ParseIntegerUse, PgToolVersionWithAnAbsurdNumberIsNoVersion) {
  EXPECT_FALSE(parse_pg_tool_version("pg_dump (PostgreSQL) 99999999999999999999.1"));
  EXPECT_FALSE(parse_pg_tool_version("pg_dump (PostgreSQL) 9.99999999999999999999"));
  EXPECT_EQ(parse_pg_tool_version("pg_dump (PostgreSQL) 16.2")->major, 16);
}

TEST(ParseIntegerUse, FormatPositionTooLargeInADoBlockDoesNotStopTheLint) {
  MigrationFile f;
  f.path = "migrations/0002_x.sql";
  f.sql = "DO $$ BEGIN EXECUTE format('DROP TABLE %99999999999999999999999$I', 'x'); END $$;\n"
          "SELECT 1;\n";
  // Before: std::stoul threw std::out_of_range out of the linter.
  EXPECT_NO_THROW(lint_migration(f, {}));
}

}  // namespace
}  // namespace mgr
