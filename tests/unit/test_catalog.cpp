// catalog.hpp: file naming, problems, ordering, checksums and directives.
#include "mgr/catalog.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "mgr/error.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using ::testing::HasSubstr;
using test::TempDir;
using test::write_file;
namespace fs = std::filesystem;

const std::string k_sql = "create table t (id int);\n";

std::vector<std::string> ids_of(const Catalog& c) {
  std::vector<std::string> out;
  for (const auto& m : c.migrations) out.push_back(m.id);
  return out;
}

std::vector<std::string> codes_of(const CatalogScan& s) {
  std::vector<std::string> out;
  for (const auto& p : s.problems) out.push_back(std::string(code_name(p.code)));
  return out;
}

// The only problem, or a test failure.
Diagnostic only_problem(const CatalogScan& s) {
  EXPECT_EQ(s.problems.size(), 1u) << ::testing::PrintToString(codes_of(s));
  return s.problems.empty() ? Diagnostic() : s.problems.front();
}

// ---- naming and pairing ---------------------------------------------------

TEST(Catalog, ReadsUpAndDownPairs) {
  TempDir dir;
  write_file(dir / "20250101120000_create_users.sql", k_sql);
  write_file(dir / "20250101120000_create_users.down.sql", "drop table t;\n");
  write_file(dir / "20250102120000_add_index.sql", "create index on t (id);\n");
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty());
  ASSERT_EQ(scan.catalog.migrations.size(), 2u);
  const auto& first = scan.catalog.migrations[0];
  EXPECT_EQ(first.id, "20250101120000");
  EXPECT_EQ(first.name, "create_users");
  EXPECT_EQ(first.label(), "20250101120000_create_users");
  EXPECT_EQ(first.up.path, dir / "20250101120000_create_users.sql");
  EXPECT_EQ(first.up.sql, k_sql);
  ASSERT_TRUE(first.down.has_value());
  EXPECT_EQ(first.down->path, dir / "20250101120000_create_users.down.sql");
  EXPECT_EQ(first.down->sql, "drop table t;\n");
  EXPECT_FALSE(scan.catalog.migrations[1].down.has_value());
  EXPECT_EQ(scan.catalog.dir, dir.path());
}

TEST(Catalog, ShortNumericIdsAreValid) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  write_file(dir / "0002_more_2.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty());
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"0001", "0002"}));
  EXPECT_EQ(scan.catalog.migrations[1].name, "more_2");
}

TEST(Catalog, TwentyDigitIdIsValidTwentyOneIsNot) {
  TempDir dir;
  write_file(dir / "12345678901234567890_ok.sql", k_sql);
  write_file(dir / "123456789012345678901_too_long.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"12345678901234567890"}));
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::invalid_name);
  EXPECT_EQ(p.file, dir / "123456789012345678901_too_long.sql");
}

TEST(Catalog, BadSqlFileNamesAreReportedEach) {
  TempDir dir;
  const std::vector<std::string> bad = {
      "create_users.sql",         // no id
      "2025_Create_Users.sql",    // upper case
      "2025-create-users.sql",    // dashes
      "2025_.sql",                // empty name
      "2025.sql",                 // no name at all
      "2025_add users.sql",       // space
      "abc_2025_x.sql",           // id not first
      "2025_x.up.sql",            // extra dot
  };
  for (const auto& name : bad) write_file(dir / name, k_sql);
  write_file(dir / "2026_good.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"2026"}));
  ASSERT_EQ(scan.problems.size(), bad.size());
  for (const auto& p : scan.problems) {
    EXPECT_EQ(p.code, Code::invalid_name) << p.file;
    EXPECT_THAT(p.located(), HasSubstr(p.file.string()));
    EXPECT_THAT(p.message, HasSubstr("<id>_<name>.sql"));
  }
}

TEST(Catalog, OtherFilesAreIgnored) {
  TempDir dir;
  write_file(dir / "README.md", "# migrations\n");
  write_file(dir / ".gitkeep", "");
  write_file(dir / "notes.txt", "x");
  write_file(dir / ".hidden.sql", "whatever");
  fs::create_directories(dir / "subdir");
  write_file(dir / "0001_init.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty()) << ::testing::PrintToString(codes_of(scan));
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"0001"}));
}

