#include "mgr/history.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "mgr/backup.hpp"  // reset_wipe_sql
#include "mgr/catalog.hpp"
#include "mgr/error.hpp"
#include "mgr/git_provenance.hpp"
#include "mgr/runner.hpp"  // k_reset_session_sql
#include "mgr/session.hpp"

namespace mgr {

namespace {

constexpr const char* k_row_columns =
    "migration_id, name, checksum, environment, "
    "pg_catalog.to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(applied_by, ''), execution_ms, success, coalesce(mgr_version, ''), kind, down_checksum, backup, "
    "allowed_rules, in_progress, "
    // 14..19: provenance_from_row
    "git_commit, git_dirty, ci_system, ci_job, ci_url, source_environment";

std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str());
}

void sort_rows(std::vector<HistoryRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(),
                   [](const HistoryRow& a, const HistoryRow& b) { return compare_ids(a.migration_id, b.migration_id) < 0; });
}

}  // namespace

HistoryStore::HistoryStore(Session& session, QualifiedName table) : m_session(session), m_table(std::move(table)) {}

HistoryStore::HistoryStore(Session& session, const Config& config)
    : m_session(session), m_table(config.history_table), m_migrations_dir(config.migrations_dir) {}

QualifiedName HistoryStore::log_table() const { return QualifiedName{m_table.schema, m_table.table + "_log"}; }

const QualifiedName& HistoryStore::resolved() { return m_session.resolve(m_table); }

std::string HistoryStore::sql_table() { return resolved().quoted(); }

std::string HistoryStore::sql_log_table() {
  const auto& r = resolved();
  return QualifiedName{r.schema, r.table + "_log"}.quoted();
}

bool HistoryStore::exists() {
  try {
    const auto table = sql_table();  // resolving queries too: before the transaction object
    pqxx::nontransaction tx(m_session.connection());
    return !tx.exec_params1("SELECT pg_catalog.to_regclass($1)", table)[0].is_null();
  } catch (const std::exception&) {
    m_session.rethrow("looking for the history table " + m_table.display());
  }
}

