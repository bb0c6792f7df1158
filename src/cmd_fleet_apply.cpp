// mgr apply <fleet>: check every database (nothing changes when any would be
// refused), one confirmation, then apply through a bounded pool of workers.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <memory>
#include <set>

#include "cmd_fleet_internal.hpp"
#include "mgr/catalog.hpp"
#include "mgr/fleet_commands.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/session.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

enum class Outcome { skipped, ok, failed, refused, interrupted };

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::skipped: return "not-started";
    case Outcome::ok: return "ok";
    case Outcome::failed: return "failed";
    case Outcome::refused: return "refused";
    case Outcome::interrupted: return "interrupted";
  }
  return "unknown";
}

// What one database's run came to; kept for every database (a few strings).
struct DatabaseResult {
  Outcome outcome = Outcome::skipped;
  std::size_t pending = 0;
  std::string error;  // redacted
};

struct FleetRun {
  const GlobalOptions& global;
  const ApplyOptions& opts;
  const Config& config;
  const Environment& env;
  const Catalog& catalog;
  const FleetSource* source;  // the fleet gate when the source is a fleet, else nullptr
};

// The one place a fleet's per-database work goes through apply's own code
// (apply_with): the same plan, gate, file rules, lint, drift check, backup,
// runner and bookkeeping as a single database, on this database's own
// connection, lock, history table and backup folder. Output is captured.
// Returns the ids of what is (or was) pending.
std::vector<std::string> apply_to_database(const FleetRun& run, const FleetMember& member, bool check_only) {
  Environment env = fleet_member_environment(run.env, member);
  env.confirm = false;                       // the fleet asked once
  if (run.source != nullptr) env.promote_from.reset();  // checked below against every source database
  const Config config = fleet_member_config(run.config, env);
  const Environment& member_env = *config.find(env.name);
  Session session(member_env, "mgr " + env.name + "/" + member.name);
  std::unique_ptr<MigrationLock> lock;
  if (!check_only && !run.opts.dry_run) {
    lock = std::make_unique<MigrationLock>(session, config.history_table, run.opts.lock_wait.value_or(env.lock_wait));
  }
  auto applied = HistoryStore(session, config).read_all();
  const auto pending = pending_migrations(run.catalog, applied, run.opts.to);
  if (run.source != nullptr) {
    auto problems = run.source->check(pending);
    if (!problems.empty()) {
      std::string text = "promotion gate (" + std::to_string(run.source->databases()) + " source databases):";
      for (const auto& p : problems) text += "\n  - " + format_refusal(p);
      throw Refused(text);
    }
  }
  std::vector<std::string> ids;
  for (const auto* m : pending) ids.push_back(m->id);
  ApplyContext ctx{config, member_env, session, run.catalog, applied};
  ctx.check_only = check_only;
  ctx.check_drift = true;
  GlobalOptions global = run.global;
  global.json = false;
  global.color = false;
  ApplyOptions opts = run.opts;
  opts.yes = true;
  std::string output;
  OutputCapture capture(output);
  apply_with(global, opts, ctx);
  return ids;
}

// Runs `work` for one database and turns what it throws into a result.
template <typename Work>
DatabaseResult guarded(const FleetMember& member, Work&& work) {
  DatabaseResult r;
  try {
    r.pending = work();
    r.outcome = Outcome::ok;
  } catch (const Interrupted& e) {
    r.outcome = Outcome::interrupted;
    r.error = e.what();
  } catch (const Refused& e) {
    r.outcome = Outcome::refused;
    r.error = e.what();
  } catch (const Error& e) {
    r.outcome = Outcome::failed;
    r.error = e.what();
  } catch (const std::exception& e) {
    r.outcome = Outcome::failed;
    r.error = e.what();
  }
  r.error = redact_secrets(r.error, member.url);
  return r;
}