TEST(Catalog, DuplicateIdNamesBothFilesAndDropsBoth) {
  TempDir dir;
  write_file(dir / "20250101000000_a.sql", k_sql);
  write_file(dir / "20250101000000_b.sql", k_sql);
  write_file(dir / "20250102000000_c.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"20250102000000"}));
  ASSERT_EQ(scan.problems.size(), 2u);
  for (const auto& p : scan.problems) {
    EXPECT_EQ(p.code, Code::duplicate_id);
    EXPECT_THAT(p.message, HasSubstr("20250101000000_a.sql"));
    EXPECT_THAT(p.message, HasSubstr("20250101000000_b.sql"));
  }
}

TEST(Catalog, NumericallyEqualIdsAreDuplicates) {
  TempDir dir;
  write_file(dir / "1_a.sql", k_sql);
  write_file(dir / "0001_b.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.catalog.migrations.empty());
  ASSERT_EQ(scan.problems.size(), 2u);
  EXPECT_EQ(scan.problems[0].code, Code::duplicate_id);
  EXPECT_THAT(scan.problems[0].message, HasSubstr("1_a.sql"));
  EXPECT_THAT(scan.problems[0].message, HasSubstr("0001_b.sql"));
}

TEST(Catalog, DownFileWithoutUpIsAnOrphan) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  write_file(dir / "0002_gone.down.sql", "drop table t;\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::orphan_down);
  EXPECT_EQ(p.file, dir / "0002_gone.down.sql");
  EXPECT_THAT(p.message, HasSubstr("0002_gone.sql"));
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"0001"}));
}

TEST(Catalog, DownFileWithADifferentNameIsAnOrphan) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  write_file(dir / "0001_initial.down.sql", "drop table t;\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::orphan_down);
  ASSERT_EQ(scan.catalog.migrations.size(), 1u);
  EXPECT_FALSE(scan.catalog.migrations[0].down.has_value());
}

TEST(Catalog, EmptyOrBlankUpFileIsAProblem) {
  TempDir dir;
  write_file(dir / "0001_empty.sql", "");
  write_file(dir / "0002_blank.sql", "  \n\r\n\t\n");
  write_file(dir / "0003_ok.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_EQ(ids_of(scan.catalog), (std::vector<std::string>{"0003"}));
  ASSERT_EQ(scan.problems.size(), 2u);
  EXPECT_EQ(scan.problems[0].code, Code::empty_file);
  EXPECT_EQ(scan.problems[0].file, dir / "0001_empty.sql");
  EXPECT_EQ(scan.problems[1].code, Code::empty_file);
  EXPECT_EQ(scan.problems[1].file, dir / "0002_blank.sql");
}

TEST(Catalog, EmptyDownFileIsAllowed) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  write_file(dir / "0001_init.down.sql", "");
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty());
  ASSERT_EQ(scan.catalog.migrations.size(), 1u);
  EXPECT_TRUE(scan.catalog.migrations[0].down.has_value());
}

TEST(Catalog, InvalidUtf8IsReportedWithItsLine) {
  TempDir dir;
  write_file(dir / "0001_latin1.sql", "-- ok\ninsert into t values ('caf\xE9');\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::invalid_utf8);
  EXPECT_EQ(p.file, dir / "0001_latin1.sql");
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.located().rfind((dir / "0001_latin1.sql").string() + ":2: ", 0), 0u) << p.located();
  EXPECT_TRUE(scan.catalog.migrations.empty());
}

TEST(Catalog, InvalidUtf8InDownFileIsReported) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  write_file(dir / "0001_init.down.sql", "drop table \xFF;\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::invalid_utf8);
  EXPECT_EQ(p.file, dir / "0001_init.down.sql");
}

