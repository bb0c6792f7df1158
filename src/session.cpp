#include "mgr/session.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/error.hpp"
#include "mgr/sha256.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

// Hands libpqxx the PGconn the Session opened and owns, and never opens
// another: libpqxx 6 would otherwise reconnect a broken connection behind
// mgr's back (PQreset or a new connect), silently dropping the session's
// advisory lock. Disconnecting only forgets the handle; the Session frees it.
class OwnedConnectionPolicy : public pqxx::connectionpolicy {
 public:
  explicit OwnedConnectionPolicy(pg_conn* conn) : pqxx::connectionpolicy(std::string()), m_conn(conn) {}

  handle do_startconnect(handle orig) override {
    if (orig != nullptr) return orig;
    if (m_handed_out) throw pqxx::broken_connection("the connection was lost and mgr does not reconnect");
    m_handed_out = true;
    return m_conn;
  }
  handle do_disconnect(handle) noexcept override { return nullptr; }

 private:
  pg_conn* m_conn;
  bool m_handed_out = false;
};

}  // namespace

// libpqxx's documented way to combine connection_base with a policy (what
// basic_connection_base does), with the policy above.
class Session::Connection : public pqxx::connection_base {
 public:
  explicit Connection(pg_conn* conn) : pqxx::connection_base(m_policy), m_policy(conn) {
    init();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    inhibit_reactivation(true);
#pragma GCC diagnostic pop
  }
  ~Connection() noexcept { close(); }

 private:
  OwnedConnectionPolicy m_policy;
};

void Session::PgConnDeleter::operator()(pg_conn* c) const { PQfinish(c); }

Session::Session(const Environment& env, const std::string& application_name) : m_env(&env) {
  // Keywords rather than PGAPPNAME/PGCONNECT_TIMEOUT: a Session may be opened
  // on a worker thread, where setenv is not safe. The URL comes last
  // (expanded as dbname), so its own settings keep the last word; an
  // unreachable host fails in seconds rather than hanging a 2 a.m. deploy.
  spdlog::debug("{}: connecting to {} as '{}'", env.name, env.url.redacted(), application_name);
  std::vector<const char*> keys{"application_name"};
  std::vector<const char*> values{application_name.c_str()};
  if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) {
    keys.push_back("connect_timeout");
    values.push_back("10");
  }
  keys.push_back("dbname");
  values.push_back(env.url.conninfo_with_secret().c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  m_raw.reset(PQconnectdbParams(keys.data(), values.data(), 1));
  if (m_raw == nullptr) throw Failure("cannot connect to " + where() + ": out of memory");
  if (PQstatus(m_raw.get()) != CONNECTION_OK) {
    throw Failure("cannot connect to " + where() + ": " + clean(PQerrorMessage(m_raw.get())));
  }
  try {
    m_conn = std::make_unique<Connection>(m_raw.get());
  } catch (const std::exception&) {
    rethrow("setting up the connection");
  }
}

Session::~Session() = default;

pqxx::connection_base& Session::connection() { return *m_conn; }

bool Session::connected() const { return m_raw && PQstatus(m_raw.get()) == CONNECTION_OK; }

std::string Session::quote(const std::string& text) const {
  std::unique_ptr<char, void (*)(void*)> out(PQescapeLiteral(m_raw.get(), text.data(), text.size()), PQfreemem);
  if (out == nullptr) {
    throw Failure(m_env->name + ": cannot quote a value for SQL: " + clean(PQerrorMessage(m_raw.get())));
  }
  return out.get();
}

std::string Session::where() const { return m_env->name + " (" + m_env->url.redacted() + ")"; }

std::string Session::clean(const std::string& message) const {
  auto out = redact_secrets(message, m_env->url);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void Session::rethrow(const std::string& doing) const {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || !connected()) {
      // libpq's own reason (e.g. "server closed the connection unexpectedly")
      // says more than libpqxx's follow-up ("Could not obtain client encoding").
      std::string why = m_raw ? clean(PQerrorMessage(m_raw.get())) : std::string();
      if (why.empty()) why = clean(e.what());
      throw ConnectionLost("lost the connection to " + where() + " while " + doing + ": " + why);
    }
    throw Failure(m_env->name + ": " + doing + " failed: " + clean(e.what()));
  }
}

