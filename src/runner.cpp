#include "mgr/runner.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <chrono>
#include <memory>

#include "mgr/error.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/session.hpp"
#include "mgr/sql.hpp"

namespace mgr {

namespace {

using Clock = std::chrono::steady_clock;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

struct CancelDeleter {
  void operator()(PGcancel* c) const { PQfreeCancel(c); }
};

// Runs one query with Ctrl-C turned into a server-side cancel of that query.
ResultPtr exec_guarded(PGconn* conn, const char* sql) {
  std::unique_ptr<PGcancel, CancelDeleter> cancel(PQgetCancel(conn));
  InterruptGuard guard(cancel.get());
  return ResultPtr(PQexec(conn, sql));
}

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v == nullptr ? std::string() : std::string(v);
}

int elapsed_ms(Clock::time_point start) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Error from a failed result; `sent` is the query text the position refers
// to, and `file_offset` where the file's SQL starts within it (bytes) and at
// which byte of the file it starts.
MigrationError error_from(const PGresult* r, PGconn* conn, const MigrationFile& file, const std::string& sent,
                          std::size_t sent_prefix, std::size_t file_offset) {
  MigrationError e;
  e.file = file.path;
  if (r != nullptr) {
    e.sqlstate = field(r, PG_DIAG_SQLSTATE);
    e.message = field(r, PG_DIAG_MESSAGE_PRIMARY);
    e.detail = field(r, PG_DIAG_MESSAGE_DETAIL);
    e.hint = field(r, PG_DIAG_MESSAGE_HINT);
    e.where = field(r, PG_DIAG_CONTEXT);
    if (auto pos = parse_integer<std::size_t>(field(r, PG_DIAG_STATEMENT_POSITION))) {
      auto byte = byte_offset_of_char(sent, *pos);
      if (byte >= sent_prefix) e.pos = line_col_at(file.sql, byte - sent_prefix + file_offset);
    }
  }
  if (e.message.empty()) e.message = PQerrorMessage(conn);
  return e;
}

}  // namespace

std::string MigrationError::format() const {
  std::string out = file.string();
  if (pos) out += ":" + std::to_string(pos->line) + ":" + std::to_string(pos->col);
  out += ": ERROR";
  if (!sqlstate.empty()) out += " " + sqlstate;
  out += ": " + message;
  if (!detail.empty()) out += "\n  DETAIL: " + detail;
  if (!hint.empty()) out += "\n  HINT: " + hint;
  if (!where.empty()) out += "\n  CONTEXT: " + where;
  return out;
}

MigrationRunner::MigrationRunner(Session& session, const Environment& env) : m_session(session), m_env(env) {}

namespace {
bool result_ok(const PGresult* r) {
  auto status = PQresultStatus(r);
  return r != nullptr && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY);
}
}  // namespace

// Bookkeeping statements as one query in their own transaction.
static std::string in_transaction(const std::vector<std::string>& sql) {
  std::string all = "BEGIN;\n";
  for (const auto& s : sql) all += s + ";\n";
  return all + "COMMIT;";
}

// Sent after every migration, whatever its outcome. Not DISCARD ALL: it would
// also release the session's advisory lock.
const char* const k_reset_session_sql = "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL";

std::string MigrationRunner::try_exec(const std::string& sql) {
  PGconn* conn = m_session.raw();
  ResultPtr r(PQexec(conn, sql.c_str()));
  if (result_ok(r.get())) return "";
  return m_session.clean(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn));
}

void MigrationRunner::exec(const std::string& sql) {
  auto err = try_exec(sql);
  if (err.empty()) return;
  if (!m_session.connected()) throw ConnectionLost("lost the connection to " + m_session.where() + ": " + err);
  throw Failure(m_env.name + ": " + err);
}