TEST(Catalog, ValidUtf8Passes) {
  TempDir dir;
  write_file(dir / "0001_unicode.sql", "insert into t values ('caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80');\n");
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty());
  EXPECT_EQ(scan.catalog.migrations.size(), 1u);
}

TEST(Catalog, IsValidUtf8RejectsMalformedSequences) {
  std::size_t bad = 99;
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("ab\xC3", &bad));  // truncated
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));       // overlong, 3 bytes
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));       // UTF-16 surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));   // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));               // lone continuation byte
  EXPECT_FALSE(is_valid_utf8("x\xC3(", &bad));       // bad continuation byte
  EXPECT_EQ(bad, 1u);
}

TEST(Catalog, ProblemFormatWithAndWithoutLine) {
  auto whole = diagnostic(Code::empty_file, "migration file is empty");
  whole.file = "/m/0001_a.sql";
  auto at_line = diagnostic(Code::unknown_directive, "unknown directive");
  at_line.file = "/m/0001_a.sql";
  at_line.line = 3;
  EXPECT_EQ(whole.located(), "/m/0001_a.sql: migration file is empty");
  EXPECT_EQ(at_line.located(), "/m/0001_a.sql:3: unknown directive");
}

TEST(Catalog, ProblemsCarryTheirHint) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "-- mgr:no-transactoin\nSELECT 1;\n");
  write_file(dir / "0002_gone.down.sql", "SELECT 1;\n");
  auto scan = scan_catalog(dir.path());
  ASSERT_EQ(scan.problems.size(), 2u);
  EXPECT_EQ(scan.problems[0].code, Code::unknown_directive);
  EXPECT_THAT(scan.problems[0].hint, HasSubstr("-- mgr:no-transaction"));
  EXPECT_EQ(scan.problems[1].code, Code::orphan_down);
  EXPECT_THAT(scan.problems[1].hint, HasSubstr("add the matching up file"));
}

TEST(Catalog, MissingDirectoryIsAConfigError) {
  TempDir dir;
  EXPECT_THROW(scan_catalog(dir / "nope"), ConfigError);
  write_file(dir / "file", "x");
  EXPECT_THROW(scan_catalog(dir / "file"), ConfigError);
}

TEST(Catalog, EmptyDirectoryIsAnEmptyCatalog) {
  TempDir dir;
  auto c = load_catalog(dir.path());
  EXPECT_TRUE(c.migrations.empty());
}

TEST(Catalog, LoadCatalogThrowsConfigErrorListingEveryProblem) {
  TempDir dir;
  write_file(dir / "0001_a.sql", k_sql);
  write_file(dir / "0001_b.sql", k_sql);
  write_file(dir / "0002_empty.sql", "");
  write_file(dir / "Bad.sql", k_sql);
  try {
    load_catalog(dir.path());
    FAIL() << "accepted a broken catalog";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr((dir / "0001_a.sql").string()));
    EXPECT_THAT(msg, HasSubstr((dir / "0001_b.sql").string()));
    EXPECT_THAT(msg, HasSubstr((dir / "0002_empty.sql").string() + ": migration file is empty"));
    EXPECT_THAT(msg, HasSubstr((dir / "Bad.sql").string()));
  }
}

// ---- ordering ------------------------------------------------------------

TEST(Catalog, CompareIdsIsNumeric) {
  EXPECT_LT(compare_ids("9", "10"), 0);
  EXPECT_GT(compare_ids("10", "9"), 0);
  EXPECT_EQ(compare_ids("0001", "1"), 0);
  EXPECT_EQ(compare_ids("0", "000"), 0);
  EXPECT_LT(compare_ids("0009", "10"), 0);
  EXPECT_LT(compare_ids("20250101120000", "20250101120001"), 0);
  EXPECT_GT(compare_ids("99999999999999999999", "9999999999999999999"), 0);  // beyond 64-bit
  EXPECT_EQ(compare_ids("42", "42"), 0);
}

