#include "mgr/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mgr/error.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace fs = std::filesystem;

const fs::path k_path = "/srv/app/config/environments.yaml";

EnvLookup lookup(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Config parse(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
  return parse_config(yaml, k_path, lookup(std::move(vars)));
}

std::string error_of(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
  try {
    parse(yaml, std::move(vars));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << yaml;
  return "";
}

// "path:LINE:" as the message must start.
std::string at(int line) { return k_path.string() + ":" + std::to_string(line) + ":"; }

const std::string k_minimal =
    "environments:\n"
    "  dev:\n"
    "    url: postgresql://localhost/app_dev\n";

TEST(Config, FullExampleParses) {
  const auto config = parse(R"(migrations_dir: ../migrations
backups_dir: ../schema-backups
history_table: ops.schema_migrations
pg_bin_dir: /usr/lib/postgresql/15/bin
lint_pg_version: 14
environments:
  dev:
    url: ${DEV_DATABASE_URL:-postgresql://127.0.0.1:5432/app_dev}
    backup: off
    lint: warn
  test:
    url: ${TEST_DATABASE_URL}
    promote_from: dev
  prod:
    url: ${PROD_DATABASE_URL}
    promote_from: test
    confirm: true
    lock_timeout: 10s
    statement_timeout: 15min
    lock_wait: 30s
    backup_format: plain
    backup_keep: 10
    backup_timeout: 1h
    pg_bin_dir: /opt/pg16/bin
)",
                            {{"TEST_DATABASE_URL", "postgresql://t@testhost/app"},
                             {"PROD_DATABASE_URL", "postgresql://p:pw@prodhost/app"}});
  EXPECT_EQ(config.path, k_path);
  EXPECT_EQ(config.history_table.schema, "ops");
  EXPECT_EQ(config.history_table.table, "schema_migrations");
  EXPECT_EQ(config.pg_bin_dir, fs::path("/usr/lib/postgresql/15/bin"));
  EXPECT_EQ(config.lint_pg_version, 14);
  ASSERT_EQ(config.environments.size(), 3u);

  const auto& dev = config.get("dev");
  EXPECT_EQ(dev.url.option("host"), "127.0.0.1");
  EXPECT_EQ(dev.backup, BackupPolicy::off);
  EXPECT_EQ(dev.lint, LintPolicy::warn);
  EXPECT_FALSE(dev.promote_from.has_value());
  EXPECT_EQ(dev.line, 7);

  const auto& prod = config.get("prod");
  EXPECT_EQ(prod.promote_from, "test");
  EXPECT_TRUE(prod.confirm);
  EXPECT_EQ(prod.lock_timeout, "10s");
  EXPECT_EQ(prod.statement_timeout, "15min");
  EXPECT_EQ(prod.lock_wait, std::chrono::seconds(30));
  EXPECT_EQ(prod.backup_format, BackupFormat::plain);
  EXPECT_EQ(prod.backup_keep, 10);
  EXPECT_EQ(prod.backup_timeout, std::chrono::hours(1));
  EXPECT_EQ(prod.pg_bin_dir, fs::path("/opt/pg16/bin"));
  EXPECT_EQ(prod.url.redacted(), "postgresql://p:***@prodhost/app");
}

TEST(Config, Defaults) {
  const auto config = parse(k_minimal);
  EXPECT_EQ(config.migrations_dir, fs::path("/srv/app/migrations"));
  EXPECT_EQ(config.backups_dir, fs::path("/srv/app/schema-backups"));
  EXPECT_EQ(config.history_table.schema, "");
  EXPECT_EQ(config.history_table.table, "schema_migrations");
  EXPECT_FALSE(config.pg_bin_dir.has_value());
  EXPECT_EQ(config.lint_pg_version, 12);
  const auto& dev = config.get("dev");
  EXPECT_EQ(dev.backup, BackupPolicy::required);
  EXPECT_EQ(dev.lint, LintPolicy::block);
  EXPECT_FALSE(dev.confirm);
  EXPECT_FALSE(dev.lock_timeout.has_value());
  EXPECT_FALSE(dev.statement_timeout.has_value());
  EXPECT_EQ(dev.lock_wait, std::chrono::seconds(60));
  EXPECT_EQ(dev.backup_format, BackupFormat::custom);
  EXPECT_FALSE(dev.backup_keep.has_value());
  EXPECT_EQ(dev.backup_timeout, std::chrono::minutes(30));
  EXPECT_FALSE(dev.pg_bin_dir.has_value());
}

TEST(Config, RelativePathsResolveAgainstConfigDirectory) {
  const auto config = parse("migrations_dir: db/migrations\nbackups_dir: ../../backups\npg_bin_dir: bin\n" + k_minimal);
  EXPECT_EQ(config.migrations_dir, fs::path("/srv/app/config/db/migrations"));
  EXPECT_EQ(config.backups_dir, fs::path("/srv/backups"));
  EXPECT_EQ(config.pg_bin_dir, fs::path("/srv/app/config/bin"));
}

TEST(Config, EnvironmentPgBinDirResolvesRelative) {
  const auto config = parse(k_minimal + "    pg_bin_dir: ../pg\n");
  EXPECT_EQ(config.get("dev").pg_bin_dir, fs::path("/srv/app/pg"));
}

TEST(Config, KeepsDeclarationOrder) {
  const auto config = parse(R"(environments:
  zeta:
    url: host=z
  alpha:
    url: host=a
    promote_from: zeta
  mid:
    url: host=m
    promote_from: alpha
)");
  ASSERT_EQ(config.environments.size(), 3u);
  EXPECT_EQ(config.environments[0].name, "zeta");
  EXPECT_EQ(config.environments[1].name, "alpha");
  EXPECT_EQ(config.environments[2].name, "mid");
  EXPECT_EQ(config.environments[2].line, 7);
}

TEST(Config, FindAndGet) {
  const auto config = parse(k_minimal + "  test:\n    url: host=t\n  prod:\n    url: host=p\n");
  EXPECT_NE(config.find("test"), nullptr);
  EXPECT_EQ(config.find("staging"), nullptr);
  try {
    config.get("staging");
    FAIL() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown environment 'staging' (known: dev, test, prod)");
  }
}

// --- interpolation ---------------------------------------------------------

TEST(Config, InterpolatesSetVariable) {
  const auto config = parse("environments:\n  dev:\n    url: ${DEV_URL}\n", {{"DEV_URL", "postgresql://h/set_db"}});
  EXPECT_EQ(config.get("dev").url.option("dbname"), "set_db");
}

TEST(Config, UnsetVariableIsErrorNamingVariableAndLineWhenTheEnvironmentIsUsed) {
  const auto config = parse("environments:\n  dev:\n    url: postgresql://h/db\n  test:\n    url: ${TEST_URL}\n");
  const auto& test = config.get("test");
  EXPECT_FALSE(test.url.resolved());
  EXPECT_EQ(test.url.unset_variable(), "TEST_URL");
  try {
    (void)test.url.conninfo_with_secret();
    FAIL() << "an unresolved environment's URL was handed out";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_THAT(message, StartsWith(at(5) + "10: "));
    EXPECT_THAT(message, HasSubstr("environment variable TEST_URL is not set"));
    EXPECT_THAT(message, HasSubstr("'url' in environment 'test'"));
  }
}

// Issue 12 #1: only DEV_DATABASE_URL set must not stop commands that use dev alone.
TEST(Config, UnsetVariableOfAnotherEnvironmentDoesNotStopThisOne) {
  const auto config = parse(
      "environments:\n"
      "  dev:\n    url: ${DEV_DATABASE_URL}\n"
      "  test:\n    url: ${TEST_DATABASE_URL}\n    promote_from: dev\n"
      "  prod:\n    url: ${PROD_DATABASE_URL}\n    promote_from: test\n",
      {{"DEV_DATABASE_URL", "postgresql://u:pw@devhost/app"}});
  const auto& dev = config.get("dev");
  EXPECT_TRUE(dev.url.resolved());
  EXPECT_EQ(dev.url.option("host"), "devhost");
  EXPECT_EQ(dev.url.redacted(), "postgresql://u:***@devhost/app");
  // The promotion chain is still checked: it does not need the URLs.
  EXPECT_EQ(config.get("prod").promote_from, "test");
  // Every way to the URL of an unresolved environment throws the deferred error.
  const auto& test = config.get("test");
  EXPECT_THROW((void)test.url.redacted(), ConfigError);
  EXPECT_THROW((void)test.url.password(), ConfigError);
  EXPECT_THROW((void)test.url.options(), ConfigError);
  EXPECT_THROW((void)test.url.conninfo_without_password(), ConfigError);
  EXPECT_THROW([&] { const DbUrl& as_db_url = test.url; (void)as_db_url; }(), ConfigError);
}

TEST(Config, UnsetVariableInAnyKeyDefersTheWholeEnvironment) {
  const auto config = parse(k_minimal + "  test:\n    url: host=t\n    lock_wait: ${TEST_WAIT}\n");
  EXPECT_TRUE(config.get("dev").url.resolved());
  try {
    (void)config.get("test").url.get();
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith(at(6)));
    EXPECT_THAT(e.what(), HasSubstr("TEST_WAIT"));
  }
}

TEST(Config, OtherProblemsOfAnUnusedEnvironmentStillFailAtOnce) {
  // Only an unset variable waits for use; a mistake in the file is reported now.
  EXPECT_THAT(error_of(k_minimal + "  test:\n    url: ${TEST_URL}\n    lock_wait: forever\n"), StartsWith(at(6)));
  EXPECT_THAT(error_of(k_minimal + "  test:\n    url: ${TEST_URL}\n    colour: blue\n"), StartsWith(at(6)));
}

TEST(Config, UnsetVariableAtTopLevelIsAnErrorAtOnce) {
  const auto message = error_of("migrations_dir: ${MIGRATIONS}\n" + k_minimal);
  EXPECT_THAT(message, StartsWith(at(1)));
  EXPECT_THAT(message, HasSubstr("MIGRATIONS is not set"));
}

TEST(Config, DefaultUsedWhenUnset) {
  const auto config = parse("environments:\n  dev:\n    url: ${DEV_URL:-postgresql://127.0.0.1:5432/app_dev}\n");
  EXPECT_EQ(config.get("dev").url.option("port"), "5432");
  EXPECT_EQ(config.get("dev").url.option("dbname"), "app_dev");
}

TEST(Config, DefaultUsedWhenSetButEmpty) {
  const auto config =
      parse("environments:\n  dev:\n    url: ${DEV_URL:-postgresql://h/fallback}\n", {{"DEV_URL", ""}});
  EXPECT_EQ(config.get("dev").url.option("dbname"), "fallback");
}

TEST(Config, SetVariableWinsOverDefault) {
  const auto config =
      parse("environments:\n  dev:\n    url: ${DEV_URL:-postgresql://h/fallback}\n", {{"DEV_URL", "host=h dbname=set"}});
  EXPECT_EQ(config.get("dev").url.option("dbname"), "set");
}

TEST(Config, SetButEmptyWithoutDefaultIsEmptyUrlError) {
  const auto message = error_of("environments:\n  dev:\n    url: ${DEV_URL}\n", {{"DEV_URL", ""}});
  EXPECT_THAT(message, StartsWith(at(3)));
  EXPECT_THAT(message, HasSubstr("empty"));
}

TEST(Config, InterpolatesInsideTextAndEscapesDollar) {
  const auto config = parse("migrations_dir: ${BASE}/migrations\nenvironments:\n  dev:\n    url: \"host=h password=a$$b$c\"\n",
                            {{"BASE", "/data"}});
  EXPECT_EQ(config.migrations_dir, fs::path("/data/migrations"));
  EXPECT_EQ(config.get("dev").url.password().value_or(""), "a$b$c");
}

TEST(Config, MalformedVariableReference) {
  const auto message = error_of("environments:\n  dev:\n    url: ${1BAD}\n");
  EXPECT_THAT(message, StartsWith(at(3)));
  EXPECT_THAT(message, HasSubstr("${1BAD}"));
  EXPECT_THAT(error_of("environments:\n  dev:\n    url: \"${OPEN\"\n"), StartsWith(at(3)));
}

TEST(Config, InterpolationDoesNotApplyToKeysOrEnums) {
  const auto message = error_of(k_minimal + "    backup: ${POLICY}\n", {{"POLICY", "off"}});
  EXPECT_THAT(message, StartsWith(at(4)));
}

// --- errors with positions ---------------------------------------------------

TEST(Config, MalformedYamlReportsParserPosition) {
  // yaml-cpp marks are 0-based (line 3, column 6 here); messages are 1-based.
  const auto message = error_of("environments:\n  dev:\n    url: [unclosed\n  test: x\n");
  EXPECT_EQ(message, at(4) + "7: invalid YAML: end of sequence flow not found");
}

TEST(Config, MalformedYamlIllegalMapValue) {
  const auto message = error_of("history_table: t\n  c: d\n");
  EXPECT_THAT(message, StartsWith(at(2) + "4: invalid YAML:"));
}

TEST(Config, UnknownTopLevelKeySuggestsNearest) {
  const auto message = error_of("migratons_dir: x\n" + k_minimal);
  EXPECT_EQ(message, at(1) + "1: unknown key 'migratons_dir' at the top level (did you mean 'migrations_dir'?)");
}

TEST(Config, UnknownEnvironmentKeySuggestsNearest) {
  const auto message = error_of(k_minimal + "  test:\n    url: host=t\n    promte_from: dev\n");
  EXPECT_EQ(message,
            at(6) + "5: unknown key 'promte_from' in environment 'test' (did you mean 'promote_from'?)");
}

TEST(Config, UnknownKeyFarFromAnyListsValidKeys) {
  const auto message = error_of(k_minimal + "    colour: blue\n");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("valid keys: url, promote_from"));
}

