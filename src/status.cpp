#include "mgr/status.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "mgr/plan.hpp"

namespace mgr {

const char* to_string(CellState s) {
  switch (s) {
    case CellState::applied: return "applied";
    case CellState::pending: return "pending";
    case CellState::checksum_differs: return "checksum-differs";
    case CellState::failed: return "failed";
    case CellState::in_progress: return "in-progress";
    case CellState::file_missing: return "file-missing";
    case CellState::absent: return "absent";
    case CellState::unknown: return "unknown";
  }
  return "unknown";
}

namespace {

using RowsById = std::map<std::string, StatusRow, bool (*)(const std::string&, const std::string&)>;

// Rows: every file, plus ids recorded somewhere whose file is gone; in id order.
RowsById status_rows(const Catalog& catalog, const std::vector<EnvHistory>& envs) {
  RowsById rows([](const std::string& a, const std::string& b) { return compare_ids(a, b) < 0; });
  for (const auto& mig : catalog.migrations) rows.emplace(mig.id, StatusRow{mig.id, mig.name, true, {}});
  for (const auto& e : envs) {
    if (!e.rows) continue;
    for (const auto& r : *e.rows) {
      if (rows.find(r.migration_id) == rows.end()) rows.emplace(r.migration_id, StatusRow{r.migration_id, r.name, false, {}});
    }
  }
  return rows;
}

// One migration in one environment: `h` is its history row there, or nullptr.
StatusCell status_cell(const Migration* mig, const HistoryRow* h) {
  StatusCell cell;
  if (h == nullptr) {
    cell.state = mig == nullptr ? CellState::absent : CellState::pending;
    return cell;
  }
  cell.applied_at = h->applied_at;
  cell.kind = h->kind;
  if (!h->success) cell.state = h->in_progress ? CellState::in_progress : CellState::failed;
  else if (mig == nullptr) cell.state = CellState::file_missing;
  else if (mig->up.checksum != h->checksum) cell.state = CellState::checksum_differs;
  else cell.state = CellState::applied;
  return cell;
}

// What blocks apply in environment `i`, one sentence per migration.
std::vector<std::string> env_problems(const std::vector<StatusRow>& rows, std::size_t i) {
  std::vector<std::string> problems;
  for (const auto& row : rows) {
    const auto label = row.id + "_" + row.name;
    switch (row.cells[i].state) {
      case CellState::checksum_differs:
        problems.push_back(label + ": its file changed since it was applied (checksum differs)");
        break;
      case CellState::failed: problems.push_back(label + ": failed"); break;
      case CellState::in_progress:
        problems.push_back(label + ": started without a transaction and never finished");
        break;
      case CellState::file_missing: problems.push_back(label + ": applied, but its file is missing"); break;
      default: break;
    }
  }
  return problems;
}

// The summary's one sentence about what comes next (and can_take).
void next_step(const Catalog& catalog, const std::vector<EnvHistory>& envs, const EnvHistory& e, EnvSummary& s) {
  if (!s.problems.empty()) {
    s.next = e.name + " needs attention before the next apply (" + std::to_string(s.problems.size()) +
             " problem" + (s.problems.size() == 1 ? "" : "s") + "): `mgr validate " + e.name +
             "` explains each; `mgr repair " + e.name + "` once it is dealt with";
  } else if (e.promote_from) {
    auto src = std::find_if(envs.begin(), envs.end(), [&](const EnvHistory& x) { return x.name == *e.promote_from; });
    if (src != envs.end() && src->rows) {
      s.can_take = static_cast<int>(promotable(catalog, *e.rows, *src->rows).size());
      s.next = *s.can_take == 0
                   ? e.name + " has nothing to take from " + *e.promote_from +
                         (s.pending > 0 ? " (" + std::to_string(s.pending) + " pending, not yet in " + *e.promote_from + ")" : "")
                   : e.name + " can take " + std::to_string(*s.can_take) + " migration" + (*s.can_take == 1 ? "" : "s") +
                         " from " + *e.promote_from;
    } else {
      s.next = e.name + " promotes from " + *e.promote_from + ", which is not shown or unreachable";
    }
  } else {
    s.next = s.pending == 0 ? e.name + " is up to date"
                            : e.name + " can take " + std::to_string(s.pending) + " pending migration" + (s.pending == 1 ? "" : "s");
  }
}

EnvSummary env_summary(const Catalog& catalog, const std::vector<EnvHistory>& envs, std::size_t i,
                       const std::vector<StatusRow>& rows) {
  const auto& e = envs[i];
  EnvSummary s;
  s.name = e.name;
  s.promote_from = e.promote_from;
  s.reachable = e.rows.has_value();
  s.error = e.error;
  if (!s.reachable) {
    s.next = e.name + " is unreachable: " + e.error;
    return s;
  }
  for (const auto& r : *e.rows) {
    if (r.success) ++s.applied;
  }
  s.newest_applied = newest_applied(*e.rows).value_or("");
  s.pending = static_cast<int>(pending_migrations(catalog, *e.rows).size());
  s.problems = env_problems(rows, i);
  next_step(catalog, envs, e, s);
  return s;
}

}  // namespace

StatusMatrix build_status(const Catalog& catalog, const std::vector<EnvHistory>& envs) {
  StatusMatrix m;
  for (const auto& e : envs) m.envs.push_back(e.name);

  // Each environment's rows by canonical id ("0001" == "1"): a lookup per cell, not a scan.
  std::vector<std::unordered_map<std::string, const HistoryRow*>> by_env(envs.size());
  for (std::size_t i = 0; i < envs.size(); ++i) {
    if (!envs[i].rows) continue;
    by_env[i].reserve(envs[i].rows->size());
    for (const auto& r : *envs[i].rows) by_env[i].emplace(canonical_id(r.migration_id), &r);
  }

  for (auto& [id, row] : status_rows(catalog, envs)) {
    const Migration* mig = row.has_file ? catalog.find(id) : nullptr;
    row.cells.resize(envs.size());
    for (std::size_t i = 0; i < envs.size(); ++i) {
      if (!envs[i].rows) {
        row.cells[i].state = CellState::unknown;
        continue;
      }
      auto it = by_env[i].find(canonical_id(id));
      row.cells[i] = status_cell(mig, it == by_env[i].end() ? nullptr : it->second);
    }
    m.rows.push_back(std::move(row));
  }

  for (std::size_t i = 0; i < envs.size(); ++i) m.summaries.push_back(env_summary(catalog, envs, i, m.rows));
  return m;
}

}  // namespace mgr