void HistoryStore::refuse_foreign_tables(pqxx::transaction_base& tx) {
  // mgr adds columns to its tables on upgrade: never to an application's table
  // that history_table happens to name. A history table of an older mgr or of
  // another tool has at least migration_id and checksum; a log table, action and outcome.
  auto check = [&](const std::string& quoted, const std::string& shown, const char* a, const char* b) {
    auto r = tx.exec_params1(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL, (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute "
        "WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND NOT attisdropped "
        "AND attname OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3]::name[]))",
        quoted, std::string(a), std::string(b));
    if (r[0].as<bool>() && r[1].as<int>() != 2) {
      throw Refused(m_session.environment().name + ": history_table " + m_table.display() + ": " + shown +
                    " exists and is not a mgr table (it has no " + a + " and " + b +
                    " columns); mgr will not add its columns to it. Name another table in history_table; "
                    "nothing was changed");
    }
  };
  check(sql_table(), resolved().display(), "migration_id", "checksum");
  check(sql_log_table(), QualifiedName{resolved().schema, resolved().table + "_log"}.display(), "action", "outcome");
}

void HistoryStore::ensure() {
  const auto t = sql_table();
  const auto log = sql_log_table();
  std::string sql;
  if (!m_table.schema.empty()) sql += "CREATE SCHEMA IF NOT EXISTS \"" + m_table.schema + "\";\n";
  sql +=
      "CREATE TABLE IF NOT EXISTS " + t + " (\n"
      "  id serial PRIMARY KEY,\n"
      "  migration_id varchar(255) UNIQUE NOT NULL,\n"
      "  name varchar(255) NOT NULL,\n"
      "  checksum varchar(64) NOT NULL,\n"
      "  environment varchar(50) NOT NULL,\n"
      "  applied_at timestamptz NOT NULL DEFAULT now(),\n"
      "  applied_by text,\n"
      "  execution_ms integer,\n"
      "  success boolean NOT NULL,\n"
      "  mgr_version text\n"
      ");\n"
      // Columns added after the first release: ADD ... IF NOT EXISTS upgrades older tables in place.
      "ALTER TABLE " + t + "\n"
      "  ADD COLUMN IF NOT EXISTS applied_by text,\n"
      "  ADD COLUMN IF NOT EXISTS execution_ms integer,\n"
      "  ADD COLUMN IF NOT EXISTS success boolean NOT NULL DEFAULT true,\n"
      "  ADD COLUMN IF NOT EXISTS mgr_version text,\n"
      "  ADD COLUMN IF NOT EXISTS kind varchar(16) NOT NULL DEFAULT 'apply',\n"
      "  ADD COLUMN IF NOT EXISTS down_checksum varchar(64),\n"
      "  ADD COLUMN IF NOT EXISTS backup text,\n"
      "  ADD COLUMN IF NOT EXISTS allowed_rules text NOT NULL DEFAULT '',\n"
      // A no-transaction migration's row while its statements run: a kill
      // leaves it, so the next apply stops until `mgr repair`.
      "  ADD COLUMN IF NOT EXISTS in_progress boolean NOT NULL DEFAULT false;\n"
      "CREATE TABLE IF NOT EXISTS " + log + " (\n"
      "  id bigserial PRIMARY KEY,\n"
      "  at timestamptz NOT NULL DEFAULT now(),\n"
      "  action varchar(32) NOT NULL,\n"
      "  migration_id varchar(255),\n"
      "  os_user text NOT NULL,\n"
      "  db_user text NOT NULL DEFAULT current_user,\n"
      "  mgr_version text NOT NULL,\n"
      "  outcome varchar(16) NOT NULL,\n"
      "  duration_ms integer,\n"
      "  backup text,\n"
      "  detail text NOT NULL DEFAULT ''\n"
      ");\n";
  try {
    pqxx::work tx(m_session.connection());
    // The catalog check avoids taking locks (and NOTICEs) when all exists.
    auto has = tx.exec_params1(
        "SELECT pg_catalog.to_regclass($2) IS NOT NULL AND "
        "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) "
        "pg_catalog.to_regclass($1) AND NOT attisdropped AND attname OPERATOR(pg_catalog.=) ANY (ARRAY["
        "'applied_by', 'execution_ms', 'success', 'mgr_version', 'kind', 'down_checksum', 'backup', 'allowed_rules', "
        "'in_progress']::name[])) OPERATOR(pg_catalog.=) 9",
        t, log)[0].as<bool>();
    if (!has) {
      refuse_foreign_tables(tx);
      tx.exec(sql);
    }
    ensure_provenance_columns(tx, t, log);
    add_snapshot_column(tx);
    tx.commit();
  } catch (const std::exception&) {
    m_session.rethrow("creating the history table " + m_table.display());
  }
}

// ---- Provenance columns (issue 12; provenance.hpp) --------------------------
// Nullable on both tables, in this order everywhere below. Added by ensure()
// to new and older tables alike; a table without them is still read.

namespace {

constexpr const char* k_provenance_columns = "git_commit, git_dirty, ci_system, ci_job, ci_url, source_environment";
// For a table that may predate them (the audit log is read without upgrading it).
constexpr const char* k_provenance_from_jsonb =
    "pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'git_commit', "
    "(pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'git_dirty')::boolean, "
    "pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'ci_system', "
    "pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'ci_job', "
    "pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'ci_url', "
    "pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'source_environment'";

std::string provenance_upgrade_sql(const std::string& table) {
  return "ALTER TABLE " + table +
         "\n"
         "  ADD COLUMN IF NOT EXISTS git_commit text,\n"
         "  ADD COLUMN IF NOT EXISTS git_dirty boolean,\n"
         "  ADD COLUMN IF NOT EXISTS ci_system text,\n"
         "  ADD COLUMN IF NOT EXISTS ci_job text,\n"
         "  ADD COLUMN IF NOT EXISTS ci_url text,\n"
         "  ADD COLUMN IF NOT EXISTS source_environment text;\n";
}

// The six columns starting at `first`.
Provenance provenance_from_row(const pqxx::row& row, pqxx::row::size_type first) {
  Provenance p;
  if (!row[first].is_null()) {
    p.git = GitProvenance{row[first].c_str(), !row[first + 1].is_null() && row[first + 1].as<bool>()};
  }
  if (!row[first + 2].is_null()) p.ci = CiProvenance{row[first + 2].c_str(), opt_text(row[first + 3]), opt_text(row[first + 4])};
  p.source_environment = opt_text(row[first + 5]);
  return p;
}

Provenance provenance_from_json(const nlohmann::json& j) {
  auto text = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? std::optional<std::string>(j[k].get<std::string>()) : std::nullopt;
  };
  Provenance p;
  if (auto commit = text("git_commit")) {
    p.git = GitProvenance{*commit, j.contains("git_dirty") && j["git_dirty"].is_boolean() && j["git_dirty"].get<bool>()};
  }
  if (auto system = text("ci_system")) p.ci = CiProvenance{*system, text("ci_job"), text("ci_url")};
  p.source_environment = text("source_environment");
  return p;
}

}  // namespace

