// Bad input, table-driven (docs/robustness.md lists the same cases): hostile
// YAML, unset variables, bad URLs, unreachable hosts, hostile migration files
// and names, symlinks, a history table altered by hand, a backups_dir that is
// a file, absurd durations. Each case: the exit code, what the message must
// name, and that nothing changed in the database (its tables, the history, the
// markers the migrations would insert) or on disk.
//
// With MGR_ROBUSTNESS_REPORT=<file>, each case appends "name<TAB>exit<TAB>message"
// (how docs/robustness.md is refreshed).
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <set>

#include "reliability/rel_support.hpp"

namespace mgr::rel {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

struct Ctx {
  fs::path dir;
  std::string url;
  fs::path config;
  fs::path migrations() const { return dir / "migrations"; }
  void config_yaml(const std::string& yaml) const { mgr::test::write_file(config, yaml); }
  void env_extra(const std::string& extra, const std::string& top = "") const { config_yaml(one_env_yaml(url, extra, top)); }
  void file(const std::string& name, const std::string& content) const { mgr::test::write_file(migrations() / name, content); }
  void apply_first() const {
    auto r = run_mgr_env(config, {"apply", "dev"});
    if (r.exit_code != 0) throw std::runtime_error("setup apply failed: " + r.err);
  }
};

struct Case {
  Case(std::string n, std::function<void(Ctx&)> s, std::vector<std::string> a, std::set<int> e,
       std::vector<std::string> m, std::function<void(const Ctx&)> check = {})
      : name(std::move(n)), setup(std::move(s)), args(std::move(a)), exits(std::move(e)), mentions(std::move(m)),
        extra_check(std::move(check)) {}
  std::string name;
  std::function<void(Ctx&)> setup;
  std::vector<std::string> args;
  std::set<int> exits;
  std::vector<std::string> mentions;            // each must appear in stderr
  std::function<void(const Ctx&)> extra_check;  // more "nothing changed" checks
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string snapshot(const std::string& url) {
  return sql_scalar(url,
                    "SELECT coalesce(string_agg(c.relname || ':' || a.attname, ',' ORDER BY c.relname, a.attnum), '') "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid "
                    "= c.oid AND a.attnum > 0 AND NOT a.attisdropped WHERE c.relkind = 'r' AND n.nspname NOT IN "
                    "('pg_catalog', 'information_schema')") +
         "|" +
         (table_exists(url, "schema_migrations")
              ? sql_scalar(url, "SELECT coalesce(string_agg(t::text, ',' ORDER BY t::text), '') FROM schema_migrations t")
              : "") +
         "|" + fmt::format("{}", fmt::join(marker_ids(url), ","));
}

std::string first_lines(const std::string& s, size_t max = 220) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    out += (c == '\n' || c == '\t') ? ' ' : c;
  }
  return out;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The same bomb as one flow sequence (anchors defined inside it), so it can be
// the value of a key mgr reads.
std::string alias_bomb_value() {
  std::string y = "[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]";
  for (int i = 1; i <= 9; ++i) {
    y += fmt::format(", &a{} [", i);
    for (int j = 0; j < 9; ++j) y += fmt::format("{}*a{}", j ? ", " : "", i - 1);
    y += "]";
  }
  return y + "]";
}

std::string alias_bomb() {
  std::string y = "x0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n";
  for (int i = 1; i <= 9; ++i) {
    y += fmt::format("x{}: &a{} [", i, i);
    for (int j = 0; j < 9; ++j) y += fmt::format("{}*a{}", j ? ", " : "", i - 1);
    y += "]\n";
  }
  return y;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  // ---- environments.yaml ----
  c.push_back({"yaml_alias_bomb_as_a_value",
               [](Ctx& x) {
                 x.config_yaml("environments:\n  dev:\n    url: " + x.url + "\n    backup: off\n    lint: " +
                               alias_bomb_value() + "\n");
               },
               {"apply", "dev"}, {2}, {"environments.yaml"}});
  c.push_back({"yaml_alias_bomb_under_an_unknown_key",
               [](Ctx& x) { x.config_yaml(alias_bomb() + one_env_yaml(x.url)); }, {"apply", "dev"}, {2},
               {"environments.yaml"}});
  c.push_back({"yaml_deep_nesting_100000",
               [](Ctx& x) { x.config_yaml("environments: " + repeat("[", 100000) + repeat("]", 100000) + "\n"); },
               {"apply", "dev"}, {2}, {"environments.yaml"}});
  c.push_back({"yaml_deep_nesting_maps_10000",
               [](Ctx& x) { x.config_yaml("environments:\n  dev:\n    url: " + repeat("{a: ", 10000) + "1" + repeat("}", 10000) + "\n"); },
               {"apply", "dev"}, {2}, {"environments.yaml"}});
  c.push_back({"yaml_huge_file_24MB",
               [](Ctx& x) { x.config_yaml(one_env_yaml(x.url) + "junk: \"" + repeat("x", 24 << 20) + "\"\n"); },
               {"apply", "dev"}, {2}, {"environments.yaml"}});
  c.push_back({"yaml_environments_is_a_list",
               [](Ctx& x) { x.config_yaml("environments: [dev, test]\n"); }, {"apply", "dev"}, {2},
               {"environments.yaml", "environments"}});
  c.push_back({"yaml_url_is_a_map",
               [](Ctx& x) { x.config_yaml("environments:\n  dev:\n    url: {host: x}\n"); }, {"apply", "dev"}, {2},
               {"environments.yaml", "url"}});
  c.push_back({"yaml_lock_wait_is_a_list", [](Ctx& x) { x.env_extra("    lock_wait: [1, 2]\n"); }, {"apply", "dev"},
               {2}, {"environments.yaml", "lock_wait"}});
  c.push_back({"yaml_backup_keep_is_text", [](Ctx& x) { x.env_extra("    backup_keep: many\n"); }, {"apply", "dev"},
               {2}, {"environments.yaml", "backup_keep"}});
  c.push_back({"yaml_confirm_is_maybe", [](Ctx& x) { x.env_extra("    confirm: maybe\n"); }, {"apply", "dev"}, {2},
               {"environments.yaml", "confirm"}});
  c.push_back({"yaml_binary_garbage",
               [](Ctx& x) { x.config_yaml("\x00\x01\xff\xfe{{{[[[:::\x00"s); }, {"apply", "dev"}, {2},
               {"environments.yaml"}});
  c.push_back({"yaml_tab_indentation",
               [](Ctx& x) { x.config_yaml("environments:\n\tdev:\n\t\turl: " + x.url + "\n"); }, {"apply", "dev"}, {2},
               {"environments.yaml"}});
  c.push_back({"yaml_empty_file", [](Ctx& x) { x.config_yaml(""); }, {"apply", "dev"}, {2}, {"environments.yaml"}});
  // ---- variables and URLs ----
  c.push_back({"unset_variable_in_url",
               [](Ctx& x) { x.config_yaml(one_env_yaml("${REL_SURELY_UNSET_VAR}")); }, {"apply", "dev"}, {2},
               {"REL_SURELY_UNSET_VAR"}});
  c.push_back({"url_other_scheme", [](Ctx& x) { x.config_yaml(one_env_yaml("mysql://root@127.0.0.1/app")); },
               {"apply", "dev"}, {2}, {"environments.yaml"}});
  c.push_back({"url_not_a_url", [](Ctx& x) { x.config_yaml(one_env_yaml("\"not a url at all\"")); }, {"apply", "dev"},
               {2}, {"environments.yaml"}});
  c.push_back({"url_port_out_of_range",
               [](Ctx& x) { x.config_yaml(one_env_yaml("postgresql://postgres@127.0.0.1:99999/app")); },
               {"apply", "dev"}, {1, 2}, {"dev"}});
  c.push_back({"url_unencoded_at_in_password",
               [](Ctx& x) { x.config_yaml(one_env_yaml("postgresql://postgres:p@ss@127.0.0.1:5432/app")); },
               {"config"}, {2}, {"%40"}});
  c.push_back({"url_unclosed_ipv6_bracket",
               [](Ctx& x) { x.config_yaml(one_env_yaml("postgresql://postgres@[::1/app")); }, {"apply", "dev"}, {2},
               {"environments.yaml"}});
  c.push_back({"url_bad_sslmode",
               [](Ctx& x) { x.config_yaml(one_env_yaml(x.url + "?sslmode=bogus")); }, {"apply", "dev"}, {1, 2},
               {"sslmode"}});
  c.push_back({"unreachable_port",
               [](Ctx& x) { x.config_yaml(one_env_yaml("postgresql://postgres@127.0.0.1:1/app")); }, {"apply", "dev"},
               {1}, {"dev"}});
  c.push_back({"unresolvable_host",
               [](Ctx& x) { x.config_yaml(one_env_yaml("postgresql://postgres@no-such-host.invalid/app")); },
               {"apply", "dev"}, {1}, {"dev"}});
  // ---- durations (issue 17 #18) ----
  c.push_back({"lock_wait_overflowing", [](Ctx& x) { x.env_extra("    lock_wait: 999999999999d\n"); },
               {"apply", "dev"}, {2}, {"lock_wait"}});
  c.push_back({"backup_timeout_overflowing", [](Ctx& x) { x.env_extra("    backup_timeout: 200000d\n"); },
               {"apply", "dev"}, {2}, {"backup_timeout"}});
  c.push_back({"lock_wait_negative", [](Ctx& x) { x.env_extra("    lock_wait: -5s\n"); }, {"apply", "dev"}, {2},
               {"lock_wait"}});
  c.push_back({"lock_wait_flag_overflowing", [](Ctx&) {}, {"apply", "dev", "--lock-wait", "99999999999999999999s"},
               {2}, {"lock-wait"}});
  // ---- migration files ----
  c.push_back({"migration_not_utf8", [](Ctx& x) { x.file("0002_latin1.sql", "SELECT 'caf\xe9';\n"); },
               {"apply", "dev"}, {2}, {"0002_latin1.sql"}});
  // The byte inside an identifier reached the linter's parse tree as invalid
  // JSON (fuzz/crashes/lint): both ways of linting refuse the file first, exit 2.
  for (const auto& [suffix, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"lint", {"lint"}}, {"lint_path", {"lint", "migrations/0002_latin1.sql"}}}) {
    c.push_back({"migration_not_utf8_" + suffix,
                 [](Ctx& x) { x.file("0002_latin1.sql", "CREATE TABLE caf\xe9 (id int);\n"); }, args, {2},
                 {"0002_latin1.sql"}});
  }
  c.push_back({"migration_with_nul_byte_no_transaction",
               [](Ctx& x) {
                 x.file("0002_nul.sql", "-- mgr:no-transaction\nINSERT INTO public.markers VALUES (2);\n"
                                     "\0INSERT INTO public.markers VALUES (22);\n"s);
               },
               {"apply", "dev"}, {2}, {"0002_nul.sql"}});
  c.push_back({"migration_with_nul_byte_lint",
               [](Ctx& x) { x.file("0002_nul.sql", "SELECT 1;\0DROP TABLE public.markers;\n"s); },
               {"lint"}, {2}, {"0002_nul.sql"}});
  c.push_back({"migration_huge_40MB",
               [](Ctx& x) {
                 x.file("0002_huge.sql", repeat("-- " + repeat("padding ", 12) + "\n", 400000) +
                                             "INSERT INTO public.markers VALUES (2);\n");
               },
               {"apply", "dev"}, {0, 2}, {}});
  c.push_back({"migration_empty", [](Ctx& x) { x.file("0002_empty.sql", ""); }, {"apply", "dev"}, {2},
               {"0002_empty.sql"}});
  c.push_back({"migration_unparseable_no_transaction_after_a_good_one",
               [](Ctx& x) { x.file("0002_bad.sql", "-- mgr:no-transaction\nSELECT 1;\nSELEC broken syntax;\n"); },
               {"apply", "dev"}, {2, 3}, {"0002_bad.sql"}});
  c.push_back({"migration_name_with_space", [](Ctx& x) { x.file("0002_a b.sql", "SELECT 1;\n"); }, {"apply", "dev"},
               {2}, {"0002_a b.sql"}});
  c.push_back({"migration_name_with_shell_characters",
               [](Ctx& x) { x.file("0002_$(touch PWNED);id.sql", "SELECT 1;\n"); }, {"apply", "dev"}, {2},
               {"0002_$(touch PWNED);id.sql"},
               [](const Ctx& x) { EXPECT_FALSE(fs::exists(x.dir / "PWNED")) << "a shell ran the file name"; }});
  c.push_back({"migration_name_uppercase", [](Ctx& x) { x.file("0002_AddUsers.sql", "SELECT 1;\n"); },
               {"apply", "dev"}, {2}, {"0002_AddUsers.sql"}});
  c.push_back({"migration_duplicate_id", [](Ctx& x) { x.file("1_again.sql", "SELECT 1;\n"); }, {"apply", "dev"}, {2},
               {"1_again.sql"}});
  c.push_back({"migration_down_without_up", [](Ctx& x) { x.file("0009_gone.down.sql", "SELECT 1;\n"); },
               {"apply", "dev"}, {2}, {"0009_gone.down.sql"}});
  c.push_back({"migration_unknown_directive",
               [](Ctx& x) { x.file("0002_directive.sql", "-- mgr:no-transactoin\nSELECT 1;\n"); }, {"apply", "dev"},
               {2}, {"0002_directive.sql"}});
  // ---- links and special files (issue 17 #11) ----
  c.push_back({"symlink_out_of_migrations",
               [](Ctx& x) {
                 // lint off: the lint's parse error must not be what stops it.
                 x.env_extra("    lint: off\n");
                 fs::create_symlink("/etc/passwd", x.migrations() / "0002_passwd.sql");
               },
               {"apply", "dev"}, {2}, {"0002_passwd.sql"}});
  c.push_back({"symlink_out_of_migrations_lint",
               [](Ctx& x) { fs::create_symlink("/etc/passwd", x.migrations() / "0002_passwd.sql"); }, {"lint"}, {2},
               {"0002_passwd.sql"}});
  c.push_back({"symlink_dangling",
               [](Ctx& x) { fs::create_symlink(x.migrations() / "nowhere.sql", x.migrations() / "0002_dangling.sql"); },
               {"apply", "dev"}, {2}, {"0002_dangling.sql"}});
  c.push_back({"symlink_loop",
               [](Ctx& x) { fs::create_symlink(x.migrations() / "0002_loop.sql", x.migrations() / "0002_loop.sql"); },
               {"apply", "dev"}, {2}, {"0002_loop.sql"}});
  c.push_back({"fifo_named_sql",
               [](Ctx& x) { ::mkfifo((x.migrations() / "0002_fifo.sql").c_str(), 0600); }, {"apply", "dev"}, {2},
               {"0002_fifo.sql"}});
  c.push_back({"directory_named_sql",
               [](Ctx& x) { fs::create_directories(x.migrations() / "0002_dir.sql"); }, {"apply", "dev"}, {2},
               {"0002_dir.sql"}});
  // ---- the history table ----
  c.push_back({"history_checksum_column_dropped",
               [](Ctx& x) {
                 x.apply_first();
                 sql_exec(x.url, "ALTER TABLE schema_migrations DROP COLUMN checksum");
                 write_marker_migrations(x.migrations(), 2, 2);
               },
               {"apply", "dev"}, {1, 2, 3}, {"schema_migrations"}});
  c.push_back({"history_checksum_edited",
               [](Ctx& x) {
                 x.apply_first();
                 sql_exec(x.url, "UPDATE schema_migrations SET checksum = repeat('0', 64)");
                 write_marker_migrations(x.migrations(), 2, 2);
               },
               {"apply", "dev"}, {3}, {"checksum-mismatch"}});
  c.push_back({"history_row_without_a_file",
               [](Ctx& x) {
                 x.apply_first();
                 sql_exec(x.url, "INSERT INTO schema_migrations (migration_id, name, checksum, environment, success) "
                                 "VALUES ('0000', 'ghost', repeat('a', 64), 'dev', true)");
                 write_marker_migrations(x.migrations(), 2, 2);
               },
               {"apply", "dev"}, {3}, {"missing-file"}});
  c.push_back({"history_environment_edited",
               [](Ctx& x) {
                 x.apply_first();
                 sql_exec(x.url, "UPDATE schema_migrations SET environment = 'prod'");
                 write_marker_migrations(x.migrations(), 2, 2);
               },
               {"apply", "dev"}, {3}, {"environment-mismatch"}});
  c.push_back({"history_success_set_null_via_type_change",
               [](Ctx& x) {
                 x.apply_first();
                 sql_exec(x.url, "ALTER TABLE schema_migrations ALTER COLUMN success DROP NOT NULL;"
                                 "UPDATE schema_migrations SET success = NULL");
                 write_marker_migrations(x.migrations(), 2, 2);
               },
               {"apply", "dev"}, {1, 3}, {}});
  c.push_back({"history_table_name_too_long",
               [](Ctx& x) { x.env_extra("", "history_table: " + std::string(60, 'h') + "\n"); }, {"apply", "dev"}, {2},
               {"history_table"}});
  c.push_back({"history_table_is_an_application_table",
               [](Ctx& x) {
                 sql_exec(x.url, "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric)");
                 x.env_extra("", "history_table: orders\n");
               },
               {"apply", "dev"}, {2, 3}, {"orders"},
               [](const Ctx& x) {
                 EXPECT_EQ(sql_scalar(x.url, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.orders'::regclass "
                                             "AND attnum > 0 AND NOT attisdropped"),
                           "2")
                     << "mgr's columns were added to the application's table";
               }});
  // ---- backups ----
  c.push_back({"backups_dir_is_a_file_backup",
               [](Ctx& x) {
                 mgr::test::write_file(x.dir / "blocker", "a file\n");
                 x.env_extra("", "backups_dir: ../blocker\n");
               },
               {"backup", "dev"}, {1}, {"blocker"},
               [](const Ctx& x) { EXPECT_EQ(mgr::test::read_file(x.dir / "blocker"), "a file\n"); }});
  c.push_back({"backups_dir_is_a_file_apply",
               [](Ctx& x) {
                 mgr::test::write_file(x.dir / "blocker", "a file\n");
                 x.env_extra("    backup: required\n", "backups_dir: ../blocker\n");
               },
               {"apply", "dev"}, {1}, {"blocker"},
               [](const Ctx& x) { EXPECT_EQ(mgr::test::read_file(x.dir / "blocker"), "a file\n"); }});
  // ---- command line ----
  c.push_back({"unknown_environment", [](Ctx&) {}, {"apply", "nope"}, {2}, {"nope"}});
  c.push_back({"to_unknown_migration", [](Ctx&) {}, {"apply", "dev", "--to", "4242"}, {2}, {"4242"}});
  c.push_back({"restore_of_a_missing_file", [](Ctx&) {}, {"restore", "dev", "/nonexistent/x.dump", "--yes"}, {1, 2},
               {"/nonexistent/x.dump"}});
  return c;
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, RefusedWithTheCulpritNamedAndNothingChanged) {
  MGR_REQUIRE_DB();
  const Case& tc = GetParam();
  mgr::test::PgTestDb db("bad");
  TempDir dir;
  Ctx x{dir.path(), db.url(), dir / "config/environments.yaml"};
  create_fixture_tables(x.url);
  x.env_extra("");
  write_marker_migrations(x.migrations(), 1, 1);
  tc.setup(x);
  const auto before = snapshot(x.url);
  SpawnOptions o;
  o.argv = mgr_argv(x.config, tc.args);
  o.cwd = x.dir;
  Proc p(o);
  auto r = p.wait_for(90s);
  ASSERT_TRUE(r.has_value()) << "mgr hangs on this input (killed after 90 s)";
  EXPECT_TRUE(tc.exits.count(r->exit_code)) << "exit " << r->exit_code << "\n" << r->err;
  for (const auto& m : tc.mentions) EXPECT_THAT(r->err, ::testing::HasSubstr(m)) << "the message does not name it";
  EXPECT_THAT(r->err, ::testing::Not(::testing::HasSubstr("terminate called")));
  if (r->exit_code != 0) {
    EXPECT_EQ(snapshot(x.url), before) << "the database changed";
  } else {
    EXPECT_EQ(recorded_ids(x.url), marker_ids(x.url));
  }
  if (tc.extra_check) tc.extra_check(x);
  if (const char* f = std::getenv("MGR_ROBUSTNESS_REPORT"); f != nullptr && *f != '\0') {
    std::ofstream out(f, std::ios::app);
    out << tc.name << "\t" << r->exit_code << "\t" << first_lines(r->err) << "\t"
        << (::testing::Test::HasFailure() ? "FAIL" : "ok") << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Robustness, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace mgr::rel