void MigrationRunner::reset_session(const MigrationFile& file, const RunOutcome& outcome) {
  if (!m_session.connected()) return;  // the caller reports the lost connection
  auto err = try_exec(k_reset_session_sql);
  if (err.empty()) return;
  std::string what = outcome.ok ? file.path.filename().string() + " was applied, but " : std::string();
  throw Failure(m_env.name + ": " + what + "resetting the session after " + file.path.filename().string() +
                " failed, so nothing more runs on it: " + err);
}

std::string MigrationRunner::flush() {
  // Autocommit: one implicit transaction; txid_current() gives it an xid, so
  // its commit writes a record and waits for the flush.
  return try_exec("SELECT pg_catalog.txid_current()");
}

std::string MigrationRunner::transaction_prefix(bool durable) const {
  std::string prefix = "BEGIN;\n";
  if (m_env.lock_timeout) prefix += "SET LOCAL lock_timeout = " + m_session.quote(*m_env.lock_timeout) + ";\n";
  if (m_env.statement_timeout) {
    prefix += "SET LOCAL statement_timeout = " + m_session.quote(*m_env.statement_timeout) + ";\n";
  }
  if (!durable) prefix += "SET LOCAL synchronous_commit = off;\n";
  return prefix;
}

std::string MigrationRunner::transaction_sql(const MigrationFile& file, const Bookkeeping& books, bool durable) const {
  // The file's own BEGIN/COMMIT pairs are blanked (folded); anything that could end this transaction throws first.
  std::string sent = transaction_prefix(durable) + transaction_body(file.sql, file.path);
  // A newline first: the file may end inside a `--` comment.
  sent += "\n;\n";
  for (const auto& s : books.on_success) sent += s + ";\n";
  sent += "COMMIT;";
  return sent;
}

RunOutcome MigrationRunner::run_in_transaction(const MigrationFile& file, const Bookkeeping& books, bool durable) {
  PGconn* conn = m_session.raw();
  const std::string prefix = transaction_prefix(durable);
  const std::string sent = transaction_sql(file, books, durable);

  RunOutcome out;
  auto start = Clock::now();
  ResultPtr r = exec_guarded(conn, sent.c_str());
  out.duration_ms = elapsed_ms(start);
  bool ok = result_ok(r.get());
  if (ok && PQtransactionStatus(conn) == PQTRANS_IDLE) {
    out.ok = true;
    reset_session(file, out);
    return out;
  }
  out.error = error_from(r.get(), conn, file, sent, prefix.size(), 0);
  if (!m_session.connected()) {
    // The server may have received and executed the COMMIT before the
    // connection went: only the server knows now.
    out.state = RunState::unknown;
    out.error->message = "lost the connection to " + m_session.where() + ": " + m_session.clean(out.error->message);
    return out;
  }
  out.state = RunState::rolled_back;
  if (ok) {
    // The file ended the transaction itself (COMMIT inside it): what ran is
    // committed, so say so plainly.
    out.state = RunState::partial;
    out.error->message = "the migration left its transaction open or ended it itself (BEGIN/COMMIT inside the file?)";
  }
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    auto err = try_exec("ROLLBACK");
    if (!err.empty()) {
      out.state = RunState::unknown;
      out.bookkeeping_error = "the ROLLBACK after the error failed too: " + err;
      return out;
    }
  }
  reset_session(file, out);
  return out;
}

MigrationRunner::StatementPlan MigrationRunner::statement_plan(const MigrationFile& file, const Bookkeeping& books) const {
  StatementPlan plan;
  if (!books.on_start.empty()) plan.on_start = in_transaction(books.on_start);
  if (m_env.lock_timeout) plan.settings += "SET lock_timeout = " + m_session.quote(*m_env.lock_timeout) + ";";
  if (m_env.statement_timeout) {
    plan.settings += "SET statement_timeout = " + m_session.quote(*m_env.statement_timeout) + ";";
  }
  plan.statements = split_statements(file.sql);
  plan.on_success = in_transaction(books.on_success);
  return plan;
}

