// Runs one migration file against a Session: the SQL and its bookkeeping
// commit together, and a failure points at the file's line and column.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/history_row.hpp"
#include "mgr/text.hpp"

namespace mgr {

class Session;
class HistoryStore;

// A PostgreSQL error located in the migration file.
struct MigrationError {
  std::filesystem::path file;
  std::optional<LineCol> pos;  // where PostgreSQL reported the error, mapped to the file
  std::string sqlstate;
  std::string message;
  std::string detail;
  std::string hint;
  std::string where;  // PostgreSQL's context line (e.g. inside a DO block)

  // "file:line:col: ERROR 42703: message\n  DETAIL: ...\n  HINT: ..."
  std::string format() const;
};

struct RunOutcome {
  bool ok = false;
  int duration_ms = 0;  // wall time measured by mgr
  std::optional<MigrationError> error;
};

// Extra SQL committed together with a migration (history row, log row).
struct Bookkeeping {
  std::vector<std::string> on_success;  // run in the migration's transaction
  std::vector<std::string> on_failure;  // run afterwards in autocommit (e.g. failed row for no-transaction)
};

class MigrationRunner {
 public:
  MigrationRunner(Session& session, const Environment& env);

  // Transactional file: one round trip holding
  //   BEGIN; SET LOCAL timeouts; <file>; <bookkeeping>; COMMIT
  // On error the transaction is rolled back and nothing of it remains.
  RunOutcome run_in_transaction(const MigrationFile& file, const Bookkeeping& books);

  // The exact query text run_in_transaction sends (`apply --dry-run --sql` prints it).
  std::string transaction_sql(const MigrationFile& file, const Bookkeeping& books) const;

  // `-- mgr:no-transaction` file: its statements one by one in autocommit,
  // then the bookkeeping in a transaction. On failure, on_failure runs.
  RunOutcome run_statements(const MigrationFile& file, const Bookkeeping& books);

  // The queries run_statements sends when every statement succeeds, in order.
  std::vector<std::string> statement_queries(const MigrationFile& file, const Bookkeeping& books) const;

  // Runs `sql` (possibly many statements) as one simple query in autocommit.
  // Throws Failure on error with the server's message.
  void exec(const std::string& sql);

 private:
  std::string transaction_prefix() const;

  Session& m_session;
  const Environment& m_env;
};

}  // namespace mgr
