// text.hpp: positions in UTF-8 text, edit distance, "did you mean" suggestions.
#include "mgr/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mgr {
namespace {

TEST(Text, LineColAtStartIsOneOne) {
  auto p = line_col_at("select 1;\n", 0);
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.col, 1);
}

TEST(Text, LineColCountsLinesAndColumnsInAscii) {
  const std::string text = "select 1;\nselect  2;\n\nfoo";
  // 'f' of foo: lines "select 1;\n"(10) "select  2;\n"(11) "\n"(1) -> offset 22
  auto p = line_col_at(text, 22);
  EXPECT_EQ(p.line, 4);
  EXPECT_EQ(p.col, 1);
  // '2' on line 2: offset 10 + 8
  p = line_col_at(text, 18);
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.col, 9);
}

TEST(Text, LineColAtNewlineBelongsToItsLine) {
  const std::string text = "ab\ncd";
  auto p = line_col_at(text, 2);  // the '\n'
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.col, 3);
  p = line_col_at(text, 3);  // 'c'
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.col, 1);
}

TEST(Text, LineColCountsCodePointsNotBytes) {
  // "é" is 2 bytes, "€" 3 bytes, "😀" 4 bytes: each one column.
  const std::string text = "-- \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80x\nselect";
  auto x = text.find('x');
  ASSERT_EQ(x, 3u + 2 + 3 + 4);
  auto p = line_col_at(text, x);
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.col, 7);  // '-', '-', ' ', é, €, 😀 then x
}

TEST(Text, LineColMultibyteOnLaterLine) {
  const std::string text = "a\n\xC3\xA9\xC3\xA9z";
  auto p = line_col_at(text, text.find('z'));
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.col, 3);
}

TEST(Text, LineColPastTheEndMapsToTheEnd) {
  const std::string text = "ab\ncde";
  auto end = line_col_at(text, text.size());
  auto past = line_col_at(text, text.size() + 100);
  EXPECT_EQ(end.line, 2);
  EXPECT_EQ(end.col, 4);
  EXPECT_EQ(past.line, end.line);
  EXPECT_EQ(past.col, end.col);
}

TEST(Text, LineColOnEmptyText) {
  auto p = line_col_at("", 5);
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.col, 1);
}

TEST(Text, LineIndexAgreesWithLineColAtEverywhere) {
  const std::string text = "create table t (\n  x int -- \xC3\xA9t\xC3\xA9\n);\n\n\xE2\x82\xAC select\n";
  LineIndex index(text);
  for (std::size_t i = 0; i <= text.size() + 2; ++i) {
    auto a = index.at(i);
    auto b = line_col_at(text, i);
    EXPECT_EQ(a.line, b.line) << "offset " << i;
    EXPECT_EQ(a.col, b.col) << "offset " << i;
  }
  // Spot checks: the ')' on line 3, and the 's' of select after the euro sign.
  EXPECT_EQ(index.at(text.find(')')).line, 3);
  auto s = index.at(text.find("select"));
  EXPECT_EQ(s.line, 5);
  EXPECT_EQ(s.col, 3);
}

TEST(Text, EditDistanceBasics) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", "abc"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("promote_from", "promote_form"), 2u);
  EXPECT_EQ(edit_distance("allow", "alow"), 1u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
}

TEST(Text, EditDistanceIsSymmetric) {
  EXPECT_EQ(edit_distance("no-transaction", "notransaction"), edit_distance("notransaction", "no-transaction"));
  EXPECT_EQ(edit_distance("sunday", "saturday"), edit_distance("saturday", "sunday"));
  EXPECT_EQ(edit_distance("sunday", "saturday"), 3u);
}

TEST(Text, NearestSuggestsALikelyTypo) {
  EXPECT_EQ(nearest("promote_form", {"url", "promote_from", "backup", "lint"}), "promote_from");
  EXPECT_EQ(nearest("no-transction", {"no-transaction", "allow"}), "no-transaction");
  EXPECT_EQ(nearest("alow", {"no-transaction", "allow"}), "allow");
  EXPECT_EQ(nearest("lint", {"url", "lint"}), "lint");  // exact match
}

TEST(Text, NearestGivesNothingForAnUnrelatedWord) {
  EXPECT_EQ(nearest("transactional_ddl_mode", {"no-transaction", "allow"}), "");
  EXPECT_EQ(nearest("xyz", {"migrations_dir", "backups_dir", "environments"}), "");
  EXPECT_EQ(nearest("anything", {}), "");
}

TEST(Text, NearestPicksTheClosestCandidate) {
  EXPECT_EQ(nearest("backupp", {"backups_dir", "backup", "backup_keep"}), "backup");
  EXPECT_EQ(nearest("statement_timout", {"lock_timeout", "statement_timeout"}), "statement_timeout");
}

TEST(Text, Join) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

}  // namespace
}  // namespace mgr
