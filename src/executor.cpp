#include "mgr/executor.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "mgr/backup.hpp"
#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"

namespace mgr {

void ExecObserver::confirm(const Environment& env, const std::string& what) {
  throw Refused(what + "\n" + env.name + " needs confirmation, and nothing here can ask for it; nothing was changed");
}

void ObserverList::confirm(const Environment& env, const std::string& what) {
  for (auto* o : m_observers) o->confirm(env, what);
}
void ObserverList::backup_taken(const BackupResult& b) {
  for (auto* o : m_observers) o->backup_taken(b);
}
void ObserverList::run_started(const ExecPlan& p) {
  for (auto* o : m_observers) o->run_started(p);
}
void ObserverList::step_started(const ExecStep& s, std::size_t i, std::size_t n) {
  for (auto it = m_observers.rbegin(); it != m_observers.rend(); ++it) (*it)->step_started(s, i, n);
}
void ObserverList::step_finished(const StepResult& r, std::size_t i, std::size_t n) {
  for (auto* o : m_observers) o->step_finished(r, i, n);
}

namespace {

std::optional<std::string> backup_first(const Config& config, const Environment& env, Session& session,
                                        const ExecPlan& plan, ExecObserver& observer) {
  if (plan.backup_file || env.backup != BackupPolicy::required) return plan.backup_file;
  // Ctrl-C reaches pg_dump too (same process group); mgr stays to remove the partial file.
  InterruptGuard guard;
  auto backup = take_backup(config, env, session.identity(), plan.backup_newest, plan.backup_reason);
  observer.backup_taken(backup);
  return backup.file_name();
}

// The audit row of a transactional step the server rolled back: its own
// transaction is gone, so the row goes on its own. "" when it was written.
std::string audit_rollback(MigrationRunner& runner, HistoryStore& history, const ExecStep& step, LogEntry log,
                           const RunOutcome& outcome) {
  log.outcome = "failed";
  log.duration_ms = outcome.duration_ms;
  log.detail = step.label + ": " + outcome.error->sqlstate + " " + outcome.error->message;
  try {
    runner.exec(history.log_sql(log));
  } catch (const Error& e) {
    return std::string("could not write the audit log: ") + e.what();
  }
  return "";
}

}  // namespace

namespace {

// A step whose commit did not wait for the WAL flush is reported (step_finished)
// only once a later synchronous commit, or flush(), has made it durable: mgr
// never says "applied" about something a server crash could still take back.
class DurableReporter {
 public:
  DurableReporter(ExecResult& result, ExecObserver& observer, std::size_t total)
      : m_result(result), m_observer(observer), m_total(total) {}

  // Step `i` committed; `durable`: its commit waited for the flush.
  void committed(std::size_t i, bool durable) {
    m_pending.push_back(i);
    if (durable) report(true);
  }
  // At least once a second a commit waits for the flush, so lines do not lag.
  bool flush_due() const { return Clock::now() - m_last_flush >= std::chrono::seconds(1); }
  // Makes what is pending durable before the run ends (failure, signal, error).
  void settle(MigrationRunner& runner) {
    if (!m_pending.empty()) report(runner.flush().empty());
  }

 private:
  using Clock = std::chrono::steady_clock;
  void report(bool durable) {
    for (auto j : m_pending) {
      m_result.steps[j].durable = durable;
      m_observer.step_finished(m_result.steps[j], j, m_total);
    }
    m_pending.clear();
    m_last_flush = Clock::now();
  }

