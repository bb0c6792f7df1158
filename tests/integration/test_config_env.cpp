// Environments resolved only when used (issue 12 #1), against the sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

class ConfigEnvTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

const char* k_by_variables =
    "environments:\n"
    "  dev:\n"
    "    url: ${DEV_DATABASE_URL}\n"
    "    backup: off\n"
    "  test:\n"
    "    url: ${TEST_DATABASE_URL}\n"
    "    promote_from: dev\n"
    "    backup: off\n"
    "  prod:\n"
    "    url: ${PROD_DATABASE_URL}\n"
    "    promote_from: test\n";

}  // namespace

TEST_F(ConfigEnvTest, ApplyDevNeedsOnlyDevDatabaseUrl) {
  Project p;
  p.write_config(k_by_variables);
  p.add("0001_create_t.sql", "CREATE TABLE IF NOT EXISTS t (id bigint);\n");
  const std::map<std::string, std::string> only_dev{
      {"DEV_DATABASE_URL", p.url(0)}, {"TEST_DATABASE_URL", ""}, {"PROD_DATABASE_URL", ""}};
  auto r = p.mgr({"apply", "dev"}, only_dev);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("is not set")));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations WHERE success"), "1");
  r = p.mgr({"status", "dev"}, only_dev);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // test promotes from dev: using it needs its own variable, and says which.
  r = p.mgr({"apply", "test"}, only_dev);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("environments.yaml:6:10: environment variable TEST_DATABASE_URL is not set"));
  auto with_test = only_dev;
  with_test["TEST_DATABASE_URL"] = p.url(1);
  r = p.mgr({"apply", "test"}, with_test);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(p.test().scalar("SELECT count(*) FROM schema_migrations WHERE success"), "1");
}
