// mgr rollback <env> (--steps N | --to ID): run the down files of the newest
// applied migrations, newest first, each with the removal of its history row.
#include <spdlog/spdlog.h>

#include <map>

#include "mgr/backup.hpp"
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/executor.hpp"
#include "mgr/history.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/runner.hpp"
#include "mgr/session.hpp"
#include "mgr/sql.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;

struct Step {
  HistoryRow row;
  const Migration* migration = nullptr;  // nullptr when the files no longer hold it
  std::string label() const { return row.migration_id + "_" + row.name; }
};

// A failure inside an explicit block of a no-transaction file rolled that block back.
std::string block_note(const MigrationFile& file, const MigrationError& err) {
  if (!err.pos) return "";
  auto block = enclosing_block(file.sql, *err.pos);
  return block ? " (except those of its BEGIN block from line " + std::to_string(block->line) + ", which was rolled back)"
               : "";
}

// Only what is certain: "rolled back" only when the server reported it.
std::string rollback_failure_text(const MigrationFile& down, const std::string& label, const std::string& env,
                                  std::size_t undone, const RunOutcome& outcome) {
  const auto file = down.path.filename().string();
  const auto before = std::to_string(undone) + " migration(s) before it in this rollback were undone, none after it ran.";
  std::string text;
  switch (outcome.state) {
    case RunState::done: break;
    case RunState::rolled_back:
      text = "its transaction was rolled back, so " + label + " is still applied; " + before;
      break;
    case RunState::not_started: text = "nothing of " + file + " ran, so " + label + " is still applied; " + before; break;
    case RunState::partial:
      text = down.directives.no_transaction
                 ? file + " ran without a transaction: statements before the failing one stayed applied" +
                       (outcome.error ? block_note(down, *outcome.error) : std::string()) + ", and " + label +
                       " is now recorded as failed. Finish undoing it by hand, then `mgr repair " + env +
                       "` removes its row."
                 : file + " ended its transaction itself: what ran before that stayed committed, and " + label +
                       " is still recorded as applied. Check the database and `mgr status " + env + "`.";
      break;
    case RunState::unknown:
      text = down.directives.no_transaction
                 ? "the connection was lost while " + file + " ran without a transaction: how far it got is unknown. " +
                       label + " is recorded as failed unless the connection went before it started; check with `mgr "
                       "status " + env + "`, finish undoing it by hand, then `mgr repair " + env + "`. " + before
                 : "whether the undo of " + label + " committed is unknown: the server may have received its COMMIT "
                   "before the connection went. Its history row is removed in the same transaction, so `mgr status " +
                       env + "` tells: pending means it was undone, applied means nothing changed. " + before;
      break;
  }
  if (!outcome.bookkeeping_error.empty()) text += "\nAlso: " + outcome.bookkeeping_error;
  return text;
}

// The down files to run, newest first, and every reason to refuse. A file
// that does not parse is a bad file (exit 2), thrown at once.
struct RollbackPlan {
  std::vector<Step> steps;  // newest first
  std::vector<std::string> problems;
  std::map<std::string, std::vector<std::string>> folded_by_id;
  std::string newest_after;  // the newest applied once the steps are undone ("none")
};

// The newest applied rows to undo, per --steps or --to.
void choose_steps(const RollbackOptions& opts, const Environment& env, const std::vector<const HistoryRow*>& applied,
                  RollbackPlan& out) {
  if (opts.steps) {
    if (*opts.steps > static_cast<int>(applied.size())) {
      out.problems.push_back("--steps " + std::to_string(*opts.steps) + ": only " + std::to_string(applied.size()) +
                             " migration(s) are applied in " + env.name);
    } else {
      for (int i = 0; i < *opts.steps; ++i) out.steps.push_back({*applied[applied.size() - 1 - i], nullptr});
    }
  } else {
    for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
      if (compare_ids((*it)->migration_id, *opts.to) > 0) out.steps.push_back({**it, nullptr});
    }
  }
  std::size_t keep = applied.size() - out.steps.size();
  out.newest_after = keep == 0 ? std::string("none") : applied[keep - 1]->migration_id;
}