std::vector<std::string> MigrationRunner::statement_queries(const MigrationFile& file, const Bookkeeping& books) const {
  auto plan = statement_plan(file, books);
  std::vector<std::string> out;
  if (!plan.on_start.empty()) out.push_back(plan.on_start);
  if (!plan.settings.empty()) out.push_back(plan.settings);
  for (const auto& st : plan.statements) out.push_back(st.text);
  out.push_back(plan.on_success);
  out.push_back(k_reset_session_sql);
  return out;
}

RunOutcome MigrationRunner::run_statements(const MigrationFile& file, const Bookkeeping& books) {
  PGconn* conn = m_session.raw();
  RunOutcome out;
  const auto plan = statement_plan(file, books);
  auto start = Clock::now();
  auto lost = [&](const std::string& what) {
    MigrationError err;
    err.file = file.path;
    err.message = "lost the connection to " + m_session.where() + " " + what;
    out.state = RunState::unknown;
    out.error = std::move(err);
    out.duration_ms = elapsed_ms(start);
    return out;
  };

  // The in-progress row first, committed: if mgr dies mid-file, the next
  // apply finds it and stops instead of rerunning statements that ran.
  if (!plan.on_start.empty()) {
    auto err = try_exec(plan.on_start);
    if (!err.empty()) {
      if (!m_session.connected()) return lost("before its first statement: " + err);
      MigrationError e;
      e.file = file.path;
      e.message = "could not record its start, so none of it ran: " + err;
      out.state = RunState::not_started;
      out.error = std::move(e);
      try_exec("ROLLBACK");
      reset_session(file, out);
      return out;
    }
  }
  if (!plan.settings.empty()) {
    auto err = try_exec(plan.settings);
    if (!err.empty()) {
      if (!m_session.connected()) return lost("before its first statement: " + err);
      MigrationError e;
      e.file = file.path;
      e.message = "could not set lock_timeout/statement_timeout: " + err;
      out.error = std::move(e);
      out.state = RunState::partial;  // nothing ran, but its row says started: settle it as failed
    }
  }
  if (!out.error) {
    for (const auto& st : plan.statements) {
      ResultPtr r = exec_guarded(conn, st.text.c_str());
      if (result_ok(r.get())) continue;
      if (!m_session.connected()) {
        auto at = st.offset;
        while (at < file.sql.size() && std::isspace(static_cast<unsigned char>(file.sql[at]))) ++at;
        auto pos = line_col_at(file.sql, at);
        return lost("during the statement at line " + std::to_string(pos.line) +
                    " (the ones before it ran; whether it did is unknown): " +
                    m_session.clean(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn)));
      }
      out.error = error_from(r.get(), conn, file, st.text, 0, st.offset);
      if (!out.error->pos) out.error->pos = line_col_at(file.sql, st.offset);
      out.state = RunState::partial;
      break;
    }
  }
  if (!out.error) {
    auto err = try_exec(plan.on_success);
    out.duration_ms = elapsed_ms(start);
    if (err.empty()) {
      out.ok = true;
      reset_session(file, out);
      return out;
    }
    if (!m_session.connected()) return lost("after its statements ran, while recording them: " + err);
    MigrationError e;
    e.file = file.path;
    e.message = "the statements ran but recording them failed: " + err;
    out.error = std::move(e);
    out.state = RunState::partial;
  }
  // Settle the failure: leave any open transaction, then record it.
  out.duration_ms = elapsed_ms(start);
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    auto err = try_exec("ROLLBACK");
    if (!err.empty()) out.bookkeeping_error = "the ROLLBACK after the error failed: " + err;
  }
  if (!books.on_failure.empty()) {
    auto err = try_exec(in_transaction(books.on_failure));
    if (!err.empty()) {
      if (PQtransactionStatus(conn) != PQTRANS_IDLE) try_exec("ROLLBACK");
      out.bookkeeping_error += std::string(out.bookkeeping_error.empty() ? "" : "; ") +
                               "recording the failure failed: " + err;
    }
  }
  if (!m_session.connected()) out.state = RunState::unknown;
  reset_session(file, out);
  return out;
}

}  // namespace mgr
