// The catalog reads large directories on several threads: results must be the
// same, in the same order, as reading them one by one would give.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mgr/catalog.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using test::TempDir;
using test::write_file;

TEST(CatalogLarge, ThousandsOfFilesLoadInIdOrderWithEveryProblemReportedInFileOrder) {
  TempDir dir;
  for (int i = 1; i <= 1500; ++i) {
    auto id = std::to_string(i);
    write_file(dir / (id + "_m" + id + ".sql"), "CREATE TABLE IF NOT EXISTS t" + id + " (id int);\n");
    if (i % 3 == 0) write_file(dir / (id + "_m" + id + ".down.sql"), "DROP TABLE t" + id + ";\n");
  }
  write_file(dir / "700_m700.sql", "-- mgr:bogus\nSELECT 1;\n");       // unknown directive
  write_file(dir / "900_m900.sql", "\n  \n");                         // empty
  write_file(dir / "1200_m1200.sql", std::string("SELECT '\xff';\n"));  // not UTF-8
  auto scan = scan_catalog(dir.path());
  ASSERT_EQ(scan.catalog.migrations.size(), 1498u);  // the empty and the non-UTF-8 file are left out
  for (std::size_t i = 1; i < scan.catalog.migrations.size(); ++i) {
    ASSERT_LT(compare_ids(scan.catalog.migrations[i - 1].id, scan.catalog.migrations[i].id), 0);
  }
  const auto* m3 = scan.catalog.find("3");
  ASSERT_NE(m3, nullptr);
  ASSERT_TRUE(m3->down.has_value());
  EXPECT_EQ(m3->down->checksum, sha256_hex("DROP TABLE t3;\n"));
  EXPECT_EQ(m3->up.checksum, sha256_hex("CREATE TABLE IF NOT EXISTS t3 (id int);\n"));
  std::vector<std::string> codes;
  for (const auto& p : scan.problems) codes.push_back(std::string(code_name(p.code)) + ":" + p.file.filename().string());
  EXPECT_THAT(codes, ::testing::ElementsAre("invalid-utf8:1200_m1200.sql", "unknown-directive:700_m700.sql",
                                            "empty-file:900_m900.sql"));
}

}  // namespace
}  // namespace mgr

namespace mgr {
namespace {

TEST(CatalogPairing, DownFilePairsWithItsUpFileByNumericId) {
  test::TempDir dir;
  test::write_file(dir / "1_add_x.sql", "SELECT 1;\n");
  test::write_file(dir / "0001_add_x.down.sql", "SELECT 2;\n");
  auto scan = scan_catalog(dir.path());
  EXPECT_TRUE(scan.problems.empty()) << scan.problems.front().located();
  ASSERT_EQ(scan.catalog.migrations.size(), 1u);
  ASSERT_TRUE(scan.catalog.migrations[0].down.has_value());
  EXPECT_EQ(scan.catalog.migrations[0].down->path.filename(), "0001_add_x.down.sql");
}

}  // namespace
}  // namespace mgr
