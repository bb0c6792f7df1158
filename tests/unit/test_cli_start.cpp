// Starting with mgr: init, help and mistyped commands, --json errors, log
// levels, --version, shell completion, the manual page and the CI examples.
// Runs the built binary on temporary folders; no database.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

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

constexpr int k_ok = 0, k_usage = 2;

// Where no database is: a port on 127.0.0.1 that refuses connections at once
// (test::refused_port: held by this process, never listened on).
const std::string k_nowhere = "127.0.0.1:" + std::to_string(test::refused_port());

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

const std::map<std::string, std::string> k_all_urls{{"MGR_CONFIG", ""},
                                                     {"NO_COLOR", ""},
                                                     {"DEV_DATABASE_URL", "postgresql://" + k_nowhere + "/app_dev"},
                                                     {"TEST_DATABASE_URL", "postgresql://" + k_nowhere + "/app_test"},
                                                     {"PROD_DATABASE_URL", "postgresql://u:s3cret@" + k_nowhere + "/app_prod"}};

// Runs a program (argv, no shell string) in cwd; stdout and stderr captured.
RunResult run_program(const std::vector<std::string>& argv, const fs::path& cwd = {}) {
  TempDir io;
  auto out_path = io / "out", err_path = io / "err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 || ::dup2(in, 0) < 0) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::setenv("NO_COLOR", "1", 1);
    ::unsetenv("MGR_CONFIG");
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// ---- mgr init ---------------------------------------------------------------

TEST(CliInit, WritesTheProjectLayout) {
  TempDir dir;
  auto r = run_mgr({"init"}, k_all_urls, dir.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_TRUE(fs::is_regular_file(dir / "config/environments.yaml"));
  EXPECT_TRUE(fs::is_directory(dir / "migrations"));
  EXPECT_TRUE(fs::is_directory(dir / "schema-backups"));
  auto ignore = read_file(dir / "schema-backups/.gitignore");
  EXPECT_THAT(ignore, HasSubstr("*\n"));
  EXPECT_THAT(ignore, HasSubstr("!.gitignore"));
  EXPECT_THAT(r.out, HasSubstr("config/environments.yaml"));

  // The config it wrote is valid and has dev -> test -> prod from the variables.
  r = run_mgr({"config", "--json"}, k_all_urls, dir.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["environments"].size(), 3u);
  EXPECT_EQ(j["environments"][0]["name"], "dev");
  EXPECT_EQ(j["environments"][1]["promote_from"], "dev");
  EXPECT_EQ(j["environments"][2]["promote_from"], "test");
  EXPECT_EQ(j["environments"][2]["confirm"], true);
  EXPECT_THAT(r.out, Not(HasSubstr("s3cret")));
}

TEST(CliInit, EveryKeyOfTheConfigIsCommented) {
  TempDir dir;
  ASSERT_EQ(run_mgr({"init"}, k_all_urls, dir.path()).exit_code, k_ok);
  auto lines = lines_of(read_file(dir / "config/environments.yaml"));
  std::regex key(R"(^\s*#?\s*([a-z_]+):(\s|$))");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, key) || lines[i].find("# ") == 0) continue;
    std::string k = m[1];
    if (k == "environments" || k == "dev" || k == "test" || k == "prod") continue;
    seen.insert(k);
    ASSERT_GT(i, 0u);
    EXPECT_THAT(lines[i - 1], ::testing::MatchesRegex(R"(^\s*#.*)")) << "no comment above: " << lines[i];
  }
  // The keys docs/environments.md lists, each shown once at least.
  for (const char* k : {"migrations_dir", "backups_dir", "history_table", "lint_pg_version", "url", "promote_from",
                        "backup", "lint", "confirm", "lock_timeout", "statement_timeout", "lock_wait",
                        "backup_format", "backup_keep", "backup_timeout"}) {
    EXPECT_EQ(seen.count(k), 1u) << k;
  }
}

TEST(CliInit, NewWorksRightAfterInit) {
  TempDir dir;
  ASSERT_EQ(run_mgr({"init"}, k_all_urls, dir.path()).exit_code, k_ok);
  auto r = run_mgr({"new", "create_users"}, k_all_urls, dir.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("migrations/"));
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "migrations")) ++files;
  EXPECT_EQ(files, 2);
}