void HistoryStore::ensure_provenance_columns(pqxx::transaction_base& tx, const std::string& table,
                                             const std::string& log) {
  // Whether the table named by parameter `param` has all six.
  auto all_six = [](const std::string& param) {
    return "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) "
           "pg_catalog.to_regclass(" + param + ") AND NOT attisdropped AND attname OPERATOR(pg_catalog.=) ANY (ARRAY["
           "'git_commit', 'git_dirty', 'ci_system', 'ci_job', 'ci_url', 'source_environment']::name[])) "
           "OPERATOR(pg_catalog.=) 6";
  };
  auto has = tx.exec_params1("SELECT " + all_six("$1") + ", " + all_six("$2"), table, log);
  if (has[0].as<bool>() && has[1].as<bool>()) return;
  refuse_foreign_tables(tx);
  tx.exec(provenance_upgrade_sql(table) + provenance_upgrade_sql(log));
}

Provenance HistoryStore::provenance(bool apply) {
  const auto& env = m_session.environment();
  return command_provenance(m_migrations_dir, apply ? env.promote_from : std::nullopt);
}

std::string HistoryStore::provenance_values(bool apply) {
  const auto p = provenance(apply);
  auto opt = [&](const std::optional<std::string>& v) { return v ? m_session.quote(*v) : std::string("NULL"); };
  std::string out;
  out += p.git ? m_session.quote(p.git->commit) + ", " + (p.git->dirty ? "true" : "false") : std::string("NULL, NULL");
  out += ", " + (p.ci ? m_session.quote(p.ci->system) + ", " + opt(p.ci->job) + ", " + opt(p.ci->url)
                      : std::string("NULL, NULL, NULL"));
  out += ", " + opt(p.source_environment);
  return out;
}

// ---- end of provenance columns ----------------------------------------------

namespace {

HistoryRow row_from_typed(const pqxx::row& row) {
  HistoryRow h;
  h.migration_id = row[0].c_str();
  h.name = row[1].c_str();
  h.checksum = row[2].c_str();
  h.environment = row[3].c_str();
  h.applied_at = row[4].c_str();
  h.applied_by = row[5].c_str();
  if (!row[6].is_null()) h.execution_ms = row[6].as<int>();
  h.success = row[7].as<bool>();
  h.mgr_version = row[8].c_str();
  h.kind = row[9].c_str();
  h.down_checksum = opt_text(row[10]);
  h.backup = opt_text(row[11]);
  h.allowed_rules = row[12].c_str();
  h.in_progress = row[13].as<bool>();
  h.provenance = provenance_from_row(row, 14);
  return h;
}

// Another tool's (or an older mgr's) table may lack columns: take what is there.
HistoryRow row_from_json(const nlohmann::json& j) {
  auto text = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  HistoryRow h;
  h.migration_id = j.contains("migration_id") && j["migration_id"].is_number() ? j["migration_id"].dump() : text("migration_id");
  h.name = text("name");
  h.checksum = text("checksum");
  h.environment = text("environment");
  h.applied_at = text("applied_at");
  h.applied_by = text("applied_by");
  if (j.contains("execution_ms") && j["execution_ms"].is_number()) h.execution_ms = j["execution_ms"].get<int>();
  h.success = !j.contains("success") || !j["success"].is_boolean() || j["success"].get<bool>();
  h.mgr_version = text("mgr_version");
  if (j.contains("kind") && j["kind"].is_string()) h.kind = j["kind"].get<std::string>();
  h.in_progress = j.contains("in_progress") && j["in_progress"].is_boolean() && j["in_progress"].get<bool>();
  h.provenance = provenance_from_json(j);
  return h;
}

}  // namespace

