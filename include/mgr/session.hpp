// A connection to one environment's database, and the migration lock.
//
// The only module (with history.hpp) that includes libpqxx. Every error that
// leaves it is a mgr::Error whose text names the environment and is free of
// the password.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/server_identity.hpp"

struct pg_conn;

namespace mgr {

// The connection to an environment broke: the session (and its advisory
// lock) is gone, and mgr never reconnects behind the caller's back.
class ConnectionLost : public Failure {
 public:
  explicit ConnectionLost(const std::string& m) : Failure(m) {}
};

class Session {
 public:
  // Connects (throws Failure naming the environment, the redacted URL and
  // libpq's reason, secrets removed). application_name and a 10 s
  // connect_timeout (unless PGCONNECT_TIMEOUT is set) go to libpq as
  // connection keywords, before the URL's own, which keep the last word.
  Session(const Environment& env, const std::string& application_name);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The libpqxx view of the session's one connection. Reactivation is
  // inhibited: after a connection loss every use throws, none reconnects.
  pqxx::connection_base& connection();

  // The same connection's libpq handle, for the migration runner: libpqxx 6.4
  // reports errors without their position, detail and hint, which a migration
  // error must show. The Session owns it (it outlives the pqxx object); use it
  // only while no pqxx transaction is open.
  pg_conn* raw() { return m_raw.get(); }
  const Environment& environment() const { return *m_env; }

  // False once the connection broke.
  bool connected() const;

  // Queried once, then cached.
  const ServerIdentity& identity();

  // pg_try_advisory_lock(key); reads the server identity in the same round
  // trip when it is not cached yet (a backup after the lock then needs no
  // query of its own).
  bool try_advisory_lock(std::int64_t key);

  // A history table name resolved against this server: the schema it lives
  // in (or, when missing, the one it would be created in), so mgr's SQL is
  // schema-qualified whatever a migration does to search_path. Cached.
  const QualifiedName& resolve(const QualifiedName& name);

  // A string literal for SQL text, escaped by libpq for this connection
  // (PQescapeLiteral): works on a broken connection too, so building
  // bookkeeping SQL never fails with a bare library message.
  std::string quote(const std::string& text) const;

  // Rewrites a libpqxx/libpq error text for display: password removed.
  std::string clean(const std::string& message) const;

  // Turns whatever a libpqxx call threw while mgr was `doing` something into
  // a mgr error naming the environment, its redacted URL and that activity.
  // A broken connection becomes ConnectionLost. Call inside a catch block.
  [[noreturn]] void rethrow(const std::string& doing) const;

  // "dev (postgresql://u:***@h/db)"
  std::string where() const;

 private:
  struct PgConnDeleter {
    void operator()(pg_conn* c) const;
  };
  class Connection;

  const Environment* m_env;
  std::unique_ptr<pg_conn, PgConnDeleter> m_raw;  // declared first: destroyed after m_conn
  std::unique_ptr<Connection> m_conn;
  std::optional<ServerIdentity> m_identity;
  std::map<std::string, QualifiedName> m_resolved;
};

// Session-level advisory lock that serialises mgr runs on one database. The
// key derives from the history table resolved against the server
// (`schema.table`), so `schema_migrations` and `public.schema_migrations`
// take the same lock, and two projects with different history tables in one
// database do not block each other.
class MigrationLock {
 public:
  // Waits up to `wait`, logging who holds the lock (pid, application_name,
  // since when); gives up with Failure (exit 1) naming the holder.
  MigrationLock(Session& session, const QualifiedName& history_table, std::chrono::milliseconds wait);
  ~MigrationLock();
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;

  // `resolved` must name its schema (Session::resolve).
  static std::int64_t key_for(const QualifiedName& resolved);

 private:
  Session& m_session;
  std::int64_t m_key;
};

// Quotes a PostgreSQL error for the user: SQLSTATE, message, detail, hint.
struct PgErrorInfo {
  std::string sqlstate;
  std::string message;
  std::string detail;
  std::string hint;
  std::optional<std::size_t> position;  // 1-based character position in the statement, when reported
};

}  // namespace mgr