namespace {

// The server identity as columns of one SELECT, so it can ride along with
// another query. pg_control_system() may be restricted (superusers and
// pg_monitor on some servers): then the server's address, which still tells
// two clusters apart on one host.
constexpr const char* k_identity_columns =
    "pg_catalog.current_setting('port'), pg_catalog.current_database(), "
    "pg_catalog.current_setting('server_version_num')::int, pg_catalog.current_setting('server_version'), "
    "current_user, "
    "CASE WHEN pg_catalog.to_regprocedure('pg_catalog.pg_control_system()') IS NULL THEN NULL "
    "WHEN pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') "
    "THEN (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) END, "
    "coalesce(pg_catalog.host(pg_catalog.inet_server_addr()), 'local')";

ServerIdentity identity_from(const pqxx::row& row, pqxx::row::size_type first) {
  ServerIdentity id;
  id.port = row[first].c_str();
  id.database = row[first + 1].c_str();
  id.version_num = row[first + 2].as<int>();
  id.version = row[first + 3].c_str();
  id.user = row[first + 4].c_str();
  id.system_identifier =
      row[first + 5].is_null() ? std::string("addr:") + row[first + 6].c_str() : std::string(row[first + 5].c_str());
  return id;
}

}  // namespace

const ServerIdentity& Session::identity() {
  if (m_identity) return *m_identity;
  try {
    pqxx::nontransaction tx(*m_conn);
    m_identity = identity_from(tx.exec1(std::string("SELECT ") + k_identity_columns), 0);
  } catch (const std::exception&) {
    rethrow("reading the server identity");
  }
  return *m_identity;
}

bool Session::try_advisory_lock(std::int64_t key) {
  pqxx::nontransaction tx(*m_conn);
  if (m_identity) return tx.exec_params1("SELECT pg_catalog.pg_try_advisory_lock($1)", key)[0].as<bool>();
  auto row = tx.exec_params1(std::string("SELECT pg_catalog.pg_try_advisory_lock($1), ") + k_identity_columns, key);
  m_identity = identity_from(row, 1);
  return row[0].as<bool>();
}

const QualifiedName& Session::resolve(const QualifiedName& name) {
  auto key = name.quoted();
  auto it = m_resolved.find(key);
  if (it != m_resolved.end()) return it->second;
  QualifiedName out = name;
  if (out.schema.empty()) {
    // Through libpq, not a pqxx transaction object: callers may resolve while
    // one is open (libpqxx allows one at a time); a catalog read is harmless inside it.
    const std::string quoted = name.quoted();
    const char* params[] = {quoted.c_str()};
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(
        PQexecParams(m_raw.get(),
                     "SELECT coalesce((SELECT n.nspname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                     "ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) "
                     "pg_catalog.to_regclass($1)), pg_catalog.current_schema()::text)",
                     1, nullptr, params, nullptr, nullptr, 0),
        PQclear);
    const std::string doing = "resolving the history table " + name.display();
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
      auto why = clean(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(m_raw.get()));
      if (!connected()) throw ConnectionLost("lost the connection to " + where() + " while " + doing + ": " + why);
      throw Failure(m_env->name + ": " + doing + " failed: " + why);
    }
    if (PQgetisnull(r.get(), 0, 0)) {
      throw Failure(m_env->name + ": history table " + name.display() +
                    " has no schema to live in: no schema of the search_path exists; name one in history_table "
                    "(e.g. public." + name.table + ")");
    }
    out.schema = PQgetvalue(r.get(), 0, 0);
  }
  return m_resolved.emplace(key, out).first->second;
}