TEST(Catalog, MigrationsSortNumericallyNotLexically) {
  TempDir dir;
  write_file(dir / "10_ten.sql", k_sql);
  write_file(dir / "9_nine.sql", k_sql);
  write_file(dir / "100_hundred.sql", k_sql);
  write_file(dir / "0011_eleven.sql", k_sql);
  write_file(dir / "1_one.sql", k_sql);
  auto c = load_catalog(dir.path());
  EXPECT_EQ(ids_of(c), (std::vector<std::string>{"1", "9", "10", "0011", "100"}));
}

TEST(Catalog, FindIsByIdAsWritten) {
  TempDir dir;
  write_file(dir / "0001_init.sql", k_sql);
  auto c = load_catalog(dir.path());
  ASSERT_NE(c.find("0001"), nullptr);
  EXPECT_EQ(c.find("0001")->name, "init");
  EXPECT_EQ(c.find("0002"), nullptr);
}

// ---- checksums -----------------------------------------------------------

TEST(Catalog, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Catalog, NormalizeStripsBomAndCrlfOnly) {
  EXPECT_EQ(normalize_sql_text("\xEF\xBB\xBFselect 1;\r\nselect 2;\r\n"), "select 1;\nselect 2;\n");
  EXPECT_EQ(normalize_sql_text("a\rb\n"), "a\rb\n");                      // lone CR kept
  EXPECT_EQ(normalize_sql_text("x\xEF\xBB\xBFy"), "x\xEF\xBB\xBFy");      // only a leading BOM
  EXPECT_EQ(normalize_sql_text("\xEF\xBB\xBF\xEF\xBB\xBFz"), "\xEF\xBB\xBFz");
}

TEST(Catalog, FileChecksumIsSha256OfNormalizedText) {
  EXPECT_EQ(file_checksum("abc"), sha256_hex("abc"));
  EXPECT_EQ(file_checksum("\xEF\xBB\xBF" "abc"), sha256_hex("abc"));
  EXPECT_EQ(file_checksum("a\r\nb"), sha256_hex("a\nb"));
  EXPECT_NE(file_checksum("a\nb"), file_checksum("a\nb "));
}

TEST(Catalog, CrlfAndBomFilesHaveTheSameChecksumAsLf) {
  TempDir lf, crlf, bom;
  const std::string text = "-- users\ncreate table users (\n  id bigint primary key\n);\n";
  std::string text_crlf;
  for (char ch : text) {
    if (ch == '\n') text_crlf += "\r\n"; else text_crlf += ch;
  }
  write_file(lf / "0001_users.sql", text);
  write_file(crlf / "0001_users.sql", text_crlf);
  write_file(bom / "0001_users.sql", "\xEF\xBB\xBF" + text_crlf);
  auto a = load_catalog(lf.path()), b = load_catalog(crlf.path()), c = load_catalog(bom.path());
  const auto& sum = a.migrations.at(0).up.checksum;
  EXPECT_EQ(sum, sha256_hex(text));
  EXPECT_EQ(b.migrations.at(0).up.checksum, sum);
  EXPECT_EQ(c.migrations.at(0).up.checksum, sum);
  EXPECT_EQ(c.migrations.at(0).up.sql, text);  // what runs is the normalized text too
}

TEST(Catalog, ChecksumIsLowerHexAndChangesWithContent) {
  TempDir one, two;
  write_file(one / "0001_a.sql", "select 1;\n");
  write_file(two / "0001_a.sql", "select 2;\n");
  auto a = load_catalog(one.path()).migrations.at(0).up.checksum;
  auto b = load_catalog(two.path()).migrations.at(0).up.checksum;
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(Catalog, DownFileHasItsOwnChecksum) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "create table a (x int);\n");
  write_file(dir / "0001_a.down.sql", "drop table a;\n");
  auto m = load_catalog(dir.path()).migrations.at(0);
  ASSERT_TRUE(m.down);
  EXPECT_EQ(m.up.checksum, sha256_hex("create table a (x int);\n"));
  EXPECT_EQ(m.down->checksum, sha256_hex("drop table a;\n"));
}