TEST(Config, DuplicateKey) {
  const auto message = error_of(k_minimal + "  dev:\n    url: host=x\n");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("duplicate key 'dev'"));
}

TEST(Config, ConfirmMustBeBool) {
  const auto message = error_of(k_minimal + "    confirm: maybe\n");
  EXPECT_THAT(message, StartsWith(at(4) + "14:"));
  EXPECT_THAT(message, HasSubstr("'confirm' in environment 'dev' must be true or false, got 'maybe'"));
}

TEST(Config, BackupKeepMustBePositive) {
  EXPECT_THAT(error_of(k_minimal + "    backup_keep: -1\n"), StartsWith(at(4)));
  EXPECT_THAT(error_of(k_minimal + "    backup_keep: 0\n"), HasSubstr("positive integer"));
  EXPECT_THAT(error_of(k_minimal + "    backup_keep: ten\n"), StartsWith(at(4)));
  EXPECT_THAT(error_of(k_minimal + "    backup_keep: 2.5\n"), StartsWith(at(4)));
}

TEST(Config, BackupPolicyListsAllowedValues) {
  const auto message = error_of(k_minimal + "    backup: sometimes\n");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("must be one of required, off, got 'sometimes'"));
}

TEST(Config, LintAndBackupFormatListAllowedValues) {
  EXPECT_THAT(error_of(k_minimal + "    lint: loud\n"), HasSubstr("one of block, warn, off"));
  EXPECT_THAT(error_of(k_minimal + "    backup_format: tar\n"), HasSubstr("one of custom, plain"));
}

