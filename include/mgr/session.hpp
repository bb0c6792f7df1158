// A connection to one environment's database, and the migration lock.
//
// The only module (with history.hpp) that includes libpqxx. Every error that
// leaves it is a mgr::Error whose text is free of the password.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "mgr/config.hpp"

struct pg_conn;

namespace mgr {

// What identifies a database independently of how its URL is spelled.
struct ServerIdentity {
  std::string system_identifier;  // pg_control_system(): the cluster
  std::string port;               // the server's own port setting
  std::string database;           // current_database()
  int version_num = 0;            // server_version_num, e.g. 150018
  std::string version;            // server_version, e.g. "15.18 (Debian ...)"
  std::string user;               // current_user

  std::string key() const { return system_identifier + ":" + port + ":" + database; }
};

class Session {
 public:
  // Connects (throws Failure with the redacted URL and libpq's reason, secrets
  // removed) and sets application_name to `application_name`.
  Session(const Environment& env, const std::string& application_name);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  pqxx::connection& connection() { return *m_conn; }

  // The libpq handle under the pqxx connection, for the migration runner:
  // libpqxx 6.4 reports errors without their position, detail and hint, which
  // a migration error must show. Use it only while no pqxx transaction is open.
  pg_conn* raw();
  const Environment& environment() const { return *m_env; }

  // Sets libpq's defaults for the next connections (PGAPPNAME, and a 10 s
  // PGCONNECT_TIMEOUT unless the user set one). Call on the main thread before
  // opening a Session on another thread.
  static void set_client_defaults(const std::string& application_name);

  // Queried once, then cached.
  const ServerIdentity& identity();

  // Rewrites a libpqxx/libpq error text for display: password removed.
  std::string clean(const std::string& message) const;

 private:
  const Environment* m_env;
  std::unique_ptr<pqxx::connection> m_conn;
  std::optional<ServerIdentity> m_identity;
  pg_conn* m_raw = nullptr;
};

// Session-level advisory lock that serialises mgr runs on one database. The
// key derives from the history table's name, so two projects with different
// history tables in one database do not block each other.
class MigrationLock {
 public:
  // Waits up to `wait`, logging who holds the lock (pid, application_name,
  // since when); gives up with Failure (exit 1) naming the holder.
  MigrationLock(Session& session, const QualifiedName& history_table, std::chrono::milliseconds wait);
  ~MigrationLock();
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;

  static std::int64_t key_for(const QualifiedName& history_table);

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
