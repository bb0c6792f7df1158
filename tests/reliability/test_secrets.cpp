// Secrets (issue 11 "Secrets", issue 17 items 15 and 16): a distinctive
// password, given in the URL, through ${VAR}, and as sslpassword, never shows
// in any output at any verbosity, in --json, in error text (libpq's included,
// with a wrong password too), in manifests, in the history or audit tables, or
// in a child's argv sampled from /proc while it runs. Backups are private
// under umask 000. Runs on a private cluster with scram-sha-256 password
// authentication, so the password is really what lets mgr in.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <set>
#include <thread>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string k_password = "Zx8Qv3distinctivePw7";
const std::string k_ssl_password = "Ss5Kq2distinctiveSslPw9";
const std::string k_wrong_password = "Wr0ngDistinctivePw4Qz";

struct Secrets {
  std::vector<std::string> all{k_password, k_ssl_password, k_wrong_password};
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

void expect_clean(const std::string& text, const std::string& where) {
  for (const auto& s : Secrets{}.all) {
    EXPECT_THAT(text, Not(HasSubstr(s))) << "a password shows in " << where << ":\n" << text;
  }
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster = std::make_unique<PrivateCluster>();
    sql_exec(cluster->admin_url(),
             fmt::format("CREATE ROLE rel_app LOGIN SUPERUSER PASSWORD '{}'; CREATE DATABASE app OWNER rel_app",
                         k_password));
    create_fixture_tables(cluster->admin_url("app"));
    sql_exec(cluster->admin_url("app"), "ALTER TABLE public.markers OWNER TO rel_app");
  }
  std::string url_with(const std::string& password_part) const {
    return fmt::format("postgresql://rel_app:{}@127.0.0.1:{}/app?sslpassword={}", password_part, cluster->port(),
                       k_ssl_password);
  }
  std::unique_ptr<PrivateCluster> cluster;
};

// pg_dump/psql/pg_restore wrappers that pause 0.3 s so /proc can be sampled,
// then run the real program with the same argv.
fs::path slow_wrappers(const fs::path& bin) {
  const auto real = pg_bin_dir();
  for (const char* prog : {"pg_dump", "pg_restore", "psql"}) {
    write_script(bin / prog, fmt::format("case \"$1\" in --version) ;; *) sleep 0.3;; esac\nexec '{}' \"$@\"\n",
                                         (real / prog).string()));
  }
  return bin;
}

// Runs mgr and samples the command lines of all its descendants until it ends.
RunResult run_sampling(const fs::path& config, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, std::set<std::string>& argvs,
                       std::optional<unsigned> mask = std::nullopt) {
  SpawnOptions o;
  o.argv = mgr_argv(config, args);
  o.cwd = config.parent_path().parent_path();
  o.env = env;
  o.umask = mask;
  Proc p(o);
  for (;;) {
    for (const auto& c : descendants_of(p.pid())) argvs.insert(c.cmdline);
    if (auto r = p.wait_for(20ms)) return *r;
  }
}

