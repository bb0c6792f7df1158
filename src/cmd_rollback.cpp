// mgr rollback <env> (--steps N | --to ID): run the down files of the newest
// applied migrations, newest first, each with the removal of its history row.
#include <spdlog/spdlog.h>

#include <map>

#include "mgr/backup.hpp"
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
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

}  // namespace

int run_rollback(const GlobalOptions& global, const RollbackOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  auto catalog = load_catalog(config.migrations_dir);
  Style style(global.color);

  Session session(env, "mgr " + env.name);
  // A dry run changes nothing, so like `apply --dry-run` it does not queue behind a running mgr.
  std::optional<MigrationLock> lock;
  if (!opts.dry_run) lock.emplace(session, config.history_table, env.lock_wait);
  HistoryStore history(session, config);
  auto rows = history.read_all();  // after the lock, sorted by id

  if (opts.to) {
    bool known = catalog.find(*opts.to) != nullptr;
    for (const auto& r : rows) known = known || compare_ids(r.migration_id, *opts.to) == 0;
    if (!known) throw UsageError("--to " + *opts.to + ": no migration with that id in the files or in " + env.name);
  }

  std::vector<std::string> problems;
  for (const auto& p : check_history(catalog, env.name, rows)) {
    // A failed row means a half-changed database: undoing more on top of it
    // would guess at its state.
    if (p.code == Code::environment_mismatch || p.code == Code::failed_migration) problems.push_back(format_refusal(p));
  }

  std::vector<const HistoryRow*> applied;
  for (const auto& r : rows) {
    if (r.success) applied.push_back(&r);
  }
  std::vector<Step> steps;  // newest first
  if (opts.steps) {
    if (*opts.steps > static_cast<int>(applied.size())) {
      problems.push_back("--steps " + std::to_string(*opts.steps) + ": only " + std::to_string(applied.size()) +
                         " migration(s) are applied in " + env.name);
    } else {
      for (int i = 0; i < *opts.steps; ++i) steps.push_back({*applied[applied.size() - 1 - i], nullptr});
    }
  } else {
    for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
      if (compare_ids((*it)->migration_id, *opts.to) > 0) steps.push_back({**it, nullptr});
    }
  }

  // Every down file is checked before any runs: a rollback that stops halfway
  // for a missing file is worse than one that never starts. The file rules are
  // apply's and validate's (plan.hpp); a file that does not parse is a bad file (exit 2).
  std::map<std::string, std::vector<std::string>> folded_by_id;
  std::vector<std::string> parse_errors;
  for (auto& s : steps) {
    s.migration = catalog.find(s.row.migration_id);  // numeric: "1" finds 0001_x
    if (s.migration == nullptr || !s.migration->down) {
      problems.push_back(format_refusal(diagnostic(
          Code::missing_down, s.label() + " has no down file (" + s.row.migration_id + "_" + s.row.name +
                                  ".down.sql) in " + config.migrations_dir.string() + "; write one or restore it")));
    } else if (s.row.down_checksum && *s.row.down_checksum != s.migration->down->checksum) {
      problems.push_back(format_refusal(diagnostic(
          Code::down_checksum_differs,
          s.migration->down->path.filename().string() + " changed since " + s.label() + " was applied in " +
              env.name + ": recorded " + s.row.down_checksum->substr(0, 12) + "..., file now " +
              s.migration->down->checksum.substr(0, 12) + "...; restore it, or run `mgr repair " + env.name +
              "` if the edit is deliberate")));
    }
    if (s.migration != nullptr && s.migration->down) {
      auto check = check_migration_file(s.row.migration_id, *s.migration->down, FileRole::down);
      for (const auto& p : check.problems) {
        if (p.code == Code::parse_error) {
          parse_errors.push_back(p.located());
        } else {
          problems.push_back(format_refusal(p));
        }
      }
      if (!check.folded.empty()) folded_by_id[s.row.migration_id] = std::move(check.folded);
    }
  }
  if (!parse_errors.empty()) {
    throw ConfigError("rollback of " + env.name + " refused; nothing was changed: " +
                      (parse_errors.size() == 1 ? "a down file does not parse:" : "down files do not parse:") +
                      "\n  - " + join(parse_errors, "\n  - "));
  }

  json out{{"environment", env.name}, {"url", env.url.redacted()}, {"dry_run", opts.dry_run}};
  json plan = json::array();
  for (const auto& s : steps) {
    plan.push_back({{"id", s.row.migration_id},
                    {"name", s.row.name},
                    {"file", s.migration && s.migration->down ? json(s.migration->down->path.string()) : json(nullptr)},
                    {"no_transaction", s.migration && s.migration->down && s.migration->down->directives.no_transaction}});
  }
  out["plan"] = plan;
  out["problems"] = problems;

  if (!problems.empty()) {
    if (global.json) {
      out["ok"] = false;
      out["rolled_back"] = json::array();
      print_json(out);
    }
    std::string msg = std::string(opts.dry_run ? "dry run: " : "") + "rollback of " + env.name +
                      " refused; nothing was changed:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw Refused(msg);
  }

  std::string newest_after;
  {
    std::size_t keep = applied.size() - steps.size();
    newest_after = keep == 0 ? std::string("none") : applied[keep - 1]->migration_id;
  }

  if (steps.empty()) {
    out["ok"] = true;
    out["rolled_back"] = json::array();
    if (global.json) {
      print_json(out);
    } else {
      print_line(env.name + ": nothing to roll back (newest applied: " + newest_after + ")");
    }
    return 0;
  }

  if (opts.dry_run) {
    out["ok"] = true;
    out["rolled_back"] = json::array();
    if (global.json) {
      print_json(out);
    } else {
      print_line("dry run: " + std::to_string(steps.size()) + " migration(s) would be rolled back in " + env.name + " (" +
                 env.url.redacted() + "), in this order:");
      for (const auto& s : steps) {
        print_line("  " + s.migration->down->path.filename().string() +
                   (s.migration->down->directives.no_transaction ? "  (no-transaction)" : ""));
      }
      print_line("newest applied afterwards: " + newest_after);
      print_line("nothing was changed");
    }
    return 0;
  }

  if (env.confirm) {
    confirm_or_refuse(env.name,
                      "About to roll back " + std::to_string(steps.size()) + " migration(s) in " + env.name + " (" +
                          env.url.redacted() + ").",
                      opts.yes);
  }

  std::optional<std::string> backup_file;
  if (env.backup == BackupPolicy::required) {
    std::vector<std::string> ids;
    for (const auto& s : steps) ids.push_back(s.row.migration_id);
    auto backup = take_backup(config, env, session.identity(), steps.front().row.migration_id,
                              "before rollback of " + join(ids, ", "));
    backup_file = backup.file_name();
    if (!global.json) print_line("backup: " + backup.file.string() + " (" + std::to_string(backup.size) + " bytes, verified)");
  }
  history.ensure();  // an old history table may lack the log table

  MigrationRunner runner(session, env);
  const auto os_user = os_user_at_host();
  json done = json::array();
  int total_ms = 0;
  if (!global.json) print_line("rolling back " + std::to_string(steps.size()) + " migration(s) in " + env.name);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    const auto& down = *s.migration->down;
    LogEntry log = LogEntry::of("rollback", s.row.migration_id, os_user, "ran " + down.path.filename().string());
    log.backup = backup_file;

    Bookkeeping books;
    books.on_success = {history.remove_sql(s.row.migration_id), history.log_sql(log, true)};
    bool no_tx = down.directives.no_transaction;
    if (no_tx) {
      // Some statements may have run: the row stays, marked failed (and in
      // progress while they run, for a kill), so apply and rollback stop
      // until an operator has looked (then `mgr repair`).
      LogEntry failed = log;
      failed.outcome = "failed";
      books.on_start = {history.mark_failed_sql(s.row.migration_id, true)};
      books.on_failure = {history.mark_failed_sql(s.row.migration_id), history.log_sql(failed)};
    }
    if (auto it = folded_by_id.find(s.row.migration_id); it != folded_by_id.end() && !global.json) {
      print_line("    folded into mgr's transaction (the file's own block statements are not run): " + join(it->second, ", "));
    }
    auto outcome = no_tx ? runner.run_statements(down, books) : runner.run_in_transaction(down, books);
    total_ms += outcome.duration_ms;
    if (!outcome.ok) {
      const auto& err = *outcome.error;
      if (!no_tx && outcome.state == RunState::rolled_back) {
        LogEntry failed = log;
        failed.outcome = "failed";
        failed.duration_ms = outcome.duration_ms;
        failed.detail = down.path.filename().string() + ": " + err.sqlstate + " " + err.message;
        try {
          runner.exec(history.log_sql(failed));
        } catch (const Error& e) {
          spdlog::warn("could not write the audit log: {}", e.what());
        }
      }
      done.push_back({{"id", s.row.migration_id}, {"name", s.row.name}, {"outcome", "failed"},
                      {"duration_ms", outcome.duration_ms}});
      std::string msg = err.format() + "\n" + rollback_failure_text(down, s.label(), env.name, i, outcome);
      if (global.json) {
        out["ok"] = false;
        out["rolled_back"] = done;
        out["backup"] = backup_file ? json(*backup_file) : json(nullptr);
        out["error"] = {{"file", err.file.string()},
                        {"line", err.pos ? json(err.pos->line) : json(nullptr)},
                        {"column", err.pos ? json(err.pos->col) : json(nullptr)},
                        {"sqlstate", err.sqlstate},
                        {"message", err.message}};
        print_json(out);
      } else {
        print_line("  " + style.red("FAILED") + " " + s.label() + "  (" + std::to_string(outcome.duration_ms) + " ms)");
      }
      if (interrupted()) throw Interrupted(interrupt_description() + ": " + msg);
      throw Failure(msg);
    }
    if (interrupted()) {
      throw Interrupted(interrupt_description() + " after " + s.label() + " was rolled back; " + std::to_string(i + 1) +
                        " of " + std::to_string(steps.size()) + " undone, nothing after it ran");
    }
    done.push_back({{"id", s.row.migration_id}, {"name", s.row.name}, {"outcome", "rolled back"},
                    {"duration_ms", outcome.duration_ms}});
    if (!global.json) {
      print_line("  " + style.green("rolled back") + " " + s.label() + "  (" + std::to_string(outcome.duration_ms) + " ms)");
    }
  }
  auto snapshot = snapshot_after_change(session, config, env, "rollback");  // still under the lock
  out["ok"] = true;
  out["rolled_back"] = done;
  out["schema_sha256"] = snapshot ? json(*snapshot) : json(nullptr);
  out["backup"] = backup_file ? json(*backup_file) : json(nullptr);
  out["duration_ms"] = total_ms;
  out["newest_applied"] = newest_after;
  if (global.json) {
    print_json(out);
  } else {
    print_line(env.name + ": rolled back " + std::to_string(steps.size()) + " migration(s) in " +
               std::to_string(total_ms) + " ms; newest applied is now " + newest_after);
    for (const auto& other : config.environments) {
      if (other.promote_from && *other.promote_from == env.name) {
        print_line("note: if " + other.name + " has these migrations, `mgr validate` reports its promotion order as "
                   "broken until the two agree again");
      }
    }
  }
  return 0;
}

}  // namespace mgr
