// environments.yaml -> Config.
//
// Owns: reading the YAML (yaml-cpp), ${VAR} / ${VAR:-default} interpolation
// through an injected lookup, validation with `path:line:col:` messages and
// nearest-key suggestions, promotion-order checks. Relative paths resolve
// against the directory holding the config file.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mgr/db_url.hpp"

namespace mgr {

enum class BackupPolicy { required, off };
enum class LintPolicy { block, warn, off };
enum class BackupFormat { custom, plain };
enum class DriftPolicy { block, warn, off };  // docs/drift.md

// The longest suffix mgr appends to the history table's name for a table of
// its own (HistoryStore::log_table: the audit log `<name>_log`); the config
// checks that the name plus this fits PostgreSQL's 63-byte identifiers.
inline constexpr const char* k_history_longest_suffix = "_log";

// A possibly schema-qualified table name: ops.schema_migrations.
struct QualifiedName {
  std::string schema;  // empty: the connection's search_path decides (normally public)
  std::string table;
  // Both parts double-quoted for SQL: "ops"."schema_migrations"
  std::string quoted() const;
  // Human form: ops.schema_migrations
  std::string display() const;
};

// An environment's database URL, or why it could not be resolved. A `${VAR}`
// that is unset in an environment's body does not fail the whole config: it
// fails that environment, and only when something uses its URL (connect,
// back up, print it). Every accessor throws the deferred ConfigError, so an
// unresolved environment cannot be used by accident.
class EnvironmentUrl {
 public:
  EnvironmentUrl() = default;
  EnvironmentUrl(DbUrl url) : m_url(std::move(url)) {}  // NOLINT: implicit, an Environment's url is set from a DbUrl

  // `message` is the full `path:line:col: ...` error; `variable` the unset name.
  static EnvironmentUrl unresolved(std::string message, std::string variable);

  bool resolved() const { return m_error.empty(); }
  // The unset variable ("" when resolved): for listings that must not throw.
  const std::string& unset_variable() const { return m_variable; }

  // The URL; throws the deferred ConfigError (exit 2) when unresolved.
  const DbUrl& get() const;
  operator const DbUrl&() const { return get(); }  // NOLINT: call sites pass env.url where a DbUrl is wanted

  // DbUrl's interface, each through get().
  const std::string& redacted() const { return get().redacted(); }
  const std::string& conninfo_with_secret() const { return get().conninfo_with_secret(); }
  std::string conninfo_without_password() const { return get().conninfo_without_password(); }
  const std::optional<std::string>& password() const { return get().password(); }
  const std::map<std::string, std::string>& options() const { return get().options(); }
  const std::map<std::string, std::string>& secret_options() const { return get().secret_options(); }
  std::string option(const std::string& key) const { return get().option(key); }

 private:
  DbUrl m_url;
  std::string m_error;
  std::string m_variable;
};

// A fleet: one environment made of many databases (docs/fleets.md).
enum class OnError { stop, continue_on };
struct FleetEntry {
  EnvironmentUrl url;  // throws on use when its ${VAR} is unset
  std::string text;    // where it is written, for messages: "path:line:col"
};
// `databases_query:` the databases are the rows of `sql` on the catalog database `url`.
struct FleetQuery {
  EnvironmentUrl url;
  std::string sql;
  std::string where;  // "path:line:col" of the sql, for messages
};
struct FleetSpec {
  std::vector<FleetEntry> databases;  // `databases:` as listed
  std::optional<FleetQuery> query;    // or `databases_query:`
  int parallel = 4;                   // connections and pg_dump processes at once
  OnError on_error = OnError::stop;
};
inline constexpr int k_max_parallel = 256;

struct Environment {
  std::string name;
  EnvironmentUrl url;  // throws on use when one of the environment's ${VAR} is unset
  int line = 0;  // where the environment is declared, for messages
  std::optional<std::string> promote_from;
  BackupPolicy backup = BackupPolicy::required;
  LintPolicy lint = LintPolicy::block;
  bool confirm = false;
  // Every migration's commit waits for the WAL flush (else only the run's last, and a flush before mgr reports).
  bool durable_each = false;
  // PostgreSQL settings for the migration's own statements (SET LOCAL), as written: "10s", "15min".
  std::optional<std::string> lock_timeout;
  std::optional<std::string> statement_timeout;
  // How long mgr waits for another mgr holding the migration lock.
  std::chrono::milliseconds lock_wait{60'000};
  BackupFormat backup_format = BackupFormat::custom;
  std::optional<int> backup_keep;                    // keep all when unset
  std::chrono::milliseconds backup_timeout{30 * 60'000};
  std::optional<std::filesystem::path> pg_bin_dir;  // per environment override
  DriftPolicy drift = DriftPolicy::block;
  std::optional<DbUrl> scratch_url;  // server where `mgr drift --against-migrations` makes its scratch database
  bool literal_password = false;  // the url's password is written in the file, not taken from ${VAR}
  // Set on a fleet environment (its `url` then throws, naming --database).
  std::optional<FleetSpec> fleet;
  // Set on one database of a fleet, picked by --database or run by a fleet
  // command: its name in the fleet; backups go to <backups_dir>/<env>/<database>.
  std::string database;
};

struct Config {
  std::filesystem::path path;  // the config file
  std::filesystem::path migrations_dir;
  std::filesystem::path backups_dir;
  QualifiedName history_table{"", "schema_migrations"};
  std::optional<std::filesystem::path> pg_bin_dir;
  int lint_pg_version = 12;
  std::optional<DbUrl> scratch_url;  // default for environments without their own
  std::vector<Environment> environments;  // in promotion order, as declared

  // nullptr when there is no such environment.
  const Environment* find(const std::string& name) const;
  // Throws UsageError naming the known environments.
  const Environment& get(const std::string& name) const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Lookup from the process environment (getenv).
EnvLookup process_env_lookup();

// The longest duration mgr accepts anywhere (lock_wait, backup_timeout, the two
// PostgreSQL timeouts, --lock-wait): 24 days, just under PostgreSQL's own limit
// for lock_timeout/statement_timeout (INT_MAX ms). Longer is a typo, and far
// longer would overflow the clocks that wait on it.
inline constexpr std::chrono::milliseconds k_max_duration{24LL * 86'400'000};
inline constexpr const char* k_max_duration_text = "24d";

// Parses a duration as PostgreSQL writes it: "500ms", "10s", "15min", "1h", "2d"; bare number = ms.
// nullopt when malformed or longer than k_max_duration (see duration_error).
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

// Why parse_duration rejected `text`: "must be a duration such as ..." or
// "must be at most 30d"; the caller prefixes what it is.
std::string duration_error(const std::string& text);

// `--database NAME`: from now on load_config returns `member` (one database
// of a fleet, fleet_member_environment) in place of the fleet environment of
// the same name, so every command works on that one database.
void select_fleet_member(Environment member);

// Throws ConfigError with `path:line:col: message` on any problem.
Config load_config(const std::filesystem::path& path, const EnvLookup& env = process_env_lookup());
// load_config without the warning about a readable password (the CLI peeks
// at the config before the command loads it again).
Config load_config_quietly(const std::filesystem::path& path, const EnvLookup& env = process_env_lookup());
Config parse_config(const std::string& yaml_text, const std::filesystem::path& path,
                    const EnvLookup& env);

// The config path a command uses: --config, else MGR_CONFIG, else config/environments.yaml.
std::filesystem::path resolve_config_path(const std::optional<std::string>& flag, const EnvLookup& env);

}  // namespace mgr