TEST_F(SecretsTest, PasswordNeverShows) {
  TempDir dir, bin;
  slow_wrappers(bin.path());
  const std::map<std::string, std::string> env{{"REL_DB_PASSWORD", k_password}};
  const std::string extra = "    backup: required\n    pg_bin_dir: " + bin.path().string() + "\n";
  const auto literal = write_config(dir.path(), one_env_yaml(url_with(k_password), extra), "literal.yaml");
  const auto via_var = write_config(dir.path(), one_env_yaml(url_with("${REL_DB_PASSWORD}"), extra), "var.yaml");
  const auto wrong = write_config(dir.path(), one_env_yaml(url_with(k_wrong_password), extra), "wrong.yaml");
  ::chmod(literal.c_str(), 0600);
  ::chmod(wrong.c_str(), 0600);
  write_marker_migrations(dir / "migrations", 1, 2);
  mgr::test::write_file(dir / "migrations/0002_m0002.down.sql", "DELETE FROM public.markers WHERE id = 2;\n");

  std::set<std::string> argvs;
  std::string all_output;
  int runs = 0;
  auto run = [&](const fs::path& config, std::vector<std::string> args) {
    auto r = run_sampling(config, args, env, argvs);
    ++runs;
    const auto where = fmt::format("mgr {} ({})", fmt::join(args, " "), config.filename().string());
    expect_clean(r.out, where + " stdout");
    expect_clean(r.err, where + " stderr");
    all_output += r.out + r.err;
    return r;
  };
  const std::vector<std::vector<std::string>> verbosities{{"-q"}, {}, {"-v"}, {"-vv"}, {"--json"}, {"-vv", "--json"}};
  for (const auto& config : {literal, via_var}) {
    for (const auto& v : verbosities) {
      auto with = [&](std::vector<std::string> cmd) {
        cmd.insert(cmd.begin(), v.begin(), v.end());
        return cmd;
      };
      EXPECT_EQ(run(config, with({"apply", "dev"})).exit_code, 0);
      for (auto cmd : std::vector<std::vector<std::string>>{
               {"config"}, {"status"}, {"validate"}, {"backup", "dev"}, {"backups", "dev"}, {"log", "dev"}}) {
        auto r = run(config, with(cmd));
        EXPECT_EQ(r.exit_code, 0) << fmt::format("{}", fmt::join(cmd, " ")) << ": " << r.err;
      }
      EXPECT_EQ(run(config, with({"rollback", "dev", "--steps", "1", "--yes"})).exit_code, 0);
    }
  }
  // A restore goes through pg_restore and psql.
  std::string dump;
  for (const auto& e : fs::recursive_directory_iterator(dir / "schema-backups")) {
    if (e.path().extension() == ".dump") dump = e.path().string();
  }
  ASSERT_FALSE(dump.empty());
  auto restore = run(literal, {"-vv", "restore", "dev", dump, "--yes"});
  EXPECT_EQ(restore.exit_code, 0) << restore.err;
  // The wrong password: libpq's own error text must not carry it either.
  for (const auto& v : verbosities) {
    for (auto cmd : std::vector<std::vector<std::string>>{{"apply", "dev"}, {"status"}, {"backup", "dev"}, {"validate"}}) {
      cmd.insert(cmd.begin(), v.begin(), v.end());
      auto r = run(wrong, cmd);
      EXPECT_NE(r.exit_code, 0);
    }
  }
  EXPECT_THAT(all_output, HasSubstr("password authentication failed")) << "the wrong password was not tried";

  // Children's argv, as the kernel shows them to every user of the machine.
  bool saw_pg_dump = false, saw_psql = false;
  for (const auto& a : argvs) {
    expect_clean(a, "a child's argv");
    saw_pg_dump = saw_pg_dump || a.find("pg_dump") != std::string::npos;
    saw_psql = saw_psql || a.find("psql") != std::string::npos;
  }
  EXPECT_TRUE(saw_pg_dump && saw_psql) << "no pg_dump/psql was sampled";
  // Manifests, history and audit.
  for (const auto& e : fs::recursive_directory_iterator(dir / "schema-backups")) {
    if (e.path().extension() == ".json") expect_clean(mgr::test::read_file(e.path()), e.path().string());
  }
  const auto app = cluster->admin_url("app");
  expect_clean(sql_scalar(app, "SELECT string_agg(t::text, E'\\n') FROM schema_migrations t"), "schema_migrations");
  expect_clean(sql_scalar(app, "SELECT string_agg(t::text, E'\\n') FROM schema_migrations_log t"), "schema_migrations_log");
  report(fmt::format("secrets: {} mgr runs (6 verbosity modes x 3 URL forms), {} child command lines sampled: "
                     "password shown {}",
                     runs, argvs.size(), ::testing::Test::HasFailure() ? "SOMEWHERE (see failures)" : "nowhere"));
}