// The gate when the source is a fleet: every source database read (a bounded
// pool), only what they all agree on kept.
FleetSource read_fleet_source(const Config& config, const Environment& source_env, int parallel) {
  const auto members = resolve_fleet(config, source_env);
  FleetSource source(source_env.name);
  std::mutex mutex;
  run_bounded(
      members.size(), parallel,
      [&](std::size_t i) {
        FleetLogCapture logs;
        const auto env = fleet_member_environment(source_env, members[i]);
        try {
          Session session(env, "mgr " + source_env.name + "/" + members[i].name + " (gate)");
          auto rows = HistoryStore(session, config).read_all();
          std::lock_guard<std::mutex> lock(mutex);
          source.add(members[i].name, rows);
        } catch (const Error& e) {
          std::lock_guard<std::mutex> lock(mutex);
          source.add_unreachable(members[i].name, redact_secrets(e.what(), members[i].url));
        }
      },
      [] { return interrupted(); }, nullptr);
  if (interrupted()) throw Interrupted(interrupt_description() + " while reading " + source_env.name + "; nothing was changed");
  return source;
}

// done/total, failures, elapsed: one line on a terminal, redrawn in place.
class Progress {
 public:
  Progress(const GlobalOptions& global, std::string what, std::size_t total)
      : m_on(!global.json && global.verbosity >= 0 && ::isatty(STDERR_FILENO)), m_what(std::move(what)), m_total(total),
        m_start(Clock::now()) {}
  void done(bool failed) {
    ++m_done;
    if (failed) ++m_failed;
  }
  void draw() {
    if (!m_on) return;
    const auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_start).count() / 1000.0;
    std::lock_guard<std::mutex> lock(m_mutex);
    fmt::print(stderr, "\r\x1b[2K{}: {}/{} done, {} failed, {:.1f}s", m_what, m_done.load(), m_total, m_failed.load(), secs);
    std::fflush(stderr);
  }
  void finish() {
    if (!m_on) return;
    draw();
    fmt::print(stderr, "\n");
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - m_start).count(); }

 private:
  bool m_on;
  std::string m_what;
  std::size_t m_total;
  Clock::time_point m_start;
  std::atomic<std::size_t> m_done{0};
  std::atomic<std::size_t> m_failed{0};
  std::mutex m_mutex;
};

// Runs `phase` on every database of `members` through the pool; stop/continue
// by `on_error`, and no new database after a signal.
std::vector<DatabaseResult> run_phase(const std::vector<FleetMember>& members, const std::vector<std::size_t>& which,
                                      int parallel, OnError on_error, Progress* progress,
                                      const std::function<std::size_t(const FleetMember&)>& phase,
                                      std::set<std::pair<spdlog::level::level_enum, std::string>>& log_lines) {
  std::vector<DatabaseResult> results(members.size());
  std::atomic<bool> failed{false};
  std::mutex mutex;
  run_bounded(
      which.size(), parallel,
      [&](std::size_t k) {
        const auto i = which[k];
        FleetLogCapture logs;
        auto r = guarded(members[i], [&] { return phase(members[i]); });
        if (r.outcome != Outcome::ok) failed = true;
        if (progress != nullptr) progress->done(r.outcome != Outcome::ok);
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& line : logs.lines) {
          if (line.first >= spdlog::level::warn) log_lines.insert(line);
        }
        results[i] = std::move(r);
      },
      [&] { return interrupted() || (on_error == OnError::stop && failed.load()); },
      [&] {
        if (progress != nullptr) progress->draw();
      });
  return results;
}

struct Tally {
  std::size_t ok = 0, failed = 0, refused = 0, interrupted = 0, skipped = 0;
  explicit Tally(const std::vector<DatabaseResult>& results, const std::vector<std::size_t>& which) {
    for (auto i : which) {
      switch (results[i].outcome) {
        case Outcome::ok: ++ok; break;
        case Outcome::failed: ++failed; break;
        case Outcome::refused: ++refused; break;
        case Outcome::interrupted: ++interrupted; break;
        case Outcome::skipped: ++skipped; break;
      }
    }
  }
};

json results_json(const std::vector<FleetMember>& members, const std::vector<DatabaseResult>& results,
                  const std::vector<std::size_t>& which) {
  json a = json::array();
  for (auto i : which) {
    json j{{"database", members[i].name}, {"identity", members[i].identity}, {"outcome", outcome_name(results[i].outcome)},
           {"pending", results[i].pending}};
    if (!results[i].error.empty()) j["error"] = results[i].error;
    a.push_back(std::move(j));
  }
  return a;
}

// The databases that did not succeed, each with its error (first line in the list, all of it below).
std::string failures_text(const std::vector<FleetMember>& members, const std::vector<DatabaseResult>& results,
                          const std::vector<std::size_t>& which) {
  std::string text;
  for (auto i : which) {
    const auto& r = results[i];
    if (r.outcome == Outcome::ok || r.outcome == Outcome::skipped) continue;
    std::string indented = "\n      ";
    for (char c : r.error) indented += c == '\n' ? std::string("\n      ") : std::string(1, c);
    text += "\n  " + members[i].name + " (" + outcome_name(r.outcome) + "):" + indented;
  }
  return text;
}