TEST(Config, WrongNodeTypeIsReported) {
  const auto message = error_of(k_minimal + "    lock_timeout: [1, 2]\n");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("got a list"));
}

TEST(Config, LintPgVersionMustBeAtLeastTen) {
  EXPECT_EQ(parse("lint_pg_version: 10\n" + k_minimal).lint_pg_version, 10);
  EXPECT_THAT(error_of("lint_pg_version: 9\n" + k_minimal), StartsWith(at(1)));
  EXPECT_THAT(error_of("lint_pg_version: twelve\n" + k_minimal), HasSubstr("integer >= 10"));
}

TEST(Config, TimeoutsMustParseAsDurations) {
  EXPECT_THAT(error_of(k_minimal + "    lock_timeout: 10 parsecs\n"), StartsWith(at(4)));
  EXPECT_THAT(error_of(k_minimal + "    statement_timeout: soon\n"), HasSubstr("duration"));
  EXPECT_THAT(error_of(k_minimal + "    lock_wait: 1.5s\n"), StartsWith(at(4)));
  EXPECT_THAT(error_of(k_minimal + "    backup_timeout: 0\n"), HasSubstr("longer than zero"));
}

TEST(Config, UnknownPromoteFromTarget) {
  const auto message = error_of(k_minimal + "  test:\n    url: host=t\n    promote_from: dve\n");
  EXPECT_THAT(message, StartsWith(at(6) + "19:"));
  EXPECT_THAT(message, HasSubstr("unknown environment 'dve'"));
  EXPECT_THAT(message, HasSubstr("did you mean 'dev'?"));
}

