// Plain values read from and written to the history and log tables. No
// database types here, so the promotion policy can use them in pure code.
#pragma once

#include <optional>
#include <string>

#include "mgr/provenance.hpp"

namespace mgr {

struct HistoryRow {
  std::string migration_id;
  std::string name;
  std::string checksum;
  std::string environment;
  std::string applied_at;  // ISO 8601 UTC as text
  std::string applied_by;  // "dbuser (osuser@host)"
  std::optional<int> execution_ms;
  bool success = true;
  std::string mgr_version;
  std::string kind = "apply";  // apply | baseline
  std::optional<std::string> down_checksum;  // checksum of the down file when applied
  std::optional<std::string> backup;         // backup file taken before this apply
  std::string allowed_rules;                 // lint rules allowed by directive, comma-separated
  // A no-transaction migration whose statements started and never finished
  // (mgr was killed or lost the connection): recorded with success = false.
  bool in_progress = false;
  // Read back from the table; on insert the store writes its own (HistoryStore::provenance).
  Provenance provenance;
};

struct LogEntry {
  // An entry of this mgr (version filled in) by `os_user`, outcome ok.
  static LogEntry of(std::string action, std::optional<std::string> migration_id, std::string os_user,
                     std::string detail = "") {
    LogEntry e;
    e.action = std::move(action);
    e.migration_id = std::move(migration_id);
    e.os_user = std::move(os_user);
    e.mgr_version = MGR_VERSION;
    e.outcome = "ok";
    e.detail = std::move(detail);
    return e;
  }

  std::string at;      // filled by the database on insert
  std::string action;  // apply | baseline | repair | rollback | restore
  std::optional<std::string> migration_id;
  std::string os_user;  // user@host
  std::string db_user;  // filled by the database on insert (current_user)
  std::string mgr_version;
  std::string outcome;  // ok | failed | refused
  std::optional<int> duration_ms;
  std::optional<std::string> backup;
  std::string detail;
  // Read back from the table; on insert the store writes its own (HistoryStore::provenance).
  Provenance provenance;
};

}  // namespace mgr
