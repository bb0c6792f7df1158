// What -vv shows against the real sandbox server: the main steps of an apply
// with a backup (docs/cli.md "Log levels"), and never a password.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

class VerboseTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST_F(VerboseTest, DoubleVerboseShowsEachStepOfAnApply) {
  Project p("    backup: required\n");
  p.add("0001_create_t.sql", "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY);\n");
  p.add("0002_add_v.sql", "ALTER TABLE t ADD COLUMN IF NOT EXISTS v text;\n");
  auto r = p.mgr({"-vv", "apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("debug: mgr 0.1.0 ("));
  EXPECT_THAT(r.err, HasSubstr("debug: config file: "));
  EXPECT_THAT(r.err, HasSubstr("debug: environment: dev"));
  EXPECT_THAT(r.err, HasSubstr("debug: dev: connecting to "));
  EXPECT_THAT(r.err, HasSubstr("debug: dev: migration lock "));
  EXPECT_THAT(r.err, HasSubstr("debug: running "));  // the backup's pg_dump, with its arguments
  EXPECT_THAT(r.err, HasSubstr("pg_dump "));
  EXPECT_THAT(r.err, HasSubstr("debug: dev: applying 0001_create_t ("));
  EXPECT_THAT(r.err, HasSubstr("debug: dev: applying 0002_add_v ("));
  EXPECT_THAT(r.err, HasSubstr("info: backing up dev"));  // -v's lines are included

  // -v: the steps, no debug details; default: neither.
  p.add("0003_add_w.sql", "ALTER TABLE t ADD COLUMN IF NOT EXISTS w text;\n");
  r = p.mgr({"-v", "apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("info: backing up dev"));
  EXPECT_THAT(r.err, Not(HasSubstr("debug:")));
  p.add("0004_add_x.sql", "ALTER TABLE t ADD COLUMN IF NOT EXISTS x text;\n");
  r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("info:")));
}
