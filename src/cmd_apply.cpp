// mgr apply <env>: verify everything, then apply pending migrations in order.
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "mgr/backup.hpp"
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/lint.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/runner.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"
#include "mgr/sql.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;

// Lint the migrations about to run, per the environment's policy.
std::vector<Diagnostic> lint_policy(const Config& config, const Environment& env,
                                    const std::vector<const Migration*>& plan,
                                    std::map<std::string, std::string>& allowed_by_id) {
  std::vector<Diagnostic> problems;
  if (env.lint == LintPolicy::off) return problems;
  LintSettings settings;
  settings.pg_version = config.lint_pg_version;
  for (const auto* m : plan) {
    auto result = lint_migration(m->up, settings);
    allowed_by_id[m->id] = join(result.allowed_rules(), ",");
    for (const auto& f : result.findings) {
      // Refused by the file rules whatever the policy; listed there once.
      if (f.allowed || (f.code == Code::lint_transaction_control && f.severity == Severity::error)) continue;
      bool is_error = f.severity == Severity::error;
      if (is_error && env.lint == LintPolicy::block) {
        Diagnostic d = f;
        d.code = Code::lint;
        d.migration = m->id;
        d.message = "[" + std::string(f.rule()) + "] " + f.message + " (if intended: -- mgr:allow " +
                    std::string(f.rule()) + " reason: <why>)";
        problems.push_back(std::move(d));
      } else {
        spdlog::warn("{}: [{}] {}{}", f.where(), f.rule(), f.message, is_error ? " (an error finding; lint: warn lets it pass)" : "");
      }
    }
  }
  return problems;
}

struct MigrationBooks {
  LogEntry log;
  Bookkeeping books;
};

// The history and audit rows of migration `m`: they commit with it, or, for a
// no-transaction file, an in-progress row committed before its first statement
// is finished as a success or a failure after it.
MigrationBooks bookkeeping_for(HistoryStore& history, const Migration& m, const std::string& env,
                               const std::string& os_user, const std::optional<std::string>& backup_file,
                               const std::string& allowed_rules) {
  HistoryRow row = history_row_for(m, env, "apply", os_user);
  row.backup = backup_file;
  row.allowed_rules = allowed_rules;
  MigrationBooks out{LogEntry::of("apply", m.id, os_user, m.label()), {}};
  out.log.backup = backup_file;
  if (m.up.directives.no_transaction) {
    // Recorded as started (failed, in progress) before its first statement.
    HistoryRow started = row;
    started.success = false;
    started.in_progress = true;
    LogEntry failed_log = out.log;
    failed_log.outcome = "failed";
    out.books.on_start = {history.insert_sql(started)};
    out.books.on_success = {history.finish_sql(m.id, true), history.log_sql(out.log, true)};
    out.books.on_failure = {history.finish_sql(m.id, false), history.log_sql(failed_log)};
  } else {
    out.books.on_success = {history.insert_sql(row, true), history.log_sql(out.log, true)};
  }
  return out;
}

// `apply --dry-run --sql`: what would be sent for `m`, query by query.
std::vector<std::string> queries_for(MigrationRunner& runner, const Migration& m, const Bookkeeping& books) {
  if (m.up.directives.no_transaction) return runner.statement_queries(m.up, books);
  return {runner.transaction_sql(m.up, books), k_reset_session_sql};
}

// What a failed no-transaction file left behind: a failure inside one of its
// explicit blocks rolled that block back (the runner ends it), not the rest.
std::string statements_that_stayed(const MigrationFile& file, const MigrationError& err) {
  std::string out = "statements before the failing one stayed applied";
  if (!err.pos) return out;
  if (auto block = enclosing_block(file.sql, *err.pos)) {
    out += ", except those of its BEGIN block from line " + std::to_string(block->line) + ", which was rolled back";
  }
  return out;
}

// The file's own BEGIN/COMMIT were folded into mgr's one transaction: say where.
std::string folded_note(const std::vector<std::string>& folded) {
  return "    folded into mgr's transaction (the file's own block statements are not run): " + join(folded, ", ");
}

