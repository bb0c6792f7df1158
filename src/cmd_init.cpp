// mgr init [dir]: the standard project layout, ready for `mgr new`.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mgr/commands.hpp"
#include "mgr/fd.hpp"
#include "mgr/output.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

// Every key is commented: this file is where a new user learns the format.
const char* const k_environments_yaml = R"(# mgr environments (reference: docs/environments.md, or `man mgr`).
# Written by `mgr init`. Check it with `mgr config`.
# Relative paths resolve against this file's folder, not the current one.

# Where migration files live; `mgr new <name>` writes here.
migrations_dir: ../migrations
# Where verified pg_dump backups go. They hold data: keep them out of git.
backups_dir: ../schema-backups
# The table that records applied migrations in each database ("schema.table" works too).
history_table: schema_migrations
# The oldest PostgreSQL major version you run: the linter judges locks for it.
lint_pg_version: 12
# Where pg_dump, pg_restore and psql are; unset: $MGR_PG_BIN_DIR, then PATH.
# pg_bin_dir: /usr/lib/postgresql/15/bin

# The environments, in promotion order. Passwords belong in the variables
# (or ~/.pgpass), never in this file; mgr prints URLs with the password as ***.
environments:
  dev:
    # Connection: a postgresql:// URL or a libpq "key=value" string.
    url: ${DEV_DATABASE_URL}
    # No backup before migrating dev (required | off).
    backup: off
    # Lint findings are printed but do not stop dev (block | warn | off).
    lint: warn
  test:
    # ${VAR:-default} gives a default when the variable is unset.
    url: ${TEST_DATABASE_URL}
    # Only migrations already applied to dev, with the same checksum, may run here.
    promote_from: dev
    # A verified pg_dump backup must succeed before each change (the default).
    backup: required
  prod:
    # In CI, from a protected secret; on a laptop, better not set at all.
    url: ${PROD_DATABASE_URL}
    # Only what test already has.
    promote_from: test
    # Ask to type "prod" before any change (`--yes` in CI).
    confirm: true
    # Errors in any finding stop the apply (the default).
    lint: block
    # SET LOCAL lock_timeout for migration statements: fail fast rather than queue behind traffic.
    lock_timeout: 10s
    # SET LOCAL statement_timeout for migration statements.
    statement_timeout: 15min
    # How long to wait for another mgr holding the migration lock.
    lock_wait: 60s
    # pg_dump format: custom (compressed, pg_restore) or plain (SQL).
    backup_format: custom
    # How many backups of prod to keep (unset: all).
    backup_keep: 10
    # Limit for one backup.
    backup_timeout: 30min
)";

const char* const k_backups_gitignore = R"(# Backups hold data (schemas, and rows of lookup tables): never commit them.
*
!.gitignore
)";

void write_new_file(const fs::path& p, const std::string& content) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    if (errno == EEXIST) throw UsageError(p.string() + " already exists; mgr init never overwrites (nothing was written)");
    throw Failure("cannot create " + p.string() + ": " + std::strerror(errno));
  }
  if (!write_all(fd.get(), content) || fd.close() != 0) {
    throw Failure("cannot write " + p.string() + ": " + std::strerror(errno));
  }
}

}  // namespace

int run_init(const GlobalOptions& global, const InitOptions& opts) {
  // "." stays implicit so that messages show config/environments.yaml, not ./config/...
  const fs::path dir = opts.dir == "." ? fs::path() : opts.dir;
  const fs::path config = dir / "config" / "environments.yaml";
  const fs::path migrations = dir / "migrations";
  const fs::path backups = dir / "schema-backups";
  const fs::path gitignore = backups / ".gitignore";

  // Check everything before writing anything: a refusal leaves the folder as it was.
  for (const auto& file : {config, gitignore}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(file, ec))) {
      throw UsageError(file.string() + " already exists; mgr init never overwrites (nothing was written)");
    }
  }
  for (const auto& d : {dir / "config", migrations, backups}) {
    std::error_code ec;
    if (fs::exists(d, ec) && !fs::is_directory(d, ec)) {
      throw UsageError(d.string() + " exists and is not a folder (nothing was written)");
    }
  }

  std::vector<std::string> created;
  auto make_dir = [&](const fs::path& d) {
    std::error_code ec;
    if (fs::create_directories(d, ec)) created.push_back(d.string() + "/");
    if (ec) throw Failure("cannot create " + d.string() + ": " + ec.message());
  };
  make_dir(dir / "config");
  make_dir(migrations);
  make_dir(backups);
  write_new_file(config, k_environments_yaml);
  created.push_back(config.string());
  try {
    write_new_file(gitignore, k_backups_gitignore);
  } catch (...) {
    fs::remove(config);  // all or nothing for the files
    throw;
  }
  created.push_back(gitignore.string());
  spdlog::debug("init: wrote {}", join(created, ", "));

  if (global.json) {
    print_json({{"created", created}, {"config", config.string()}});
    return 0;
  }
  for (const auto& c : created) print_line("created " + c);
  print_line("");
  print_line("Next: set DEV_DATABASE_URL, TEST_DATABASE_URL and PROD_DATABASE_URL (check with `mgr config`),");
  print_line("then `mgr new <name>` writes your first migration.");
  return 0;
}

}  // namespace mgr