  ExecResult& m_result;
  ExecObserver& m_observer;
  std::size_t m_total;
  std::vector<std::size_t> m_pending;
  Clock::time_point m_last_flush = Clock::now();
};

// The steps in order; false when one failed or a signal stopped the run.
bool run_steps(const Environment& env, const ExecPlan& plan, HistoryStore& history, MigrationRunner& runner,
               ExecObserver& observer, ExecResult& result) {
  const auto total = plan.steps.size();
  DurableReporter reporter(result, observer, total);
  try {
    for (std::size_t i = 0; i < total; ++i) {
      const auto& step = plan.steps[i];
      observer.step_started(step, i, total);
      auto [books, failure_log] = step.bookkeeping(history, result.backup_file);
      // A no-transaction file's statements and rows commit synchronously anyway.
      const bool no_tx = step.file->directives.no_transaction;
      const bool durable = no_tx || env.durable_each || i + 1 == total || reporter.flush_due();
      auto outcome = no_tx ? runner.run_statements(*step.file, books)
                           : runner.run_in_transaction(*step.file, books, durable);
      result.duration_ms += outcome.duration_ms;
      result.steps.push_back({step.id, step.name, step.label, outcome.ok, outcome.duration_ms, true});
      if (!outcome.ok) {
        ExecFailure failure{i, std::move(outcome), ""};
        if (!no_tx && failure.outcome.state == RunState::rolled_back) {
          failure.audit_error = audit_rollback(runner, history, step, std::move(failure_log), failure.outcome);
        }
        reporter.settle(runner);
        observer.step_finished(result.steps.back(), i, total);
        result.failure = std::move(failure);
        return false;
      }
      reporter.committed(i, durable);
      if (interrupted()) {
        reporter.settle(runner);
        result.interrupted = true;
        return false;
      }
    }
  } catch (...) {
    reporter.settle(runner);  // best effort: the connection may be gone
    throw;
  }
  return true;
}

}  // namespace

ExecResult execute(const Config& config, const Environment& env, Session& session, const ExecPlan& plan,
                   ExecObserver& observer) {
  ExecResult result;
  if (plan.steps.empty()) return result;
  if (env.confirm && !plan.confirmed) observer.confirm(env, plan.confirm_text);

  // Backup first, then the history tables: if the backup fails, the database is untouched.
  result.backup_file = backup_first(config, env, session, plan, observer);
  if (interrupted()) throw Interrupted(interrupt_description() + " during the backup; nothing was changed");
  HistoryStore history(session, config);
  history.ensure();  // an old history table may lack the log table

  MigrationRunner runner(session, env);
  observer.run_started(plan);
  if (!run_steps(env, plan, history, runner, observer, result)) return result;
  // Still under the migration lock: the schema recorded is the one this run made.
  result.schema_sha256 = snapshot_after_change(session, config, env, plan.action);
  return result;
}

nlohmann::json error_json(const MigrationError& err) {
  using json = nlohmann::json;
  return {{"file", err.file.string()},
          {"line", err.pos ? json(err.pos->line) : json(nullptr)},
          {"column", err.pos ? json(err.pos->col) : json(nullptr)},
          {"sqlstate", err.sqlstate},
          {"message", err.message},
          {"detail", err.detail},
          {"hint", err.hint},
          {"context", err.where}};
}

nlohmann::json steps_json(const ExecResult& result, const std::string& done_word) {
  auto out = nlohmann::json::array();
  for (const auto& s : result.steps) {
    const std::string outcome = !s.ok ? "failed" : s.durable ? done_word : "unconfirmed";
    out.push_back({{"id", s.id}, {"name", s.name}, {"outcome", outcome}, {"duration_ms", s.duration_ms}});
  }
  return out;
}

// ---------------------------------------------------------------- progress

std::string progress_line(std::size_t done, std::size_t total, std::chrono::milliseconds elapsed,
                          const std::string& current) {
  auto tenths = elapsed.count() / 100;
  std::string line = fmt::format("[{}/{}] {}.{}s", done, total, tenths / 10, tenths % 10);
  if (!current.empty()) line += "  " + current;
  return line;
}

bool ProgressObserver::wanted(int verbosity) { return verbosity >= 0 && ::isatty(STDERR_FILENO) == 1; }

// Redraws the line every second while a step runs (a long migration shows
// its elapsed time growing), on its own thread; everything it writes goes
// out under `mutex` so the line is never torn by the clearing.
struct ProgressObserver::Ticker {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  bool shown = false;
  std::size_t done = 0;
  std::size_t total = 0;
  std::string current;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::thread thread;

  void draw_locked() {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::fprintf(stderr, "\r\033[K%s", progress_line(done, total, elapsed, current).c_str());
    std::fflush(stderr);
    shown = true;
  }
  void clear_locked() {
    if (!shown) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    shown = false;
  }
  void run() {
    std::unique_lock lock(mutex);
    while (!stop) {
      wake.wait_for(lock, std::chrono::seconds(1));
      if (!stop && shown) draw_locked();
    }
  }
};

ProgressObserver::ProgressObserver(bool enabled) {
  if (!enabled) return;
  m_ticker = std::make_unique<Ticker>();
  m_ticker->thread = std::thread([t = m_ticker.get()] { t->run(); });
}

ProgressObserver::~ProgressObserver() {
  if (!m_ticker) return;
  {
    std::lock_guard lock(m_ticker->mutex);
    m_ticker->stop = true;
    m_ticker->clear_locked();
  }
  m_ticker->wake.notify_all();
  m_ticker->thread.join();
}

void ProgressObserver::backup_taken(const BackupResult&) {
  if (!m_ticker) return;
  std::lock_guard lock(m_ticker->mutex);
  m_ticker->clear_locked();
}

void ProgressObserver::run_started(const ExecPlan& p) {
  if (!m_ticker) return;
  std::lock_guard lock(m_ticker->mutex);
  m_ticker->total = p.steps.size();
  m_ticker->start = std::chrono::steady_clock::now();
}

void ProgressObserver::step_started(const ExecStep& s, std::size_t i, std::size_t n) {
  if (!m_ticker) return;
  std::lock_guard lock(m_ticker->mutex);
  m_ticker->done = i;
  m_ticker->total = n;
  m_ticker->current = s.label;
  m_ticker->draw_locked();
}

void ProgressObserver::step_finished(const StepResult&, std::size_t, std::size_t) {
  if (!m_ticker) return;
  std::lock_guard lock(m_ticker->mutex);
  m_ticker->clear_locked();  // the text observer prints the step's line next
}

}  // namespace mgr