std::vector<HistoryRow> HistoryStore::read_all() {
  std::vector<HistoryRow> rows;
  // One round trip in the common case (this is the whole cost of a no-op
  // apply); a missing table or missing columns are told apart by SQLSTATE.
  const std::string doing = "reading the history table " + m_table.display();
  try {
    const auto table = sql_table();  // resolving queries too: before the transaction object
    try {
      pqxx::nontransaction tx(m_session.connection());
      auto r = tx.exec(std::string("SELECT ") + k_row_columns + " FROM " + table);
      rows.reserve(r.size());
      for (const auto& row : r) rows.push_back(row_from_typed(row));
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "42P01" || e.sqlstate() == "3F000") return rows;  // no table / no schema yet
      if (e.sqlstate() != "42703") throw;
      pqxx::nontransaction tx(m_session.connection());
      auto r = tx.exec("SELECT pg_catalog.to_jsonb(h)::text FROM " + table + " h");
      for (const auto& row : r) {
        auto j = nlohmann::json::parse(row[0].c_str());
        if (!j.contains("migration_id") || !j.contains("checksum")) {
          throw Refused(m_session.environment().name + ": history_table " + m_table.display() +
                        " is not a mgr table (it has no migration_id and checksum columns); name another table");
        }
        rows.push_back(row_from_json(j));
      }
    }
  } catch (const std::exception&) {
    m_session.rethrow(doing);
  }
  sort_rows(rows);
  return rows;
}

namespace {
// Schema-qualified down to the operators: a migration may have set any search_path.
constexpr const char* k_server_duration =
    "(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) "
    "pg_catalog.statement_timestamp()) OPERATOR(pg_catalog.*) 1000)::integer";
constexpr const char* k_since_started =
    "(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) applied_at) "
    "OPERATOR(pg_catalog.*) 1000)::integer";
}

std::string HistoryStore::insert_sql(const HistoryRow& row, bool duration_from_server) {
  auto opt = [&](const std::optional<std::string>& v) { return v ? m_session.quote(*v) : std::string("NULL"); };
  return "INSERT INTO " + sql_table() +
         " (migration_id, name, checksum, environment, applied_by, execution_ms, success, mgr_version, kind, "
         "down_checksum, backup, allowed_rules, in_progress, " + k_provenance_columns + ") VALUES (" +
         m_session.quote(row.migration_id) + ", " + m_session.quote(row.name) + ", " + m_session.quote(row.checksum) + ", " +
         m_session.quote(row.environment) + ", pg_catalog.concat(current_user, ' (', " + m_session.quote(row.applied_by) + "::text, ')'), " +
         (duration_from_server ? std::string(k_server_duration)
                               : row.execution_ms ? std::to_string(*row.execution_ms) : std::string("NULL")) + ", " +
         (row.success ? "true" : "false") + ", " + m_session.quote(row.mgr_version) + ", " + m_session.quote(row.kind) + ", " +
         opt(row.down_checksum) + ", " + opt(row.backup) + ", " + m_session.quote(row.allowed_rules) + ", " +
         (row.in_progress ? "true" : "false") + ", " + provenance_values(row.kind == "apply") + ")";
}

