#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mgr/backup.hpp"
#include "mgr/db_url.hpp"
#include "mgr/error.hpp"
#include "mgr/process.hpp"

namespace mgr {
namespace {

namespace fs = std::filesystem;

// Unsets an environment variable until the end of the scope, then puts back its value.
class UnsetEnv {
 public:
  explicit UnsetEnv(const char* name) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    ::unsetenv(name);
  }
  ~UnsetEnv() {
    if (m_old) ::setenv(m_name, m_old->c_str(), 1);
  }
  UnsetEnv(const UnsetEnv&) = delete;
  UnsetEnv& operator=(const UnsetEnv&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

// Debian's /usr/bin/pg_dump is a Perl wrapper costing a Perl start-up per
// call; mgr resolves it to the real binary it would run.
TEST(PgTools, DebianWrapperOnPathResolvesToTheNewestRealBinary) {
  std::error_code ec;
  if (fs::canonical("/usr/bin/pg_dump", ec).filename() != "pg_wrapper") {
    GTEST_SKIP() << "no postgresql-common pg_wrapper on this machine";
  }
  const char* before = std::getenv("MGR_PG_BIN_DIR");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  {
    // Unset for this test only: the tests after it (in any order) see the variable as it was.
    UnsetEnv unset("MGR_PG_BIN_DIR");
    auto found = find_pg_program("pg_dump", {});
    EXPECT_EQ(found.parent_path().parent_path().parent_path(), fs::path("/usr/lib/postgresql")) << found;
    EXPECT_EQ(found.filename(), "pg_dump");
  }
  const char* after = std::getenv("MGR_PG_BIN_DIR");
  EXPECT_EQ(after ? std::optional<std::string>(after) : std::nullopt, saved);
}

TEST(PgTools, ConfiguredBinDirWinsOverTheWrapper) {
  auto found = find_pg_program("pg_dump", {"/usr/lib/postgresql/15/bin"});
  if (!fs::exists("/usr/lib/postgresql/15/bin/pg_dump")) GTEST_SKIP();
  EXPECT_EQ(found, fs::path("/usr/lib/postgresql/15/bin/pg_dump"));
}

// What libpq makes of a conninfo string: keyword -> value, as a child would.
std::map<std::string, std::string> parse_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(conninfo.c_str(), &err),
                                                                    PQconninfoFree);
  if (err != nullptr) PQfreemem(err);
  std::map<std::string, std::string> out;
  for (auto* o = opts.get(); o != nullptr && o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  return out;
}

// The child's --dbname is built from the parsed options: whatever the
// password is (here the user name, the database name and the environment's
// name, the most ordinary local setups), nothing in it carries a secret.
TEST(ChildConninfo, CarriesEveryOptionButNoSecret) {
  for (const std::string url : {"postgresql://postgres:postgres@db.example:5433/postgres?sslmode=prefer",
                                "postgresql://dev:dev@localhost/dev", "host=h user=u password='p w' dbname=d"}) {
    auto parsed = DbUrl::parse(url);
    auto conninfo = child_conninfo(parsed, "mgr dev backup 42");
    auto opts = parse_conninfo(conninfo);
    ASSERT_FALSE(opts.empty()) << conninfo;
    for (const auto& secret : secret_conninfo_keywords()) EXPECT_EQ(opts.count(secret), 0u) << secret << " in " << conninfo;
    EXPECT_EQ(opts["application_name"], "mgr dev backup 42");
    for (const auto& [key, value] : parsed.options()) {
      if (key != "application_name") {
        EXPECT_EQ(opts[key], value) << key;
      }
    }
  }
  EXPECT_EQ(parse_conninfo(child_conninfo(DbUrl::parse("postgresql://u:pw@h/it's"), "a"))["dbname"], "it's");
}

TEST(ChildConninfo, SecretKeywordsComeFromLibpq) {
  EXPECT_EQ(secret_conninfo_keywords().count("password"), 1u);
  EXPECT_EQ(secret_conninfo_keywords().count("sslpassword"), 1u);
  EXPECT_EQ(secret_conninfo_keywords().count("user"), 0u);
}

// No private way exists to hand sslpassword to a child: refused, not leaked.
TEST(ChildConninfo, SslPasswordIsRefusedNotPassedOn) {
  auto url = DbUrl::parse("host=h dbname=d sslpassword=K3y-secret sslkey=/k.pem");
  try {
    child_conninfo(url, "a");
    FAIL() << "expected Failure";
  } catch (const Failure& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("sslpassword"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("K3y-secret"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace mgr
