#include "mgr/schema_snapshot.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>
#include <set>

#include "mgr/error.hpp"
#include "mgr/history.hpp"
#include "mgr/host.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/plan.hpp"
#include "mgr/process.hpp"
#include "mgr/runner.hpp"
#include "mgr/session.hpp"

namespace mgr {

namespace {

// A name inside a pg_dump pattern, matched literally: double quotes turn off
// the wildcards (* ? .) and case folding; a quote inside is doubled.
std::string literal_pattern(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_ident(const std::string& name) { return literal_pattern(name); }

// pg_bin_dir of the environment, then of the config, as for backups.
std::vector<std::filesystem::path> bin_dirs(const Config& config, const Environment& env) {
  std::vector<std::filesystem::path> dirs;
  if (env.pg_bin_dir) dirs.push_back(*env.pg_bin_dir);
  if (config.pg_bin_dir) dirs.push_back(*config.pg_bin_dir);
  return dirs;
}

// The password travels only in PGPASSWORD: checked on every argument built
// from data right before spawning (mgr's fixed flags cannot carry it).
void ensure_no_secret_in_argv(const std::vector<std::string>& args, const std::set<std::string>& fixed,
                              const DbUrl& url) {
  const auto& pw = url.password();
  if (!pw || pw->empty()) return;
  for (const auto& a : args) {
    if (fixed.count(a) == 0 && a.find(*pw) != std::string::npos) {
      throw Failure("refusing to run pg_dump: an argument would carry the database password (it must only go "
                    "through PGPASSWORD); nothing was run");
    }
  }
}

// `--exclude-table` patterns for mgr's tables and the sequences they own.
// Tables are looked for where the history table is (its configured schema,
// else where the search path finds it, else the current schema, where mgr
// would create it); an owned sequence keeps its own schema.
std::vector<std::string> exclusion_patterns(Session& session, const QualifiedName& history_table) {
  std::vector<std::string> patterns;
  try {
    pqxx::nontransaction tx(session.connection());
    std::string schema = history_table.schema;
    if (schema.empty()) {
      schema = tx.exec_params1("SELECT coalesce((SELECT n.nspname FROM pg_catalog.pg_class c JOIN "
                               "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)), "
                               "current_schema(), 'public')",
                               history_table.quoted())[0]
                   .c_str();
    }
    std::vector<std::string> quoted;
    for (auto t : mgr_own_tables(history_table)) {
      t.schema = schema;
      patterns.push_back(literal_pattern(schema) + "." + literal_pattern(t.table));
      quoted.push_back(t.quoted());
    }
    auto owned = tx.exec_params(
        "SELECT n.nspname, s.relname FROM pg_catalog.pg_depend d "
        "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace "
        "WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass "
        "AND d.deptype IN ('a', 'i') AND d.refobjid IN (to_regclass($1), to_regclass($2), to_regclass($3)) "
        "ORDER BY 1, 2",
        quoted.at(0), quoted.at(1), quoted.at(2));
    for (const auto& row : owned) {
      patterns.push_back(literal_pattern(row[0].c_str()) + "." + literal_pattern(row[1].c_str()));
    }
  } catch (const pqxx::sql_error& e) {
    throw Failure(session.environment().name + ": cannot look up mgr's tables for the schema snapshot: " +
                  session.clean(e.what()));
  }
  return patterns;
}

std::string hex_token(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xFFu);
  return out;
}

// libpq conninfo value quoting: single quotes, backslash before ' and \.
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// `server` with its database replaced by `database`, password kept.
DbUrl with_database(const DbUrl& server, const std::string& database) {
  std::string conninfo;
  for (const auto& [key, value] : server.options()) {
    if (key == "dbname") continue;
    conninfo += key + "=" + conninfo_value(value) + " ";
  }
  conninfo += "dbname=" + conninfo_value(database);
  if (server.password()) conninfo += " password=" + conninfo_value(*server.password());
  return DbUrl::parse(conninfo);
}

// A database made on the scratch server for one command and dropped when
// this goes out of scope, whatever happened meanwhile.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(const Environment& server_env)
      : m_server_env(server_env), m_admin(m_server_env, "mgr " + server_env.name) {
    m_name = fmt::format("mgr_scratch_{}_{}", ::getpid(), hex_token(6));
    try {
      pqxx::nontransaction tx(m_admin.connection());
      tx.exec("CREATE DATABASE " + quote_ident(m_name));
    } catch (const pqxx::sql_error& e) {
      throw Failure("cannot create a scratch database on " + server_env.url.redacted() + " (scratch_url): " +
                    m_admin.clean(e.what()));
    }
    spdlog::info("created scratch database {} on {}", m_name, server_env.url.redacted());
  }
  ~ScratchDatabase() {
    try {
      // FORCE (PostgreSQL 13+) ends sessions a failed migration may have left behind.
      bool force = m_admin.identity().version_num >= 130000;
      pqxx::nontransaction tx(m_admin.connection());
      tx.exec("DROP DATABASE IF EXISTS " + quote_ident(m_name) + (force ? " WITH (FORCE)" : ""));
      spdlog::info("dropped scratch database {}", m_name);
    } catch (const std::exception& e) {
      spdlog::warn("could not drop the scratch database {} on {}: {}; drop it by hand", m_name,
                   m_server_env.url.redacted(), m_admin.clean(e.what()));
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  const std::string& name() const { return m_name; }

 private:
  Environment m_server_env;
  Session m_admin;
  std::string m_name;
};

constexpr const char* k_iso_utc = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

}  // namespace

QualifiedName snapshot_table(const QualifiedName& history_table) {
  return QualifiedName{history_table.schema, history_table.table + "_schema"};
}

std::vector<QualifiedName> mgr_own_tables(const QualifiedName& history_table) {
  return {history_table, QualifiedName{history_table.schema, history_table.table + "_log"},
          snapshot_table(history_table)};
}

SchemaText capture_schema(Session& session, const Config& config, const Environment& env) {
  auto pg_dump = find_pg_program("pg_dump", bin_dirs(config, env));
  static const std::set<std::string> k_fixed{"--schema-only", "--no-owner", "--no-privileges", "--no-subscriptions",
                                             "--no-password"};
  ProcessSpec spec;
  spec.program = pg_dump;
  // Subscriptions are replication settings whose connection strings may hold
  // passwords: not schema that migrations make, and not for printing.
  spec.args.assign(k_fixed.begin(), k_fixed.end());
  for (const auto& p : exclusion_patterns(session, config.history_table)) spec.args.push_back("--exclude-table=" + p);
  spec.args.push_back("--dbname=" + env.url.conninfo_without_password());
  if (env.url.password() && !env.url.password()->empty()) spec.extra_env["PGPASSWORD"] = *env.url.password();
  spec.extra_env["PGAPPNAME"] = "mgr " + env.name + " schema snapshot";
  spec.timeout = env.backup_timeout;
  ensure_no_secret_in_argv(spec.args, k_fixed, env.url);
  auto r = run_process(spec);
  if (!r.ok()) {
    auto err = redact_secrets(r.err, env.url);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw Failure(fmt::format("{}: cannot capture the schema: {} --schema-only {}{}{}", env.name, pg_dump.string(),
                              r.describe(), err.empty() ? "" : ":\n", err));
  }
  SchemaText text;
  text.canonical = canonical_schema(r.out);
  text.sha256 = schema_sha256(text.canonical);
  text.pg_dump_version = pg_dump_version_of(r.out);
  return text;
}

SnapshotStore::SnapshotStore(Session& session, const QualifiedName& history_table)
    : m_session(session), m_table(snapshot_table(history_table)) {}

void SnapshotStore::ensure() {
  const auto t = m_table.quoted();
  std::string sql;
  if (!m_table.schema.empty()) sql += "CREATE SCHEMA IF NOT EXISTS " + quote_ident(m_table.schema) + ";\n";
  sql += "CREATE TABLE IF NOT EXISTS " + t +
         " (\n"
         "  sha256 varchar(64) PRIMARY KEY,\n"
         "  schema text NOT NULL,\n"
         "  pg_dump_version text NOT NULL DEFAULT '',\n"
         "  environment varchar(50) NOT NULL,\n"
         "  first_recorded_at timestamptz NOT NULL DEFAULT now(),\n"
         "  recorded_at timestamptz NOT NULL DEFAULT now(),\n"
         "  action varchar(32) NOT NULL,\n"
         "  os_user text NOT NULL,\n"
         "  db_user text NOT NULL DEFAULT current_user,\n"
         "  is_current boolean NOT NULL DEFAULT false\n"
         ");\n"
         // At most one current snapshot.
         "CREATE UNIQUE INDEX IF NOT EXISTS " +
         quote_ident(m_table.table + "_current") + " ON " + t + " (is_current) WHERE is_current;\n";
  try {
    pqxx::work tx(m_session.connection());
    if (tx.exec_params1("SELECT to_regclass($1)", t)[0].is_null()) tx.exec(sql);
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    throw Failure(m_session.environment().name + ": cannot create the schema snapshot table " + m_table.display() +
                  ": " + m_session.clean(e.what()));
  }
}

std::optional<RecordedSchema> SnapshotStore::current() {
  try {
    pqxx::nontransaction tx(m_session.connection());
    if (tx.exec_params1("SELECT to_regclass($1)", m_table.quoted())[0].is_null()) return std::nullopt;
    auto r = tx.exec(std::string("SELECT sha256, schema, pg_dump_version, to_char(recorded_at AT TIME ZONE 'UTC', ") +
                     k_iso_utc + "), action, environment FROM " + m_table.quoted() + " WHERE is_current");
    if (r.empty()) return std::nullopt;
    RecordedSchema s;
    s.schema.sha256 = r[0][0].c_str();
    s.schema.canonical = r[0][1].c_str();
    s.schema.pg_dump_version = r[0][2].c_str();
    s.recorded_at = r[0][3].c_str();
    s.action = r[0][4].c_str();
    s.environment = r[0][5].c_str();
    return s;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "3F000") return std::nullopt;  // the history table's schema does not exist yet
    throw Failure(m_session.environment().name + ": cannot read the schema snapshot from " + m_table.display() +
                  ": " + m_session.clean(e.what()));
  }
}

void SnapshotStore::record(pqxx::transaction_base& tx, const SchemaText& schema, const std::string& environment,
                           const std::string& action, const std::string& os_user) {
  const auto t = m_table.quoted();
  tx.exec_params("UPDATE " + t + " SET is_current = false WHERE is_current AND sha256 <> $1", schema.sha256);
  tx.exec_params("INSERT INTO " + t +
                     " (sha256, schema, pg_dump_version, environment, action, os_user, is_current) "
                     "VALUES ($1, $2, $3, $4, $5, $6, true) ON CONFLICT (sha256) DO UPDATE SET is_current = true, "
                     "recorded_at = now(), pg_dump_version = EXCLUDED.pg_dump_version, environment = "
                     "EXCLUDED.environment, action = EXCLUDED.action, os_user = EXCLUDED.os_user, db_user = "
                     "current_user",
                 schema.sha256, schema.canonical, schema.pg_dump_version, environment, action, os_user);
}

void store_snapshot(Session& session, const Config& config, const Environment& env, const SchemaText& schema,
                    const std::string& action, const std::optional<LogEntry>& log) {
  SnapshotStore store(session, config.history_table);
  HistoryStore history(session, config);
  try {
    pqxx::work tx(session.connection());
    store.record(tx, schema, env.name, action, log ? log->os_user : os_user_at_host());
    if (log) history.append_log(tx, *log);
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    throw Failure(env.name + ": cannot record the schema snapshot: " + session.clean(e.what()));
  }
}

SchemaText record_schema_snapshot(Session& session, const Config& config, const Environment& env,
                                  const std::string& action, const std::optional<LogEntry>& log) {
  // Tables first, then the dump: creating them may create the history
  // table's schema, which belongs in the snapshot.
  SnapshotStore(session, config.history_table).ensure();
  if (log) HistoryStore(session, config.history_table).ensure();
  auto schema = capture_schema(session, config, env);
  store_snapshot(session, config, env, schema, action, log);
  return schema;
}

std::optional<std::string> snapshot_after_change(Session& session, const Config& config, const Environment& env,
                                                 const std::string& action) {
  try {
    SnapshotStore store(session, config.history_table);
    store.ensure();  // before the dump: it may create the history table's schema
    auto schema = capture_schema(session, config, env);
    // Resolved before the transaction: resolving may query the server.
    session.resolve(config.history_table);
    HistoryStore history(session, config.history_table);
    try {
      pqxx::work tx(session.connection());
      store.record(tx, schema, env.name, action, os_user_at_host());
      history.mark_schema_snapshot(tx, action, schema.sha256);
      tx.commit();
    } catch (const pqxx::sql_error& e) {
      throw Failure("cannot record the schema snapshot: " + session.clean(e.what()));
    }
    spdlog::info("{}: schema snapshot {} recorded after {}", env.name, schema.sha256.substr(0, 12), action);
    return schema.sha256;
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    spdlog::warn("{}: {} succeeded, but its schema snapshot could not be recorded: {}\n`mgr drift {}` will show "
                 "this {} as drift until `mgr drift {} --accept --reason \"...\"` records the schema",
                 env.name, action, e.what(), env.name, action, env.name);
    return std::nullopt;
  }
}

DriftReport check_drift(Session& session, const Config& config, const Environment& env) {
  auto snapshot = SnapshotStore(session, config.history_table).current();
  auto now = capture_schema(session, config, env);
  return compare_with_snapshot(env.name, now, snapshot);
}

SchemaText schema_from_migrations(const Config& config, const Environment& env,
                                  const std::vector<const Migration*>& migrations) {
  const auto& server_url = env.scratch_url ? env.scratch_url : config.scratch_url;
  if (!server_url) {
    throw ConfigError(config.path.string() + ": environment '" + env.name +
                      "' has no scratch_url and there is none at the top level: --against-migrations needs a "
                      "PostgreSQL server where mgr may create and drop a scratch database (docs/drift.md)");
  }
  Environment server_env = env;
  server_env.name = env.name + " scratch server";
  server_env.url = *server_url;
  // A signal while the scratch database exists ends the work cleanly, so
  // that it is dropped.
  InterruptGuard guard;
  ScratchDatabase scratch(server_env);
  Environment scratch_env = env;
  scratch_env.name = env.name + "-scratch";
  scratch_env.url = with_database(*server_url, scratch.name());
  Session session(scratch_env, "mgr " + env.name + " scratch");
  HistoryStore history(session, config.history_table);
  history.ensure();
  MigrationRunner runner(session, scratch_env);
  const auto os_user = os_user_at_host();
  for (const auto* m : migrations) {
    if (interrupted()) throw Interrupted(interrupt_description() + " while building the scratch database");
    Bookkeeping books;
    books.on_success = {history.insert_sql(history_row_for(*m, scratch_env.name, "apply", os_user), true)};
    auto outcome = m->up.directives.no_transaction ? runner.run_statements(m->up, books)
                                                   : runner.run_in_transaction(m->up, books);
    if (!outcome.ok) {
      if (interrupted()) throw Interrupted(interrupt_description() + " while building the scratch database");
      throw Failure("building the schema from the migrations failed: " + m->label() + " does not apply to an empty "
                    "database:\n" + outcome.error->format());
    }
  }
  try {
    if (interrupted()) throw Interrupted(interrupt_description() + " while building the scratch database");
    return capture_schema(session, config, scratch_env);
  } catch (const Failure&) {
    // pg_dump got the same signal (same process group) and failed because of it.
    if (interrupted()) throw Interrupted(interrupt_description() + " while dumping the scratch database");
    throw;
  }
}

}  // namespace mgr