std::string HistoryStore::finish_sql(const std::string& migration_id, bool success) {
  return "UPDATE " + sql_table() + " SET in_progress = false, success = " + (success ? "true" : "false") +
         ", execution_ms = " + k_since_started + " WHERE migration_id OPERATOR(pg_catalog.=) " + m_session.quote(migration_id);
}

std::string HistoryStore::log_sql(const LogEntry& e, bool duration_from_server) {
  auto opt = [&](const std::optional<std::string>& v) { return v ? m_session.quote(*v) : std::string("NULL"); };
  return "INSERT INTO " + sql_log_table() +
         " (action, migration_id, os_user, mgr_version, outcome, duration_ms, backup, detail, " + k_provenance_columns +
         ") VALUES (" +
         m_session.quote(e.action) + ", " + opt(e.migration_id) + ", " + m_session.quote(e.os_user) + ", " + m_session.quote(e.mgr_version) +
         ", " + m_session.quote(e.outcome) + ", " +
         (duration_from_server ? std::string(k_server_duration)
                               : e.duration_ms ? std::to_string(*e.duration_ms) : std::string("NULL")) +
         ", " + opt(e.backup) + ", " + m_session.quote(e.detail) + ", " + provenance_values(e.action == "apply") + ")";
}

void HistoryStore::insert(pqxx::transaction_base& tx, const HistoryRow& row) { tx.exec(insert_sql(row)); }

std::string HistoryStore::remove_sql(const std::string& migration_id) {
  return "DELETE FROM " + sql_table() + " WHERE migration_id OPERATOR(pg_catalog.=) " +
         m_session.quote(migration_id);
}

std::string HistoryStore::mark_failed_sql(const std::string& migration_id, bool in_progress) {
  return "UPDATE " + sql_table() + " SET success = false, in_progress = " + (in_progress ? "true" : "false") +
         " WHERE migration_id OPERATOR(pg_catalog.=) " + m_session.quote(migration_id);
}

void HistoryStore::remove(pqxx::transaction_base& tx, const std::string& migration_id) {
  tx.exec(remove_sql(migration_id));
}

void HistoryStore::update_checksum(pqxx::transaction_base& tx, const std::string& migration_id,
                                   const std::string& checksum, const std::optional<std::string>& down_checksum) {
  tx.exec_params("UPDATE " + sql_table() +
                     " SET checksum = $2, down_checksum = $3 WHERE migration_id OPERATOR(pg_catalog.=) $1",
                 migration_id, checksum, down_checksum);
}

void HistoryStore::append_log(pqxx::transaction_base& tx, const LogEntry& entry) { tx.exec(log_sql(entry)); }

std::vector<LogEntry> HistoryStore::read_log(int limit) {
  std::vector<LogEntry> out;
  try {
    const auto log = sql_log_table();  // resolving queries too: before the transaction object
    pqxx::nontransaction tx(m_session.connection());
    if (tx.exec_params1("SELECT pg_catalog.to_regclass($1)", log)[0].is_null()) return out;
    auto r = tx.exec_params(
        "SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), action, migration_id, "
        "os_user, db_user, mgr_version, outcome, duration_ms, backup, detail, " + std::string(k_provenance_from_jsonb) +
            " FROM " + log + " l ORDER BY id DESC LIMIT $1",
        limit);
    for (const auto& row : r) {
      LogEntry e;
      e.at = row[0].c_str();
      e.action = row[1].c_str();
      e.migration_id = opt_text(row[2]);
      e.os_user = row[3].c_str();
      e.db_user = row[4].c_str();
      e.mgr_version = row[5].c_str();
      e.outcome = row[6].c_str();
      if (!row[7].is_null()) e.duration_ms = row[7].as<int>();
      e.backup = opt_text(row[8]);
      e.detail = row[9].c_str();
      e.provenance = provenance_from_row(row, 10);
      out.push_back(std::move(e));
    }
  } catch (const std::exception&) {
    m_session.rethrow("reading the audit log " + log_table().display());
  }
  return out;
}

// ---- Bookkeeping outside a migration (baseline, repair, restore, reset) ----