// What the operator must know after a migration did not succeed: only what
// is certain (a rollback is claimed only when the server reported one).
std::string apply_failure_text(const Migration& m, const std::string& env, const RunOutcome& outcome) {
  const auto label = m.label();
  const std::string rest = " The migrations before it stay applied, none after it ran.";
  std::string text;
  switch (outcome.state) {
    case RunState::rolled_back: text = label + " was rolled back; the migrations before it stay applied, none after it ran."; break;
    case RunState::not_started: text = "nothing of " + label + " ran." + rest; break;
    case RunState::done: break;
    case RunState::partial:
      text = m.up.directives.no_transaction
                 ? label + " ran without a transaction and is recorded as failed: " +
                       (outcome.error ? statements_that_stayed(m.up, *outcome.error)
                                      : std::string("statements before the failing one stayed applied")) +
                       ". Fix or undo them, then `mgr repair " + env + "`."
                 : label + " ended its transaction itself: what ran before that stayed committed, and it is not "
                           "recorded. Check the database, then `mgr status " + env + "`.";
      break;
    case RunState::unknown:
      text = m.up.directives.no_transaction
                 ? label + " ran without a transaction: how many of its statements ran is unknown. Unless the "
                           "connection went before it started, it is recorded as in progress (failed), so apply "
                           "stops there; check with `mgr status " + env + "`, fix or undo by hand, then `mgr repair " +
                           env + "`." + rest
                 : "whether " + label + " committed is unknown: the server may have received its COMMIT before "
                   "the connection went. Its history row commits with it, so `mgr status " + env +
                   "` tells: applied means it committed, pending means nothing of it remains." + rest;
      break;
  }
  if (!outcome.bookkeeping_error.empty()) text += "\nAlso: " + outcome.bookkeeping_error;
  return text;
}

}  // namespace

int run_apply(const GlobalOptions& global, const ApplyOptions& opts) {
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  // Connect, lock and read the history while the catalog loads: at thousands
  // of files both take tens of milliseconds, and one waits on the server.
  struct Remote {
    std::unique_ptr<Session> session;
    std::unique_ptr<MigrationLock> lock;
    std::vector<HistoryRow> applied;
  };
  auto remote_future = std::async(std::launch::async, [&]() {
    Remote r;
    r.session = std::make_unique<Session>(env, "mgr " + env.name);
    if (!opts.dry_run) {
      r.lock = std::make_unique<MigrationLock>(*r.session, config.history_table, opts.lock_wait.value_or(env.lock_wait));
    }
    r.applied = HistoryStore(*r.session, config.history_table).read_all();  // after the lock: a concurrent apply has finished
    return r;
  });
  Catalog catalog;
  try {
    catalog = load_catalog(config.migrations_dir);
    if (opts.to && catalog.find(*opts.to) == nullptr) {
      throw UsageError("--to " + *opts.to + ": no migration with that id in " + config.migrations_dir.string());
    }
  } catch (...) {
    // A problem with the files is reported first (exit 2), whatever the server said.
    try {
      remote_future.get();
    } catch (...) {
    }
    throw;
  }
  Remote remote = remote_future.get();
  ApplyContext ctx{config, env, *remote.session, catalog, remote.applied};
  return apply_with(global, opts, ctx);
}

