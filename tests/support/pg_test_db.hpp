// A throwaway database per test on the sandbox server that scripts/test.sh
// starts and names in MGR_TEST_DATABASE_URL (a URL to an admin database).
// Without it the test is skipped, unless MGR_TEST_REQUIRE_DB=1 (test.sh sets
// it), where a missing server is a failure rather than a silent skip.
#pragma once

#include <string>
#include <vector>

namespace mgr::test {

// Returns the admin URL, or "" after calling GTEST_SKIP/FAIL in the caller's
// stead (use the MGR_REQUIRE_DB() macro).
std::string admin_url();

class PgTestDb {
 public:
  // Creates t_<pid>_<counter>_<suffix> from template0.
  explicit PgTestDb(const std::string& suffix = "db");
  ~PgTestDb();
  PgTestDb(const PgTestDb&) = delete;
  PgTestDb& operator=(const PgTestDb&) = delete;

  const std::string& name() const { return m_name; }
  // URL of the new database (same host/port/user as the admin URL).
  std::string url() const;
  // Runs SQL (simple protocol, may hold several statements).
  void exec(const std::string& sql) const;
  // First column of the first row, or "" for NULL / no row.
  std::string scalar(const std::string& sql) const;
  std::vector<std::vector<std::string>> rows(const std::string& sql) const;

 private:
  std::string m_name;
};

// URL with the database name replaced.
std::string url_for_database(const std::string& admin_url, const std::string& db);

}  // namespace mgr::test

#define MGR_REQUIRE_DB()                                                  \
  do {                                                                    \
    if (::mgr::test::admin_url().empty()) {                               \
      if (std::getenv("MGR_TEST_REQUIRE_DB") != nullptr) {                \
        FAIL() << "MGR_TEST_DATABASE_URL is not set but MGR_TEST_REQUIRE_DB is"; \
      }                                                                   \
      GTEST_SKIP() << "MGR_TEST_DATABASE_URL not set";                    \
    }                                                                     \
  } while (0)
