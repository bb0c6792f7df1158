// The history table (`schema_migrations` by default) and its audit log
// (`<history_table>_log`) in one environment's database.
#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "mgr/config.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

class Session;
struct RestoreAudit;

// Changes to the history table and its audit log made outside a migration's
// own transaction (baseline, repair, a restore's audit row): they commit
// together or not at all (HistoryStore::commit).
struct HistoryEdit {
  struct Checksum {
    std::string migration_id;
    std::string checksum;
    std::optional<std::string> down_checksum;
  };
  std::vector<HistoryRow> inserts;
  std::vector<std::string> removals;  // migration ids
  std::vector<Checksum> checksums;    // re-recorded checksums
  std::vector<LogEntry> log;          // audit rows
};

class HistoryStore {
 public:
  // For reading. Rows written through it carry CI and source provenance but
  // no git commit: it does not know the migrations folder.
  HistoryStore(Session& session, QualifiedName table);
  // For writing: every row and log entry records this command's provenance
  // (git of config.migrations_dir, CI job, source environment).
  HistoryStore(Session& session, const Config& config);

  const QualifiedName& table() const { return m_table; }
  QualifiedName log_table() const;

  bool exists();
  // Creates the schema, history table and log table when missing, and adds
  // columns that older mgr versions did not have. Idempotent. Refuses (exit 3)
  // a history_table that names an existing table which is not mgr's.
  void ensure();

  // Every row ordered by migration id (numeric), one query. Empty when the table is missing.
  std::vector<HistoryRow> read_all();

  // In the caller's transaction, so the row commits with the migration.
  void insert(pqxx::transaction_base& tx, const HistoryRow& row);
  void remove(pqxx::transaction_base& tx, const std::string& migration_id);
  void update_checksum(pqxx::transaction_base& tx, const std::string& migration_id,
                       const std::string& checksum, const std::optional<std::string>& down_checksum);
  void append_log(pqxx::transaction_base& tx, const LogEntry& entry);

  // Newest first.
  std::vector<LogEntry> read_log(int limit);

  // ---- Bookkeeping outside a migration (baseline, repair, restore, reset) ----
  // Each opens and commits its own transaction: no command talks SQL to the
  // history or the audit log. Errors come back as mgr errors naming the
  // environment; `what` names the change in them ("baseline", "repair").

  // `edit` in one transaction. A connection lost during the COMMIT is a
  // Failure saying the outcome is unknown; any other error, that nothing changed.
  void commit(const HistoryEdit& edit, const std::string& what);

  // The schema that holds (or would hold) the audit log: the configured one,
  // else where the search_path finds the table, else the first schema on it.
  std::string log_schema();

  // Whether the audit log has a row of `action` whose detail contains
  // `token` (false when there is no log table): how a restore interrupted by
  // a signal tells whether psql's COMMIT (which writes that row) got through.
  bool log_has(const std::string& action, const std::string& token);

  // `mgr reset`: drops every schema of the database but the audit log's, and
  // writes the reset's audit row (audit.restore_row_sql), in one transaction
  // (backup.hpp's reset_wipe_sql); then resets the session's settings.
  void wipe_keeping_log(const RestoreAudit& audit);

  // ---- Schema snapshots in the audit log (drift, docs/drift.md) ----
  // Puts a snapshot's key (schema_sha256) on the newest successful audit row
  // of `action`, in the caller's transaction (the snapshot's). Nothing to
  // mark without an audit log (a restored backup without one).
  void mark_schema_snapshot(pqxx::transaction_base& tx, const std::string& action, const std::string& sha256);

  // SQL text of the INSERT for `row`, literals quoted by the connection; lets
  // the apply path send migration + history row in one round trip.
  // applied_by is written as `current_user (row.applied_by)`, row.applied_by
  // being the OS user@host. With `duration_from_server`, execution_ms is
  // measured by the server: clock_timestamp() - statement_timestamp(), i.e.
  // since the query string holding the migration arrived.
  std::string insert_sql(const HistoryRow& row, bool duration_from_server = false);
  std::string log_sql(const LogEntry& entry, bool duration_from_server = false);
  // Turns the in-progress row of a no-transaction migration (insert_sql of a
  // row with in_progress) into its outcome; execution_ms since it was inserted.
  std::string finish_sql(const std::string& migration_id, bool success);
  std::string remove_sql(const std::string& migration_id);
  // success = false; with in_progress while a no-transaction down file runs.
  std::string mark_failed_sql(const std::string& migration_id, bool in_progress = false);

  // What this command's rows record (provenance.hpp): found out on first use,
  // then reused. `apply`: the row is an apply, whose source is the promote_from
  // environment; other actions record none.
  Provenance provenance(bool apply);

 private:
  // The table resolved against the server (Session::resolve): every SQL text
  // names its schema, so a migration's search_path cannot misdirect it.
  const QualifiedName& resolved();
  std::string sql_table();
  std::string sql_log_table();
  void refuse_foreign_tables(pqxx::transaction_base& tx);
  // The provenance columns (their own block, see history.cpp).
  void ensure_provenance_columns(pqxx::transaction_base& tx, const std::string& table, const std::string& log);
  std::string provenance_values(bool apply);
  // Adds the audit log's schema_sha256 column when missing (create and upgrade).
  void add_snapshot_column(pqxx::transaction_base& tx);

  Session& m_session;
  QualifiedName m_table;  // as configured, for messages
  std::filesystem::path m_migrations_dir;  // empty: git provenance is not looked up
};

}  // namespace mgr
