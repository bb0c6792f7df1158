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

// A possibly schema-qualified table name: ops.schema_migrations.
struct QualifiedName {
  std::string schema;  // empty: the connection's search_path decides (normally public)
  std::string table;
  // Both parts double-quoted for SQL: "ops"."schema_migrations"
  std::string quoted() const;
  // Human form: ops.schema_migrations
  std::string display() const;
};

struct Environment {
  std::string name;
  DbUrl url;
  int line = 0;  // where the environment is declared, for messages
  std::optional<std::string> promote_from;
  BackupPolicy backup = BackupPolicy::required;
  LintPolicy lint = LintPolicy::block;
  bool confirm = false;
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

// Parses a duration as PostgreSQL writes it: "500ms", "10s", "15min", "1h", "2d"; bare number = ms.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

// Throws ConfigError with `path:line:col: message` on any problem.
Config load_config(const std::filesystem::path& path, const EnvLookup& env = process_env_lookup());
Config parse_config(const std::string& yaml_text, const std::filesystem::path& path,
                    const EnvLookup& env);

// The config path a command uses: --config, else MGR_CONFIG, else config/environments.yaml.
std::filesystem::path resolve_config_path(const std::optional<std::string>& flag, const EnvLookup& env);

}  // namespace mgr