TEST(CliInit, IntoAGivenFolder) {
  TempDir dir;
  auto r = run_mgr({"init", "app"}, k_all_urls, dir.path());
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_TRUE(fs::is_regular_file(dir / "app/config/environments.yaml"));
  EXPECT_TRUE(fs::is_regular_file(dir / "app/schema-backups/.gitignore"));
}

TEST(CliInit, RefusesToOverwriteAndWritesNothing) {
  TempDir dir;
  write_file(dir / "config/environments.yaml", "environments: {}\n");
  auto r = run_mgr({"init"}, k_all_urls, dir.path());
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("config/environments.yaml already exists"));
  EXPECT_EQ(read_file(dir / "config/environments.yaml"), "environments: {}\n");
  EXPECT_FALSE(fs::exists(dir / "migrations"));
  EXPECT_FALSE(fs::exists(dir / "schema-backups"));

  TempDir other;
  write_file(other / "schema-backups/.gitignore", "mine\n");
  r = run_mgr({"init"}, k_all_urls, other.path());
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("schema-backups/.gitignore already exists"));
  EXPECT_FALSE(fs::exists(other / "config"));
  EXPECT_FALSE(fs::exists(other / "migrations"));
  EXPECT_EQ(read_file(other / "schema-backups/.gitignore"), "mine\n");
}

// ---- mistyped and missing commands, help --------------------------------------