TEST(Config, PromoteFromItself) {
  const auto message = error_of(k_minimal + "    promote_from: dev\n");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("'dev' cannot promote from itself"));
}

TEST(Config, TwoEnvironmentCycleIsNamed) {
  const auto message = error_of(R"(environments:
  dev:
    url: host=d
    promote_from: test
  test:
    url: host=t
    promote_from: dev
)");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("promotion cycle: dev -> test -> dev"));
}

TEST(Config, ThreeEnvironmentCycleIsNamedInPromotionDirection) {
  const auto message = error_of(R"(environments:
  dev:
    url: host=d
  a:
    url: host=a
    promote_from: c
  b:
    url: host=b
    promote_from: a
  c:
    url: host=c
    promote_from: b
)");
  EXPECT_THAT(message, StartsWith(at(6)));
  EXPECT_THAT(message, HasSubstr("promotion cycle: a -> b -> c -> a"));
}

TEST(Config, PromotionSourceDeclaredLaterIsError) {
  const auto message = error_of(R"(environments:
  test:
    url: host=t
    promote_from: dev
  dev:
    url: host=d
)");
  EXPECT_THAT(message, StartsWith(at(4)));
  EXPECT_THAT(message, HasSubstr("'test' promotes from 'dev', which is declared after it"));
}