// Every down file is checked before any runs: a rollback that stops halfway
// for a missing file is worse than one that never starts. The file rules are
// apply's and validate's (plan.hpp).
void check_down_files(const Config& config, const Environment& env, const Catalog& catalog, RollbackPlan& out) {
  std::vector<std::string> parse_errors;
  for (auto& s : out.steps) {
    s.migration = catalog.find(s.row.migration_id);  // numeric: "1" finds 0001_x
    if (s.migration == nullptr || !s.migration->down) {
      out.problems.push_back(format_refusal(diagnostic(
          Code::missing_down, s.label() + " has no down file (" + s.row.migration_id + "_" + s.row.name +
                                  ".down.sql) in " + config.migrations_dir.string() + "; write one or restore it")));
      continue;
    }
    const auto& down = *s.migration->down;
    if (s.row.down_checksum && *s.row.down_checksum != down.checksum) {
      out.problems.push_back(format_refusal(diagnostic(
          Code::down_checksum_differs,
          down.path.filename().string() + " changed since " + s.label() + " was applied in " + env.name +
              ": recorded " + s.row.down_checksum->substr(0, 12) + "..., file now " + down.checksum.substr(0, 12) +
              "...; restore it, or run `mgr repair " + env.name + "` if the edit is deliberate")));
    }
    auto check = check_migration_file(s.row.migration_id, down, FileRole::down);
    for (const auto& p : check.problems) {
      if (p.code == Code::parse_error) {
        parse_errors.push_back(p.located());
      } else {
        out.problems.push_back(format_refusal(p));
      }
    }
    if (!check.folded.empty()) out.folded_by_id[s.row.migration_id] = std::move(check.folded);
  }
  if (!parse_errors.empty()) {
    throw ConfigError("rollback of " + env.name + " refused; nothing was changed: " +
                      (parse_errors.size() == 1 ? "a down file does not parse:" : "down files do not parse:") +
                      "\n  - " + join(parse_errors, "\n  - "));
  }
}

RollbackPlan plan_rollback(const RollbackOptions& opts, const Config& config, const Environment& env,
                           const Catalog& catalog, const std::vector<HistoryRow>& rows) {
  if (opts.to) {
    bool known = catalog.find(*opts.to) != nullptr;
    for (const auto& r : rows) known = known || compare_ids(r.migration_id, *opts.to) == 0;
    if (!known) throw UsageError("--to " + *opts.to + ": no migration with that id in the files or in " + env.name);
  }
  RollbackPlan out;
  for (const auto& p : check_history(catalog, env.name, rows)) {
    // A failed row means a half-changed database: undoing more on top of it
    // would guess at its state.
    if (p.code == Code::environment_mismatch || p.code == Code::failed_migration) {
      out.problems.push_back(format_refusal(p));
    }
  }
  std::vector<const HistoryRow*> applied;
  for (const auto& r : rows) {
    if (r.success) applied.push_back(&r);
  }
  choose_steps(opts, env, applied, out);
  check_down_files(config, env, catalog, out);
  return out;
}

