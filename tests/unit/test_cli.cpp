// The built mgr binary on temporary project folders: no database needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace mgr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::read_file;
using test::RunResult;
using test::run_mgr;
using test::TempDir;
using test::write_file;
namespace fs = std::filesystem;

constexpr int k_ok = 0, k_failure = 1, k_usage = 2;

// Where no database is: a port on 127.0.0.1 that refuses connections at once
// (test::refused_port: held by this process, never listened on).
const std::string k_nowhere = "127.0.0.1:" + std::to_string(test::refused_port());

const std::string k_three_envs =
    "environments:\n"
    "  dev:\n"
    "    url: postgresql://" + k_nowhere + "/app_dev\n"
    "    backup: off\n"
    "    lint: warn\n"
    "  test:\n"
    "    url: postgresql://" + k_nowhere + "/app_test\n"
    "    promote_from: dev\n"
    "  prod:\n"
    "    url: postgresql://" + k_nowhere + "/app_prod\n"
    "    promote_from: test\n"
    "    confirm: true\n"
    "    lock_timeout: 10s\n";

// A project folder: config/environments.yaml and migrations/.
struct Project {
  TempDir dir;
  explicit Project(const std::string& config = k_three_envs) {
    write_file(config_path(), config);
    fs::create_directories(migrations());
  }
  fs::path config_path() const { return dir / "config/environments.yaml"; }
  fs::path migrations() const { return dir / "migrations"; }
  RunResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const {
    std::map<std::string, std::string> e{{"MGR_CONFIG", ""}, {"NO_COLOR", ""}};
    for (const auto& [k, v] : env) e[k] = v;
    return run_mgr(args, e, dir.path());
  }
  std::set<std::string> migration_files() const {
    std::set<std::string> out;
    for (const auto& de : fs::directory_iterator(migrations())) out.insert(de.path().filename().string());
    return out;
  }
};

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

