// mgr apply <env>: verify everything, then apply pending migrations in order.
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "mgr/backup.hpp"
#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/executor.hpp"
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
// Warnings are logged only with `warn` (reset checks first, then applies: once is enough).
std::vector<Diagnostic> lint_policy(const Config& config, const Environment& env,
                                    const std::vector<const Migration*>& plan,
                                    std::map<std::string, std::string>& allowed_by_id, bool warn) {
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
      } else if (warn) {
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
// `durable`: as the run's last migration (or with durable_each) is sent.
std::vector<std::string> queries_for(MigrationRunner& runner, const Migration& m, const Bookkeeping& books, bool durable) {
  if (m.up.directives.no_transaction) return runner.statement_queries(m.up, books);
  return {runner.transaction_sql(m.up, books, durable), k_reset_session_sql};
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
    r.applied = HistoryStore(*r.session, config).read_all();  // after the lock: a concurrent apply has finished
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


namespace {

// The plan with the promotion gate, the file rules and lint applied: what
// apply will run, or why it refuses.
struct CheckedPlan {
  Plan plan;
  std::map<std::string, std::vector<std::string>> folded_by_id;
  std::map<std::string, std::string> allowed_by_id;  // rules a file allows (`-- mgr:allow`); none with lint: off

  std::string allowed(const std::string& id) const {
    auto it = allowed_by_id.find(id);
    return it == allowed_by_id.end() ? std::string() : it->second;
  }
};

// make_plan with the promotion gate's source history. The source is read only
// when something is pending: the no-op path stays one connection.
Plan plan_with_gate(const ApplyOptions& opts, const ApplyContext& ctx) {
  PlanInput in;
  in.catalog = &ctx.catalog;
  in.env = ctx.env.name;
  in.applied = &ctx.applied;
  in.to = opts.to;
  in.allow_out_of_order = opts.allow_out_of_order;
  std::vector<HistoryRow> source_rows;
  if (ctx.env.promote_from && !pending_migrations(ctx.catalog, ctx.applied, opts.to).empty()) {
    const auto& source_env = ctx.config.get(*ctx.env.promote_from);
    SourceHistory source{source_env.name, nullptr, ""};
    try {
      Session source_session(source_env, "mgr " + ctx.env.name + " (gate)");
      source_rows = HistoryStore(source_session, ctx.config).read_all();
      source.rows = &source_rows;
    } catch (const Error& e) {
      source.error = e.what();
    }
    in.source = source;
  }
  return make_plan(in);
}

// Every file of the plan passes the file rules before anything changes (the
// same rules as validate): a file that does not parse is a bad file (exit 2).
CheckedPlan check_plan(const ApplyOptions& opts, const ApplyContext& ctx) {
  CheckedPlan out{plan_with_gate(opts, ctx), {}, {}};
  std::vector<std::string> parse_errors;
  for (const auto* m : out.plan.to_apply) {
    auto check = check_migration_file(m->id, m->up, FileRole::up);
    for (auto& p : check.problems) {
      if (p.code == Code::parse_error) {
        parse_errors.push_back(p.located());
      } else {
        out.plan.problems.push_back(std::move(p));
      }
    }
    if (!check.folded.empty()) out.folded_by_id[m->id] = std::move(check.folded);
  }
  if (!parse_errors.empty()) {
    throw ConfigError("apply to " + ctx.env.name + " refused; nothing was changed: " +
                      (parse_errors.size() == 1 ? "a migration does not parse:" : "migrations do not parse:") +
                      "\n  - " + join(parse_errors, "\n  - "));
  }
  auto lint_problems = lint_policy(ctx.config, ctx.env, out.plan.to_apply, out.allowed_by_id, ctx.show_lint_warnings);
  out.plan.problems.insert(out.plan.problems.end(), lint_problems.begin(), lint_problems.end());
  return out;
}

json plan_json(const CheckedPlan& checked) {
  json a = json::array();
  for (const auto* m : checked.plan.to_apply) {
    auto folded = checked.folded_by_id.find(m->id);
    a.push_back({{"id", m->id}, {"name", m->name}, {"file", m->up.path.string()},
                 {"no_transaction", m->up.directives.no_transaction},
                 {"folded", folded != checked.folded_by_id.end() ? json(folded->second) : json::array()}});
  }
  return a;
}

// Prints `out` as refused (with --json) and throws.
[[noreturn]] void refuse(const GlobalOptions& global, json& out, const std::string& message) {
  if (global.json) {
    out["ok"] = false;
    out["applied"] = json::array();
    print_json(out);
  }
  throw Refused(message);
}

// `apply --dry-run`: the plan, and with --sql what would be sent, query by query.
void render_dry_run(const GlobalOptions& global, const ApplyOptions& opts, ApplyContext& ctx,
                    const CheckedPlan& checked, json& out) {
  const auto& to_apply = checked.plan.to_apply;
  const auto& env = ctx.env;
  out["ok"] = true;
  out["applied"] = json::array();
  std::vector<std::vector<std::string>> sql_of;  // per migration, with --sql
  if (opts.sql) {
    HistoryStore history(ctx.session, ctx.config);
    MigrationRunner runner(ctx.session, env);
    const auto os_user = os_user_at_host();
    for (std::size_t i = 0; i < to_apply.size(); ++i) {
      const auto* m = to_apply[i];
      auto books = bookkeeping_for(history, *m, env.name, os_user, std::nullopt, checked.allowed(m->id)).books;
      sql_of.push_back(queries_for(runner, *m, books, env.durable_each || i + 1 == to_apply.size()));
      out["plan"][i]["sql"] = sql_of.back();
    }
  }
  if (global.json) {
    print_json(out);
    return;
  }
  print_line("dry run: " + std::to_string(to_apply.size()) + " migration(s) would be applied to " + env.name + " (" +
             env.url.redacted() + "), in this order:");
  for (const auto* m : to_apply) {
    print_line("  " + m->label() + (m->up.directives.no_transaction ? "  (no-transaction)" : ""));
    if (auto it = checked.folded_by_id.find(m->id); it != checked.folded_by_id.end()) print_line(folded_note(it->second));
  }
  if (env.promote_from) print_line("promotion gate: every one is applied in " + *env.promote_from + " with the same checksum");
  for (std::size_t i = 0; i < sql_of.size(); ++i) {
    const auto* m = to_apply[i];
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

// The executor's plan: each pending up file with its history and audit rows.
ExecPlan exec_plan_for(const ApplyOptions& opts, const ApplyContext& ctx, const CheckedPlan& checked) {
  const auto& to_apply = checked.plan.to_apply;
  ExecPlan plan;
  plan.action = "apply";
  plan.confirmed = opts.yes;
  plan.backup_file = ctx.backup_file;
  if (!checked.plan.newest_applied.empty()) plan.backup_newest = checked.plan.newest_applied;
  // The prompt names what will run: the count alone does not tell a wrong plan from a right one.
  plan.confirm_text = "About to apply " + std::to_string(to_apply.size()) + " migration(s) to " + ctx.env.name + " (" +
                      ctx.env.url.redacted() + "):";
  for (std::size_t i = 0; i < to_apply.size(); ++i) {
    if (i == 20 && to_apply.size() > 21) {
      plan.confirm_text += "\n  ... and " + std::to_string(to_apply.size() - i) + " more, up to " + to_apply.back()->label();
      break;
    }
    plan.confirm_text += "\n  " + to_apply[i]->label();
  }
  std::vector<std::string> ids;
  for (const auto* m : to_apply) {
    if (ids.size() == 10) {
      ids.push_back("... (" + std::to_string(to_apply.size()) + " in all)");
      break;
    }
    ids.push_back(m->id);
  }
  plan.backup_reason = "before apply of " + join(ids, ", ");

  const auto os_user = os_user_at_host();
  for (const auto* m : to_apply) {
    ExecStep step;
    step.id = m->id;
    step.name = m->name;
    step.label = m->label();
    step.file = &m->up;
    if (auto it = checked.folded_by_id.find(m->id); it != checked.folded_by_id.end()) step.folded = it->second;
    step.bookkeeping = [m, env = ctx.env.name, os_user, allowed = checked.allowed(m->id)](
                           HistoryStore& history, const std::optional<std::string>& backup) {
      auto [log, books] = bookkeeping_for(history, *m, env, os_user, backup, allowed);
      return StepBooks{std::move(books), std::move(log)};
    };
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

// apply's lines on stdout as the run goes (nothing with --json), and its prompt.
class ApplyText : public ExecObserver {
 public:
  ApplyText(const GlobalOptions& global, const ApplyOptions& opts, const Environment& env)
      : m_json(global.json), m_yes(opts.yes), m_env(env), m_style(global.color) {}
  void confirm(const Environment& env, const std::string& what) override { confirm_or_refuse(env.name, what, m_yes); }
  void backup_taken(const BackupResult& b) override {
    if (!m_json) print_line("backup: " + b.file.string() + " (" + std::to_string(b.size) + " bytes, verified)");
  }
  void run_started(const ExecPlan& p) override {
    if (!m_json) {
      print_line("applying " + std::to_string(p.steps.size()) + " migration(s) to " + m_env.name + " (" +
                 m_env.url.redacted() + ")");
    }
  }
  void step_started(const ExecStep& s, std::size_t, std::size_t) override {
    spdlog::debug("{}: applying {} ({})", m_env.name, s.label, s.file->path.string());
    if (!m_json && !s.folded.empty()) print_line(folded_note(s.folded));
  }
  void step_finished(const StepResult& r, std::size_t, std::size_t) override {
    if (m_json) return;
    const auto word = !r.ok ? m_style.red("FAILED") : r.durable ? m_style.green("applied") : m_style.red("UNCONFIRMED");
    print_line("  " + word + " " + r.label + "  (" + std::to_string(r.duration_ms) + " ms)");
  }

 private:
  bool m_json;
  bool m_yes;
  const Environment& m_env;
  Style m_style;
};

// Steps committed without waiting for the flush whose flush could not be made
// afterwards (the connection went): committed, but not known to be on disk.
std::string unconfirmed_note(const ExecResult& result, const std::string& env) {
  std::vector<std::string> labels;
  for (const auto& s : result.steps) {
    if (s.ok && !s.durable) labels.push_back(s.label);
  }
  if (labels.empty()) return "";
  return "\nAlso: " + join(labels, ", ") + " committed, but mgr could not confirm they reached disk before the "
         "connection went (a server crash may still undo them, each with its history row); `mgr status " + env +
         "` tells which are recorded.";
}

// The run's end, from the executor's result: the summary, or the failure thrown.
int render_result(const GlobalOptions& global, const ApplyContext& ctx, const CheckedPlan& checked,
                  const ExecResult& result, json& out) {
  const auto& env = ctx.env;
  out["applied"] = steps_json(result, "applied");
  out["backup"] = result.backup_file ? json(*result.backup_file) : json(nullptr);
  if (result.failure) {
    const auto& f = *result.failure;
    const auto& m = *checked.plan.to_apply[f.step];
    const auto& err = *f.outcome.error;
    std::string msg = err.format() + "\n" + apply_failure_text(m, env.name, f.outcome) + unconfirmed_note(result, env.name);
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
    throw Interrupted(interrupt_description() + " after " + result.steps.back().label +
                      " was applied; nothing after it ran" + unconfirmed_note(result, env.name));
  }
  out["ok"] = true;
  out["duration_ms"] = result.duration_ms;
  out["schema_sha256"] = result.schema_sha256 ? json(*result.schema_sha256) : json(nullptr);
  if (global.json) {
    print_json(out);
  } else {
    print_line(env.name + ": applied " + std::to_string(result.steps.size()) + " migration(s) in " +
               std::to_string(result.duration_ms) + " ms; newest is now " + result.steps.back().id);
  }
  return 0;
}

}  // namespace

int apply_with(const GlobalOptions& global, const ApplyOptions& opts, ApplyContext& ctx) {
  const auto& env = ctx.env;
  auto checked = check_plan(opts, ctx);
  const auto& plan = checked.plan;

  json out{{"environment", env.name}, {"url", env.url.redacted()}, {"dry_run", opts.dry_run}};
  out["plan"] = plan_json(checked);
  out["problems"] = refusal_json(plan.problems);
  if (!plan.problems.empty()) {
    auto head = opts.dry_run ? "dry run: apply to " + env.name + " would be refused (" +
                                   std::to_string(plan.problems.size()) + " problem" +
                                   (plan.problems.size() == 1 ? "" : "s") + "); nothing was changed:"
                             : "apply to " + env.name + " refused; nothing was changed:";
    refuse(global, out, refusal_text(head, plan.problems));
  }
  if (plan.to_apply.empty()) {
    if (ctx.check_only) return 0;
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

  if (ctx.check_only && !ctx.check_drift) return 0;
  // Drift before anything changes (backup included); a dry run reports it too.
  if (auto drift = check_drift_before_apply(ctx.session, ctx.config, env, opts.allow_drift, opts.dry_run)) {
    out["drift"] = drift->state;
    if (drift->refuse) refuse(global, out, drift->message);
  }
  // A fleet checks every database, drift included, before it changes any.
  if (ctx.check_only) return 0;
  if (opts.dry_run) {
    render_dry_run(global, opts, ctx, checked, out);
    return 0;
  }

  ApplyText text(global, opts, env);
  ProgressObserver progress(ProgressObserver::wanted(global.verbosity));
  ObserverList observers({&progress, &text});
  auto result = execute(ctx.config, env, ctx.session, exec_plan_for(opts, ctx, checked), observers);
  return render_result(global, ctx, checked, result, out);
}

}  // namespace mgr
