// Backups and restores under faults and hostile input (issues 11 and 17):
// ordinary passwords, the database-identity check, the audit log across a
// restore, backslash commands in a backup, signals and kill -9, leftovers of
// killed runs, modes under umask 000, the width of `mgr backups`.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mgr/backup.hpp"
#include "mgr/process.hpp"
#include "support/pg_test_db.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using mgr::test::PgTestDb;
using mgr::test::read_file;
using mgr::test::RunningMgr;
using mgr::test::RunResult;
using mgr::test::TempDir;
using mgr::test::write_file;
using nlohmann::json;

namespace {

class Project {
 public:
  explicit Project(const std::string& yaml) {
    write_config(yaml);
    fs::create_directories(m_dir / "migrations");
  }
  void write_config(const std::string& yaml) const { write_file(config_path(), yaml); }
  fs::path config_path() const { return m_dir / "config/environments.yaml"; }
  std::vector<std::string> args(std::vector<std::string> a) const {
    a.insert(a.begin(), {"--config", config_path().string()});
    return a;
  }
  RunResult mgr(std::vector<std::string> a, const std::map<std::string, std::string>& env = {}) const {
    return mgr::test::run_mgr(args(std::move(a)), env, m_dir.path());
  }
  std::unique_ptr<RunningMgr> start(std::vector<std::string> a) const {
    return std::make_unique<RunningMgr>(args(std::move(a)), std::map<std::string, std::string>{}, m_dir.path());
  }
  fs::path backups(const std::string& env) const { return m_dir / "schema-backups" / env; }
  fs::path path() const { return m_dir.path(); }
  void add(const std::string& name, const std::string& sql) const { write_file(m_dir / "migrations" / name, sql); }

 private:
  TempDir m_dir;
};

std::string one_env(const std::string& name, const std::string& url, const std::string& extra = "") {
  return fmt::format("environments:\n  {}:\n    url: {}\n{}", name, url, extra);
}

fs::path make_script(const fs::path& path, const std::string& body) {
  write_file(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> dumps_in(const fs::path& dir) {
  auto all = entries(dir);
  std::erase_if(all, [](const fs::path& p) { return p.extension() != ".dump" && p.extension() != ".sql"; });
  return all;
}

std::size_t restore_dirs_in(const fs::path& dir) {
  auto all = entries(dir);
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const fs::path& p) {
    return p.filename().string().rfind(".mgr-restore-", 0) == 0;
  }));
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

void seed(const PgTestDb& db) {
  db.exec("CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL); "
          "INSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com'), ('c@example.com')");
}

fs::path take(const Project& project, const std::string& env) {
  auto r = project.mgr({"--json", "backup", env});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  return json::parse(r.out)["file"].get<std::string>();
}

void rewrite_backup(const fs::path& file, const std::string& bytes) {
  write_file(file, bytes);
  auto manifest_path = mgr::manifest_path_for(file);
  auto m = json::parse(read_file(manifest_path));
  m["size"] = bytes.size();
  m["sha256"] = mgr::sha256_file(file);
  write_file(manifest_path, m.dump(2) + "\n");
  ASSERT_TRUE(mgr::check_backup(file).matches) << mgr::check_backup(file).problem;
}

// Bounded waits for something another process does; the bound is a safety
// net, never the thing tested.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

pid_t wait_for_pid_file(const fs::path& file) {
  pid_t pid = 0;
  eventually([&] {
    std::ifstream in(file);
    return static_cast<bool>(in >> pid) && pid > 0;
  });
  return pid;
}

std::string with_password(std::string url, const std::string& user, const std::string& password) {
  url.replace(url.find("://") + 3, std::string("postgres").size(), user + ":" + password);
  return url;
}

// A bin directory whose tools record argv (as the kernel has it) and
// PGPASSWORD, write their pid, then exec the real tool (same pid).
TempDir& recording_bin(TempDir& bin) {
  for (const std::string tool : {"pg_dump", "pg_restore", "psql"}) {
    make_script(bin / tool, fmt::format("cat /proc/$$/cmdline >> '{0}.argv'; printf '\\n' >> '{0}.argv'\n"
                                        "printf '%s\\n' \"$PGPASSWORD\" >> '{0}.env'\necho $$ > '{0}.pid'\n"
                                        "exec '{1}' \"$@\"\n",
                                        (bin / tool).string(), mgr::find_pg_program(tool, {}).string()));
  }
  return bin;
}

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

// Every argv a recording tool saw: one per line, arguments NUL-separated.
std::vector<std::vector<std::string>> recorded_argvs(const fs::path& log) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(read_file(log));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> argv;
    std::string arg;
    for (char c : line) {
      if (c == '\0') {
        argv.push_back(arg);
        arg.clear();
      } else {
        arg.push_back(c);
      }
    }
    if (!argv.empty()) out.push_back(argv);
  }
  return out;
}

}  // namespace