int apply_with(const GlobalOptions& global, const ApplyOptions& opts, ApplyContext& ctx) {
  const Config& config = ctx.config;
  const Environment& env = ctx.env;
  const Catalog& catalog = ctx.catalog;
  Session& session = ctx.session;
  HistoryStore history(session, config);
  auto& applied = ctx.applied;
  Style style(global.color);

  PlanInput in;
  in.catalog = &catalog;
  in.env = env.name;
  in.applied = &applied;
  in.to = opts.to;
  in.allow_out_of_order = opts.allow_out_of_order;

  // The source is read only when something is pending: the no-op path stays one connection.
  std::vector<HistoryRow> source_rows;
  std::unique_ptr<Session> source_session;
  if (env.promote_from && !pending_migrations(catalog, applied, opts.to).empty()) {
    const auto& source_env = config.get(*env.promote_from);
    SourceHistory source{source_env.name, nullptr, ""};
    try {
      source_session = std::make_unique<Session>(source_env, "mgr " + env.name + " (gate)");
      HistoryStore source_history(*source_session, config.history_table);
      source_rows = source_history.read_all();
      source.rows = &source_rows;
    } catch (const Error& e) {
      source.error = e.what();
    }
    in.source = source;
  }
  auto plan = make_plan(in);
  source_session.reset();

  // Every file of the plan passes the file rules before anything changes (the
  // same rules as validate): a file that does not parse is a bad file (exit 2).
  std::map<std::string, std::vector<std::string>> folded_by_id;
  std::vector<std::string> parse_errors;
  for (const auto* m : plan.to_apply) {
    auto check = check_migration_file(m->id, m->up, FileRole::up);
    for (auto& p : check.problems) {
      if (p.code == Code::parse_error) {
        parse_errors.push_back(p.located());
      } else {
        plan.problems.push_back(std::move(p));
      }
    }
    if (!check.folded.empty()) folded_by_id[m->id] = std::move(check.folded);
  }
  if (!parse_errors.empty()) {
    throw ConfigError("apply to " + env.name + " refused; nothing was changed: " +
                      (parse_errors.size() == 1 ? "a migration does not parse:" : "migrations do not parse:") +
                      "\n  - " + join(parse_errors, "\n  - "));
  }

  std::map<std::string, std::string> allowed_by_id;
  auto lint_problems = lint_policy(config, env, plan.to_apply, allowed_by_id);
  plan.problems.insert(plan.problems.end(), lint_problems.begin(), lint_problems.end());

  json out{{"environment", env.name}, {"url", env.url.redacted()}, {"dry_run", opts.dry_run}};
  json plan_json = json::array();
  for (const auto* m : plan.to_apply) {
    plan_json.push_back({{"id", m->id}, {"name", m->name}, {"file", m->up.path.string()},
                         {"no_transaction", m->up.directives.no_transaction},
                         {"folded", folded_by_id.count(m->id) != 0 ? json(folded_by_id[m->id]) : json::array()}});
  }
  out["plan"] = plan_json;
  out["problems"] = refusal_json(plan.problems);

  if (!plan.problems.empty()) {
    auto head = std::string(opts.dry_run ? "dry run: apply to " : "apply to ") + env.name + " would be refused (" +
                std::to_string(plan.problems.size()) + " problem" + (plan.problems.size() == 1 ? "" : "s") +
                "); nothing was changed:";
    if (!opts.dry_run) head = "apply to " + env.name + " refused; nothing was changed:";
    if (global.json) {
      out["ok"] = false;
      out["applied"] = json::array();
      print_json(out);
    }
    throw Refused(refusal_text(head, plan.problems));
  }

  if (ctx.check_only) return 0;
  if (plan.to_apply.empty()) {
    out["ok"] = true;
    out["applied"] = json::array();
    if (global.json) {
      print_json(out);
    } else {
      print_line(env.name + ": nothing to apply (newest applied: " +
                 (plan.newest_applied.empty() ? std::string("none") : plan.newest_applied) + ")");
    }
    return 0;
  }

  // Drift before anything changes (backup included); a dry run reports it too.
  if (auto drift = check_drift_before_apply(session, config, env, opts.allow_drift, opts.dry_run)) {
    out["drift"] = drift->state;
    if (drift->refuse) {
      if (global.json) {
        out["ok"] = false;
        out["applied"] = json::array();
        print_json(out);
      }
      throw Refused(drift->message);
    }
  }

  if (opts.dry_run) {
    out["ok"] = true;
    out["applied"] = json::array();
    std::vector<std::vector<std::string>> sql_of;  // per migration, with --sql
    if (opts.sql) {
      MigrationRunner runner(session, env);
      const auto os_user = os_user_at_host();
      for (std::size_t i = 0; i < plan.to_apply.size(); ++i) {
        const auto* m = plan.to_apply[i];
        auto books = bookkeeping_for(history, *m, env.name, os_user, std::nullopt, allowed_by_id[m->id]).books;
        sql_of.push_back(queries_for(runner, *m, books));
        out["plan"][i]["sql"] = sql_of.back();
      }
    }
    if (global.json) {
      print_json(out);
    } else {
      print_line("dry run: " + std::to_string(plan.to_apply.size()) + " migration(s) would be applied to " + env.name +
                 " (" + env.url.redacted() + "), in this order:");
      for (const auto* m : plan.to_apply) {
        print_line("  " + m->label() + (m->up.directives.no_transaction ? "  (no-transaction)" : ""));
        if (auto it = folded_by_id.find(m->id); it != folded_by_id.end()) print_line(folded_note(it->second));
      }
      if (env.promote_from) print_line("promotion gate: every one is applied in " + *env.promote_from + " with the same checksum");
      for (std::size_t i = 0; i < sql_of.size(); ++i) {
        const auto* m = plan.to_apply[i];
        print_line("");
        print_line(m->up.directives.no_transaction
                       ? "-- " + m->label() + ": no-transaction, each query below is sent on its own (autocommit)"
                       : "-- " + m->label() + ": sent as one query, then the session reset that follows every migration");
        if (env.backup == BackupPolicy::required) {
          print_line("-- (the real run also fills the rows' backup column with the backup it takes first)");
        }
        for (const auto& q : sql_of[i]) print_line(q);
      }
      print_line("nothing was changed");
    }
    return 0;
  }

  if (env.confirm) {
    // The prompt names what will run: the count alone does not tell a wrong plan from a right one.
    std::string what = "About to apply " + std::to_string(plan.to_apply.size()) + " migration(s) to " + env.name + " (" +
                       env.url.redacted() + "):";
    for (std::size_t i = 0; i < plan.to_apply.size(); ++i) {
      if (i == 20 && plan.to_apply.size() > 21) {
        what += "\n  ... and " + std::to_string(plan.to_apply.size() - i) + " more, up to " + plan.to_apply.back()->label();
        break;
      }
      what += "\n  " + plan.to_apply[i]->label();
    }
    confirm_or_refuse(env.name, what, opts.yes);
  }

  // Backup first, then the history table: if the backup fails, the database is untouched.
  std::optional<std::string> backup_file = ctx.backup_file;
  if (env.backup == BackupPolicy::required && !ctx.backup_file) {
    std::vector<std::string> ids;
    for (const auto* m : plan.to_apply) {
      if (ids.size() == 10) {
        ids.push_back("... (" + std::to_string(plan.to_apply.size()) + " in all)");
        break;
      }
      ids.push_back(m->id);
    }
    // Ctrl-C reaches pg_dump too (same process group); mgr stays to remove the partial file.
    InterruptGuard guard;
    auto backup = take_backup(config, env, session.identity(),
                              plan.newest_applied.empty() ? std::nullopt : std::optional<std::string>(plan.newest_applied),
                              "before apply of " + join(ids, ", "));
    backup_file = backup.file_name();
    if (!global.json) {
      print_line("backup: " + backup.file.string() + " (" + std::to_string(backup.size) + " bytes, verified)");
    }
  }
  if (interrupted()) throw Interrupted(interrupt_description() + " during the backup; nothing was applied");
  history.ensure();

  MigrationRunner runner(session, env);
  const auto os_user = os_user_at_host();
  json applied_json = json::array();
  int total_ms = 0;
  if (!global.json) print_line("applying " + std::to_string(plan.to_apply.size()) + " migration(s) to " + env.name + " (" + env.url.redacted() + ")");
  for (const auto* m : plan.to_apply) {
    spdlog::debug("{}: applying {} ({})", env.name, m->label(), m->up.path.string());
    auto [log, books] = bookkeeping_for(history, *m, env.name, os_user, backup_file, allowed_by_id[m->id]);
    bool no_tx = m->up.directives.no_transaction;
    if (auto it = folded_by_id.find(m->id); it != folded_by_id.end() && !global.json) print_line(folded_note(it->second));
    auto outcome = no_tx ? runner.run_statements(m->up, books) : runner.run_in_transaction(m->up, books);
    total_ms += outcome.duration_ms;
    if (!outcome.ok) {
      if (!no_tx && outcome.state == RunState::rolled_back) {
        // The migration left nothing behind; the audit log still says it was tried.
        LogEntry failed_log = log;
        failed_log.outcome = "failed";
        failed_log.duration_ms = outcome.duration_ms;
        failed_log.detail = m->label() + ": " + outcome.error->sqlstate + " " + outcome.error->message;
        try {
          runner.exec(history.log_sql(failed_log));
        } catch (const Error& e) {
          spdlog::warn("could not write the audit log: {}", e.what());
        }
      }
      applied_json.push_back({{"id", m->id}, {"name", m->name}, {"outcome", "failed"}, {"duration_ms", outcome.duration_ms}});
      const auto& err = *outcome.error;
      std::string msg = err.format() + "\n" + apply_failure_text(*m, env.name, outcome);
      if (global.json) {
        out["ok"] = false;
        out["applied"] = applied_json;
        out["backup"] = backup_file ? json(*backup_file) : json(nullptr);
        out["error"] = {{"file", err.file.string()},
                        {"line", err.pos ? json(err.pos->line) : json(nullptr)},
                        {"column", err.pos ? json(err.pos->col) : json(nullptr)},
                        {"sqlstate", err.sqlstate},
                        {"message", err.message},
                        {"detail", err.detail},
                        {"hint", err.hint}};
        print_json(out);
      } else {
        print_line("  " + style.red("FAILED") + " " + m->label() + "  (" + std::to_string(outcome.duration_ms) + " ms)");
      }
      if (interrupted()) throw Interrupted(interrupt_description() + ": " + msg);
      throw Failure(msg);
    }
    if (interrupted()) {
      throw Interrupted(interrupt_description() + " after " + m->label() + " was applied; nothing after it ran");
    }
    applied_json.push_back({{"id", m->id}, {"name", m->name}, {"outcome", "applied"}, {"duration_ms", outcome.duration_ms}});
    if (!global.json) {
      print_line("  " + style.green("applied") + " " + m->label() + "  (" + std::to_string(outcome.duration_ms) + " ms)");
    }
  }
  // Still under the migration lock: the schema recorded is the one this apply made.
  auto snapshot = snapshot_after_change(session, config, env, "apply");
  out["ok"] = true;
  out["applied"] = applied_json;
  out["backup"] = backup_file ? json(*backup_file) : json(nullptr);
  out["duration_ms"] = total_ms;
  out["schema_sha256"] = snapshot ? json(*snapshot) : json(nullptr);
  if (global.json) {
    print_json(out);
  } else {
    print_line(env.name + ": applied " + std::to_string(plan.to_apply.size()) + " migration(s) in " +
               std::to_string(total_ms) + " ms; newest is now " + plan.to_apply.back()->id);
  }
  return 0;
}

}  // namespace mgr
