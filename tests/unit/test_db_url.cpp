#include "mgr/db_url.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <memory>
#include <string>

#include "mgr/error.hpp"

namespace mgr {
namespace {

// What libpq itself makes of a conninfo string: the non-empty options.
std::map<std::string, std::string> libpq_options(const std::string& conninfo) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(PQconninfoParse(conninfo.c_str(), &err),
                                                                       PQconninfoFree);
  if (err != nullptr) PQfreemem(err);
  EXPECT_NE(parsed, nullptr) << conninfo;
  std::map<std::string, std::string> out;
  for (auto* o = parsed.get(); o != nullptr && o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') out.emplace(o->keyword, o->val);
  }
  return out;
}

std::string parse_error(const std::string& text) {
  try {
    DbUrl::parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return "";
}

TEST(DbUrl, ParsesUriOptions) {
  const auto url = DbUrl::parse("postgresql://app:s3cret@db.example.com:6432/app_prod?sslmode=require");
  EXPECT_EQ(url.option("host"), "db.example.com");
  EXPECT_EQ(url.option("port"), "6432");
  EXPECT_EQ(url.option("dbname"), "app_prod");
  EXPECT_EQ(url.option("user"), "app");
  EXPECT_EQ(url.option("sslmode"), "require");
  ASSERT_TRUE(url.password().has_value());
  EXPECT_EQ(*url.password(), "s3cret");
  EXPECT_EQ(url.conninfo_with_secret(), "postgresql://app:s3cret@db.example.com:6432/app_prod?sslmode=require");
}

TEST(DbUrl, AcceptsShortPostgresScheme) {
  const auto url = DbUrl::parse("postgres://localhost/app_dev");
  EXPECT_EQ(url.option("host"), "localhost");
  EXPECT_EQ(url.option("dbname"), "app_dev");
  EXPECT_FALSE(url.password().has_value());
}

TEST(DbUrl, ParsesKeywordValueString) {
  const auto url = DbUrl::parse("host=localhost port=5433 dbname=app user=me password=pw");
  EXPECT_EQ(url.option("host"), "localhost");
  EXPECT_EQ(url.option("port"), "5433");
  EXPECT_EQ(url.option("dbname"), "app");
  EXPECT_EQ(url.option("user"), "me");
  EXPECT_EQ(url.password().value_or(""), "pw");
}

TEST(DbUrl, OptionsNeverContainPassword) {
  EXPECT_EQ(DbUrl::parse("postgresql://u:pw@h/db").options().count("password"), 0u);
  EXPECT_EQ(DbUrl::parse("host=h password=pw").options().count("password"), 0u);
  EXPECT_EQ(DbUrl::parse("postgresql://h/db?password=pw").options().count("password"), 0u);
}

TEST(DbUrl, MissingOptionIsEmpty) {
  const auto url = DbUrl::parse("postgresql://localhost/app");
  EXPECT_EQ(url.option("user"), "");
  EXPECT_EQ(url.option("no_such_option"), "");
  EXPECT_EQ(url.options().count("port"), 0u);
}

TEST(DbUrl, RedactsUriUserinfoPassword) {
  EXPECT_EQ(DbUrl::parse("postgresql://app:s3cret@host/db").redacted(), "postgresql://app:***@host/db");
}

TEST(DbUrl, RedactsKeywordValuePassword) {
  EXPECT_EQ(DbUrl::parse("host=h user=app password=s3cret dbname=db").redacted(),
            "host=h user=app password=*** dbname=db");
}

TEST(DbUrl, RedactsKeywordValuePasswordWithSpacesAroundEquals) {
  EXPECT_EQ(DbUrl::parse("host=h password = s3cret dbname=db").redacted(), "host=h password = *** dbname=db");
}

TEST(DbUrl, RedactsUriQueryPassword) {
  const auto url = DbUrl::parse("postgresql://app@host/db?sslmode=require&password=s3cret&connect_timeout=5");
  EXPECT_EQ(url.redacted(), "postgresql://app@host/db?sslmode=require&password=***&connect_timeout=5");
  EXPECT_EQ(url.password().value_or(""), "s3cret");
}

TEST(DbUrl, RedactsBothUserinfoAndQueryPassword) {
  const auto url = DbUrl::parse("postgresql://app:one@host/db?password=two");
  EXPECT_EQ(url.redacted(), "postgresql://app:***@host/db?password=***");
}

TEST(DbUrl, NoPasswordShowsUnchanged) {
  EXPECT_EQ(DbUrl::parse("postgresql://app@host:5432/db").redacted(), "postgresql://app@host:5432/db");
  EXPECT_EQ(DbUrl::parse("host=h user=app dbname=db").redacted(), "host=h user=app dbname=db");
}

TEST(DbUrl, PercentEncodedPasswordInUri) {
  const auto url = DbUrl::parse("postgresql://app:p%40ss%3Aw0rd@host/db");
  EXPECT_EQ(url.password().value_or(""), "p@ss:w0rd");
  EXPECT_EQ(url.option("host"), "host");
  EXPECT_EQ(url.redacted(), "postgresql://app:***@host/db");
  EXPECT_EQ(url.redacted().find("p%40ss"), std::string::npos);
}

TEST(DbUrl, RawSlashInUriPasswordIsRejectedWithoutEchoingIt) {
  const auto message = parse_error("postgresql://app:hunter/2@host/db");
  EXPECT_NE(message.find("%2F"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter"), std::string::npos) << message;
}

TEST(DbUrl, RawAtInUriPasswordIsRejectedWithoutEchoingIt) {
  // libpq would take "p" as the password and "ss@host" as the host.
  for (const std::string text : {"postgresql://app:hunt@er2@host/db", "postgresql://app:hunt@er2@host",
                                 "postgres://app:a@b@c@host:5432/db?sslmode=require"}) {
    const auto message = parse_error(text);
    EXPECT_NE(message.find("%40"), std::string::npos) << message;
    EXPECT_EQ(message.find("er2"), std::string::npos) << message;
  }
  EXPECT_EQ(DbUrl::parse("postgresql://app:hunt%40er2@host/db").password().value_or(""), "hunt@er2");
}

TEST(DbUrl, SslPasswordIsASecretLikeThePassword) {
  const auto kv = DbUrl::parse("host=h sslkey=/k.pem sslpassword=K3yPass dbname=db");
  EXPECT_EQ(kv.redacted(), "host=h sslkey=/k.pem sslpassword=*** dbname=db");
  EXPECT_EQ(kv.options().count("sslpassword"), 0u);
  EXPECT_EQ(kv.option("sslkey"), "/k.pem");
  EXPECT_EQ(kv.conninfo_without_password().find("K3yPass"), std::string::npos);
  EXPECT_EQ(kv.secret_options().at("sslpassword"), "K3yPass");
  EXPECT_EQ(redact_secrets("could not decrypt with K3yPass", kv), "could not decrypt with ***");

  const auto uri = DbUrl::parse("postgresql://app@h/db?sslpassword=K3y%21Pass&sslmode=require");
  EXPECT_EQ(uri.redacted(), "postgresql://app@h/db?sslpassword=***&sslmode=require");
  EXPECT_EQ(uri.conninfo_without_password().find("K3y"), std::string::npos);
  EXPECT_EQ(redact_secrets("K3y!Pass and K3y%21Pass", uri), "*** and ***");
}

TEST(DbUrl, EverySecretOptionOfLibpqIsKeptOut) {
  // Whatever libpq marks secret (dispchar "*"), DbUrl must not pass on.
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> defaults(PQconndefaults(), PQconninfoFree);
  int secrets = 0;
  for (auto* o = defaults.get(); o->keyword != nullptr; ++o) {
    if (o->dispchar == nullptr || std::string(o->dispchar).find('*') == std::string::npos) continue;
    ++secrets;
    const std::string key = o->keyword;
    const auto url = DbUrl::parse("host=h " + key + "=Zx9Secret");
    EXPECT_EQ(url.options().count(key), 0u) << key;
    EXPECT_EQ(url.redacted().find("Zx9Secret"), std::string::npos) << key;
    EXPECT_EQ(url.conninfo_without_password().find("Zx9Secret"), std::string::npos) << key;
  }
  EXPECT_GE(secrets, 2);  // password and sslpassword at least
}

TEST(DbUrl, RedactionIsCheckedByLibpqAndRebuiltFromItsOptionsWhenNeeded) {
  // libpq decodes parameter names: pass%77ord is the password. The text
  // cannot be shown with it masked in place, so the URL is written out again
  // from libpq's options.
  const auto url = DbUrl::parse("postgresql://app@h:5433/db?pass%77ord=s3cret&sslmode=require");
  EXPECT_EQ(url.password().value_or(""), "s3cret");
  EXPECT_EQ(url.redacted(), "postgresql://app@h:5433/db?password=***&sslmode=require");
  // Still a URL for the same database.
  const auto again = DbUrl::parse(url.redacted());
  EXPECT_EQ(again.options(), url.options());
  EXPECT_EQ(again.password().value_or(""), "***");
}

TEST(DbUrl, EmptyQuotedPasswordKeepsItsPlace) {
  EXPECT_EQ(DbUrl::parse("host=h password='' dbname=db").redacted(), "host=h password=*** dbname=db");
}

TEST(DbUrl, QuestionMarkInUriPasswordIsRedacted) {
  const auto url = DbUrl::parse("postgresql://app:a?password=b@host/db");
  EXPECT_EQ(url.password().value_or(""), "a?password=b");
  EXPECT_EQ(url.redacted(), "postgresql://app:***@host/db");
}

TEST(DbUrl, QuotedPasswordWithQuotesAndSpacesInKeywordValue) {
  const auto url = DbUrl::parse(R"(host=h password='it\'s a \\secret' dbname=db)");
  EXPECT_EQ(url.password().value_or(""), R"(it's a \secret)");
  EXPECT_EQ(url.redacted(), "host=h password=*** dbname=db");
  EXPECT_EQ(url.option("dbname"), "db");
}

TEST(DbUrl, ConninfoWithoutPasswordExcludesPassword) {
  const auto url = DbUrl::parse("postgresql://app:s3cret@host:5432/db");
  const auto conninfo = url.conninfo_without_password();
  EXPECT_EQ(conninfo.find("s3cret"), std::string::npos);
  EXPECT_EQ(conninfo.find("password"), std::string::npos);
  EXPECT_EQ(conninfo, "dbname='db' host='host' port='5432' user='app'");
}

TEST(DbUrl, ConninfoWithoutPasswordRoundTripsThroughLibpq) {
  const auto url = DbUrl::parse(
      R"(host=h dbname='my \'odd\' db' user='back\\slash user' password='x' application_name='a b')");
  const auto reparsed = libpq_options(url.conninfo_without_password());
  EXPECT_EQ(reparsed, url.options());
  EXPECT_EQ(reparsed.at("dbname"), "my 'odd' db");
  EXPECT_EQ(reparsed.at("user"), R"(back\slash user)");
  EXPECT_EQ(reparsed.count("password"), 0u);
}

TEST(DbUrl, ConninfoWithoutPasswordRoundTripsFromUri) {
  const auto url = DbUrl::parse("postgresql://us%27er:pw@host:5433/d%20b?sslmode=disable");
  const auto reparsed = libpq_options(url.conninfo_without_password());
  EXPECT_EQ(reparsed, url.options());
  EXPECT_EQ(reparsed.at("user"), "us'er");
  EXPECT_EQ(reparsed.at("dbname"), "d b");
}

TEST(DbUrl, RejectsOtherSchemes) {
  const auto message = parse_error("mysql://root:hunter2@localhost/app");
  EXPECT_NE(message.find("postgresql://"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(DbUrl, RejectsHostPort) {
  const auto message = parse_error("localhost:5432");
  EXPECT_NE(message.find("key=value"), std::string::npos) << message;
}

TEST(DbUrl, RejectsEmptyAndBlank) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("   ").find("empty"), std::string::npos);
}

TEST(DbUrl, RejectsBareWord) { parse_error("app_dev"); }

TEST(DbUrl, RejectsUpperCaseScheme) { parse_error("POSTGRESQL://host/db"); }

TEST(DbUrl, RejectsUnknownKeyword) {
  const auto message = parse_error("hots=localhost dbname=app");
  EXPECT_NE(message.find("invalid database URL"), std::string::npos) << message;
}

TEST(DbUrl, RejectsUnknownUriParameter) { parse_error("postgresql://host/db?bogus=1"); }

TEST(DbUrl, ErrorNeverEchoesPassword) {
  // libpq's own messages quote the offending input; here that input is the password.
  for (const std::string text : {"host=h password=hunter2 hunter2", "host=h password='hunter2",
                                 "postgresql://u:hunter2@h/db?hunter2", "postgresql://u:hunter%zz@h/db"}) {
    const auto message = parse_error(text);
    EXPECT_EQ(message.find("hunter"), std::string::npos) << message;
  }
}

TEST(DbUrl, ErrorKeepsKnownKeywordForContext) {
  const auto message = parse_error("host=h dbname");
  EXPECT_NE(message.find("\"dbname\""), std::string::npos) << message;
}

TEST(DbUrl, RedactSecretsReplacesKnownPassword) {
  const auto url = DbUrl::parse("host=h password=s3cret");
  EXPECT_EQ(redact_secrets("FATAL: password s3cret rejected", url), "FATAL: password *** rejected");
}

TEST(DbUrl, RedactSecretsReplacesPercentEncodedForm) {
  const auto url = DbUrl::parse("postgresql://app:p%40ss@host/db");
  EXPECT_EQ(redact_secrets("could not connect to postgresql://app:p%40ss@host/db", url),
            "could not connect to postgresql://app:***@host/db");
  EXPECT_EQ(redact_secrets("raw p@ss here", url), "raw *** here");
}

TEST(DbUrl, RedactSecretsReplacesAnyUserinfoPassword) {
  const DbUrl no_password = DbUrl::parse("postgresql://host/db");
  EXPECT_EQ(redact_secrets("see postgres://other:zzz@elsewhere/x and https://a:b@c/", no_password),
            "see postgres://other:***@elsewhere/x and https://a:***@c/");
}

TEST(DbUrl, RedactSecretsLeavesTextWithoutSecrets) {
  const auto url = DbUrl::parse("postgresql://app@host/db");
  EXPECT_EQ(redact_secrets("connection to postgresql://app@host/db failed", url),
            "connection to postgresql://app@host/db failed");
}

TEST(DbUrl, RedactSecretsWithEmptyPasswordChangesNothing) {
  const auto url = DbUrl::parse("postgresql://app:@host/db");
  EXPECT_EQ(redact_secrets("nothing secret here", url), "nothing secret here");
}

TEST(DbUrl, DefaultIsEmpty) {
  EXPECT_TRUE(DbUrl{}.empty());
  EXPECT_FALSE(DbUrl::parse("host=h").empty());
}

}  // namespace
}  // namespace mgr