// Issue 11 #1: `postgres:postgres`, or password `dev` for environment `dev`
// (a substring of the backup's path), used to be refused. The argv is safe
// by construction: parsed here as libpq would, it holds no secret at all.
TEST(BackupFaults, OrdinaryPasswordsBackUpAndNoArgvCarriesASecret) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_pw");
  const std::string same = fmt::format("mgr_pw_{}", ::getpid());
  const std::string dev_role = fmt::format("mgr_dev_{}", ::getpid());
  db.exec(fmt::format("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN SUPERUSER PASSWORD '{0}';"
                      "DROP ROLE IF EXISTS {1}; CREATE ROLE {1} LOGIN SUPERUSER PASSWORD 'dev'",
                      same, dev_role));
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{{same, same}, {dev_role, "dev"}}) {
    SCOPED_TRACE(user);
    TempDir bin;
    recording_bin(bin);
    Project project(one_env("dev", with_password(db.url(), user, password),
                            "    backup_format: custom\n    pg_bin_dir: " + bin.path().string() + "\n"));
    auto file = take(project, "dev");
    ASSERT_FALSE(file.empty());
    auto restore = project.mgr({"restore", "dev", file.string(), "--yes"});
    EXPECT_EQ(restore.exit_code, 0) << restore.err;
    std::size_t conninfos = 0;
    for (const std::string tool : {"pg_dump", "pg_restore", "psql"}) {
      for (const auto& argv : recorded_argvs(bin / (tool + ".argv"))) {
        for (const auto& arg : argv) {
          if (arg.rfind("--dbname=", 0) != 0) continue;
          ++conninfos;
          auto opts = parse_conninfo(arg.substr(9));
          EXPECT_EQ(opts.count("password"), 0u) << arg;
          EXPECT_EQ(opts.count("sslpassword"), 0u) << arg;
          EXPECT_EQ(opts["user"], user) << arg;
        }
      }
    }
    EXPECT_GE(conninfos, 3u);  // two pg_dump (the backup, the safety backup) and psql
    EXPECT_NE(read_file(bin / "pg_dump.env").find(password + "\n"), std::string::npos);
  }
  // The snapshot recorded after the restore made one of them the owner of <history_table>_schema.
  db.exec(fmt::format("DROP OWNED BY {0}, {1}; DROP ROLE IF EXISTS {0}; DROP ROLE IF EXISTS {1}", same, dev_role));
}

// Issue 17 #16: parents of backups_dir that mgr creates are 0700 under umask 000.
TEST(BackupFaults, CreatedParentsArePrivateUnderUmask000) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_umask");
  Project project("backups_dir: ../deep/er/backups\n" + one_env("dev", db.url()));
  auto old_umask = ::umask(0);
  auto r = project.mgr({"backup", "dev"});
  ::umask(old_umask);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto* rel : {"deep", "deep/er", "deep/er/backups", "deep/er/backups/dev"}) {
    EXPECT_EQ(mode_of(project.path() / rel), 0700u) << rel;
  }
  auto files = dumps_in(project.path() / "deep/er/backups/dev");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(mode_of(files[0]), 0600u);
  EXPECT_EQ(mode_of(mgr::manifest_path_for(files[0])), 0600u);
}