TEST(CliHelp, UnknownCommandSuggestsTheNearestOne) {
  auto r = run_mgr({"stauts"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'stauts'; did you mean 'status'?"));
  EXPECT_THAT(r.err, Not(HasSubstr("A subcommand is required")));
  EXPECT_EQ(r.out, "");

  r = run_mgr({"--json", "aply", "dev"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("did you mean 'apply'?"));

  r = run_mgr({"frobnicate"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'frobnicate'; commands: init, new"));
}

TEST(CliHelp, NestedCommandsToo) {
  auto r = run_mgr({"env"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("mgr env needs a command: list"));
  r = run_mgr({"env", "lst"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'lst'; did you mean 'list'?"));
}

TEST(CliHelp, NoCommandShowsTheCommands) {
  auto r = run_mgr({});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("a command is required"));
  EXPECT_THAT(r.err, Not(HasSubstr("A subcommand is required")));
  for (const char* c : {"init", "apply", "status", "rollback", "completion", "help"}) EXPECT_THAT(r.err, HasSubstr(c));
}

TEST(CliHelp, HelpCommandShowsTheAppOrOneCommand) {
  auto r = run_mgr({"help"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("apply"));
  EXPECT_THAT(r.out, HasSubstr("--config"));

  r = run_mgr({"help", "apply"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("--dry-run"));
  EXPECT_THAT(r.out, HasSubstr("--lock-wait"));
  EXPECT_THAT(r.out, HasSubstr("mgr apply"));

  r = run_mgr({"help", "env", "list"});
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("--names"));

  r = run_mgr({"help", "stauts"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("did you mean 'status'?"));
}

TEST(CliHelp, CommandHelpListsTheGlobalFlags) {
  for (const char* cmd : {"apply", "status", "lint", "init", "new"}) {
    auto r = run_mgr({cmd, "--help"});
    EXPECT_EQ(r.exit_code, k_ok) << describe(r);
    for (const char* flag : {"--config", "--json", "--verbose", "--quiet", "--no-color"}) {
      EXPECT_THAT(r.out, HasSubstr(flag)) << cmd << " " << flag;
    }
  }
}

// ---- --json errors --------------------------------------------------------------

TEST(CliJson, ConfigErrorWritesAnErrorObjectOnStdout) {
  TempDir dir;
  write_file(dir / "config/environments.yaml", "environments:\n  dev:\n    urll: x\n");
  auto r = run_mgr({"status", "--json"}, k_all_urls, dir.path());
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["error"]["code"], "config");
  EXPECT_EQ(j["error"]["exit_code"], 2);
  EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr("environments.yaml:3"));
  EXPECT_THAT(r.err, HasSubstr("environments.yaml:3"));  // people still read stderr

  // A missing config file, JSON flag before the command.
  TempDir empty;
  r = run_mgr({"--json", "config"}, k_all_urls, empty.path());
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_EQ(nlohmann::json::parse(r.out)["error"]["code"], "config");
}

TEST(CliJson, UsageErrorsToo) {
  auto r = run_mgr({"--json", "stauts"});
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["error"]["code"], "usage");
  EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr("did you mean 'status'?"));
  r = run_mgr({"apply", "--json"});  // missing <env>
  EXPECT_EQ(r.exit_code, k_usage) << describe(r);
  EXPECT_EQ(nlohmann::json::parse(r.out)["error"]["exit_code"], 2);
}

TEST(CliJson, ACommandsOwnJsonIsNotFollowedByASecondDocument) {
  // validate --offline finds an error, prints its findings document, then exits 3.
  TempDir dir;
  write_file(dir / "config/environments.yaml", "environments:\n  dev:\n    url: postgresql://" + k_nowhere + "/d\n");
  write_file(dir / "migrations/0001_bad.sql", "CREATE TABLE (;\n");
  auto r = run_mgr({"validate", "--offline", "--json"}, k_all_urls, dir.path());
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  auto j = nlohmann::json::parse(r.out);  // throws on two documents
  EXPECT_FALSE(j.contains("error")) << r.out;
}

// ---- log levels -------------------------------------------------------------------

TEST(CliLog, DoubleVerboseShowsConfigEnvironmentAndConnection) {
  TempDir dir;
  ASSERT_EQ(run_mgr({"init"}, k_all_urls, dir.path()).exit_code, k_ok);
  auto r = run_mgr({"-vv", "apply", "prod", "--dry-run"}, k_all_urls, dir.path());
  EXPECT_THAT(r.err, HasSubstr("debug: config file: "));
  EXPECT_THAT(r.err, HasSubstr("debug: environment: prod"));
  EXPECT_THAT(r.err, HasSubstr("debug: prod: connecting to postgresql://u:***@" + k_nowhere + "/app_prod"));
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));

  // Without -vv: none of it.
  r = run_mgr({"apply", "prod", "--dry-run"}, k_all_urls, dir.path());
  EXPECT_THAT(r.err, Not(HasSubstr("debug:")));
  r = run_mgr({"-v", "apply", "prod", "--dry-run"}, k_all_urls, dir.path());
  EXPECT_THAT(r.err, Not(HasSubstr("debug:")));
}

// ---- --version ----------------------------------------------------------------------

TEST(CliVersion, NamesTheGitCommitItWasBuiltFrom) {
  auto r = run_mgr({"--version"});
  ASSERT_EQ(r.exit_code, k_ok) << describe(r);
  auto head = run_program({"git", "-C", test::source_dir().string(), "rev-parse", "--short=12", "HEAD"});
  if (head.exit_code != 0) {
    EXPECT_THAT(r.out, HasSubstr("(built outside git)"));
    return;
  }
  std::string commit = head.out.substr(0, head.out.find('\n'));
  // (Dirty or not depends on the tree at build time, which may have changed
  // since; pkg.build_info tests that part of the generator.)
  EXPECT_THAT(r.out, ::testing::StartsWith(std::string("mgr ") + MGR_VERSION + " (git " + commit));
}

// ---- shell completion ------------------------------------------------------------------

struct Completion {
  TempDir dir;
  fs::path script = dir / "mgr.bash";
  explicit Completion(const std::string& shell = "bash") {
    auto r = run_mgr({"completion", shell});
    EXPECT_EQ(r.exit_code, k_ok) << describe(r);
    write_file(script, r.out);
  }
  // What bash offers for the words typed so far (the last one being completed).
  std::vector<std::string> complete(std::vector<std::string> words, const fs::path& cwd) const {
    const char* driver =
        "source \"$1\"; shift\n"
        "COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
        "_mgr\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
    std::vector<std::string> argv{"bash", "-c", driver, "bash", script.string(), test::mgr_binary()};
    argv.insert(argv.end(), words.begin(), words.end());
    auto r = run_program(argv, cwd);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    auto out = lines_of(r.out);
    out.erase(std::remove(out.begin(), out.end(), ""), out.end());
    return out;
  }
};

TEST(CliCompletion, BashScriptIsValidAndRegistersMgr) {
  Completion c;
  auto r = run_program({"bash", "-n", c.script.string()});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  r = run_program({"bash", "-c", "source \"$1\" && complete -p mgr", "bash", c.script.string()});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("complete -F _mgr mgr"));
}

TEST(CliCompletion, BashCompletesCommandsFlagsAndValues) {
  Completion c;
  TempDir cwd;
  using ::testing::ElementsAre;
  using ::testing::IsSupersetOf;
  using ::testing::UnorderedElementsAre;
  EXPECT_THAT(c.complete({"sta"}, cwd.path()), ElementsAre("status"));
  EXPECT_THAT(c.complete({"ba"}, cwd.path()), UnorderedElementsAre("backup", "backups", "baseline"));
  EXPECT_THAT(c.complete({"--js"}, cwd.path()), ElementsAre("--json"));
  EXPECT_THAT(c.complete({"apply", "--dr"}, cwd.path()), ElementsAre("--dry-run"));
  EXPECT_THAT(c.complete({"apply", "--con"}, cwd.path()), ElementsAre("--config"));  // global flags too
  EXPECT_THAT(c.complete({"lint", "--format", ""}, cwd.path()), UnorderedElementsAre("text", "json", "sarif"));
  EXPECT_THAT(c.complete({"completion", ""}, cwd.path()), UnorderedElementsAre("bash", "zsh"));
  EXPECT_THAT(c.complete({"env", ""}, cwd.path()), ElementsAre("list"));
  EXPECT_THAT(c.complete({"help", "rol"}, cwd.path()), ElementsAre("rollback"));
}

TEST(CliCompletion, BashCompletesEnvironmentNamesFromTheConfig) {
  Completion c;
  TempDir project;
  write_file(project / "config/environments.yaml",
             "environments:\n  dev:\n    url: ${DEV_URL_NOT_SET_ANYWHERE}\n  staging:\n    url: postgresql://h/s\n"
             "    promote_from: dev\n  production:\n    url: postgresql://h/p\n    promote_from: staging\n");
  using ::testing::ElementsAre;
  using ::testing::UnorderedElementsAre;
  // Read at completion time; a variable that is not set does not hide the names.
  EXPECT_THAT(c.complete({"apply", ""}, project.path()), UnorderedElementsAre("dev", "staging", "production"));
  EXPECT_THAT(c.complete({"rollback", "pro"}, project.path()), ElementsAre("production"));
  EXPECT_THAT(c.complete({"status", "dev", "st"}, project.path()), ElementsAre("staging"));
  EXPECT_THAT(c.complete({"validate", "--env", "d"}, project.path()), ElementsAre("dev"));
  // The second argument of restore is a file, not an environment.
  write_file(project / "prod-1.dump", "x");
  EXPECT_THAT(c.complete({"restore", "production", "prod-"}, project.path()), ElementsAre("prod-1.dump"));
  // --config on the line is the config that is read.
  TempDir elsewhere;
  EXPECT_THAT(c.complete({"--config", (project / "config/environments.yaml").string(), "backup", "s"},
                         elsewhere.path()),
              ElementsAre("staging"));
  // No config: nothing offered, no error.
  EXPECT_TRUE(c.complete({"apply", ""}, elsewhere.path()).empty());
}

TEST(CliCompletion, EnvListNamesPrintsOnlyNames) {
  TempDir project;
  write_file(project / "config/environments.yaml",
             "environments:\n  dev:\n    url: ${UNSET_VAR_FOR_NAMES}\n  test:\n    url: postgresql://h/t\n");
  auto r = run_mgr({"env", "list", "--names"}, {{"MGR_CONFIG", ""}}, project.path());
  EXPECT_EQ(r.exit_code, k_ok) << describe(r);
  EXPECT_EQ(r.out, "dev\ntest\n");
}

TEST(CliCompletion, ZshScriptDefinesEveryCommand) {
  Completion c("zsh");
  auto text = read_file(c.script);
  EXPECT_THAT(text, ::testing::StartsWith("#compdef mgr\n"));
  auto help = run_mgr({"--help"});
  for (const char* cmd : {"init", "new", "apply", "status", "validate", "lint", "restore", "rollback", "log"}) {
    EXPECT_THAT(text, HasSubstr("\n    " + std::string(cmd) + ")\n")) << cmd;
  }
  EXPECT_THAT(text, HasSubstr("env list --names"));
  // zsh is not installed everywhere (install-deps.sh does not need it); where it
  // is, the script parses, and its helpers list environments and commands. The
  // zsh completion system is stubbed: _describe prints what it would offer.
  if (run_program({"sh", "-c", "command -v zsh"}).exit_code != 0) return;
  auto r = run_program({"zsh", "-n", c.script.string()});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  TempDir project;
  write_file(project / "config/environments.yaml",
             "environments:\n  dev:\n    url: ${UNSET_FOR_ZSH}\n  staging:\n    url: postgresql://h/s\n");
  TempDir elsewhere;
  const char* driver =
      "_describe() { print -l -- ${(P)2} }; _arguments() { return 1 }\n"
      "words=(\"$1\" --config \"$2\" apply \"\"); source \"$3\"; _mgr_envs; _mgr_commands\n";
  r = run_program({"zsh", "-f", "-c", driver, "zsh", test::mgr_binary(),
                   (project / "config/environments.yaml").string(), c.script.string()},
                  elsewhere.path());
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  auto offered = lines_of(r.out);
  ASSERT_GE(offered.size(), 3u) << describe(r);
  EXPECT_EQ(offered[0], "dev");
  EXPECT_EQ(offered[1], "staging");
  EXPECT_THAT(offered, ::testing::Contains(::testing::StartsWith("apply:apply pending migrations")));
}

// ---- the manual page --------------------------------------------------------------------

// Commands and global flags as `mgr --help` lists them.
struct HelpListing {
  std::vector<std::string> commands, flags;
};
HelpListing parse_help(const std::string& help) {
  HelpListing h;
  enum { none, options, subcommands } section = none;
  for (const auto& line : lines_of(help)) {
    if (line.rfind("Options:", 0) == 0 || line.rfind("Global options", 0) == 0) section = options;
    else if (line.rfind("Subcommands:", 0) == 0) section = subcommands;
    else if (line.rfind("  ", 0) != 0) section = none;
    if (line.rfind("  ", 0) != 0 || line.size() < 3 || line[2] == ' ') continue;
    std::string first = line.substr(2, line.find(' ', 2) - 2);
    if (section == subcommands) h.commands.push_back(first);
    if (section == options) {
      std::stringstream names(first);
      for (std::string n; std::getline(names, n, ',');) h.flags.push_back(n);
    }
  }
  return h;
}

std::string roff_escaped(const std::string& s) { return std::regex_replace(s, std::regex("-"), "\\-"); }

TEST(CliMan, ManPageHasEveryCommandAndGlobalFlagOfHelp) {
  auto help = run_mgr({"--help"});
  ASSERT_EQ(help.exit_code, k_ok);
  auto listing = parse_help(help.out);
  ASSERT_GE(listing.commands.size(), 15u) << help.out;
  ASSERT_GE(listing.flags.size(), 7u) << help.out;
  auto man = run_mgr({"help", "--man"});
  ASSERT_EQ(man.exit_code, k_ok) << describe(man);
  EXPECT_THAT(man.out, ::testing::StartsWith(".\\\""));
  EXPECT_THAT(man.out, HasSubstr(".TH MGR 1"));
  for (const auto& c : listing.commands) EXPECT_THAT(man.out, HasSubstr(".SS \"\\fBmgr " + c)) << c;
  for (const auto& f : listing.flags) EXPECT_THAT(man.out, HasSubstr("\\fB" + roff_escaped(f) + "\\fR")) << f;
  // Each command's own flags too.
  auto apply = parse_help(run_mgr({"apply", "--help"}).out);
  for (const auto& f : apply.flags) EXPECT_THAT(man.out, HasSubstr("\\fB" + roff_escaped(f) + "\\fR")) << f;
}

TEST(CliMan, TheBuildWritesTheSameManPage) {
  auto built = fs::path(test::mgr_binary()).parent_path() / "share/mgr.1";
  ASSERT_TRUE(fs::exists(built)) << built;
  EXPECT_EQ(read_file(built), run_mgr({"help", "--man"}).out);
  // man(1) renders it without warnings where man is installed.
  if (run_program({"sh", "-c", "command -v groff"}).exit_code == 0) {
    auto r = run_program({"groff", "-man", "-Tutf8", "-ww", "-z", built.string()});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "") << describe(r);
  }
}

// ---- CI examples ---------------------------------------------------------------------------

// Every shell line of a workflow: the values of run: (GitHub) and script: (GitLab).
void collect_shell(const YAML::Node& node, const std::string& key, std::vector<std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) collect_shell(kv.second, kv.first.as<std::string>(), out);
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect_shell(item, key, out);
  } else if (node.IsScalar() && (key == "run" || key == "script" || key == "before_script" || key == "after_script")) {
    for (const auto& line : lines_of(node.as<std::string>())) out.push_back(line);
  }
}

