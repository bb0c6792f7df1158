// Schema snapshots of one environment's database: taking them with pg_dump,
// storing them in `<history_table>_schema`, and comparing the live schema
// with the one mgr recorded after its last change (docs/drift.md).
//
// pg_dump runs through the process runner exactly as for backups: argv
// without the password, PGPASSWORD only in the child's environment.
#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/drift.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

class Session;

// `<history_table>_schema`: one row per distinct canonical schema text,
// keyed by its SHA-256; the row flagged `is_current` is the environment's
// schema as mgr last recorded it.
QualifiedName snapshot_table(const QualifiedName& history_table);

// mgr's own tables, never part of a snapshot: the history table and its
// companions (<t>_log, <t>_schema). Their owned sequences are excluded too
// (found on the server when the schema is captured).
std::vector<QualifiedName> mgr_own_tables(const QualifiedName& history_table);

// Dumps `env`'s schema now (`pg_dump --schema-only --no-owner
// --no-privileges --no-subscriptions`, mgr's tables excluded) and makes it
// canonical. pg_dump is found like the backup's (pg_bin_dir, MGR_PG_BIN_DIR,
// PATH) and bounded by the environment's backup_timeout. Throws Failure with
// pg_dump's stderr (password removed).
SchemaText capture_schema(Session& session, const Config& config, const Environment& env);

class SnapshotStore {
 public:
  SnapshotStore(Session& session, const QualifiedName& history_table);

  // Creates the table when missing. Idempotent.
  void ensure();
  // The current snapshot; nullopt when the table or a current row is missing.
  std::optional<RecordedSchema> current();
  // In the caller's transaction: stores `schema` if its key is new and makes
  // it the current one (the previous current row stays, no longer current).
  void record(pqxx::transaction_base& tx, const SchemaText& schema, const std::string& environment,
              const std::string& action, const std::string& os_user);

 private:
  Session& m_session;
  QualifiedName m_table;
};

// Records an already captured `schema` as current, with `log` (when given)
// appended to the audit log, in one transaction. The tables must exist
// (SnapshotStore::ensure, HistoryStore::ensure for the log).
void store_snapshot(Session& session, const Config& config, const Environment& env, const SchemaText& schema,
                    const std::string& action, const std::optional<LogEntry>& log);

// Captures the schema and records it as current, with `log` (when given)
// appended to the audit log in the same transaction. Creates the snapshot
// table, and with a log entry the history tables, when missing. Throws
// Failure; the caller holds the MigrationLock.
SchemaText record_schema_snapshot(Session& session, const Config& config, const Environment& env,
                                  const std::string& action, const std::optional<LogEntry>& log = std::nullopt);

// ============================================================================
// Call after EVERY SUCCESSFUL CHANGE of an environment's schema by mgr:
// `apply` (only when it applied at least one migration: a no-op apply takes
// no snapshot), `rollback`, `baseline`, `repair`, `restore`.
//
//   - `action` is the command's name ("apply", "rollback", ...); it is stored
//     with the snapshot and shown by `mgr drift`.
//   - Call it while still holding the MigrationLock, after the change has
//     committed, on a Session connected to the changed database (for
//     `restore`, which loads through psql, any open Session of that
//     environment will do: the snapshot is read by a fresh pg_dump).
//   - Returns the snapshot's SHA-256, to put on the action's audit/history
//     rows. Never throws for a snapshot problem: the change itself succeeded
//     and must not be reported as failed. It logs a warning instead (the
//     next `mgr drift` would then show the change as drift until
//     `mgr drift <env> --accept` records it) and returns nullopt.
//   - Costs one pg_dump --schema-only plus one small transaction
//     (bench/RESULTS.md).
// ============================================================================
std::optional<std::string> snapshot_after_change(Session& session, const Config& config, const Environment& env,
                                                 const std::string& action);

// The live schema of `env` compared with its current snapshot: what
// `mgr drift <env>`, `validate`, `status` and the apply gate ask. Read-only
// (no table is created); the caller decides about the lock.
DriftReport check_drift(Session& session, const Config& config, const Environment& env);

// The schema the migrations produce: a scratch database is created on
// `scratch_url` (the environment's, else the config's) under a unique name,
// `migrations` are applied to it in order with the normal runner (and their
// history rows), its schema is captured, and the database is dropped again,
// on errors and Ctrl-C too. Throws ConfigError when no scratch_url is set.
SchemaText schema_from_migrations(const Config& config, const Environment& env,
                                  const std::vector<const Migration*>& migrations);

}  // namespace mgr