void HistoryStore::commit(const HistoryEdit& edit, const std::string& what) {
  const auto& env = m_session.environment().name;
  try {
    pqxx::work tx(m_session.connection());
    for (const auto& row : edit.inserts) insert(tx, row);
    for (const auto& id : edit.removals) remove(tx, id);
    for (const auto& c : edit.checksums) update_checksum(tx, c.migration_id, c.checksum, c.down_checksum);
    for (const auto& entry : edit.log) append_log(tx, entry);
    tx.commit();
  } catch (const pqxx::in_doubt_error& e) {
    throw Failure(env + ": the connection went during the " + what + "'s COMMIT, so whether it was recorded is " +
                  "unknown; `mgr status " + env + "` and `mgr log " + env + "` tell: " + m_session.clean(e.what()));
  } catch (const pqxx::sql_error& e) {
    throw Failure(env + ": " + what + " failed, nothing was changed: " + m_session.clean(e.what()));
  } catch (const std::exception&) {
    m_session.rethrow("recording the " + what + " (nothing was changed unless its COMMIT reached the server; `mgr status " +
                      env + "` tells)");
  }
}

std::string HistoryStore::log_schema() {
  if (!m_table.schema.empty()) return m_table.schema;
  try {
    pqxx::nontransaction tx(m_session.connection());
    return tx.exec_params1("SELECT coalesce((SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                           "ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass($1)), current_schema())",
                           log_table().quoted())[0]
        .c_str();
  } catch (const std::exception&) {
    m_session.rethrow("looking for the audit log " + log_table().display());
  }
}

bool HistoryStore::log_has(const std::string& action, const std::string& token) {
  try {
    pqxx::nontransaction tx(m_session.connection());
    if (tx.exec_params1("SELECT pg_catalog.to_regclass($1) IS NULL", log_table().quoted())[0].as<bool>()) return false;
    return tx.exec_params1("SELECT count(*) FROM " + log_table().quoted() +
                               " WHERE action = $1 AND position($2 in detail) > 0",
                           action, token)[0]
               .as<long>() > 0;
  } catch (const std::exception&) {
    m_session.rethrow("reading the audit log " + log_table().display());
  }
}

void HistoryStore::wipe_keeping_log(const RestoreAudit& audit) {
  try {
    pqxx::work tx(m_session.connection());
    tx.exec(reset_wipe_sql(audit));
    tx.commit();
    pqxx::nontransaction reset_session(m_session.connection());
    reset_session.exec(k_reset_session_sql);
  } catch (const std::exception&) {
    m_session.rethrow("resetting " + m_session.environment().name +
                      " (the wipe ran in one transaction: nothing was dropped)");
  }
}

// ---- Schema snapshots in the audit log ----

void HistoryStore::add_snapshot_column(pqxx::transaction_base& tx) {
  // Checked first: ALTER TABLE would take a lock (and send a NOTICE) even when the column exists.
  const auto log = sql_log_table();
  auto has = tx.exec_params1(
      "SELECT pg_catalog.to_regclass($1) IS NULL OR EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid "
      "OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND attname OPERATOR(pg_catalog.=) 'schema_sha256' AND NOT "
      "attisdropped)",
      log)[0].as<bool>();
  if (!has) tx.exec("ALTER TABLE " + log + " ADD COLUMN IF NOT EXISTS schema_sha256 varchar(64)");
}

void HistoryStore::mark_schema_snapshot(pqxx::transaction_base& tx, const std::string& action,
                                        const std::string& sha256) {
  const auto log = sql_log_table();
  if (tx.exec_params1("SELECT pg_catalog.to_regclass($1) IS NULL", log)[0].as<bool>()) return;
  // A log of an older mgr, or one a restored backup brought back, may lack the column.
  add_snapshot_column(tx);
  tx.exec_params("UPDATE " + log + " SET schema_sha256 = $1 WHERE id OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(id) "
                 "FROM " + log + " WHERE action OPERATOR(pg_catalog.=) $2 AND outcome OPERATOR(pg_catalog.=) 'ok')",
                 sha256, action);
}

}  // namespace mgr