// ---- directives ----------------------------------------------------------

Directives directives_of(const std::string& sql, std::vector<Diagnostic>* problems) {
  return parse_directives(sql, "/m/0001_x.sql", problems);
}

TEST(Catalog, NoTransactionDirective) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("-- build the index online\n-- mgr:no-transaction\ncreate index concurrently i on t (x);\n",
                         &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(d.no_transaction);
  EXPECT_TRUE(d.allows.empty());
  EXPECT_FALSE(directives_of("create index i on t (x);\n", &problems).no_transaction);
}

TEST(Catalog, DirectivesAfterBlankLinesAndIndentStillCount) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("\n\n   --   mgr:no-transaction   \n\nselect 1;\n", &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(d.no_transaction);
}

TEST(Catalog, DirectivesAfterTheFirstStatementAreIgnored) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("select 1;\n-- mgr:no-transaction\n-- mgr:bogus\n", &problems);
  EXPECT_FALSE(d.no_transaction);
  EXPECT_TRUE(problems.empty());
}

TEST(Catalog, AllowDirectiveWithRulesAndReason) {
  std::vector<Diagnostic> problems;
  auto d = directives_of(
      "-- header\n-- mgr:allow drop-column,set-not-null reason: column unused since v2.3\nalter table t drop column x;\n",
      &problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(d.allows.size(), 1u);
  EXPECT_EQ(d.allows[0].rules, (std::vector<std::string>{"drop-column", "set-not-null"}));
  EXPECT_EQ(d.allows[0].reason, "column unused since v2.3");
  EXPECT_EQ(d.allows[0].line, 2);
}

TEST(Catalog, AllowDirectiveWithoutReasonParsesWithEmptyReason) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("-- mgr:allow drop-table\ndrop table t;\n", &problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(d.allows.size(), 1u);
  EXPECT_EQ(d.allows[0].rules, (std::vector<std::string>{"drop-table"}));
  EXPECT_EQ(d.allows[0].reason, "");
}

TEST(Catalog, SeveralAllowDirectivesAndRuleListWithSpaces) {
  std::vector<Diagnostic> problems;
  auto d = directives_of(
      "-- mgr:allow a, b reason: one\n-- mgr:no-transaction\n-- mgr:allow c reason: two\nselect 1;\n", &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(d.no_transaction);
  ASSERT_EQ(d.allows.size(), 2u);
  EXPECT_EQ(d.allows[0].rules, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.allows[1].rules, (std::vector<std::string>{"c"}));
  EXPECT_EQ(d.allows[1].reason, "two");
  EXPECT_EQ(d.allows[1].line, 3);
}

TEST(Catalog, AllowWithoutRulesIsAProblem) {
  std::vector<Diagnostic> problems;
  directives_of("-- mgr:allow reason: because\nselect 1;\n", &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].code, Code::unknown_directive);
  EXPECT_EQ(problems[0].line, 1);
}

TEST(Catalog, NoTransactionWithArgumentsIsAProblem) {
  std::vector<Diagnostic> problems;
  directives_of("-- x\n-- mgr:no-transaction please\nselect 1;\n", &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 2);
}

TEST(Catalog, UnknownDirectiveIsRejectedWithLineAndSuggestion) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("-- first\n\n-- mgr:no-transacton\nselect 1;\n", &problems);
  EXPECT_FALSE(d.no_transaction);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].code, Code::unknown_directive);
  EXPECT_EQ(problems[0].line, 3);
  EXPECT_EQ(problems[0].file, fs::path("/m/0001_x.sql"));
  EXPECT_THAT(problems[0].message, HasSubstr("mgr:no-transacton"));
  EXPECT_THAT(problems[0].message, HasSubstr("no-transaction"));
  EXPECT_EQ(problems[0].located().rfind("/m/0001_x.sql:3: ", 0), 0u) << problems[0].located();
}