// Under umask 000: every directory mgr creates for backups (the intermediate
// parents of backups_dir included) is 0700, every file 0600.
TEST_F(SecretsTest, BackupsArePrivateUnderUmask000) {
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url_with(k_password), "", "backups_dir: ../deep/er/backups\n"));
  ::chmod(config.c_str(), 0600);
  std::set<std::string> argvs;
  auto r = run_sampling(config, {"backup", "dev"}, {}, argvs, 0u);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto* d : {"deep", "deep/er", "deep/er/backups", "deep/er/backups/dev"}) {
    EXPECT_EQ(mode_of(dir / d), 0700u) << d;
  }
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "deep")) {
    if (e.is_regular_file()) {
      ++files;
      EXPECT_EQ(mode_of(e.path()), 0600u) << e.path();
    }
  }
  EXPECT_EQ(files, 2);  // the dump and its manifest
}

// A config file holding a literal password that group or others can read gets
// a warning (as ssh does for keys); 0600, or a password through ${VAR}, does not.
TEST_F(SecretsTest, ReadableConfigWithLiteralPasswordIsWarned) {
  TempDir dir;
  const auto literal = write_config(dir.path(), one_env_yaml(url_with(k_password)), "literal.yaml");
  const auto via_var = write_config(dir.path(), one_env_yaml(url_with("${REL_DB_PASSWORD}")), "var.yaml");
  const std::map<std::string, std::string> env{{"REL_DB_PASSWORD", k_password}};
  ::chmod(literal.c_str(), 0644);
  ::chmod(via_var.c_str(), 0644);
  auto open = run_mgr_env(literal, {"config"}, env);
  EXPECT_EQ(open.exit_code, 0) << open.err;
  EXPECT_THAT(open.err, HasSubstr("literal.yaml")) << "no warning about a readable config holding a password";
  expect_clean(open.err, "the warning");
  ::chmod(literal.c_str(), 0600);
  auto closed = run_mgr_env(literal, {"config"}, env);
  EXPECT_EQ(closed.exit_code, 0);
  EXPECT_THAT(closed.err, Not(HasSubstr("literal.yaml"))) << closed.err;
  auto var = run_mgr_env(via_var, {"config"}, env);
  EXPECT_EQ(var.exit_code, 0);
  EXPECT_THAT(var.err, Not(HasSubstr("var.yaml"))) << var.err;
}

// Issue 17 #15: a core dump of mgr would hold the password. With core dumps
// allowed by the limit (and the kernel writing "core" files here), mgr killed
// by SIGQUIT mid-run leaves no core unless MGR_ALLOW_CORE=1.
TEST_F(SecretsTest, NoCoreDumpUnlessAllowed) {
  TempDir dir;
  const auto config = write_config(dir.path(), one_env_yaml(url_with(k_password)));
  ::chmod(config.c_str(), 0600);
  mgr::test::write_file(dir / "migrations/0001_slow.sql", slow_sql(60));
  auto run_and_quit = [&](const std::map<std::string, std::string>& env) {
    SpawnOptions o;
    o.argv = mgr_argv(config, {"apply", "dev"});
    o.cwd = dir.path();
    o.env = env;
    o.core_unlimited = true;
    Proc p(o);
    EXPECT_TRUE(wait_until([&] { return backend_pid(cluster->admin_url("app"), "mgr dev") > 0; }, 30s));
    std::this_thread::sleep_for(200ms);
    p.signal(SIGQUIT);
    p.wait();
    return p.core_dumped();
  };
  // The control: the same run with MGR_ALLOW_CORE=1 does dump core, so this
  // machine writes core files and the check below can fail.
  const bool control = run_and_quit({{"MGR_ALLOW_CORE", "1"}});
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("core", 0) == 0) fs::remove(e.path());
  }
  if (!control) GTEST_SKIP() << "this machine writes no core dump even when allowed (core_pattern/limits)";
  EXPECT_FALSE(run_and_quit({{"MGR_ALLOW_CORE", ""}})) << "mgr dumped core (the password is in its memory)";
}

}  // namespace
}  // namespace mgr::rel