// The `mgr ...` invocations of a shell line: each simple command (between
// && || ; |) whose program is mgr or a path ending in /mgr, as its words up to
// a redirection; a comment ends the line.
std::vector<std::vector<std::string>> mgr_calls(const std::string& line) {
  std::vector<std::vector<std::string>> calls;
  std::istringstream in(line);
  std::vector<std::vector<std::string>> commands(1);
  for (std::string w; in >> w;) {
    if (w[0] == '#') break;
    if (w == "&&" || w == "||" || w == ";" || w == "|") {
      commands.emplace_back();
      continue;
    }
    commands.back().push_back(w);
  }
  for (const auto& words : commands) {
    if (words.empty()) continue;
    const auto& program = words[0];
    if (program != "mgr" && !(program.size() > 4 && program.compare(program.size() - 4, 4, "/mgr") == 0)) continue;
    std::vector<std::string> call;
    for (std::size_t i = 1; i < words.size() && words[i][0] != '>' && words[i] != "2>&1"; ++i) call.push_back(words[i]);
    calls.push_back(call);
  }
  return calls;
}

TEST(CiExamples, ParseAndCallOnlyCommandsAndFlagsThatExist) {
  auto dir = test::source_dir() / "docs/examples";
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yml" || e.path().extension() == ".yaml") files.insert(e.path().string());
  }
  for (const char* wanted : {"github-actions.yml", "gitlab-ci.yml"}) {
    EXPECT_EQ(files.count((dir / wanted).string()), 1u) << wanted;
  }
  std::set<std::string> commands_seen;
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    YAML::Node doc;
    ASSERT_NO_THROW(doc = YAML::LoadFile(file));
    std::vector<std::string> shell;
    collect_shell(doc, "", shell);
    int calls = 0;
    for (const auto& line : shell) {
      for (auto call : mgr_calls(line)) {
        ++calls;
        // The command (and env's subcommand): the leading words that are not flags or --config's value.
        std::vector<std::string> command;
        std::vector<std::string> flags;
        for (std::size_t i = 0; i < call.size(); ++i) {
          if (call[i] == "--config") { ++i; continue; }
          if (call[i][0] == '-') flags.push_back(call[i].substr(0, call[i].find('=')));
          else if (command.empty() || (command.size() == 1 && command[0] == "env")) command.push_back(call[i]);
        }
        ASSERT_FALSE(command.empty()) << line;
        commands_seen.insert(command[0]);
        auto args = command;
        args.push_back("--help");
        auto help = run_mgr(args);
        EXPECT_EQ(help.exit_code, k_ok) << line << "\n" << describe(help);
        auto known = parse_help(help.out).flags;
        for (const auto& f : flags) {
          EXPECT_THAT(known, ::testing::Contains(f)) << "flag " << f << " of `" << line << "`";
        }
      }
    }
    EXPECT_GT(calls, 0) << "no mgr call found";
  }
  for (const char* c : {"validate", "apply"}) EXPECT_EQ(commands_seen.count(c), 1u) << c;
}

TEST(CiExamples, CallExtractionFindsCommandsAndFlags) {
  auto calls = mgr_calls("build/mgr validate --offline && mgr apply prod --yes > out # not: mgr bogus");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"validate", "--offline"}));
  EXPECT_EQ(calls[1], (std::vector<std::string>{"apply", "prod", "--yes"}));
  EXPECT_TRUE(mgr_calls("ninja -C build mgr").empty());
}

}  // namespace
}  // namespace mgr