TEST(Catalog, UnknownDirectiveWithoutProblemsVectorDoesNotCrash) {
  auto d = parse_directives("-- mgr:whatever\nselect 1;\n", "/m/x.sql", nullptr);
  EXPECT_FALSE(d.no_transaction);
}

TEST(Catalog, ScanReportsUnknownDirectiveAtFileLineAndDropsNothingElse) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "-- comment\n-- mgr:transactional\nselect 1;\n");
  write_file(dir / "0002_b.sql", "-- mgr:no-transaction\ncreate index concurrently i on t (x);\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::unknown_directive);
  EXPECT_EQ(p.located().rfind((dir / "0001_a.sql").string() + ":2: ", 0), 0u) << p.located();
  ASSERT_NE(scan.catalog.find("0002"), nullptr);
  EXPECT_TRUE(scan.catalog.find("0002")->up.directives.no_transaction);
  EXPECT_THROW(load_catalog(dir.path()), ConfigError);
}

TEST(Catalog, DirectivesInCrlfFileAreParsed) {
  TempDir dir;
  write_file(dir / "0001_a.sql", "\xEF\xBB\xBF-- mgr:no-transaction\r\n-- mgr:allow r1 reason: ok\r\nselect 1;\r\n");
  auto c = load_catalog(dir.path());
  const auto& d = c.migrations.at(0).up.directives;
  EXPECT_TRUE(d.no_transaction);
  ASSERT_EQ(d.allows.size(), 1u);
  EXPECT_EQ(d.allows[0].reason, "ok");
}

