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

class HistoryStore {
 public:
  HistoryStore(Session& session, QualifiedName table);

  const QualifiedName& table() const { return m_table; }
  QualifiedName log_table() const;

  bool exists();
  // Creates the schema, history table and log table when missing, and adds
  // columns that older mgr versions did not have. Idempotent.
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

  // SQL text of the INSERT for `row`, literals quoted by the connection; lets
  // the apply path send migration + history row in one round trip.
  // applied_by is written as `current_user (row.applied_by)`, row.applied_by
  // being the OS user@host. With `duration_from_server`, execution_ms is
  // measured by the server: clock_timestamp() - statement_timestamp(), i.e.
  // since the query string holding the migration arrived.
  std::string insert_sql(const HistoryRow& row, bool duration_from_server = false);
  std::string log_sql(const LogEntry& entry, bool duration_from_server = false);

 private:
  Session& m_session;
  QualifiedName m_table;
};

}  // namespace mgr
