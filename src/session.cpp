#include "mgr/session.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>

#include "mgr/catalog.hpp"
#include "mgr/error.hpp"

namespace mgr {

Session::Session(const Environment& env, const std::string& application_name) : m_env(&env) {
  // libpq reads these as defaults, so the URL keeps the last word; no extra
  // round trip for SET application_name, and an unreachable host fails in
  // seconds rather than hanging a 2 a.m. deploy.
  // setenv only when needed: a session may be opened on a worker thread
  // after set_client_defaults() ran on the main one (setenv is not thread-safe).
  set_client_defaults(application_name);
  spdlog::debug("{}: connecting to {} as '{}'", env.name, env.url.redacted(), application_name);
  try {
    m_conn = std::make_unique<pqxx::connection>(env.url.conninfo_with_secret());
  } catch (const std::exception& e) {
    throw Failure("cannot connect to " + env.name + " (" + env.url.redacted() + "): " + clean(e.what()));
  }
}

Session::~Session() = default;

void Session::set_client_defaults(const std::string& application_name) {
  const char* current = std::getenv("PGAPPNAME");
  if (current == nullptr || application_name != current) ::setenv("PGAPPNAME", application_name.c_str(), 1);
  if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) ::setenv("PGCONNECT_TIMEOUT", "10", 1);
}

namespace {
// pqxx::largeobject exposes the libpq handle of a transaction's connection to
// its subclasses; this is the supported way to reach it from outside pqxx.
struct RawConnectionAccess : pqxx::largeobject {
  static pg_conn* of(const pqxx::dbtransaction& tx) { return raw_connection(tx); }
};
}  // namespace

pg_conn* Session::raw() {
  if (m_raw == nullptr) {
    pqxx::read_transaction tx(*m_conn);
    m_raw = RawConnectionAccess::of(tx);
    tx.commit();
  }
  return m_raw;
}

std::string Session::clean(const std::string& message) const {
  auto out = redact_secrets(message, m_env->url);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

const ServerIdentity& Session::identity() {
  if (m_identity) return *m_identity;
  ServerIdentity id;
  try {
    pqxx::nontransaction tx(*m_conn);
    auto row = tx.exec1(
        "SELECT current_setting('port'), current_database(), current_setting('server_version_num')::int, "
        "current_setting('server_version'), current_user");
    id.port = row[0].c_str();
    id.database = row[1].c_str();
    id.version_num = row[2].as<int>();
    id.version = row[3].c_str();
    id.user = row[4].c_str();
  } catch (const pqxx::sql_error& e) {
    throw Failure(m_env->name + ": cannot read server identity: " + clean(e.what()));
  }
  try {
    // Restricted to superusers/pg_monitor on some servers: fall back to the
    // server's address, which still tells two clusters apart on one host.
    pqxx::nontransaction tx(*m_conn);
    id.system_identifier = tx.exec1("SELECT system_identifier::text FROM pg_control_system()")[0].c_str();
  } catch (const pqxx::sql_error&) {
    pqxx::nontransaction tx(*m_conn);
    auto r = tx.exec1("SELECT coalesce(host(inet_server_addr()), 'local')");
    id.system_identifier = std::string("addr:") + r[0].c_str();
  }
  m_identity = id;
  return *m_identity;
}

std::int64_t MigrationLock::key_for(const QualifiedName& history_table) {
  // First 8 bytes of a SHA-256: stable across versions and platforms.
  auto hex = sha256_hex("mgr-migration-lock:" + history_table.display());
  return static_cast<std::int64_t>(std::stoull(hex.substr(0, 16), nullptr, 16));
}

namespace {

std::string describe_holder(pqxx::connection& conn, std::int64_t key) {
  pqxx::nontransaction tx(conn);
  // A bigint advisory key shows in pg_locks as classid (high half), objid (low half), objsubid 1.
  auto ukey = static_cast<std::uint64_t>(key);
  auto r = tx.exec_params(
      "SELECT a.pid, coalesce(a.application_name, ''), "
      "to_char(coalesce(a.backend_start, now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "coalesce(a.usename, ''), coalesce(host(a.client_addr), 'local') "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
      "AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.database = "
      "(SELECT oid FROM pg_database WHERE datname = current_database())",
      static_cast<std::int64_t>(ukey >> 32), static_cast<std::int64_t>(ukey & 0xFFFFFFFFu));
  if (r.empty()) return "another session (holder not visible)";
  return "pid " + std::string(r[0][0].c_str()) + " (application_name '" + r[0][1].c_str() + "', user " +
         r[0][3].c_str() + " from " + r[0][4].c_str() + ", connected since " + r[0][2].c_str() + ")";
}

}  // namespace

MigrationLock::MigrationLock(Session& session, const QualifiedName& history_table, std::chrono::milliseconds wait)
    : m_session(session), m_key(key_for(history_table)) {
  auto& conn = session.connection();
  const auto& env = session.environment().name;
  try {
    {
      pqxx::nontransaction tx(conn);
      if (tx.exec_params1("SELECT pg_try_advisory_lock($1)", m_key)[0].as<bool>()) { spdlog::debug("{}: migration lock {} taken", env, m_key); return; }
    }
    auto holder = describe_holder(conn, m_key);
    spdlog::warn("{}: migration lock held by {}; waiting up to {} ms", env, holder, wait.count());
    // Let the server do the waiting: lock_timeout bounds pg_advisory_lock.
    pqxx::nontransaction tx(conn);
    tx.exec("SET lock_timeout = " + std::to_string(std::max<long long>(1, wait.count())));
    try {
      tx.exec_params("SELECT pg_advisory_lock($1)", m_key);
      tx.exec("RESET lock_timeout");
      return;
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "55P03") throw;
    }
    tx.exec("RESET lock_timeout");
    throw Failure(env + ": another mgr is working on this database: migration lock held by " +
                  describe_holder(conn, m_key) + "; gave up after " + std::to_string(wait.count()) +
                  " ms (raise lock_wait or --lock-wait, or wait for it to finish)");
  } catch (const pqxx::sql_error& e) {
    throw Failure(env + ": cannot take the migration lock: " + session.clean(e.what()));
  } catch (const pqxx::broken_connection& e) {
    throw Failure(env + ": connection lost while taking the migration lock: " + session.clean(e.what()));
  }
}

MigrationLock::~MigrationLock() {
  try {
    pqxx::nontransaction tx(m_session.connection());
    tx.exec_params("SELECT pg_advisory_unlock($1)", m_key);
  } catch (...) {
    // Disconnecting releases a session lock anyway.
  }
}

}  // namespace mgr