int parallel_for(const Environment& env, const FleetOptions& fleet) {
  const int p = fleet.parallel.value_or(env.fleet->parallel);
  if (p < 1 || p > k_max_parallel) {
    throw UsageError("--parallel must be from 1 to " + std::to_string(k_max_parallel) + ", got " + std::to_string(p));
  }
  return p;
}

std::string ids_text(const std::set<std::string>& ids) {
  std::vector<std::string> v(ids.begin(), ids.end());
  if (v.size() > 20) {
    const auto more = v.size() - 20;
    v.resize(20);
    v.push_back("... and " + std::to_string(more) + " more");
  }
  return join(v, ", ");
}

}  // namespace

std::optional<int> run_fleet_apply(const GlobalOptions& global, const ApplyOptions& opts, const FleetOptions& fleet) {
  const auto path = resolve_config_path(global.config_path, process_env_lookup());
  const auto peek_config = load_config_quietly(path);
  if (const auto* peek = peek_config.find(opts.env); peek == nullptr || !peek->fleet) {
    if (fleet.shard || fleet.parallel || fleet.on_error) {
      throw UsageError("--shard, --parallel and --on-error apply to a fleet; environment '" + opts.env +
                       "' is one database");
    }
    return std::nullopt;  // apply on one database (it reports an unknown name)
  }
  const auto config = load_config(path);
  const auto& env = config.get(opts.env);
  const int parallel = parallel_for(env, fleet);
  const OnError on_error = fleet.on_error.value_or(env.fleet->on_error);
  const auto catalog = load_catalog(config.migrations_dir);
  if (opts.to && catalog.find(*opts.to) == nullptr) {
    throw UsageError("--to " + *opts.to + ": no migration with that id in " + config.migrations_dir.string());
  }
  const auto all_members = resolve_fleet(config, env);
  const auto members = shard_slice(all_members, fleet.shard ? std::optional<Shard>(parse_shard(*fleet.shard)) : std::nullopt);
  const std::string what = env.name + (fleet.shard ? " shard " + *fleet.shard : "");

  ThreadSafeLogging logging;
  // A signal stops the pool from starting databases; running ones end safely.
  auto guard = std::make_unique<InterruptGuard>();
  std::optional<FleetSource> source;
  if (env.promote_from) {
    const auto& source_env = config.get(*env.promote_from);
    if (source_env.fleet) source = read_fleet_source(config, source_env, parallel);
  }
  const FleetRun run{global, opts, config, env, catalog, source ? &*source : nullptr};

  // 1. Check every database; nothing changes when any would be refused.
  std::vector<std::size_t> everyone(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) everyone[i] = i;
  std::set<std::string> pending_ids;
  std::mutex ids_mutex;
  std::set<std::pair<spdlog::level::level_enum, std::string>> log_lines;
  auto checks = run_phase(members, everyone, parallel, OnError::continue_on, nullptr,
                          [&](const FleetMember& m) {
                            auto ids = apply_to_database(run, m, /*check_only=*/true);
                            std::lock_guard<std::mutex> lock(ids_mutex);
                            pending_ids.insert(ids.begin(), ids.end());
                            return ids.size();
                          },
                          log_lines);
  for (const auto& [level, line] : log_lines) spdlog::log(level, "{} (fleet {})", line, env.name);
  if (interrupted()) throw Interrupted(interrupt_description() + " while checking " + what + "; nothing was changed");
  const Tally checked(checks, everyone);
  json out{{"environment", env.name}, {"fleet", true}, {"databases", members.size()}, {"dry_run", opts.dry_run},
           {"shard", fleet.shard ? json(*fleet.shard) : json(nullptr)}, {"migrations", std::vector<std::string>(pending_ids.begin(), pending_ids.end())}};
  if (checked.refused > 0 || (checked.failed > 0 && on_error == OnError::stop)) {
    out["ok"] = false;
    out["results"] = results_json(members, checks, everyone);
    if (global.json) print_json(out);
    const auto head = "apply to fleet " + what + " " + (checked.refused > 0 ? "refused" : "stopped") + ": " +
                      std::to_string(checked.refused + checked.failed) + " of " + std::to_string(members.size()) +
                      " databases cannot take it; nothing was changed in any database:";
    const auto text = head + failures_text(members, checks, everyone);
    if (checked.refused > 0) throw Refused(text);
    throw Failure(text);
  }

  std::vector<std::size_t> behind;
  for (auto i : everyone) {
    if (checks[i].outcome == Outcome::ok && checks[i].pending > 0) behind.push_back(i);
  }
  const auto at_head = checked.ok - behind.size();
  if (behind.empty() || opts.dry_run) {
    out["ok"] = checked.failed == 0;
    out["applied"] = 0;
    out["results"] = results_json(members, checks, everyone);
    if (global.json) {
      print_json(out);
    } else if (behind.empty()) {
      print_line(what + ": nothing to apply; " + std::to_string(at_head) + "/" + std::to_string(members.size()) +
                 " databases at head");
    } else {
      print_line("dry run: " + std::to_string(behind.size()) + " of " + std::to_string(members.size()) + " databases of " +
                 what + " would get: " + ids_text(pending_ids) + " (" + std::to_string(at_head) +
                 " at head); every check passed; nothing was changed");
    }
    if (checked.failed > 0) throw Failure("could not check " + std::to_string(checked.failed) + " database(s) of " + what + ":" + failures_text(members, checks, everyone));
    return 0;
  }

  if (env.confirm) {
    guard.reset();  // Ctrl-C at the prompt ends mgr, as everywhere
    confirm_or_refuse(env.name,
                      "About to apply to fleet " + what + ": " + std::to_string(behind.size()) + " of " +
                          std::to_string(members.size()) + " databases (" + std::to_string(at_head) +
                          " already at head), " + std::to_string(parallel) + " at a time, migrations: " + ids_text(pending_ids),
                      opts.yes);
    guard = std::make_unique<InterruptGuard>();
  }

  // 2. Apply, `parallel` databases at a time.
  Progress progress(global, "apply " + what, behind.size());
  std::set<std::pair<spdlog::level::level_enum, std::string>> apply_logs;
  auto results = run_phase(members, behind, parallel, on_error, &progress,
                           [&](const FleetMember& m) { return apply_to_database(run, m, /*check_only=*/false).size(); },
                           apply_logs);
  progress.finish();
  // With on_error: continue, databases that could not be checked are failures of this run too.
  std::vector<std::size_t> reported = behind;
  for (auto i : everyone) {
    if (checks[i].outcome != Outcome::ok) {
      results[i] = checks[i];
      reported.push_back(i);
    }
  }
  std::sort(reported.begin(), reported.end());
  for (const auto& [level, line] : apply_logs) {
    if (level >= spdlog::level::err) spdlog::log(level, "{}", line);
  }
  const Tally tally(results, reported);
  out["applied"] = tally.ok;
  out["results"] = results_json(members, results, reported);
  out["ok"] = tally.ok == reported.size();
  out["seconds"] = progress.seconds();
  const std::string summary = what + ": " + std::to_string(tally.ok) + " of " + std::to_string(reported.size()) +
                              " databases applied (" + std::to_string(at_head) + " were at head), " +
                              std::to_string(tally.failed + tally.refused) + " failed, " +
                              std::to_string(tally.interrupted) + " interrupted, " + std::to_string(tally.skipped) +
                              " not started; " + fmt::format("{:.1f}", progress.seconds()) + " s";
  if (global.json) {
    print_json(out);
  } else {
    print_line(summary);
    const auto failures = failures_text(members, results, reported);
    if (!failures.empty()) print_line("failed:" + failures);
  }
  if (interrupted()) {
    throw Interrupted(interrupt_description() + ": " + summary + "; each database is either fully at its last "
                      "applied migration or untouched by the one that was running (rolled back)");
  }
  if (tally.ok == reported.size()) return 0;
  const auto message = "apply to fleet " + what + " did not finish: " + std::to_string(tally.failed + tally.refused) +
                       " database(s) failed" + (tally.skipped > 0 ? ", " + std::to_string(tally.skipped) + " not started (on_error: stop)" : "") +
                       (global.json ? "" : " (listed above)");
  if (tally.failed == 0 && tally.refused > 0) throw Refused(message);
  throw Failure(message);
}

}  // namespace mgr