std::string utc_id(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// ---- version, help, usage errors --------------------------------------------

TEST(Cli, VersionPrintsTheVersion) {
  auto r = run_mgr({"--version"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out + r.err, HasSubstr(std::string("mgr ") + MGR_VERSION));
}

TEST(Cli, HelpListsTheCommandsAndGlobalFlags) {
  auto r = run_mgr({"--help"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  for (const char* word : {"new", "config", "env", "apply", "status", "--config", "--json", "--verbose", "--quiet",
                           "--no-color", "--version"}) {
    EXPECT_THAT(r.out, HasSubstr(word)) << word;
  }
}

TEST(Cli, CommandHelp) {
  auto r = run_mgr({"new", "--help"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("name"));
  r = run_mgr({"config", "--help"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
}

TEST(Cli, UnknownCommandIsAUsageError) {
  auto r = run_mgr({"frobnicate"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_FALSE(r.err.empty());
}

TEST(Cli, UnknownFlagIsAUsageError) {
  auto r = run_mgr({"--frobnicate", "config"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  Project p;
  r = p.run({"config", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
}

TEST(Cli, MissingCommandOrArgumentIsAUsageError) {
  EXPECT_EQ(run_mgr({}).exit_code, k_usage);
  EXPECT_EQ(run_mgr({"new"}).exit_code, k_usage);
  EXPECT_EQ(run_mgr({"env"}).exit_code, k_usage);
  EXPECT_EQ(run_mgr({"--config"}).exit_code, k_usage);
}

// ---- mgr new ----------------------------------------------------------------

TEST(Cli, NewCreatesUpAndDownWithHeader) {
  Project p;
  auto before = std::time(nullptr);
  auto r = p.run({"new", "add_user_email"});
  auto after = std::time(nullptr);
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto files = p.migration_files();
  ASSERT_EQ(files.size(), 2u);
  std::smatch m;
  std::string up = *std::next(files.begin());  // "<id>_add_user_email.down.sql" sorts first
  std::string down = *files.begin();
  ASSERT_TRUE(std::regex_match(up, m, std::regex(R"(^(\d{14})_add_user_email\.sql$)"))) << up;
  std::string id = m[1];
  EXPECT_EQ(down, id + "_add_user_email.down.sql");
  // A UTC timestamp of when it ran.
  EXPECT_GE(id, utc_id(before));
  EXPECT_LE(id, utc_id(after + 1));
  // Paths printed on stdout.
  EXPECT_THAT(r.out, HasSubstr((p.migrations() / up).string()));
  EXPECT_THAT(r.out, HasSubstr((p.migrations() / down).string()));
  // Short header comments.
  auto up_text = read_file(p.migrations() / up);
  EXPECT_EQ(up_text.rfind("-- add_user_email\n", 0), 0u) << up_text;
  EXPECT_THAT(read_file(p.migrations() / down), HasSubstr(id + "_add_user_email.sql"));
}

TEST(Cli, NewFilesFormAValidCatalogEntryWithoutDirectives) {
  Project p;
  ASSERT_EQ(p.run({"new", "create_users"}).exit_code, k_ok);
  auto scan = scan_catalog(p.migrations());
  EXPECT_TRUE(scan.problems.empty()) << (scan.problems.empty() ? "" : scan.problems[0].located());
  ASSERT_EQ(scan.catalog.migrations.size(), 1u);
  const auto& mig = scan.catalog.migrations[0];
  EXPECT_EQ(mig.name, "create_users");
  EXPECT_TRUE(mig.down.has_value());
  // The example directives in the header are commented out, not live.
  EXPECT_FALSE(mig.up.directives.no_transaction);
  EXPECT_TRUE(mig.up.directives.allows.empty());
}

TEST(Cli, NewTwiceInTheSameSecondGivesTwoIds) {
  Project p;
  auto a = p.run({"new", "same_name"});
  auto b = p.run({"new", "same_name"});
  ASSERT_EQ(a.exit_code, k_ok) << describe(a);
  ASSERT_EQ(b.exit_code, k_ok) << describe(b);
  auto files = p.migration_files();
  EXPECT_EQ(files.size(), 4u);
  std::set<std::string> ids;
  for (const auto& f : files) ids.insert(f.substr(0, f.find('_')));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_NO_THROW(load_catalog(p.migrations()));  // no duplicate ids
}

TEST(Cli, NewRunConcurrentlyNeverSharesAnId) {
  Project p;
  std::vector<std::future<RunResult>> runs;
  for (int i = 0; i < 4; ++i) runs.push_back(std::async(std::launch::async, [&p] { return p.run({"new", "race"}); }));
  for (auto& f : runs) {
    auto r = f.get();
    EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  }
  auto scan = scan_catalog(p.migrations());
  EXPECT_TRUE(scan.problems.empty()) << (scan.problems.empty() ? "" : scan.problems[0].located());
  EXPECT_EQ(scan.catalog.migrations.size(), 4u);
  for (const auto& m : scan.catalog.migrations) EXPECT_TRUE(m.down.has_value()) << m.id;
}

TEST(Cli, NewSkipsTakenSecondsToTheNextFreeOne) {
  Project p;
  auto now = std::time(nullptr);
  std::set<std::string> taken;
  for (std::time_t t = now - 2; t <= now + 30; ++t) {
    taken.insert(utc_id(t));
    write_file(p.migrations() / (utc_id(t) + "_other.sql"), "select 1;\n");
  }
  auto r = p.run({"new", "next_one"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  std::string id;
  for (const auto& f : p.migration_files()) {
    if (f.ends_with("_next_one.sql")) id = f.substr(0, 14);
  }
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(taken.count(id), 0u);
  EXPECT_EQ(id, utc_id(now + 31)) << "the first free second after the taken ones";
}

TEST(Cli, NewRejectsInvalidNamesAndCreatesNothing) {
  Project p;
  for (std::string name : {"Add_Users", "add-users", "add users", "add.users", "caf\xC3\xA9", "../escape", ""}) {
    auto r = p.run({"new", name});
    EXPECT_EQ(r.exit_code, k_usage) << "name '" << name << "'\n" << describe(r);
    EXPECT_TRUE(p.migration_files().empty()) << name;
  }
  EXPECT_FALSE(fs::exists(p.dir / "escape.sql"));
}

TEST(Cli, NewCreatesTheMigrationsDirectoryWhenMissing) {
  Project p;
  fs::remove(p.migrations());
  auto r = p.run({"new", "first"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_EQ(p.migration_files().size(), 2u);
}

TEST(Cli, NewJsonNamesTheFiles) {
  Project p;
  auto r = p.run({"new", "with_json", "--json"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("name"), "with_json");
  std::string id = j.at("id");
  EXPECT_EQ(id.size(), 14u);
  EXPECT_TRUE(fs::exists(j.at("up").get<std::string>()));
  EXPECT_TRUE(fs::exists(j.at("down").get<std::string>()));
  EXPECT_EQ(fs::path(j.at("up").get<std::string>()).filename(), id + "_with_json.sql");
}

TEST(Cli, NewHonoursMigrationsDirRelativeToTheConfig) {
  Project p("migrations_dir: ../db/changes\n" + k_three_envs);
  auto r = p.run({"new", "elsewhere"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_TRUE(p.migration_files().empty());
  std::size_t n = 0;
  for (const auto& de : fs::directory_iterator(p.dir / "db/changes")) n += de.path().string().ends_with(".sql");
  EXPECT_EQ(n, 2u);
}

// ---- mgr config ---------------------------------------------------------------

TEST(Cli, ConfigListsEnvironmentsInPromotionOrderWithPolicies) {
  Project p;
  auto r = p.run({"config"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto dev = r.out.find("\ndev "), test = r.out.find("\ntest "), prod = r.out.find("\nprod ");
  ASSERT_NE(dev, std::string::npos) << r.out;
  ASSERT_NE(prod, std::string::npos);
  EXPECT_LT(dev, test);
  EXPECT_LT(test, prod);
  EXPECT_THAT(r.out, HasSubstr("postgresql://" + k_nowhere + "/app_prod"));
  EXPECT_THAT(r.out, HasSubstr("lock 10s"));
  EXPECT_THAT(r.out, HasSubstr("config/environments.yaml"));
}

TEST(Cli, ConfigJson) {
  Project p;
  auto r = p.run({"config", "--json"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto j = nlohmann::json::parse(r.out);
  const auto& envs = j.at("environments");
  ASSERT_EQ(envs.size(), 3u);
  EXPECT_EQ(envs[0].at("name"), "dev");
  EXPECT_EQ(envs[1].at("name"), "test");
  EXPECT_EQ(envs[2].at("name"), "prod");
  EXPECT_TRUE(envs[0].at("promote_from").is_null());
  EXPECT_EQ(envs[1].at("promote_from"), "dev");
  EXPECT_EQ(envs[2].at("promote_from"), "test");
  EXPECT_EQ(envs[0].at("backup"), "off");
  EXPECT_EQ(envs[0].at("lint"), "warn");
  EXPECT_EQ(envs[1].at("backup"), "required");
  EXPECT_EQ(envs[1].at("lint"), "block");
  EXPECT_EQ(envs[2].at("confirm"), true);
  EXPECT_EQ(envs[1].at("confirm"), false);
  EXPECT_EQ(envs[2].at("lock_timeout"), "10s");
  EXPECT_EQ(fs::path(j.at("migrations_dir").get<std::string>()).lexically_normal(),
            (p.dir / "migrations").lexically_normal());
  EXPECT_EQ(j.at("history_table"), "schema_migrations");
}

TEST(Cli, GlobalJsonFlagWorksBeforeTheCommandToo) {
  Project p;
  auto r = p.run({"--json", "config"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j.at("environments").size(), 3u);
}

TEST(Cli, EnvListIsConfig) {
  Project p;
  auto a = p.run({"config", "--json"});
  auto b = p.run({"env", "list", "--json"});
  ASSERT_EQ(b.exit_code, k_ok) << describe(b);
  EXPECT_EQ(a.out, b.out);
}

const std::string k_password = "S3cret-pw";

const std::string k_interpolated =
    "environments:\n"
    "  dev:\n"
    "    url: ${DEV_URL}\n"
    "  test:\n"
    "    url: ${TEST_URL:-postgresql://" + k_nowhere + "/app_test}\n"
    "    promote_from: dev\n";

TEST(Cli, ConfigRedactsAnInterpolatedPassword) {
  Project p(k_interpolated);
  std::map<std::string, std::string> env{{"DEV_URL", "postgresql://app:" + k_password + "@" + k_nowhere + "/app_dev"},
                                         {"TEST_URL", "host=127.0.0.1 port=" + std::to_string(test::refused_port()) +
                                                          " dbname=app_test user=app password=" +
                                                          k_password}};
  for (const std::vector<std::string>& args : {std::vector<std::string>{"config"},
                                               std::vector<std::string>{"config", "--json"},
                                               std::vector<std::string>{"env", "list", "-v", "-v"}}) {
    auto r = p.run(args, env);
    ASSERT_EQ(r.exit_code, k_ok) << describe(r);
    EXPECT_THAT(r.out, Not(HasSubstr(k_password))) << describe(r);
    EXPECT_THAT(r.err, Not(HasSubstr(k_password))) << describe(r);
    EXPECT_THAT(r.out, HasSubstr("app:***@127.0.0.1"));
  }
}

TEST(Cli, ConfigRedactsAPasswordInTheQueryString) {
  Project p(k_interpolated);
  auto r = p.run({"config", "--json"}, {{"DEV_URL", "postgresql://" + k_nowhere + "/app_dev?user=app&password=" + k_password}});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(k_password))) << describe(r);
}

TEST(Cli, UnsetVariableIsAConfigErrorNamingItAndTheLine) {
  Project p(k_interpolated);
  auto r = p.run({"config"}, {{"DEV_URL", ""}});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("DEV_URL"));
  EXPECT_THAT(r.err, HasSubstr("config/environments.yaml:3:"));
}

TEST(Cli, ConfigErrorReportsPathLineCol) {
  Project p(
      "environments:\n"
      "  dev:\n"
      "    url: postgresql://" + k_nowhere + "/app_dev\n"
      "    promote_form: dev\n");
  auto r = p.run({"config"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  const std::string where = "config/environments.yaml:4:";
  ASSERT_THAT(r.err, HasSubstr(where)) << describe(r);
  EXPECT_TRUE(std::regex_search(r.err.substr(r.err.find(where) + where.size()), std::regex(R"(^\d+: )")))
      << "expected path:line:col: in\n" << r.err;
  EXPECT_THAT(r.err, HasSubstr("promote_from"));  // the suggestion
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, MissingConfigFileIsAConfigError) {
  TempDir empty;
  auto r = run_mgr({"config"}, {{"MGR_CONFIG", ""}}, empty.path());
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("environments.yaml"));
}

TEST(Cli, MgrConfigEnvironmentVariableChoosesTheConfig) {
  Project p;
  TempDir elsewhere;  // no config/ here
  auto r = run_mgr({"config", "--json"}, {{"MGR_CONFIG", p.config_path().string()}}, elsewhere.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_EQ(nlohmann::json::parse(r.out).at("environments").size(), 3u);
}

TEST(Cli, ConfigFlagBeatsMgrConfig) {
  Project three;
  Project one("environments:\n  solo:\n    url: postgresql://" + k_nowhere + "/solo\n");
  TempDir elsewhere;
  auto r = run_mgr({"--config", one.config_path().string(), "config", "--json"},
                   {{"MGR_CONFIG", three.config_path().string()}}, elsewhere.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto envs = nlohmann::json::parse(r.out).at("environments");
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_EQ(envs[0].at("name"), "solo");
}

// ---- commands that load the catalog ---------------------------------------------

TEST(Cli, StatusRefusesABrokenCatalogBeforeConnecting) {
  Project p;
  write_file(p.migrations() / "20250101000000_first.sql", "select 1;\n");
  write_file(p.migrations() / "20250101000000_second.sql", "select 2;\n");
  auto r = p.run({"status"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("20250101000000_first.sql"));
  EXPECT_THAT(r.err, HasSubstr("20250101000000_second.sql"));
}

TEST(Cli, StatusReportsUnknownDirectiveAtFileLine) {
  Project p;
  write_file(p.migrations() / "0001_a.sql", "-- header\n-- mgr:no-transacton\nselect 1;\n");
  auto r = p.run({"status"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr((p.migrations() / "0001_a.sql").string() + ":2:"));
}

TEST(Cli, StatusWithUnreachableEnvironmentsExitsOneAndHidesThePassword) {
  Project p(k_interpolated);
  write_file(p.migrations() / "0001_a.sql", "select 1;\n");
  auto r = p.run({"status"}, {{"DEV_URL", "postgresql://app:" + k_password + "@" + k_nowhere + "/app_dev"}});
  EXPECT_EQ(r.exit_code, k_failure) << describe(r);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(k_password))) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("0001"));
}

// ---- colour -------------------------------------------------------------------------

TEST(Cli, NoAnsiEscapesWhenNotATerminal) {
  Project p;
  write_file(p.migrations() / "0001_a.sql", "select 1;\n");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"config"},
                                               std::vector<std::string>{"status"},
                                               std::vector<std::string>{"new", "plain"}}) {
    auto r = p.run(args);
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << describe(r);
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << describe(r);
  }
}

// Runs mgr with stdout and stderr on a pseudo-terminal; returns what it wrote.
std::string run_on_terminal(const std::vector<std::string>& args, const fs::path& cwd, bool no_color_env) {
  std::vector<std::string> argv_s{test::mgr_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  // The child's environment, built before fork: this process has threads.
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    if (kv.starts_with("MGR_CONFIG=") || kv.starts_with("NO_COLOR=")) continue;
    env_s.push_back(kv);
  }
  if (no_color_env) env_s.push_back("NO_COLOR=1");
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return "forkpty failed";
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::string out;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{master, POLLIN, 0};
    if (::poll(&pfd, 1, 200) > 0) {
      auto n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO once the child has exited
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST(Cli, ColourOnATerminalUnlessNoColor) {
  Project p;
  auto coloured = run_on_terminal({"config"}, p.dir.path(), false);
  ASSERT_THAT(coloured, HasSubstr("prod"));
  EXPECT_NE(coloured.find("\x1b["), std::string::npos) << "expected colour on a terminal:\n" << coloured;

  auto env_off = run_on_terminal({"config"}, p.dir.path(), true);
  ASSERT_THAT(env_off, HasSubstr("prod"));
  EXPECT_EQ(env_off.find('\x1b'), std::string::npos) << "NO_COLOR set:\n" << env_off;

  auto flag_off = run_on_terminal({"config", "--no-color"}, p.dir.path(), false);
  ASSERT_THAT(flag_off, HasSubstr("prod"));
  EXPECT_EQ(flag_off.find('\x1b'), std::string::npos) << "--no-color:\n" << flag_off;
}

// -q leaves only errors on stderr, the default adds warnings, -v info, -vv
// debug lines; none of them changes the results on stdout. The config holds a
// password in a file others can read: a warning to hide or show.
TEST(Cli, QuietAndVerboseChangeOnlyTheLog) {
  Project p("environments:\n  dev:\n    url: postgresql://app:Tr0ub4dor@" + k_nowhere + "/app_dev\n");
  fs::permissions(p.config_path(), static_cast<fs::perms>(0644));
  const std::string warning = "environments.yaml holds the database password of dev";
  const std::string debug = "mgr: debug: config file: ";

  auto normal = p.run({"config"});
  ASSERT_EQ(normal.exit_code, k_ok) << describe(normal);
  ASSERT_FALSE(normal.out.empty());
  EXPECT_THAT(normal.err, HasSubstr("mgr: warning: ")) << describe(normal);
  EXPECT_THAT(normal.err, HasSubstr(warning)) << describe(normal);
  EXPECT_THAT(normal.err, Not(HasSubstr("debug:"))) << describe(normal);

  for (const std::vector<std::string>& args : {std::vector<std::string>{"-q", "config"}, {"config", "--quiet"}}) {
    auto r = p.run(args);
    EXPECT_EQ(r.exit_code, k_ok) << describe(r);
    EXPECT_EQ(r.out, normal.out);
    EXPECT_EQ(r.err, "") << "quiet shows only errors: " << describe(r);
  }

  auto verbose = p.run({"-v", "config"});
  EXPECT_EQ(verbose.exit_code, k_ok) << describe(verbose);
  EXPECT_EQ(verbose.out, normal.out);
  EXPECT_THAT(verbose.err, HasSubstr(warning)) << describe(verbose);
  EXPECT_THAT(verbose.err, Not(HasSubstr("debug:"))) << "-v is info, not debug: " << describe(verbose);

  for (const std::vector<std::string>& args : {std::vector<std::string>{"-vv", "config"}, {"config", "-vv"}}) {
    auto r = p.run(args);
    EXPECT_EQ(r.exit_code, k_ok) << describe(r);
    EXPECT_EQ(r.out, normal.out);
    EXPECT_THAT(r.err, HasSubstr(warning)) << describe(r);
    EXPECT_THAT(r.err, HasSubstr(debug)) << describe(r);
    EXPECT_THAT(r.err, Not(HasSubstr("Tr0ub4dor"))) << describe(r);
  }
}

TEST(Cli, ResultsOnStdoutNotStderr) {
  Project p;
  auto r = p.run({"config", "--json"});
  ASSERT_EQ(r.exit_code, k_ok);
  EXPECT_FALSE(r.out.empty());
  EXPECT_TRUE(r.err.empty()) << r.err;
}

}  // namespace
}  // namespace mgr
