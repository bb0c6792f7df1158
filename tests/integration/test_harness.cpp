// Proves the test harness: the sandbox server named by MGR_TEST_DATABASE_URL
// answers, and PgTestDb gives each test its own database.
#include <gtest/gtest.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <string>

#include "support/pg_test_db.hpp"

namespace {

using mgr::test::PgTestDb;

TEST(Harness, SelectOneOnTheAdminDatabase) {
  MGR_REQUIRE_DB();
  pqxx::connection c(mgr::test::admin_url());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT 1")[0].as<int>(), 1);
}

TEST(Harness, PgTestDbIsAFreshDatabaseOfItsOwn) {
  MGR_REQUIRE_DB();
  std::string name;
  {
    PgTestDb db("harness");
    name = db.name();
    EXPECT_EQ(db.scalar("SELECT 1"), "1");
    EXPECT_EQ(db.scalar("SELECT current_database()"), db.name());
    // Fresh: no user tables.
    EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    db.exec("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
    EXPECT_EQ(db.scalar("SELECT sum(x) FROM t"), "3");
    auto rows = db.rows("SELECT x FROM t ORDER BY x");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1][0], "2");
  }
  // Dropped when the PgTestDb goes away.
  pqxx::connection c(mgr::test::admin_url());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_database WHERE datname = " + tx.quote(name))[0].as<int>(), 0);
}

TEST(Harness, UrlForDatabaseReplacesOnlyTheName) {
  EXPECT_EQ(mgr::test::url_for_database("postgresql://postgres@127.0.0.1:5432/postgres", "app"),
            "postgresql://postgres@127.0.0.1:5432/app");
  EXPECT_EQ(mgr::test::url_for_database("postgresql://u@h:1/postgres?sslmode=disable", "x"),
            "postgresql://u@h:1/x?sslmode=disable");
}

}  // namespace