TEST(Catalog, OrdinaryCommentsMentioningMgrAreNotDirectives) {
  std::vector<Diagnostic> problems;
  auto d = directives_of("-- this file is run by mgr: see docs\n--   -- mgr:no-transaction (example)\nselect 1;\n",
                         &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_FALSE(d.no_transaction);
}

// ---- hostile files (issue 17 #6, #11; issue 11 #8) ----------------------------

TEST(CatalogHostile, NulByteIsRejectedWithFileAndOffset) {
  TempDir dir;
  write_file(dir / "0001_a.sql", std::string("select 1;\nselect 2;") + '\0' + "drop table t;\n");
  auto scan = scan_catalog(dir.path());
  auto p = only_problem(scan);
  EXPECT_EQ(p.code, Code::nul_byte);
  EXPECT_EQ(p.line, 2);
  EXPECT_THAT(p.located(), HasSubstr("0001_a.sql:2: file contains a NUL byte (byte offset 19)"));
  EXPECT_TRUE(scan.catalog.migrations.empty());
  try {
    load_catalog(dir.path());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {  // exit 2
    EXPECT_THAT(e.what(), HasSubstr("byte offset 19"));
  }
}

TEST(CatalogHostile, NulByteInDownFileToo) {
  TempDir dir;
  write_file(dir / "0001_a.sql", k_sql);
  write_file(dir / "0001_a.down.sql", std::string("drop table t;") + '\0');
  EXPECT_EQ(only_problem(scan_catalog(dir.path())).code, Code::nul_byte);
}

TEST(CatalogHostile, SymlinkOutOfTheFolderIsRefusedNotRead) {
  TempDir outside, dir;
  write_file(outside / "secret.sql", "the content of /etc/shadow\n");
  fs::create_symlink(outside / "secret.sql", dir / "0001_a.sql");
  write_file(dir / "0002_b.sql", k_sql);
  fs::create_symlink("../" + outside.path().filename().string() + "/secret.sql", dir / "0003_c.sql");
  auto scan = scan_catalog(dir.path());
  ASSERT_EQ(codes_of(scan), (std::vector<std::string>{"bad-symlink", "bad-symlink"}));
  EXPECT_THAT(scan.problems[0].message, HasSubstr("leads out of the migrations folder"));
  EXPECT_EQ(ids_of(scan.catalog), std::vector<std::string>{"0002"});
  for (const auto& m : scan.catalog.migrations) EXPECT_THAT(m.up.sql, ::testing::Not(HasSubstr("shadow")));
}

TEST(CatalogHostile, SymlinkInsideTheFolderIsFollowed) {
  TempDir dir;
  fs::create_directories(dir / "shared");
  write_file(dir / "shared/common.sql.txt", k_sql);
  write_file(dir / "..dots.txt", k_sql);  // inside, though its name starts with ".."
  fs::create_symlink("shared/common.sql.txt", dir / "0001_a.sql");
  fs::create_symlink(dir / "..dots.txt", dir / "0002_b.sql");
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty()) << ::testing::PrintToString(codes_of(scan));
  ASSERT_EQ(scan.catalog.migrations.size(), 2u);
  EXPECT_EQ(scan.catalog.migrations[0].up.sql, k_sql);
}

TEST(CatalogHostile, DanglingLinkLoopFifoAndDirectoryAreErrors) {
  TempDir dir;
  fs::create_symlink(dir / "nowhere.txt", dir / "0001_dangling.sql");
  fs::create_symlink(dir / "0003_loop_b.sql", dir / "0002_loop_a.sql");
  fs::create_symlink(dir / "0002_loop_a.sql", dir / "0003_loop_b.sql");
  ASSERT_EQ(::mkfifo((dir / "0004_fifo.sql").c_str(), 0644), 0);
  fs::create_directories(dir / "0005_dir.sql");
  write_file(dir / "0006_fine.sql", k_sql);
  auto scan = scan_catalog(dir.path());  // must not hang on the FIFO
  ASSERT_EQ(codes_of(scan),
            (std::vector<std::string>{"bad-symlink", "bad-symlink", "bad-symlink", "not-a-file", "not-a-file"}));
  EXPECT_THAT(scan.problems[0].message, HasSubstr("dangling"));
  EXPECT_THAT(scan.problems[1].message, HasSubstr("loop"));
  EXPECT_THAT(scan.problems[3].message, HasSubstr("FIFO"));
  EXPECT_THAT(scan.problems[4].message, HasSubstr("directory"));
  EXPECT_EQ(ids_of(scan.catalog), std::vector<std::string>{"0006"});
  EXPECT_THROW(load_catalog(dir.path()), ConfigError);
}

TEST(CatalogHostile, OtherEntriesAreStillIgnored) {
  TempDir dir;
  fs::create_directories(dir / "archive");
  fs::create_symlink("/etc/hostname", dir / "README");
  write_file(dir / "0001_a.sql", k_sql);
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty());
  EXPECT_EQ(scan.catalog.migrations.size(), 1u);
}

// A SEQPACKET socket returns one packet per read(): a short read that is not
// the end, as NFS and FUSE may return. Taking it for the end truncated files.
TEST(CatalogHostile, ReadToEndDoesNotStopAtAShortRead) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
  const std::string first = "create table t (id int);\n", second = "drop table everything;\n";
  ASSERT_EQ(::write(fds[1], first.data(), first.size()), static_cast<ssize_t>(first.size()));
  ASSERT_EQ(::write(fds[1], second.data(), second.size()), static_cast<ssize_t>(second.size()));
  ::close(fds[1]);
  std::vector<char> buf;
  const auto got = read_to_end(fds[0], buf);
  ::close(fds[0]);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::string(buf.data(), *got), first + second);
}

TEST(CatalogHostile, ReadFileBytesReadsLargeFilesWhole) {
  TempDir dir;
  std::string big(300000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 100) big[i] = '\n';
  write_file(dir / "big.sql", big);
  EXPECT_EQ(read_file_bytes(dir / "big.sql"), big);
}

}  // namespace
}  // namespace mgr