TEST(Config, InvalidEnvironmentName) {
  for (const std::string name : {"Prod", "1dev", "dev.eu", "_x"}) {
    const auto message = error_of(k_minimal + "  " + name + ":\n    url: host=h\n");
    EXPECT_THAT(message, StartsWith(at(4) + "3:")) << name;
    EXPECT_THAT(message, HasSubstr("invalid environment name '" + name + "'"));
  }
  EXPECT_NO_THROW(parse(k_minimal + "  eu-west_2:\n    url: host=h\n"));
}

TEST(Config, MissingUrl) {
  const auto message = error_of(k_minimal + "  test:\n    promote_from: dev\n");
  EXPECT_EQ(message, at(4) + "3: environment 'test' has no 'url'");
  EXPECT_THAT(error_of(k_minimal + "  test:\n"), StartsWith(at(4)));
}

TEST(Config, NoEnvironments) {
  EXPECT_THAT(error_of("history_table: t\n"), HasSubstr("no environments"));
  EXPECT_THAT(error_of("history_table: t\nenvironments:\n"), StartsWith(at(2)));
  EXPECT_THAT(error_of("history_table: t\nenvironments: {}\n"), HasSubstr("no environments"));
  EXPECT_THAT(error_of(""), StartsWith(at(1) + "1: no environments"));
}

TEST(Config, EnvironmentsMustBeMapping) {
  EXPECT_THAT(error_of("environments:\n  - dev\n"), StartsWith(at(2)));
  EXPECT_THAT(error_of("- just a list\n"), StartsWith(at(1)));
}

