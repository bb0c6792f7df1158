#include <gtest/gtest.h>

#include <filesystem>

#include "mgr/process.hpp"

namespace mgr {
namespace {

namespace fs = std::filesystem;

// Debian's /usr/bin/pg_dump is a Perl wrapper costing a Perl start-up per
// call; mgr resolves it to the real binary it would run.
TEST(PgTools, DebianWrapperOnPathResolvesToTheNewestRealBinary) {
  std::error_code ec;
  if (fs::canonical("/usr/bin/pg_dump", ec).filename() != "pg_wrapper") {
    GTEST_SKIP() << "no postgresql-common pg_wrapper on this machine";
  }
  ::unsetenv("MGR_PG_BIN_DIR");
  auto found = find_pg_program("pg_dump", {});
  EXPECT_EQ(found.parent_path().parent_path().parent_path(), fs::path("/usr/lib/postgresql")) << found;
  EXPECT_EQ(found.filename(), "pg_dump");
}

TEST(PgTools, ConfiguredBinDirWinsOverTheWrapper) {
  auto found = find_pg_program("pg_dump", {"/usr/lib/postgresql/15/bin"});
  if (!fs::exists("/usr/lib/postgresql/15/bin/pg_dump")) GTEST_SKIP();
  EXPECT_EQ(found, fs::path("/usr/lib/postgresql/15/bin/pg_dump"));
}

}  // namespace
}  // namespace mgr
