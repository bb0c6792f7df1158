#include "support/pg_test_db.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <pqxx/pqxx>
#include <stdexcept>

namespace mgr::test {

std::string admin_url() {
  const char* v = std::getenv("MGR_TEST_DATABASE_URL");
  return v == nullptr ? std::string() : std::string(v);
}

std::string url_for_database(const std::string& admin, const std::string& db) {
  // Sandbox URLs are postgresql://user@host:port/dbname[?params]
  auto scheme = admin.find("://");
  auto slash = admin.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return admin + "/" + db;
  auto q = admin.find('?', slash);
  return admin.substr(0, slash + 1) + db + (q == std::string::npos ? "" : admin.substr(q));
}

PgTestDb::PgTestDb(const std::string& suffix) {
  static std::atomic<int> counter{0};
  m_name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + suffix;
  pqxx::connection c(admin_url());
  pqxx::nontransaction tx(c);
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(m_name) + " WITH (FORCE)");
  tx.exec("CREATE DATABASE " + tx.quote_name(m_name) + " TEMPLATE template0");
}

PgTestDb::~PgTestDb() {
  try {
    pqxx::connection c(admin_url());
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(m_name) + " WITH (FORCE)");
  } catch (...) {
  }
}

std::string PgTestDb::url() const { return url_for_database(admin_url(), m_name); }

void PgTestDb::exec(const std::string& sql) const {
  pqxx::connection c(url());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

std::string PgTestDb::scalar(const std::string& sql) const {
  auto r = rows(sql);
  if (r.empty() || r[0].empty()) return "";
  return r[0][0];
}

std::vector<std::vector<std::string>> PgTestDb::rows(const std::string& sql) const {
  pqxx::connection c(url());
  pqxx::nontransaction tx(c);
  auto res = tx.exec(sql);
  std::vector<std::vector<std::string>> out;
  for (const auto& row : res) {
    std::vector<std::string> cells;
    for (const auto& f : row) cells.push_back(f.is_null() ? "" : f.c_str());
    out.push_back(std::move(cells));
  }
  return out;
}

}  // namespace mgr::test