// The executor's plan: each down file with the removal of its history row.
ExecPlan exec_plan_for(const RollbackOptions& opts, const Environment& env, const RollbackPlan& rollback) {
  ExecPlan plan;
  plan.action = "rollback";
  plan.confirmed = opts.yes;
  plan.confirm_text = "About to roll back " + std::to_string(rollback.steps.size()) + " migration(s) in " + env.name +
                      " (" + env.url.redacted() + ").";
  std::vector<std::string> ids;
  for (const auto& s : rollback.steps) ids.push_back(s.row.migration_id);
  plan.backup_newest = rollback.steps.front().row.migration_id;
  plan.backup_reason = "before rollback of " + join(ids, ", ");
  const auto os_user = os_user_at_host();
  for (const auto& s : rollback.steps) {
    ExecStep step;
    step.id = s.row.migration_id;
    step.name = s.row.name;
    step.label = s.label();
    step.file = &*s.migration->down;
    if (auto it = rollback.folded_by_id.find(step.id); it != rollback.folded_by_id.end()) step.folded = it->second;
    step.bookkeeping = [id = step.id, file = step.file->path.filename().string(),
                        no_tx = step.file->directives.no_transaction,
                        os_user](HistoryStore& history, const std::optional<std::string>& backup) {
      LogEntry log = LogEntry::of("rollback", id, os_user, "ran " + file);
      log.backup = backup;
      StepBooks out{{}, log};
      out.books.on_success = {history.remove_sql(id), history.log_sql(log, true)};
      if (no_tx) {
        // Some statements may have run: the row stays, marked failed (and in
        // progress while they run, for a kill), so apply and rollback stop
        // until an operator has looked (then `mgr repair`).
        LogEntry failed = log;
        failed.outcome = "failed";
        out.books.on_start = {history.mark_failed_sql(id, true)};
        out.books.on_failure = {history.mark_failed_sql(id), history.log_sql(failed)};
      }
      return out;
    };
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

}  // namespace

namespace {

// rollback's lines on stdout as the run goes (nothing with --json), and its prompt.
class RollbackText : public ExecObserver {
 public:
  RollbackText(const GlobalOptions& global, const RollbackOptions& opts, const Environment& env)
      : m_json(global.json), m_yes(opts.yes), m_env(env), m_style(global.color) {}
  void confirm(const Environment& env, const std::string& what) override { confirm_or_refuse(env.name, what, m_yes); }
  void backup_taken(const BackupResult& b) override {
    if (!m_json) print_line("backup: " + b.file.string() + " (" + std::to_string(b.size) + " bytes, verified)");
  }
  void run_started(const ExecPlan& p) override {
    if (!m_json) print_line("rolling back " + std::to_string(p.steps.size()) + " migration(s) in " + m_env.name);
  }
  void step_started(const ExecStep& s, std::size_t, std::size_t) override {
    if (!m_json && !s.folded.empty()) {
      print_line("    folded into mgr's transaction (the file's own block statements are not run): " + join(s.folded, ", "));
    }
  }
  void step_finished(const StepResult& r, std::size_t, std::size_t) override {
    if (m_json) return;
    const auto word =
        !r.ok ? m_style.red("FAILED") : r.durable ? m_style.green("rolled back") : m_style.red("UNCONFIRMED");
    print_line("  " + word + " " + r.label + "  (" + std::to_string(r.duration_ms) + " ms)");
  }

 private:
  bool m_json;
  bool m_yes;
  const Environment& m_env;
  Style m_style;
};

// Prints `out` as refused (with --json) and throws the problems.
[[noreturn]] void refuse(const GlobalOptions& global, const RollbackOptions& opts, const Environment& env,
                         const RollbackPlan& rollback, json& out) {
  if (global.json) {
    out["ok"] = false;
    out["rolled_back"] = json::array();
    print_json(out);
  }
  std::string msg = std::string(opts.dry_run ? "dry run: " : "") + "rollback of " + env.name + " refused; nothing was changed:";
  for (const auto& p : rollback.problems) msg += "\n  - " + p;
  throw Refused(msg);
}

void render_dry_run(const GlobalOptions& global, const Environment& env, const RollbackPlan& rollback, json& out) {
  out["ok"] = true;
  out["rolled_back"] = json::array();
  if (global.json) {
    print_json(out);
    return;
  }
  print_line("dry run: " + std::to_string(rollback.steps.size()) + " migration(s) would be rolled back in " + env.name +
             " (" + env.url.redacted() + "), in this order:");
  for (const auto& s : rollback.steps) {
    print_line("  " + s.migration->down->path.filename().string() +
               (s.migration->down->directives.no_transaction ? "  (no-transaction)" : ""));
  }
  print_line("newest applied afterwards: " + rollback.newest_after);
  print_line("nothing was changed");
}

// The run's end, from the executor's result: the summary, or the failure thrown.
int render_result(const GlobalOptions& global, const Config& config, const Environment& env,
                  const RollbackPlan& rollback, const ExecResult& result, json& out) {
  out["rolled_back"] = steps_json(result, "rolled back");
  out["backup"] = result.backup_file ? json(*result.backup_file) : json(nullptr);
  if (result.failure) {
    const auto& f = *result.failure;
    const auto& s = rollback.steps[f.step];
    const auto& err = *f.outcome.error;
    std::string msg = err.format() + "\n" + rollback_failure_text(*s.migration->down, s.label(), env.name, f.step, f.outcome);
    for (const auto& done : result.steps) {
      if (done.ok && !done.durable) {
        msg += "\nAlso: the undo of " + done.label + " committed, but mgr could not confirm it reached disk before the "
               "connection went; `mgr status " + env.name + "` tells.";
      }
    }
    if (!f.audit_error.empty()) spdlog::warn("{}", f.audit_error);
    if (global.json) {
      out["ok"] = false;
      out["error"] = error_json(err);
      print_json(out);
    }
    if (interrupted()) throw Interrupted(interrupt_description() + ": " + msg);
    throw Failure(msg);
  }
  if (result.interrupted) {
    throw Interrupted(interrupt_description() + " after " + result.steps.back().label + " was rolled back; " +
                      std::to_string(result.steps.size()) + " of " + std::to_string(rollback.steps.size()) +
                      " undone, nothing after it ran");
  }
  out["ok"] = true;
  out["schema_sha256"] = result.schema_sha256 ? json(*result.schema_sha256) : json(nullptr);
  out["duration_ms"] = result.duration_ms;
  out["newest_applied"] = rollback.newest_after;
  if (global.json) {
    print_json(out);
    return 0;
  }
  print_line(env.name + ": rolled back " + std::to_string(result.steps.size()) + " migration(s) in " +
             std::to_string(result.duration_ms) + " ms; newest applied is now " + rollback.newest_after);
  for (const auto& other : config.environments) {
    if (other.promote_from && *other.promote_from == env.name) {
      print_line("note: if " + other.name + " has these migrations, `mgr validate` reports its promotion order as "
                 "broken until the two agree again");
    }
  }
  return 0;
}

}  // namespace

int run_rollback(const GlobalOptions& global, const RollbackOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  auto catalog = load_catalog(config.migrations_dir);

  Session session(env, "mgr " + env.name);
  // A dry run changes nothing, so like `apply --dry-run` it does not queue behind a running mgr.
  std::optional<MigrationLock> lock;
  if (!opts.dry_run) lock.emplace(session, config.history_table, env.lock_wait);
  auto rows = HistoryStore(session, config).read_all();  // after the lock, sorted by id
  auto rollback = plan_rollback(opts, config, env, catalog, rows);

  json out{{"environment", env.name}, {"url", env.url.redacted()}, {"dry_run", opts.dry_run}};
  json plan = json::array();
  for (const auto& s : rollback.steps) {
    const bool has_down = s.migration && s.migration->down;
    plan.push_back({{"id", s.row.migration_id},
                    {"name", s.row.name},
                    {"file", has_down ? json(s.migration->down->path.string()) : json(nullptr)},
                    {"no_transaction", has_down && s.migration->down->directives.no_transaction}});
  }
  out["plan"] = plan;
  out["problems"] = rollback.problems;
  if (!rollback.problems.empty()) refuse(global, opts, env, rollback, out);

  if (rollback.steps.empty()) {
    out["ok"] = true;
    out["rolled_back"] = json::array();
    if (global.json) {
      print_json(out);
    } else {
      print_line(env.name + ": nothing to roll back (newest applied: " + rollback.newest_after + ")");
    }
    return 0;
  }
  if (opts.dry_run) {
    render_dry_run(global, env, rollback, out);
    return 0;
  }

  RollbackText text(global, opts, env);
  auto result = execute(config, env, session, exec_plan_for(opts, env, rollback), text);
  return render_result(global, config, env, rollback, result, out);
}

}  // namespace mgr
