// Backups and restores against the sandbox server with the real pg_dump,
// pg_restore and psql, mostly through the built mgr binary.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>

#include "mgr/backup.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/process.hpp"
#include "mgr/session.hpp"
#include "support/pg_test_db.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using mgr::test::PgTestDb;
using mgr::test::read_file;
using mgr::test::RunResult;
using mgr::test::TempDir;
using mgr::test::write_file;
using nlohmann::json;

namespace {

// A temporary project: config/environments.yaml, migrations/, and
// schema-backups/ (the default backups_dir) once a backup is taken.
class Project {
 public:
  explicit Project(const std::string& yaml) {
    write_file(m_dir / "config/environments.yaml", yaml);
    fs::create_directories(m_dir / "migrations");
  }
  RunResult mgr(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) const {
    args.insert(args.begin(), {"--config", (m_dir / "config/environments.yaml").string()});
    return mgr::test::run_mgr(args, env, m_dir.path());
  }
  fs::path backups(const std::string& env = "") const {
    return env.empty() ? m_dir / "schema-backups" : m_dir / "schema-backups" / env;
  }
  fs::path path() const { return m_dir.path(); }
  mgr::Config config() const { return mgr::load_config(m_dir / "config/environments.yaml"); }

 private:
  TempDir m_dir;
};

// Backup files (not manifests) in a directory, sorted by name.
std::vector<fs::path> dumps_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    auto ext = e.path().extension();
    if (ext == ".dump" || ext == ".sql") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t files_under(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

// pg_dump --schema-only, without the random \restrict keys of newer dumps.
std::string schema_of(const std::string& url) {
  mgr::ProcessSpec spec;
  spec.program = mgr::find_pg_program("pg_dump", {});
  // mgr's audit log and schema snapshots are left out: the restore records
  // itself in them (an audit row, a snapshot) by design.
  spec.args = {"--schema-only", "--no-password", "--dbname=" + url,
               "--exclude-table=public.schema_migrations_log", "--exclude-table=public.schema_migrations_log_id_seq",
               "--exclude-table=public.schema_migrations_schema"};
  auto r = mgr::run_process(spec);
  EXPECT_TRUE(r.ok()) << r.err;
  std::istringstream in(r.out);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("\\restrict ", 0) == 0 || line.rfind("\\unrestrict ", 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

std::string table_text(const PgTestDb& db, const std::string& sql) {
  std::string out;
  for (const auto& row : db.rows(sql)) {
    for (const auto& cell : row) out += cell + "|";
    out += "\n";
  }
  return out;
}

std::string one_env(const std::string& name, const std::string& url, const std::string& extra = "") {
  return fmt::format("environments:\n  {}:\n    url: {}\n{}", name, url, extra);
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

fs::path make_script(const fs::path& path, const std::string& body) {
  write_file(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

void seed(const PgTestDb& db) {
  db.exec(R"sql(
    CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, note text);
    CREATE INDEX customers_name_idx ON customers (full_name);
    CREATE VIEW customer_names AS SELECT id, full_name FROM customers;
    INSERT INTO customers (email, full_name, note) VALUES
      ('a@example.com', 'Ann', 'first'), ('b@example.com', 'Bob', NULL), ('c@example.com', 'Cé ''quoted''', 'x');
  )sql");
}

void round_trip(const std::string& format) {
  PgTestDb db("bk_" + format);
  seed(db);
  Project project(one_env("dev", db.url(), "    backup_format: " + format + "\n"));
  // mgr's history and log tables with one applied migration, so restore has
  // a state to report and an audit log to write to.
  {
    auto config = project.config();
    mgr::Session session(config.get("dev"), "test");
    mgr::HistoryStore(session, config.history_table).ensure();
  }
  db.exec("INSERT INTO schema_migrations (migration_id, name, checksum, environment, success) "
          "VALUES ('0001', 'init', 'abc', 'dev', true)");
  const auto schema_before = schema_of(db.url());
  const auto data_before = table_text(db, "SELECT * FROM customers ORDER BY id");

  auto b = project.mgr({"backup", "dev"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto files = dumps_in(project.backups("dev"));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), format == "plain" ? ".sql" : ".dump");
  auto manifest = json::parse(read_file(mgr::manifest_path_for(files[0])));
  EXPECT_EQ(manifest["format"], format);
  EXPECT_EQ(manifest["newest_migration"], "0001");
  EXPECT_EQ(manifest["reason"], "manual");
  EXPECT_EQ(manifest["database"], db.name());
  // Hashed and counted on the way through the pipe from pg_dump: the file on disk agrees.
  EXPECT_EQ(manifest["sha256"], mgr::sha256_file(files[0]));
  EXPECT_EQ(manifest["size"], fs::file_size(files[0]));
  // stderr is not a terminal here: no progress line.
  EXPECT_EQ(b.err.find('\r'), std::string::npos) << b.err;
  EXPECT_EQ(b.err.find(" dumped"), std::string::npos) << b.err;

  // The destructive change: a column with data is gone, and rows changed.
  db.exec("ALTER TABLE customers DROP COLUMN note; DELETE FROM customers WHERE id = 1; "
          "INSERT INTO schema_migrations (migration_id, name, checksum, environment, success) "
          "VALUES ('0002', 'drop_note', 'def', 'dev', true)");
  ASSERT_NE(schema_of(db.url()), schema_before);

  auto r = project.mgr({"restore", "dev", files[0].string(), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" loaded"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("converted to SQL"), std::string::npos) << r.err;
  EXPECT_EQ(schema_of(db.url()), schema_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM customers ORDER BY id"), data_before);
  EXPECT_NE(r.out.find("now:    1 history rows, newest migration 0001"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("before: 2 history rows, newest migration 0002"), std::string::npos) << r.out;
  // The safety backup holds the state just before the restore.
  EXPECT_EQ(dumps_in(project.backups("dev")).size(), 2u);
  // The restore is in the audit log.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'restore' AND outcome = 'ok'"), "1");
  EXPECT_EQ(db.scalar("SELECT backup FROM schema_migrations_log WHERE action = 'restore'"),
            files[0].filename().string());
}

}  // namespace

TEST(Backup, RoundTripCustomFormat) {
  MGR_REQUIRE_DB();
  round_trip("custom");
}

TEST(Backup, RoundTripPlainFormat) {
  MGR_REQUIRE_DB();
  round_trip("plain");
}

TEST(Backup, FileAndDirectoryModesIgnoreUmask) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_modes");
  Project project(one_env("dev", db.url()));
  auto old_umask = ::umask(0);  // the child inherits it; mgr must not rely on it
  auto r = project.mgr({"backup", "dev"});
  ::umask(old_umask);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto files = dumps_in(project.backups("dev"));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(mode_of(files[0]), 0600u);
  EXPECT_EQ(mode_of(mgr::manifest_path_for(files[0])), 0600u);
  EXPECT_EQ(mode_of(project.backups("dev")), 0700u);
  EXPECT_EQ(mode_of(project.backups()), 0700u);
  EXPECT_NE(r.out.find(files[0].string()), std::string::npos) << r.out;
}

TEST(Backup, PgDumpNotFoundFailsAndLeavesNothing) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_nodump");
  TempDir empty_bin;
  Project project(one_env("dev", db.url(), "    pg_bin_dir: " + (empty_bin / "nowhere").string() + "\n"));
  auto r = project.mgr({"backup", "dev"}, {{"PATH", empty_bin.path().string()}, {"MGR_PG_BIN_DIR", ""}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("pg_dump not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("postgresql-client-15"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((empty_bin / "nowhere").string()), std::string::npos) << r.err;
  EXPECT_EQ(files_under(project.backups()), 0u);
}

TEST(Backup, BackupsDirNotUsableFailsAndLeavesNothing) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_nodir");
  TempDir tmp;
  // Tests run as root, where chmod does not stop writes: a regular file in
  // the way of the directory does.
  write_file(tmp / "blocked", "not a directory\n");
  Project project("backups_dir: " + (tmp / "blocked").string() + "\n" + one_env("dev", db.url()));
  auto r = project.mgr({"backup", "dev"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("blocked"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(tmp / "blocked"), "not a directory\n");
}

TEST(Backup, FailingPgDumpRemovesPartialFileAndQuotesStderr) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_fail");
  TempDir bin;
  // Writes half a dump, complains and fails, as a dying pg_dump would.
  make_script(bin / "pg_dump",
              "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\n"
              "for a in \"$@\"; do case \"$a\" in --file=*) printf 'PGDMP partial' > \"${a#--file=}\";; esac; done\n"
              "echo 'pg_dump: error: query failed: boom from fake pg_dump' >&2\nexit 1\n");
  Project project(one_env("dev", db.url(), "    pg_bin_dir: " + bin.path().string() + "\n"));
  auto r = project.mgr({"backup", "dev"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("boom from fake pg_dump"), std::string::npos) << r.err;
  EXPECT_EQ(files_under(project.backups()), 0u);
}

TEST(Backup, StuckPgDumpIsKilledByTimeout) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_stuck");
  TempDir bin;
  make_script(bin / "pg_dump",
              "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\nexec sleep 60\n");
  Project project(one_env("dev", db.url(),
                          "    pg_bin_dir: " + bin.path().string() + "\n    backup_timeout: 500ms\n"));
  auto started = std::chrono::steady_clock::now();
  auto r = project.mgr({"backup", "dev"});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  EXPECT_EQ(files_under(project.backups()), 0u);
}

TEST(Backup, OldPgDumpIsRefusedWithAdvice) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_old");
  TempDir bin;
  make_script(bin / "pg_dump", "echo 'pg_dump (PostgreSQL) 12.3'; exit 0\n");
  Project project(one_env("dev", db.url(), "    pg_bin_dir: " + bin.path().string() + "\n"));
  auto r = project.mgr({"backup", "dev"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find((bin / "pg_dump").string() + " is version 12.3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("postgresql-client-15"), std::string::npos) << r.err;
  EXPECT_EQ(files_under(project.backups()), 0u);
}

TEST(Backup, PasswordOnlyInChildEnvironment) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_secret");
  const std::string role = fmt::format("mgr_secret_{}", ::getpid());
  const std::string secret = "S3cret-pw";
  db.exec(fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN SUPERUSER PASSWORD '{1}'", role, secret));
  TempDir bin;
  const auto real = mgr::find_pg_program("pg_dump", {});
  // Records its command line as the kernel sees it and its PGPASSWORD, then
  // does the real work.
  make_script(bin / "pg_dump",
              fmt::format("tr '\\0' ' ' < /proc/$$/cmdline >> '{0}'\necho >> '{0}'\n"
                          "printf '%s\\n' \"$PGPASSWORD\" >> '{1}'\nexec '{2}' \"$@\"\n",
                          (bin / "argv.log").string(), (bin / "env.log").string(), real.string()));
  auto url = db.url();
  url.replace(url.find("://") + 3, std::string("postgres").size(), role + ":" + secret);
  Project project(one_env("dev", url, "    pg_bin_dir: " + bin.path().string() + "\n"));
  auto r = project.mgr({"backup", "dev"});
  auto j = project.mgr({"--json", "backups", "dev"});
  db.exec("DROP ROLE IF EXISTS " + role);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto argv_log = read_file(bin / "argv.log");
  EXPECT_NE(argv_log.find("--dbname="), std::string::npos) << argv_log;
  EXPECT_EQ(argv_log.find(secret), std::string::npos) << argv_log;
  EXPECT_NE(read_file(bin / "env.log").find(secret), std::string::npos);
  for (const auto* text : {&r.out, &r.err, &j.out, &j.err}) EXPECT_EQ(text->find(secret), std::string::npos) << *text;
  auto files = dumps_in(project.backups("dev"));
  ASSERT_EQ(files.size(), 1u);
  auto manifest = read_file(mgr::manifest_path_for(files[0]));
  EXPECT_EQ(manifest.find(secret), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(role + ":***@"), std::string::npos) << manifest;
}

TEST(Backup, RetentionKeepsNewestNWithManifest) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_keep");
  Project project(one_env("dev", db.url(), "    backup_keep: 2\n"));
  fs::create_directories(project.backups("dev"));
  write_file(project.backups("dev") / "dev-handmade.dump", "not an mgr backup");
  std::vector<std::string> taken;
  for (int i = 0; i < 3; ++i) {
    auto r = project.mgr({"--json", "backup", "dev"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    taken.push_back(json::parse(r.out)["file"].get<std::string>());
  }
  auto left = dumps_in(project.backups("dev"));
  std::vector<fs::path> expected{project.backups("dev") / "dev-handmade.dump", taken[1], taken[2]};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
  EXPECT_FALSE(fs::exists(mgr::manifest_path_for(taken[0])));
}

TEST(Backup, SameSecondGetsSuffixNotOverwrite) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_suffix");
  Project project(one_env("dev", db.url()));
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto r = project.mgr({"--json", "backup", "dev"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    names.insert(json::parse(r.out)["name"].get<std::string>());
  }
  EXPECT_EQ(names.size(), 3u);
  EXPECT_EQ(dumps_in(project.backups("dev")).size(), 3u);
}

TEST(Backup, BackupsJsonMarksTamperedFile) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_list");
  Project project(one_env("dev", db.url()));
  ASSERT_EQ(project.mgr({"backup", "dev"}).exit_code, 0);
  ASSERT_EQ(project.mgr({"backup", "dev"}).exit_code, 0);
  auto files = dumps_in(project.backups("dev"));
  ASSERT_EQ(files.size(), 2u);
  {
    std::ofstream out(files[0], std::ios::binary | std::ios::app);
    out << "x";
  }
  auto r = project.mgr({"backups", "dev", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto list = json::parse(r.out)["backups"];
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, bool> matches;
  for (const auto& b : list) matches[b["file"].get<std::string>()] = b["matches"].get<bool>();
  EXPECT_FALSE(matches[files[0].string()]);
  EXPECT_TRUE(matches[files[1].string()]);
  EXPECT_EQ(list[0]["environment"], "dev");
  EXPECT_TRUE(list[0].contains("newest_migration"));
  auto text = project.mgr({"backups"});
  EXPECT_NE(text.out.find("MISMATCH"), std::string::npos) << text.out;
}

TEST(Backup, ApiForApplyReturnsFileNameAndReason) {
  MGR_REQUIRE_DB();
  PgTestDb db("bk_api");
  Project project(one_env("dev", db.url(), "    backup_keep: 5\n"));
  auto config = project.config();
  const auto& env = config.get("dev");
  mgr::Session session(env, "mgr dev");
  auto result = mgr::take_backup(config, env, session.identity(), std::string("0007"), "before apply of 0008, 0009");
  EXPECT_TRUE(fs::exists(result.file));
  EXPECT_EQ(result.file.parent_path(), fs::absolute(project.backups("dev")));
  EXPECT_EQ(result.file_name(), result.file.filename().string());
  EXPECT_EQ(result.sha256, mgr::sha256_file(result.file));
  auto m = mgr::read_manifest(result.manifest);
  EXPECT_EQ(m.reason, "before apply of 0008, 0009");
  EXPECT_EQ(m.newest_migration, "0007");
  EXPECT_EQ(m.size, result.size);
  auto check = mgr::check_backup(result.file);
  EXPECT_TRUE(check.matches) << check.problem;
}

TEST(Restore, RefusesCorruptedBackup) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_corrupt");
  seed(db);
  Project project(one_env("dev", db.url()));
  ASSERT_EQ(project.mgr({"backup", "dev"}).exit_code, 0);
  auto file = dumps_in(project.backups("dev")).at(0);
  auto bytes = read_file(file);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  write_file(file, bytes);
  db.exec("ALTER TABLE customers DROP COLUMN note");
  auto r = project.mgr({"restore", "dev", file.string(), "--yes"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("SHA-256"), std::string::npos) << r.err;
  // Nothing happened: no safety backup, the change is still there.
  EXPECT_EQ(dumps_in(project.backups("dev")).size(), 1u);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'note'"), "0");
}

TEST(Restore, RefusesWithoutManifest) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_nomanifest");
  Project project(one_env("dev", db.url()));
  ASSERT_EQ(project.mgr({"backup", "dev"}).exit_code, 0);
  auto file = dumps_in(project.backups("dev")).at(0);
  fs::remove(mgr::manifest_path_for(file));
  auto r = project.mgr({"restore", "dev", file.string(), "--yes"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("manifest"), std::string::npos) << r.err;
}

TEST(Restore, RefusesWithoutConfirmation) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_confirm");
  Project project(one_env("dev", db.url()));
  ASSERT_EQ(project.mgr({"backup", "dev"}).exit_code, 0);
  auto file = dumps_in(project.backups("dev")).at(0);
  auto r = project.mgr({"restore", "dev", file.string()});  // stdin is /dev/null: no terminal
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
  EXPECT_EQ(dumps_in(project.backups("dev")).size(), 1u);
}

TEST(Restore, OtherEnvironmentNeedsFlagAndFindsFileByName) {
  MGR_REQUIRE_DB();
  PgTestDb prod("rs_prod"), test("rs_test");
  seed(prod);
  Project project(fmt::format("environments:\n  test:\n    url: {}\n  prod:\n    url: {}\n    promote_from: test\n",
                              test.url(), prod.url()));
  auto b = project.mgr({"--json", "backup", "prod"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto name = json::parse(b.out)["name"].get<std::string>();

  auto refused = project.mgr({"restore", "test", name, "--yes"});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("--from-other-env"), std::string::npos) << refused.err;

  auto ok = project.mgr({"--json", "restore", "test", name, "--yes", "--no-safety-backup", "--from-other-env"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  auto j = json::parse(ok.out);
  EXPECT_TRUE(j["safety_backup"].is_null());
  EXPECT_EQ(j["manifest"]["environment"], "prod");
  EXPECT_EQ(test.scalar("SELECT count(*) FROM customers"), "3");
  EXPECT_EQ(dumps_in(project.backups("test")).size(), 0u);
}

namespace {

// Restore's temporary directories (.mgr-restore-*) left anywhere under `dir`.
std::size_t restore_leftovers(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().rfind(".mgr-restore-", 0) == 0) ++n;
  }
  return n;
}

// Replaces a backup's bytes and makes its manifest agree, as if pg_dump had
// written them: what restore does next is then up to the content alone.
void rewrite_backup(const fs::path& file, const std::string& bytes) {
  write_file(file, bytes);
  auto manifest_path = mgr::manifest_path_for(file);
  auto m = json::parse(read_file(manifest_path));
  m["size"] = bytes.size();
  m["sha256"] = mgr::sha256_file(file);
  write_file(manifest_path, m.dump(2) + "\n");
  ASSERT_TRUE(mgr::check_backup(file).matches) << mgr::check_backup(file).problem;
}

// The name of the backup `mgr --json backup` wrote.
fs::path take(const Project& project, const std::string& env) {
  auto r = project.mgr({"--json", "backup", env});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["file"].get<std::string>();
}

void add_migration(const Project& project, const std::string& name, const std::string& sql) {
  write_file(project.path() / "migrations" / name, sql);
}

// Objects and rows created by migrations applied after the backup must be
// gone after the restore, not only the objects the dump itself contains.
void restore_replaces_everything(const std::string& format) {
  PgTestDb db("rs_exact_" + format);
  Project project(one_env("dev", db.url(), "    backup_format: " + format + "\n"));
  add_migration(project, "0001_base.sql", R"sql(
    CREATE EXTENSION IF NOT EXISTS citext;
    CREATE TABLE customers (id bigint PRIMARY KEY, email citext NOT NULL UNIQUE, note text);
    CREATE SCHEMA billing;
    CREATE TABLE billing.invoices (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, total numeric);
    INSERT INTO customers VALUES (1, 'Ann@Example.com', 'first'), (2, 'bob@example.com', 'second');
    INSERT INTO billing.invoices VALUES (10, 1, 12.50), (11, 2, 7);
    COMMENT ON SCHEMA public IS 'the app''s schema';
    GRANT CREATE ON SCHEMA public TO PUBLIC;
  )sql");
  auto applied = project.mgr({"apply", "dev"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;

  const auto file = take(project, "dev");
  const auto schema_before = schema_of(db.url());
  const auto customers_before = table_text(db, "SELECT * FROM customers ORDER BY id");
  const auto invoices_before = table_text(db, "SELECT * FROM billing.invoices ORDER BY id");
  const auto history_before = table_text(db, "SELECT * FROM schema_migrations ORDER BY migration_id");
  const auto public_before = table_text(db, "SELECT nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace') "
                                            "FROM pg_namespace WHERE nspname = 'public'");

  // After the backup: a new table with an index and a type, a new schema, a
  // new extension, rows; then a column with data dropped; public's ACL changed.
  add_migration(project, "0002_visits.sql", R"sql(
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TABLE visits (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, mood mood NOT NULL);
    CREATE INDEX visits_mood_idx ON visits (mood);
    INSERT INTO visits VALUES (1, 1, 'happy'), (2, 2, 'sad');
    CREATE SCHEMA reporting;
    CREATE VIEW reporting.moods AS SELECT mood, count(*) FROM visits GROUP BY mood;
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    INSERT INTO customers VALUES (3, 'cy@example.com', 'third');
    REVOKE USAGE ON SCHEMA public FROM PUBLIC;
  )sql");
  add_migration(project, "0003_drop_note.sql",
                "-- mgr:allow drop-column reason: the restore must bring the data back\n"
                "ALTER TABLE customers DROP COLUMN note;\n");
  applied = project.mgr({"apply", "dev"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  ASSERT_NE(schema_of(db.url()), schema_before);

  auto r = project.mgr({"restore", "dev", file.string(), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" loaded"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("converted to SQL"), std::string::npos) << r.err;
  EXPECT_EQ(schema_of(db.url()), schema_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM customers ORDER BY id"), customers_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM billing.invoices ORDER BY id"), invoices_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM schema_migrations ORDER BY migration_id"), history_before);
  EXPECT_EQ(table_text(db, "SELECT nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace') "
                           "FROM pg_namespace WHERE nspname = 'public'"),
            public_before);
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.visits') IS NULL AND to_regtype('public.mood') IS NULL"), "t");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'reporting'"), "0");
  EXPECT_EQ(db.scalar("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"), "citext,plpgsql");
  // The extension works again: citext compares case-insensitively.
  EXPECT_EQ(db.scalar("SELECT id FROM customers WHERE email = 'ANN@EXAMPLE.COM'"), "1");
  EXPECT_NE(r.out.find("now:    1 history rows, newest migration 0001"), std::string::npos) << r.out;
  // Only this project's tree: /tmp as a whole holds other tests' restores in flight.
  EXPECT_EQ(restore_leftovers(project.path()), 0u);

  // What used to fail with "already exists": the later migrations apply again.
  applied = project.mgr({"apply", "dev"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  EXPECT_EQ(db.scalar("SELECT count(*) FROM visits"), "2");
}

// A restore that fails after the wipe has already dropped everything must
// leave the database exactly as it was.
void expect_unchanged_after_failed_restore(const Project& project, const PgTestDb& db, const fs::path& file,
                                           const std::string& expected_error) {
  const auto schema_before = schema_of(db.url());
  const auto data_before = table_text(db, "SELECT * FROM customers ORDER BY id");
  const auto later_before = table_text(db, "SELECT * FROM later ORDER BY id");
  auto r = project.mgr({"restore", "dev", file.string(), "--yes"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(expected_error), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Safety backup"), std::string::npos) << r.err;
  EXPECT_EQ(schema_of(db.url()), schema_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM customers ORDER BY id"), data_before);
  EXPECT_EQ(table_text(db, "SELECT * FROM later ORDER BY id"), later_before);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'restore' AND outcome = 'failed'"), "1");
  EXPECT_EQ(restore_leftovers(project.path()), 0u);
}

void ensure_history(const Project& project) {
  auto config = project.config();
  mgr::Session session(config.get("dev"), "test");
  mgr::HistoryStore(session, config.history_table).ensure();
}

// The dump gives a table to a role that no longer exists when restoring: the
// ALTER ... OWNER TO fails after the wipe and after tables were recreated.
void failed_restore_missing_role(const std::string& format) {
  PgTestDb db("rs_norole_" + format);
  const std::string role = fmt::format("mgr_gone_{}_{}", ::getpid(), format);
  db.exec(fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} NOLOGIN", role));
  seed(db);
  db.exec(fmt::format("ALTER TABLE customers OWNER TO {}", role));
  Project project(one_env("dev", db.url(), "    backup_format: " + format + "\n"));
  ensure_history(project);
  const auto file = take(project, "dev");
  db.exec(fmt::format("ALTER TABLE customers OWNER TO CURRENT_USER; DROP ROLE {}", role));
  // Newer objects, which the wipe drops before the restore fails.
  db.exec("CREATE TABLE later (id int PRIMARY KEY, v text); INSERT INTO later VALUES (1, 'kept');"
          "CREATE VIEW blocker AS SELECT email FROM customers; "
          "INSERT INTO customers (email) VALUES ('new@example.com')");
  expect_unchanged_after_failed_restore(project, db, file, fmt::format("role \"{}\" does not exist", role));
}

}  // namespace

TEST(Restore, ReplacesEverythingCustomFormat) {
  MGR_REQUIRE_DB();
  restore_replaces_everything("custom");
}

TEST(Restore, ReplacesEverythingPlainFormat) {
  MGR_REQUIRE_DB();
  restore_replaces_everything("plain");
}

TEST(Restore, FailureAfterWipeLeavesDatabaseAsItWasCustomFormat) {
  MGR_REQUIRE_DB();
  failed_restore_missing_role("custom");
}

TEST(Restore, FailureAfterWipeLeavesDatabaseAsItWasPlainFormat) {
  MGR_REQUIRE_DB();
  failed_restore_missing_role("plain");
}

TEST(Restore, BrokenStatementInScriptLeavesDatabaseAsItWas) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_broken");
  seed(db);
  Project project(one_env("dev", db.url(), "    backup_format: plain\n"));
  ensure_history(project);
  const auto file = take(project, "dev");
  // A statement that fails near the end, after every table was recreated.
  auto bytes = read_file(file);
  auto at = bytes.rfind("-- PostgreSQL database dump complete");
  ASSERT_NE(at, std::string::npos);
  bytes.insert(at, "SELECT 1 / 0;\n");
  rewrite_backup(file, bytes);
  db.exec("CREATE TABLE later (id int PRIMARY KEY, v text); INSERT INTO later VALUES (1, 'kept');"
          "ALTER TABLE customers DROP COLUMN note");
  expect_unchanged_after_failed_restore(project, db, file, "division by zero");
}

TEST(Restore, TruncatedScriptIsRefusedBeforeTouchingTheDatabase) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_truncated");
  seed(db);
  Project project(one_env("dev", db.url(), "    backup_format: plain\n"));
  ensure_history(project);
  const auto file = take(project, "dev");
  // Cut at a statement boundary: psql would run the first half and succeed.
  auto bytes = read_file(file);
  auto at = bytes.find("\nCOPY ");
  ASSERT_NE(at, std::string::npos);
  rewrite_backup(file, bytes.substr(0, at + 1));
  db.exec("CREATE TABLE later (id int PRIMARY KEY, v text); INSERT INTO later VALUES (1, 'kept')");
  expect_unchanged_after_failed_restore(project, db, file, "completion line");
}

TEST(Restore, TemporaryFilesArePrivateAndRemovedAndPasswordStaysInEnvironment) {
  MGR_REQUIRE_DB();
  PgTestDb db("rs_tmpfiles");
  seed(db);
  const std::string role = fmt::format("mgr_rs_secret_{}", ::getpid());
  const std::string secret = "Rst0re-pw";
  db.exec(fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN SUPERUSER PASSWORD '{1}'", role, secret));
  TempDir bin;
  const auto real_restore = mgr::find_pg_program("pg_restore", {});
  const auto real_psql = mgr::find_pg_program("psql", {});
  // pg_restore and psql that record what they were given, then do the real work.
  make_script(bin / "pg_restore", fmt::format("echo \"pg_restore $*\" >> '{0}'\nexec '{1}' \"$@\"\n",
                                              (bin / "argv.log").string(), real_restore.string()));
  make_script(bin / "psql",
              fmt::format("echo \"psql $*\" >> '{0}'\n"
                          "for a in \"$@\"; do case \"$a\" in --file=*) stat -c '%a %n' \"${{a#--file=}}\" >> '{1}';; esac; done\n"
                          "exec '{2}' \"$@\"\n",
                          (bin / "argv.log").string(), (bin / "modes.log").string(), real_psql.string()));
  auto url = db.url();
  url.replace(url.find("://") + 3, std::string("postgres").size(), role + ":" + secret);
  Project project(one_env("dev", url, "    pg_bin_dir: " + bin.path().string() + "\n"));
  const auto file = take(project, "dev");
  db.exec("CREATE TABLE later (id int)");
  auto r = project.mgr({"restore", "dev", file.string(), "--yes", "--no-safety-backup"});
  // The snapshot recorded after the restore made it the owner of <history_table>_schema.
  db.exec(fmt::format("DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}", role));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.later') IS NULL"), "t");
  auto argv_log = read_file(bin / "argv.log");
  EXPECT_EQ(argv_log.find(secret), std::string::npos) << argv_log;
  EXPECT_NE(argv_log.find("pg_restore --clean --if-exists --file="), std::string::npos) << argv_log;
  EXPECT_NE(argv_log.find("--single-transaction"), std::string::npos) << argv_log;
  // The generated scripts and the converted restore.sql, all 0600, in a
  // private directory beside the backup that is gone afterwards.
  std::istringstream modes(read_file(bin / "modes.log"));
  std::string line;
  int files = 0;
  while (std::getline(modes, line)) {
    ++files;
    EXPECT_EQ(line.substr(0, 4), "600 ") << line;
    fs::path p = line.substr(4);
    EXPECT_EQ(p.parent_path().parent_path(), file.parent_path()) << line;
    EXPECT_EQ(p.parent_path().filename().string().rfind(".mgr-restore-", 0), 0u) << line;
    EXPECT_FALSE(fs::exists(p.parent_path())) << line;
  }
  EXPECT_EQ(files, 3);  // before.sql (audit table aside, wipe), restore.sql, after.sql (audit rows back)
  for (const auto* text : {&r.out, &r.err}) EXPECT_EQ(text->find(secret), std::string::npos) << *text;
}