// Issue 17 #1: with test's URL pointing at prod's database, backup and
// restore refuse as apply does (environment-mismatch, exit 3), nothing changed.
TEST(BackupFaults, BackupAndRestoreCheckTheDatabaseIdentity) {
  MGR_REQUIRE_DB();
  PgTestDb test_db("bf_id_test"), prod_db("bf_id_prod");
  seed(prod_db);
  const auto right = fmt::format("environments:\n  test:\n    url: {}\n  prod:\n    url: {}\n    promote_from: test\n",
                                 test_db.url(), prod_db.url());
  Project project(right);
  project.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  ASSERT_EQ(project.mgr({"apply", "test"}).exit_code, 0);
  ASSERT_EQ(project.mgr({"apply", "prod"}).exit_code, 0);
  auto test_backup = take(project, "test");
  ASSERT_FALSE(test_backup.empty());
  const auto test_files = entries(project.backups("test"));

  project.write_config(fmt::format("environments:\n  test:\n    url: {}\n  prod:\n    url: {}\n    promote_from: test\n",
                                   prod_db.url(), prod_db.url()));
  auto b = project.mgr({"backup", "test"});
  EXPECT_EQ(b.exit_code, 3) << b.err;
  EXPECT_NE(b.err.find("[environment-mismatch]"), std::string::npos) << b.err;
  auto r = project.mgr({"restore", "test", test_backup.string(), "--yes"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("[environment-mismatch]"), std::string::npos) << r.err;
  EXPECT_EQ(entries(project.backups("test")), test_files);
  EXPECT_EQ(prod_db.scalar("SELECT count(*) FROM customers"), "3");
  EXPECT_EQ(prod_db.scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'restore'"), "0");
}

// Issue 11 #4: the audit log is append-only across a restore: rows written
// after the backup stay, and the restore adds its own, in its transaction.
TEST(BackupFaults, RestoreKeepsTheAuditRowsWrittenAfterTheBackup) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_audit");
  Project project(one_env("dev", db.url(), "    backup: off\n"));
  project.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  ASSERT_EQ(project.mgr({"apply", "dev"}).exit_code, 0);
  auto file = take(project, "dev");
  ASSERT_FALSE(file.empty());
  project.add("0002_b.sql", "CREATE TABLE b (id int);\n");
  ASSERT_EQ(project.mgr({"apply", "dev"}).exit_code, 0);
  const auto log_before = db.rows("SELECT id, at, action, coalesce(migration_id, ''), outcome FROM schema_migrations_log ORDER BY id");
  ASSERT_FALSE(log_before.empty());

  auto r = project.mgr({"restore", "dev", file.filename().string(), "--yes", "--no-safety-backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.scalar("SELECT string_agg(migration_id, ',') FROM schema_migrations"), "0001");
  auto log_after = db.rows("SELECT id, at, action, coalesce(migration_id, ''), outcome FROM schema_migrations_log ORDER BY id");
  ASSERT_EQ(log_after.size(), log_before.size() + 1);
  for (std::size_t i = 0; i < log_before.size(); ++i) {
    EXPECT_EQ(log_after[i][1], log_before[i][1]) << i;  // same time, action, migration, outcome, in order
    EXPECT_EQ(log_after[i][2], log_before[i][2]) << i;
    EXPECT_EQ(log_after[i][3], log_before[i][3]) << i;
  }
  EXPECT_EQ(log_after.back()[2], "restore");
  EXPECT_EQ(log_after.back()[3], "0001");
  EXPECT_EQ(log_after.back()[4], "ok");
}

// The backup predates mgr's tables (the first apply's backup): the whole
// audit table comes back after the restore, with the restore's row.
TEST(BackupFaults, RestoreOfABackupWithoutAuditTableKeepsTheLog) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_audit0");
  seed(db);
  Project project(one_env("dev", db.url()));
  project.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  ASSERT_EQ(project.mgr({"apply", "dev"}).exit_code, 0);  // its backup has no mgr table
  auto first = dumps_in(project.backups("dev"));
  ASSERT_EQ(first.size(), 1u);
  auto r = project.mgr({"restore", "dev", first[0].string(), "--yes", "--no-safety-backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.schema_migrations') IS NULL AND to_regclass('public.a') IS NULL"), "t");
  EXPECT_EQ(db.scalar("SELECT string_agg(action, ',' ORDER BY id) FROM schema_migrations_log"), "apply,restore");
}

namespace {

// A plain backup edited by someone who can write the backups folder, its
// manifest updated to match: restore must refuse it before psql runs.
void expect_hostile_plain_backup_refused(const std::function<std::string(const std::string&, const std::string&)>& edit) {
  PgTestDb db("bf_shell");
  seed(db);
  Project project(one_env("dev", db.url(), "    backup_format: plain\n"));
  auto file = take(project, "dev");
  ASSERT_FALSE(file.empty());
  const auto marker = project.path() / "pwned";
  auto bytes = read_file(file);
  ASSERT_NE(bytes.find("\n\\restrict "), std::string::npos) << "this pg_dump writes no \\restrict";
  rewrite_backup(file, edit(bytes, "\\! touch " + marker.string() + "\n"));
  db.exec("CREATE TABLE later (id int)");
  auto r = project.mgr({"restore", "dev", file.string(), "--yes", "--no-safety-backup"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("backslash"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.later') IS NOT NULL"), "t");
  EXPECT_EQ(restore_dirs_in(project.backups("dev")), 0u);
}

std::string restrict_key(const std::string& bytes) {
  auto at = bytes.find("\n\\restrict ") + 11;
  return bytes.substr(at, bytes.find('\n', at) - at);
}

}  // namespace

// Issue 11 #7: `\! cmd` before pg_dump's \restrict line.
TEST(BackupFaults, ShellCommandBeforeRestrictIsRefused) {
  MGR_REQUIRE_DB();
  expect_hostile_plain_backup_refused([](const std::string& bytes, const std::string& evil) {
    auto copy = bytes;
    return copy.insert(copy.find("\\restrict "), evil);
  });
}

// ... or in the middle, after lifting the restriction with the file's own key.
TEST(BackupFaults, ShellCommandBetweenUnrestrictAndRestrictIsRefused) {
  MGR_REQUIRE_DB();
  expect_hostile_plain_backup_refused([](const std::string& bytes, const std::string& evil) {
    auto copy = bytes;
    const auto key = restrict_key(bytes);
    auto at = copy.find("\nCREATE TABLE");
    return copy.insert(at + 1, "\\unrestrict " + key + "\n" + evil + "\\restrict " + key + "\n");
  });
}

// ... or in a dump without \restrict at all (as older pg_dump wrote them).
TEST(BackupFaults, DumpWithoutRestrictIsRefused) {
  MGR_REQUIRE_DB();
  expect_hostile_plain_backup_refused([](const std::string& bytes, const std::string& evil) {
    const auto key = restrict_key(bytes);
    auto copy = bytes;
    copy.replace(copy.find("\\restrict " + key + "\n"), 11 + key.size(), evil);
    copy.replace(copy.find("\\unrestrict " + key + "\n"), 13 + key.size(), "");
    return copy;
  });
}

namespace {

// A pg_dump that writes half a dump (to stdout, mgr's pipe into the file),
// then hangs (as on a huge table).
std::string hanging_pg_dump(const TempDir& bin) {
  make_script(bin / "pg_dump",
              fmt::format("case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\n"
                          "printf 'PGDMP partial'\necho $$ > '{}'\nexec sleep 120\n",
                          (bin / "pg_dump.pid").string()));
  return "    pg_bin_dir: " + bin.path().string() + "\n";
}

void signal_during_backup(const std::vector<std::string>& command, int sig) {
  PgTestDb db("bf_sig");
  TempDir bin;
  Project project(one_env("dev", db.url(), hanging_pg_dump(bin)));
  project.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  auto running = project.start(command);
  pid_t dump = wait_for_pid_file(bin / "pg_dump.pid");
  ASSERT_GT(dump, 0);
  ::kill(running->pid(), sig);
  auto r = running->wait();
  EXPECT_EQ(r.exit_code, 128 + sig) << r.err;
  EXPECT_NE(r.err.find("partial file"), std::string::npos) << r.err;
  EXPECT_FALSE(alive(dump));
  EXPECT_EQ(entries(project.backups("dev")).size(), 0u);
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.a') IS NULL"), "t");
}

}  // namespace

// Issue 11 #5, issue 17 #3: a signal stops pg_dump at once, removes the
// partial dump, exits 143/130 (not 1, not after backup_timeout).
TEST(BackupFaults, SigtermDuringBackupStopsPgDump) {
  MGR_REQUIRE_DB();
  signal_during_backup({"backup", "dev"}, SIGTERM);
}

TEST(BackupFaults, SigintDuringBackupStopsPgDump) {
  MGR_REQUIRE_DB();
  signal_during_backup({"backup", "dev"}, SIGINT);
}

TEST(BackupFaults, SigtermDuringTheBackupOfApplyStopsPgDump) {
  MGR_REQUIRE_DB();
  signal_during_backup({"apply", "dev"}, SIGTERM);
}

TEST(BackupFaults, SigintDuringTheBackupOfApplyStopsPgDump) {
  MGR_REQUIRE_DB();
  signal_during_backup({"apply", "dev"}, SIGINT);
}

// The backup before a rollback: the same, and nothing is rolled back.
TEST(BackupFaults, SigtermDuringTheBackupOfRollbackStopsPgDump) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_sigrb");
  TempDir bin;
  Project project(one_env("dev", db.url(), "    backup: off\n"));
  project.add("0001_a.sql", "CREATE TABLE a (id int);\n");
  project.add("0001_a.down.sql", "DROP TABLE a;\n");
  ASSERT_EQ(project.mgr({"apply", "dev"}).exit_code, 0);
  project.write_config(one_env("dev", db.url(), hanging_pg_dump(bin)));
  auto running = project.start({"rollback", "dev", "--steps", "1", "--yes"});
  pid_t dump = wait_for_pid_file(bin / "pg_dump.pid");
  ASSERT_GT(dump, 0);
  ::kill(running->pid(), SIGTERM);
  auto r = running->wait();
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_NE(r.err.find("partial file"), std::string::npos) << r.err;
  EXPECT_FALSE(alive(dump));
  EXPECT_EQ(entries(project.backups("dev")).size(), 0u);
  EXPECT_EQ(db.scalar("SELECT to_regclass('public.a') IS NOT NULL"), "t");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_migrations"), "1");
}

// Issue 17 #4: kill -9 leaves a dump without a manifest: listed as
// incomplete, then removed by the next backup.
TEST(BackupFaults, DumpOfAKilledRunIsListedThenRemoved) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_kill");
  TempDir bin;
  Project project(one_env("dev", db.url(), hanging_pg_dump(bin)));
  auto running = project.start({"backup", "dev"});
  pid_t dump = wait_for_pid_file(bin / "pg_dump.pid");
  ASSERT_GT(dump, 0);
  ::kill(running->pid(), SIGKILL);
  running->wait();
  EXPECT_TRUE(eventually([&] { return !alive(dump); })) << "pg_dump outlived mgr";
  auto left = dumps_in(project.backups("dev"));
  ASSERT_EQ(left.size(), 1u);
  auto list = project.mgr({"--json", "backups", "dev"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto backups = json::parse(list.out)["backups"];
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0]["state"], "incomplete");
  EXPECT_NE(project.mgr({"backups", "dev"}).out.find("INCOMPLETE"), std::string::npos);

  project.write_config(one_env("dev", db.url()));
  auto file = take(project, "dev");
  EXPECT_EQ(dumps_in(project.backups("dev")), std::vector<fs::path>{file});
}

namespace {

struct SlowRestore {
  PgTestDb db{"bf_slowrs"};
  TempDir bin;
  std::unique_ptr<Project> project;
  std::unique_ptr<RunningMgr> running;
  pid_t psql = 0;

  // A plain backup with a long statement before its end, restored in the
  // background until the statement runs.
  SlowRestore() {
    seed(db);
    recording_bin(bin);
    project = std::make_unique<Project>(
        one_env("dev", db.url(), "    backup_format: plain\n    pg_bin_dir: " + bin.path().string() + "\n"));
    auto file = take(*project, "dev");
    auto bytes = read_file(file);
    bytes.insert(bytes.rfind("-- PostgreSQL database dump complete"), "SELECT pg_catalog.pg_sleep(120);\n");
    rewrite_backup(file, bytes);
    db.exec("CREATE TABLE later (id int); INSERT INTO later VALUES (1)");
    running = project->start({"restore", "dev", file.string(), "--yes", "--no-safety-backup"});
    psql = wait_for_pid_file(bin / "psql.pid");
    EXPECT_TRUE(eventually([&] { return backends() == "1"; })) << "the restore never reached its long statement";
  }
  std::string backends() const {
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_catalog.pg_sleep(120)%' "
                     "AND application_name LIKE 'mgr dev restore %'");
  }
  void expect_unchanged() const {
    EXPECT_EQ(db.scalar("SELECT count(*) FROM later"), "1");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM customers"), "3");
  }
};

}  // namespace

// Issue 11 #5 / 17 #2: SIGTERM mid-restore stops psql and its backend, rolls
// back, removes the temporary files, says so, exits 143.
TEST(BackupFaults, SigtermDuringRestoreRollsBackAndCleansUp) {
  MGR_REQUIRE_DB();
  SlowRestore rs;
  ::kill(rs.running->pid(), SIGTERM);
  auto r = rs.running->wait();
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_NE(r.err.find("rolled back"), std::string::npos) << r.err;
  EXPECT_FALSE(alive(rs.psql));
  EXPECT_TRUE(eventually([&] { return rs.backends() == "0"; }));
  rs.expect_unchanged();
  EXPECT_EQ(restore_dirs_in(rs.project->backups("dev")), 0u);
}

// Issue 17 #2: kill -9 of mgr mid-restore: psql dies with it, the server
// rolls back, the next run lists and removes the leftover directory.
TEST(BackupFaults, KillDuringRestoreTakesPsqlAlongAndLeftoversAreCleaned) {
  MGR_REQUIRE_DB();
  SlowRestore rs;
  ::kill(rs.running->pid(), SIGKILL);
  rs.running->wait();
  EXPECT_TRUE(eventually([&] { return !alive(rs.psql); })) << "psql outlived mgr";
  EXPECT_TRUE(eventually([&] { return rs.backends() == "0"; })) << "the restore's backend outlived psql";
  rs.expect_unchanged();
  EXPECT_EQ(restore_dirs_in(rs.project->backups("dev")), 1u);
  auto list = rs.project->mgr({"--json", "backups", "dev"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  bool listed = false;
  const auto parsed = json::parse(list.out);
  for (const auto& b : parsed["backups"]) listed = listed || b["state"] == "restore_leftover";
  EXPECT_TRUE(listed) << list.out;
  ASSERT_EQ(rs.project->mgr({"backup", "dev"}).exit_code, 0);  // the lock is free, too
  EXPECT_EQ(restore_dirs_in(rs.project->backups("dev")), 0u);
}

// Issue 12 #8: the table fits 100 columns; the details are in --json.
TEST(BackupFaults, BackupsTableFitsHundredColumns) {
  MGR_REQUIRE_DB();
  PgTestDb db("bf_width");
  Project project("environments:\n  production:\n    url: " + db.url() + "\n");
  project.add("20260112100000_long_name.sql", "CREATE TABLE a (id int);\n");
  ASSERT_EQ(project.mgr({"apply", "production"}).exit_code, 0);
  take(project, "production");
  auto r = project.mgr({"backups"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(in, line) && line.rfind("in ", 0) != 0) {
    EXPECT_LE(line.size(), 100u) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 4);  // header, rule, two backups
  EXPECT_NE(r.out.find("20260112100000"), std::string::npos) << r.out;
}