std::int64_t MigrationLock::key_for(const QualifiedName& resolved) {
  // First 8 bytes of a SHA-256: stable across versions and platforms.
  auto hex = sha256_hex("mgr-migration-lock:" + resolved.schema + "." + resolved.table);
  return static_cast<std::int64_t>(*parse_integer<std::uint64_t>(std::string_view(hex).substr(0, 16), 16));
}

namespace {

std::string describe_holder(pqxx::connection_base& conn, std::int64_t key) {
  pqxx::nontransaction tx(conn);
  // A bigint advisory key shows in pg_locks as classid (high half), objid (low half), objsubid 1.
  auto ukey = static_cast<std::uint64_t>(key);
  auto r = tx.exec_params(
      "SELECT a.pid, coalesce(a.application_name, ''), "
      "pg_catalog.to_char(coalesce(a.backend_start, pg_catalog.now()) AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(a.usename::text, ''), "
      "coalesce(pg_catalog.host(a.client_addr), 'local') "
      "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid "
      "WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted AND l.objsubid OPERATOR(pg_catalog.=) 1 "
      "AND l.classid::bigint OPERATOR(pg_catalog.=) $1 AND l.objid::bigint OPERATOR(pg_catalog.=) $2 "
      "AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database "
      "WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
      static_cast<std::int64_t>(ukey >> 32), static_cast<std::int64_t>(ukey & 0xFFFFFFFFu));
  if (r.empty()) return "another session (holder not visible)";
  return "pid " + std::string(r[0][0].c_str()) + " (application_name '" + r[0][1].c_str() + "', user " +
         r[0][3].c_str() + " from " + r[0][4].c_str() + ", connected since " + r[0][2].c_str() + ")";
}

std::string wait_text(std::chrono::milliseconds wait) {
  auto ms = wait.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + " ms";
}

// Waits for the lock on the server (lock_timeout bounds pg_advisory_lock);
// true when taken, false when the wait ran out. One statement at a time, each
// in its own nontransaction: libpqxx allows one open transaction object.
bool wait_for_lock(pqxx::connection_base& conn, std::int64_t key, std::chrono::milliseconds wait) {
  {
    pqxx::nontransaction tx(conn);
    tx.exec("SET lock_timeout = " + std::to_string(std::max<long long>(1, wait.count())));
  }
  bool taken = true;
  try {
    pqxx::nontransaction tx(conn);
    tx.exec_params("SELECT pg_catalog.pg_advisory_lock($1)", key);
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "55P03") throw;
    taken = false;
  }
  pqxx::nontransaction tx(conn);
  tx.exec("RESET lock_timeout");
  return taken;
}

}  // namespace

MigrationLock::MigrationLock(Session& session, const QualifiedName& history_table, std::chrono::milliseconds wait)
    : m_session(session), m_key(key_for(session.resolve(history_table))) {
  auto& conn = session.connection();
  const auto& env = session.environment().name;
  std::string holder;
  try {
    if (session.try_advisory_lock(m_key)) {
      spdlog::debug("{}: migration lock {} taken", env, m_key);
      return;
    }
    holder = describe_holder(conn, m_key);
    spdlog::warn("{}: migration lock held by {}; waiting up to {}", env, holder, wait_text(wait));
    if (wait_for_lock(conn, m_key, wait)) return;
    holder = describe_holder(conn, m_key);
  } catch (const std::exception&) {
    session.rethrow("taking the migration lock");
  }
  throw Failure(env + ": another mgr is working on this database: migration lock held by " + holder +
                "; gave up after " + wait_text(wait) + " (raise lock_wait or --lock-wait, or wait for it to finish)");
}

MigrationLock::~MigrationLock() {
  try {
    if (!m_session.connected()) return;  // the lock went with the connection
    pqxx::nontransaction tx(m_session.connection());
    tx.exec_params("SELECT pg_catalog.pg_advisory_unlock($1)", m_key);
  } catch (...) {
    // Disconnecting releases a session lock anyway.
  }
}

}  // namespace mgr