TEST(Config, BadUrlReportedAtItsLine) {
  const auto message = error_of(k_minimal + "  test:\n    url: mysql://root:hunter2@localhost/app\n");
  EXPECT_THAT(message, StartsWith(at(5) + "10:"));
  EXPECT_THAT(message, HasSubstr("postgresql://"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(error_of(k_minimal + "  test:\n    url: localhost:5432\n"), StartsWith(at(5)));
}

TEST(Config, HistoryTableValidated) {
  for (const std::string bad : {"a.b.c", "1table", "\"quoted\"", "ops.", ".t", "my-table"}) {
    const auto message = error_of("history_table: '" + bad + "'\n" + k_minimal);
    EXPECT_THAT(message, StartsWith(at(1) + "16:")) << bad;
    EXPECT_THAT(message, HasSubstr("history_table")) << bad;
  }
}

TEST(Config, SchemaQualifiedHistoryTable) {
  const auto config = parse("history_table: ops.schema_migrations\n" + k_minimal);
  EXPECT_EQ(config.history_table.quoted(), "\"ops\".\"schema_migrations\"");
  EXPECT_EQ(config.history_table.display(), "ops.schema_migrations");
  const auto plain = parse("history_table: _Mig2\n" + k_minimal);
  EXPECT_EQ(plain.history_table.quoted(), "\"_Mig2\"");
  EXPECT_EQ(plain.history_table.display(), "_Mig2");
}

TEST(Config, HistoryTableLeavesRoomForTheLogTableSuffix) {
  // 59 + "_log" = 63 bytes, PostgreSQL's limit; 60 would truncate the log table's name.
  const std::string fits(59, 'h'), too_long(60, 'h');
  EXPECT_EQ(parse("history_table: " + fits + "\n" + k_minimal).history_table.table, fits);
  EXPECT_EQ(parse("history_table: ops." + fits + "\n" + k_minimal).history_table.schema, "ops");
  const auto message = error_of("history_table: " + too_long + "\n" + k_minimal);
  EXPECT_THAT(message, StartsWith(at(1) + "16: 'history_table' table name is 60 characters; at most 59"));
  EXPECT_THAT(message, HasSubstr("63"));
  EXPECT_THAT(message, HasSubstr("'_log'"));
  EXPECT_THAT(error_of("history_table: " + std::string(64, 's') + ".t\n" + k_minimal),
              HasSubstr("schema name is 64 characters; at most 63"));
}

TEST(Config, MarksPasswordsWrittenInTheFile) {
  const auto literal = [](const std::string& url, std::map<std::string, std::string> vars = {}) {
    return parse("environments:\n  dev:\n    url: \"" + url + "\"\n", std::move(vars)).get("dev").literal_password;
  };
  EXPECT_TRUE(literal("postgresql://u:pw@h/db"));
  EXPECT_TRUE(literal("host=h password=pw"));
  EXPECT_TRUE(literal("postgresql://u:p%40ss@${HOST}/db", {{"HOST", "h"}}));
  EXPECT_FALSE(literal("${URL}", {{"URL", "postgresql://u:pw@h/db"}}));
  EXPECT_FALSE(literal("postgresql://u:${PW}@h/db", {{"PW", "pw"}}));
  EXPECT_FALSE(literal("host=h password=${PW}", {{"PW", "pw"}}));
  EXPECT_FALSE(literal("postgresql://u@h/db"));
}

TEST(Config, QuotedDoublesEmbeddedQuotes) {
  const QualifiedName name{"we\"ird", "ta\"\"ble"};
  EXPECT_EQ(name.quoted(), "\"we\"\"ird\".\"ta\"\"\"\"ble\"");
}

// --- durations ---------------------------------------------------------------

TEST(ConfigDuration, ParsesUnits) {
  using namespace std::chrono;
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("10s"), seconds(10));
  EXPECT_EQ(parse_duration("15min"), minutes(15));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("2d"), hours(48));
  EXPECT_EQ(parse_duration("250"), milliseconds(250));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("10 s"), seconds(10));
}

