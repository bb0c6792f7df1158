// The executor: runs a plan of steps (up or down files, each with its
// bookkeeping) against ONE environment's database, in the order every command
// that changes a schema needs: confirm -> backup -> ensure the history tables ->
// each step with its bookkeeping -> audit a failure -> schema snapshot.
//
// It prints nothing and keeps no global state: what happens is reported to an
// ExecObserver as it happens, and the whole run comes back as an ExecResult
// value, from which commands render text and --json. A fleet calls execute()
// once per database, each from its own thread, with its own Session.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mgr/history_row.hpp"
#include "mgr/runner.hpp"

namespace mgr {

struct Config;
struct Environment;
struct BackupResult;
class Session;
class HistoryStore;

// The SQL committed with a step, and the audit row written when a
// transactional step fails and leaves nothing behind (its own transaction is
// gone, so that row goes on its own).
struct StepBooks {
  Bookkeeping books;
  LogEntry failure_log;  // outcome "failed"; duration and detail are filled in by the executor
};

struct ExecStep {
  std::string id;                 // migration id
  std::string name;               // migration name
  std::string label;              // how the step is named to people: 0001_create_t, or a down file's name
  const MigrationFile* file = nullptr;  // the file run (an up or a down file); outlives the run
  std::vector<std::string> folded;      // the file's own BEGIN/COMMIT folded into mgr's transaction (shown)
  // Built once the backup is known (the rows name it): the step's bookkeeping.
  std::function<StepBooks(HistoryStore&, const std::optional<std::string>& backup_file)> bookkeeping;
};

struct ExecPlan {
  std::string action;  // apply | rollback: names the schema snapshot
  std::vector<ExecStep> steps;
  // Asked before anything changes when the environment has `confirm: true`
  // and the caller has not confirmed already.
  std::string confirm_text;
  bool confirmed = false;  // --yes, or the caller (a fleet, reset) confirmed the whole run itself
  // A backup is taken first when the environment's policy requires one and
  // the caller has not taken one already (`backup_file`).
  std::optional<std::string> backup_file;
  std::optional<std::string> backup_newest;  // the newest migration the backup contains
  std::string backup_reason;                 // "before apply of 0001, 0002"
};

struct StepResult {
  std::string id;
  std::string name;
  std::string label;
  bool ok = false;
  int duration_ms = 0;
  // With ok: known to be on disk. False only when the flush after a failure
  // could not be made (connection lost): committed, but a server crash may
  // still take it back.
  bool durable = true;
};

// What a step that did not succeed left behind, and why.
struct ExecFailure {
  std::size_t step = 0;  // index in the plan
  RunOutcome outcome;    // state (what is known of the outcome) and the error: file:line:col, detail, hint
  std::string audit_error;  // non-empty when writing the failed audit row failed too
};

struct ExecResult {
  std::vector<StepResult> steps;  // in order: those done, then the failed one
  std::optional<ExecFailure> failure;
  bool interrupted = false;  // a signal arrived: the run stopped after steps.back()
  std::optional<std::string> backup_file;  // taken by this run, or the caller's
  std::optional<std::string> schema_sha256;  // the snapshot after a successful run
  int duration_ms = 0;                     // sum of the steps' durations

  bool ok() const { return !failure && !interrupted; }
  std::size_t done() const { return steps.size() - (failure ? 1 : 0); }
};

// Events of a run, in order. Called on the thread that called execute().
// step_finished for a successful step comes once it is durable: steps that
// commit without waiting for the WAL flush (all but the run's last, unless
// `durable_each`; at least one commit a second waits) are reported together
// after the next synchronous commit, so their events come in batches.
class ExecObserver {
 public:
  virtual ~ExecObserver() = default;
  // The environment asks for confirmation: return to go on, throw Refused to
  // stop (nothing has changed yet). The default refuses: a caller that can
  // prompt says so by overriding it.
  virtual void confirm(const Environment& env, const std::string& what);
  virtual void backup_taken(const BackupResult&) {}
  virtual void run_started(const ExecPlan&) {}
  virtual void step_started(const ExecStep&, std::size_t /*index*/, std::size_t /*total*/) {}
  virtual void step_finished(const StepResult&, std::size_t /*index*/, std::size_t /*total*/) {}
};

// Passes every event to each observer in turn (e.g. progress, then text);
// step_started goes last to first, so that a progress line (first) is drawn
// after the others have written, and cleared before they write again.
class ObserverList : public ExecObserver {
 public:
  explicit ObserverList(std::vector<ExecObserver*> observers) : m_observers(std::move(observers)) {}
  void confirm(const Environment& env, const std::string& what) override;
  void backup_taken(const BackupResult& b) override;
  void run_started(const ExecPlan& p) override;
  void step_started(const ExecStep& s, std::size_t i, std::size_t n) override;
  void step_finished(const StepResult& r, std::size_t i, std::size_t n) override;

 private:
  std::vector<ExecObserver*> m_observers;
};

// Runs `plan` against `session`, which must already hold the migration lock.
// A step that fails, or a signal between steps, ends the run and is reported
// in the result (not thrown). Thrown: Refused (confirmation), backup failures
// and Interrupted during the backup (nothing changed then), ConnectionLost /
// Failure when the connection cannot go on (the session reset after a step).
ExecResult execute(const Config& config, const Environment& env, Session& session, const ExecPlan& plan,
                   ExecObserver& observer);

// Rendering shared by the commands, so apply and rollback say the same thing.
// The error object of --json: file, line, column, sqlstate, message, detail, hint, context.
nlohmann::json error_json(const MigrationError& err);
// One entry per step: id, name, outcome (`done_word`, "failed", or
// "unconfirmed" for one committed but not confirmed durable), duration_ms.
nlohmann::json steps_json(const ExecResult& result, const std::string& done_word);

// Progress on a terminal: "[3/10] 1.2s 0003_add_col". Pure, for tests.
std::string progress_line(std::size_t done, std::size_t total, std::chrono::milliseconds elapsed,
                          const std::string& current);

// Shows progress_line on stderr while a run goes, redrawn every second and
// cleared before anything else prints; does nothing unless `enabled`.
// Pass it FIRST in an ObserverList (see there).
class ProgressObserver : public ExecObserver {
 public:
  explicit ProgressObserver(bool enabled);
  ~ProgressObserver() override;
  ProgressObserver(const ProgressObserver&) = delete;
  ProgressObserver& operator=(const ProgressObserver&) = delete;

  // Whether progress belongs on this process's stderr: a terminal, not --quiet.
  static bool wanted(int verbosity);

  void confirm(const Environment&, const std::string&) override {}
  void backup_taken(const BackupResult&) override;
  void run_started(const ExecPlan& p) override;
  void step_started(const ExecStep& s, std::size_t i, std::size_t n) override;
  void step_finished(const StepResult& r, std::size_t i, std::size_t n) override;

 private:
  struct Ticker;
  std::unique_ptr<Ticker> m_ticker;  // null when disabled
};

}  // namespace mgr
