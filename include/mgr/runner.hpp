// Runs one migration file against a Session: the SQL and its bookkeeping
// commit together, and a failure points at the file's line and column.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/history_row.hpp"
#include "mgr/sql.hpp"
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

// What is known of a migration's effects after it ran. Only `rolled_back`
// allows saying that nothing of it remains.
enum class RunState {
  done,         // ran and recorded
  rolled_back,  // transactional, the server reported an error and rolled it back
  not_started,  // no-transaction: its in-progress row could not be recorded, so none of it ran
  partial,      // no-transaction: failed part-way; statements before the failing one stayed
  unknown,      // the connection was lost: whether it committed (or how far it got) is unknown
};

struct RunOutcome {
  bool ok = false;
  RunState state = RunState::done;
  int duration_ms = 0;  // wall time measured by mgr
  std::optional<MigrationError> error;
  // Non-empty when recording the outcome failed too (the history may not say
  // what happened): the message to add.
  std::string bookkeeping_error;
};

// Extra SQL committed together with a migration (history row, log row).
struct Bookkeeping {
  std::vector<std::string> on_start;    // no-transaction: committed before the first statement (in-progress row)
  std::vector<std::string> on_success;  // in the migration's transaction; after the statements for no-transaction
  std::vector<std::string> on_failure;  // no-transaction: in a transaction after a failed statement
};

// The query that returns the session to its initial state after each migration.
extern const char* const k_reset_session_sql;

class MigrationRunner {
 public:
  MigrationRunner(Session& session, const Environment& env);

  // Transactional file: one round trip holding
  //   BEGIN; SET LOCAL timeouts; <file>; <bookkeeping>; COMMIT
  // On a server error the transaction is rolled back and nothing of it
  // remains; on a lost connection the outcome is `unknown`. With `durable`
  // false the COMMIT does not wait for the WAL flush (SET LOCAL
  // synchronous_commit = off): the migration and its rows are atomic as ever,
  // but durable only once a later synchronous commit (or flush()) returns.
  RunOutcome run_in_transaction(const MigrationFile& file, const Bookkeeping& books, bool durable = true);

  // Makes every commit before it durable: a transaction with an xid commits
  // with the session's synchronous_commit, which flushes the WAL up to its
  // commit record (and so every earlier commit) and waits for synchronous
  // standbys. "" on success, else the error.
  std::string flush();

  // `-- mgr:no-transaction` file: on_start committed first, then its
  // statements one by one in autocommit, then on_success in a transaction. On
  // failure, on_failure runs; a kill leaves what on_start recorded.
  RunOutcome run_statements(const MigrationFile& file, const Bookkeeping& books);

  // Both run_* end by returning the session to its initial state (RESET
  // SESSION AUTHORIZATION, RESET ROLE, RESET ALL; the advisory lock stays), so
  // no SET of one migration reaches the next. Throws ConnectionLost/Failure if
  // that fails: nothing more may run on the connection then.

  // The exact query text run_in_transaction sends (`apply --dry-run --sql` prints
  // it, then k_reset_session_sql).
  std::string transaction_sql(const MigrationFile& file, const Bookkeeping& books, bool durable = true) const;

  // The queries run_statements sends when every statement succeeds, in order
  // (built by the same statement_plan, so the two cannot differ).
  std::vector<std::string> statement_queries(const MigrationFile& file, const Bookkeeping& books) const;

  // Runs `sql` (possibly many statements) as one simple query in autocommit.
  // Throws Failure on error with the server's message, ConnectionLost when
  // the connection is gone.
  void exec(const std::string& sql);

 private:
  void reset_session(const MigrationFile& file, const RunOutcome& outcome);
  // Runs `sql` in autocommit; "" on success, else the error text.
  std::string try_exec(const std::string& sql);
  std::string transaction_prefix(bool durable) const;

  // What run_statements sends for a no-transaction file, in order; "" for a
  // query it skips.
  struct StatementPlan {
    std::string on_start;  // the in-progress row, in its own transaction
    std::string settings;  // session-level lock_timeout/statement_timeout
    std::vector<SqlStatement> statements;
    std::string on_success;  // the history and audit rows, in one transaction
  };
  StatementPlan statement_plan(const MigrationFile& file, const Bookkeeping& books) const;

  Session& m_session;
  const Environment& m_env;
};

}  // namespace mgr