TEST(ConfigDuration, RejectsPastTheMaximumWithoutOverflow) {
  using namespace std::chrono;
  EXPECT_EQ(parse_duration("24d"), k_max_duration);
  EXPECT_EQ(parse_duration(std::to_string(k_max_duration.count())), k_max_duration);
  for (const std::string big : {"25d", "577h", "999999999999d", "200000d", "9223372036854775807",
                                "9223372036854775808", "99999999999999999999999999ms", "106751991167d"}) {
    EXPECT_FALSE(parse_duration(big).has_value()) << big;
    EXPECT_THAT(duration_error(big), HasSubstr("at most 24d")) << big;
  }
  EXPECT_THAT(duration_error("10 parsecs"), HasSubstr("must be a duration such as"));
  EXPECT_THAT(duration_error("+5s"), HasSubstr("must be a duration such as"));
}

TEST(ConfigDuration, TooLongInTheConfigNamesTheLimit) {
  // Issue 17 #18: 999999999999d used to overflow to a negative wait.
  const auto wait = error_of(k_minimal + "    lock_wait: 999999999999d\n");
  EXPECT_THAT(wait, StartsWith(at(4) + "16: 'lock_wait' in environment 'dev' must be at most 24d"));
  const auto backup = error_of(k_minimal + "    backup_timeout: 200000d\n");
  EXPECT_THAT(backup, HasSubstr("'backup_timeout' in environment 'dev' must be at most 24d, got '200000d'"));
  EXPECT_THAT(error_of(k_minimal + "    lock_timeout: 30d\n"), HasSubstr("at most 24d"));
}

TEST(ConfigDuration, RejectsGarbage) {
  for (const std::string bad : {"", "s", "-5s", "1.5s", "10m", "10 parsecs", "ten", "10s5", "9999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

// --- files and paths -----------------------------------------------------------

TEST(ConfigFile, LoadsFromDiskAndResolvesAgainstItsDirectory) {
  test::TempDir dir;
  test::write_file(dir / "conf/environments.yaml", "migrations_dir: ../m\n" + k_minimal);
  const auto config = load_config(dir / "conf/environments.yaml", lookup({}));
  EXPECT_EQ(config.migrations_dir, (dir.path() / "m").lexically_normal());
  EXPECT_EQ(config.backups_dir, (dir.path() / "schema-backups").lexically_normal());
}

TEST(ConfigFile, ErrorsNameTheFilePath) {
  test::TempDir dir;
  const auto path = dir / "environments.yaml";
  test::write_file(path, k_minimal + "    confirm: maybe\n");
  try {
    load_config(path, lookup({}));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith(path.string() + ":4:"));
  }
}

TEST(ConfigFile, MissingFileSaysHowToChooseAnother) {
  test::TempDir dir;
  try {
    load_config(dir / "nope.yaml", lookup({}));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "nope.yaml").string()));
    EXPECT_THAT(e.what(), HasSubstr("--config"));
    EXPECT_THAT(e.what(), HasSubstr("MGR_CONFIG"));
  }
  EXPECT_THROW(load_config(dir.path(), lookup({})), ConfigError);
}

TEST(ConfigFile, ResolveConfigPath) {
  EXPECT_EQ(resolve_config_path(std::nullopt, lookup({})), fs::path("config/environments.yaml"));
  EXPECT_EQ(resolve_config_path(std::nullopt, lookup({{"MGR_CONFIG", "/etc/mgr.yaml"}})), fs::path("/etc/mgr.yaml"));
  EXPECT_EQ(resolve_config_path(std::string("x.yaml"), lookup({{"MGR_CONFIG", "/etc/mgr.yaml"}})),
            fs::path("x.yaml"));
  EXPECT_EQ(resolve_config_path(std::nullopt, lookup({{"MGR_CONFIG", ""}})), fs::path("config/environments.yaml"));
}

}  // namespace
}  // namespace mgr
