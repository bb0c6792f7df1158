// The status matrix: a row per migration, a column per environment. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

// absent: not recorded here, and no file either (applied elsewhere, then the file was removed).
// in_progress: a no-transaction migration that started and never finished (recorded as failed).
enum class CellState { applied, pending, checksum_differs, failed, in_progress, file_missing, absent, unknown };

const char* to_string(CellState s);

struct StatusCell {
  CellState state = CellState::unknown;
  std::string applied_at;  // for applied / checksum_differs / failed / file_missing
  std::string kind;        // apply | baseline
};

struct EnvHistory {
  std::string name;
  std::optional<std::string> promote_from;
  std::optional<std::vector<HistoryRow>> rows;  // nullopt: unreachable
  std::string error;
};

struct StatusRow {
  std::string id;
  std::string name;
  bool has_file = true;
  std::vector<StatusCell> cells;  // one per environment, in order
};

struct EnvSummary {
  std::string name;
  bool reachable = false;
  std::string error;
  std::string newest_applied;  // "" when none
  int applied = 0;
  int pending = 0;
  std::optional<std::string> promote_from;
  std::optional<int> can_take;  // from promote_from; nullopt when the source is unreachable or none
  std::string next;             // one human sentence: "prod can take 3 migrations from test"
  // What blocks apply here, one sentence each ("0002_x: checksum differs ..."); empty when healthy.
  std::vector<std::string> problems;
};

struct StatusMatrix {
  std::vector<std::string> envs;
  std::vector<StatusRow> rows;
  std::vector<EnvSummary> summaries;
};

StatusMatrix build_status(const Catalog& catalog, const std::vector<EnvHistory>& envs);

}  // namespace mgr
