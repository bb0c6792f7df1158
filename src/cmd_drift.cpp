// mgr drift: is an environment's schema still what mgr made it?
//
//   mgr drift <env>                         live schema vs the snapshot of mgr's last change
//   mgr drift <env> --accept [--reason R]   record the live schema as the snapshot (audit log)
//   mgr drift <a> <b>                       two environments' live schemas
//   mgr drift <env> --against-migrations    live schema vs the migrations applied to a scratch database
//
// Exit 0: no drift (or, for two environments at different migrations, the
// difference is expected). Exit 3: drift, or no snapshot to check against.
#include <spdlog/spdlog.h>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/drift.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

using json = nlohmann::json;

json hunks_json(const SchemaDiff& diff) {
  json hunks = json::array();
  for (const auto& h : diff.hunks) {
    json lines = json::array();
    for (const auto& l : h.lines) lines.push_back(std::string(1, l.op) + l.text);
    hunks.push_back({{"header", h.header()},
                     {"old_start", h.old_start},
                     {"old_count", h.old_count},
                     {"new_start", h.new_start},
                     {"new_count", h.new_count},
                     {"section", h.section},
                     {"lines", lines}});
  }
  return hunks;
}

void add_diff(json& out, const SchemaDiff& diff) {
  out["added"] = diff.added;
  out["removed"] = diff.removed;
  out["hunks"] = hunks_json(diff);
}

std::string short_sha(const std::string& sha) { return sha.substr(0, 12); }

json snapshot_json(const DriftReport& r) {
  if (r.state == DriftReport::State::no_snapshot) return nullptr;
  return {{"sha256", r.snapshot_sha256},
          {"recorded_at", r.snapshot_recorded_at},
          {"action", r.snapshot_action},
          {"pg_dump_version", r.snapshot_pg_dump_version}};
}

void print_report(const DriftReport& r, const Style& style) {
  if (r.state == DriftReport::State::drifted) {
    print_line(style.red(r.summary()));
    std::cout << format_unified_diff(r.diff,
                                     r.environment + ": snapshot after " + r.snapshot_action + " at " +
                                         r.snapshot_recorded_at + " (" + short_sha(r.snapshot_sha256) + ")",
                                     r.environment + ": now (" + short_sha(r.current_sha256) + ")", style.color());
    if (auto note = r.tool_note()) print_line(*note);
    print_line("'-' lines are in the snapshot and gone now, '+' lines were added outside mgr. Undo the change by "
               "hand, or record it: mgr drift " + r.environment + " --accept --reason \"...\"");
  } else if (r.state == DriftReport::State::same) {
    print_line(style.green(r.summary()));
  } else {
    print_line(style.yellow(r.summary()));
  }
}

std::string diff_text(const DriftReport& r) {
  auto text = format_unified_diff(r.diff,
                                  r.environment + ": snapshot after " + r.snapshot_action + " at " +
                                      r.snapshot_recorded_at + " (" + short_sha(r.snapshot_sha256) + ")",
                                  r.environment + ": now (" + short_sha(r.current_sha256) + ")", false);
  if (auto note = r.tool_note()) text += *note + "\n";
  return text;
}

// `mgr drift <env>` and `--accept`.
int drift_one(const GlobalOptions& global, const Config& config, const Environment& env, const DriftOptions& opts) {
  Session session(env, "mgr " + env.name + " drift");
  MigrationLock lock(session, config.history_table, env.lock_wait);
  if (opts.accept) {
    // Before the dump: creating them may create the history table's schema.
    SnapshotStore(session, config.history_table).ensure();
    HistoryStore(session, config.history_table).ensure();
  }
  auto snapshot = SnapshotStore(session, config.history_table).current();
  auto now = capture_schema(session, config, env);
  auto report = compare_with_snapshot(env.name, now, snapshot);
  Style style(global.color);
  json out{{"environment", env.name},
           {"status", drift_state_name(report.state)},
           {"current_sha256", report.current_sha256},
           {"snapshot", snapshot_json(report)}};
  add_diff(out, report.diff);

  if (!opts.accept) {
    if (global.json) {
      print_json(out);
    } else {
      print_report(report, style);
    }
    if (report.state == DriftReport::State::drifted) {
      throw Refused(env.name + ": schema drift: " + std::to_string(report.diff.added) + " line(s) added, " +
                    std::to_string(report.diff.removed) + " removed since mgr's last change");
    }
    if (report.state == DriftReport::State::no_snapshot) {
      // No verdict is not a pass: a check that could not be made must not look like one.
      throw Refused(env.name + ": no schema snapshot to compare with; see `mgr drift " + env.name + " --accept`");
    }
    return 0;
  }

  if (report.state == DriftReport::State::same) {
    out["accepted"] = false;
    if (global.json) {
      print_json(out);
    } else {
      print_line(style.green(report.summary()) + "; nothing to accept");
    }
    return 0;
  }
  if (report.state == DriftReport::State::drifted && (!opts.reason || opts.reason->empty())) {
    throw UsageError("--accept of a schema that drifted needs --reason \"why\" (it goes to the audit log with who "
                     "accepted it); review the difference first with `mgr drift " + env.name + "`");
  }
  const auto reason = opts.reason.value_or("");
  std::string detail =
      report.state == DriftReport::State::drifted
          ? "schema " + short_sha(now.sha256) + " accepted in place of " + short_sha(report.snapshot_sha256) + " (" +
                std::to_string(report.diff.added) + " line(s) added, " + std::to_string(report.diff.removed) +
                " removed outside mgr)"
          : "first schema snapshot " + short_sha(now.sha256) + " recorded";
  if (!reason.empty()) detail += ": " + reason;
  store_snapshot(session, config, env, now, "drift-accept",
                 LogEntry::of("drift-accept", std::nullopt, os_user_at_host(), detail));
  out["accepted"] = true;
  out["reason"] = reason;
  if (global.json) {
    print_json(out);
  } else {
    if (report.state == DriftReport::State::drifted) {
      std::cout << format_unified_diff(report.diff, env.name + ": previous snapshot (" +
                                                        short_sha(report.snapshot_sha256) + ")",
                                       env.name + ": accepted (" + short_sha(now.sha256) + ")", style.color());
    }
    print_line(env.name + ": " + detail + "; recorded in the audit log (`mgr log " + env.name + "`)");
  }
  return 0;
}

struct EnvState {
  std::vector<HistoryRow> rows;
  SchemaText schema;
};

// History and schema read under the migration lock (never half an apply),
// released before anything else is opened: two names for one database must
// not wait for each other's lock.
EnvState read_env(const Config& config, const Environment& env) {
  Session session(env, "mgr " + env.name + " drift");
  MigrationLock lock(session, config.history_table, env.lock_wait);
  EnvState s;
  s.rows = HistoryStore(session, config.history_table).read_all();
  s.schema = capture_schema(session, config, env);
  return s;
}

// `mgr drift <a> <b>`.
int drift_pair(const GlobalOptions& global, const Config& config, const Environment& a, const Environment& b) {
  auto sa = read_env(config, a);
  auto sb = read_env(config, b);
  auto migrations = compare_applied(sa.rows, sb.rows);
  auto diff = diff_texts(sa.schema.canonical, sb.schema.canonical);
  const bool same_schema = diff.empty();
  const std::string status = same_schema ? "same" : migrations.same() ? "drift" : "different-migrations";
  Style style(global.color);
  if (global.json) {
    json out{{"environments", {a.name, b.name}},
             {"status", status},
             {"same_migrations", migrations.same()},
             {"only_in", {{a.name, migrations.only_in_a}, {b.name, migrations.only_in_b}}},
             {"checksum_differs", migrations.checksum_differs},
             {"sha256", {{a.name, sa.schema.sha256}, {b.name, sb.schema.sha256}}}};
    add_diff(out, diff);
    print_json(out);
  } else {
    if (!migrations.same()) {
      print_line(style.yellow(a.name + " and " + b.name +
                              " are at different migrations, so their schemas are expected to differ:"));
      if (!migrations.only_in_a.empty()) print_line("  only in " + a.name + ": " + join(migrations.only_in_a, ", "));
      if (!migrations.only_in_b.empty()) print_line("  only in " + b.name + ": " + join(migrations.only_in_b, ", "));
      if (!migrations.checksum_differs.empty()) {
        print_line("  recorded with different checksums: " + join(migrations.checksum_differs, ", "));
      }
    }
    if (same_schema) {
      print_line(style.green(a.name + " and " + b.name + ": same schema (" + short_sha(sa.schema.sha256) + ")"));
    } else {
      if (migrations.same()) {
        print_line(style.red(a.name + " and " + b.name + ": DRIFT: same migrations, different schemas (" +
                             std::to_string(diff.added) + " line(s) only in " + b.name + ", " +
                             std::to_string(diff.removed) + " only in " + a.name + ")"));
      }
      std::cout << format_unified_diff(diff, a.name + " (" + short_sha(sa.schema.sha256) + ")",
                                       b.name + " (" + short_sha(sb.schema.sha256) + ")", style.color());
      if (migrations.same()) {
        print_line("One of them was changed outside mgr; `mgr drift " + a.name + "` and `mgr drift " + b.name +
                   "` tell which, against their own snapshots.");
      }
    }
  }
  if (!same_schema && migrations.same()) {
    throw Refused(a.name + " and " + b.name + " have the same migrations but different schemas: drift");
  }
  return 0;
}

// `mgr drift <env> --against-migrations`.
int drift_against_migrations(const GlobalOptions& global, const Config& config, const Environment& env) {
  auto catalog = load_catalog(config.migrations_dir);
  auto state = read_env(config, env);
  // The migrations the environment records as applied (a baseline counts:
  // it says the database holds what they make); none recorded: all of them.
  std::vector<const Migration*> migrations;
  std::vector<std::string> missing;
  for (const auto& row : state.rows) {
    if (!row.success) continue;
    const auto* m = catalog.find(row.migration_id);
    if (m == nullptr) {
      missing.push_back(row.migration_id + "_" + row.name);
      continue;
    }
    if (m->up.checksum != row.checksum) {
      spdlog::warn("{}: {} was edited after it was applied (checksum {} recorded, {} now); the scratch database "
                   "gets the file as it is now",
                   env.name, m->label(), row.checksum.substr(0, 12), m->up.checksum.substr(0, 12));
    }
    migrations.push_back(m);
  }
  if (!missing.empty()) {
    throw Refused(env.name + ": cannot build its schema from the migrations: applied migration(s) without a file in " +
                  config.migrations_dir.string() + ": " + join(missing, ", "));
  }
  const bool all = state.rows.empty();
  if (all) {
    for (const auto& m : catalog.migrations) migrations.push_back(&m);
  }
  auto expected = schema_from_migrations(config, env, migrations);
  auto diff = diff_texts(expected.canonical, state.schema.canonical);
  std::string what = all ? "all " + std::to_string(migrations.size()) + " migration(s) (" + env.name +
                               " has no history)"
                         : "the " + std::to_string(migrations.size()) + " migration(s) recorded in " + env.name +
                               (migrations.empty() ? "" : " (up to " + migrations.back()->id + ")");
  Style style(global.color);
  if (global.json) {
    json ids = json::array();
    for (const auto* m : migrations) ids.push_back(m->label());
    json out{{"environment", env.name},
             {"against", "migrations"},
             {"migrations", ids},
             {"status", diff.empty() ? "same" : "drift"},
             {"expected_sha256", expected.sha256},
             {"current_sha256", state.schema.sha256}};
    add_diff(out, diff);
    print_json(out);
  } else if (diff.empty()) {
    print_line(style.green(env.name + ": no drift: the schema is what " + what + " make on an empty database"));
  } else {
    print_line(style.red(env.name + ": DRIFT: the schema differs from what " + what + " make on an empty database (" +
                         std::to_string(diff.added) + " line(s) added, " + std::to_string(diff.removed) +
                         " removed)"));
    std::cout << format_unified_diff(diff, "migrations applied to a scratch database (" + short_sha(expected.sha256) + ")",
                                     env.name + ": now (" + short_sha(state.schema.sha256) + ")", style.color());
  }
  if (!diff.empty()) throw Refused(env.name + ": the schema is not what its migrations make: drift");
  return 0;
}

}  // namespace

std::optional<ApplyDriftCheck> check_drift_before_apply(Session& session, const Config& config, const Environment& env,
                                                        bool allow_drift, bool dry_run) {
  if (env.drift == DriftPolicy::off) {
    spdlog::info("{}: drift: off, the schema is not compared with its snapshot", env.name);
    return std::nullopt;
  }
  DriftReport report;
  try {
    // No snapshot: nothing to compare with, and no pg_dump needed to say so.
    if (!SnapshotStore(session, config.history_table).current()) {
      spdlog::info("{}: no schema snapshot yet, so no drift check; this apply records the first one", env.name);
      return ApplyDriftCheck{drift_state_name(DriftReport::State::no_snapshot), false, ""};
    }
    report = check_drift(session, config, env);
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    if (env.drift == DriftPolicy::warn) {
      spdlog::warn("{}: the drift check could not be made (drift: warn, going on): {}", env.name, e.what());
      return std::nullopt;
    }
    throw Failure(std::string(dry_run ? "dry run: " : "") + "apply to " + env.name +
                  " stopped before changing anything: the drift check could not be made: " + e.what() +
                  "\n(`drift: warn` or `drift: off` in the environment's config lets apply go on without it)");
  }
  ApplyDriftCheck out{drift_state_name(report.state), false, ""};
  switch (drift_gate(env.drift, report, allow_drift)) {
    case DriftGate::proceed:
      break;
    case DriftGate::warn:
      spdlog::warn("{}\n{}going on ({})", report.summary(), diff_text(report),
                   allow_drift && env.drift == DriftPolicy::block ? "--allow-drift" : "drift: warn");
      break;
    case DriftGate::refuse:
      out.refuse = true;
      out.message = std::string(dry_run ? "dry run: apply to " + env.name + " would be refused"
                                        : "apply to " + env.name + " refused") +
                    "; nothing was changed: its schema differs from the one mgr recorded after its last change "
                    "(drift: block).\n" + report.summary() + "\n" + diff_text(report) +
                    "Undo the change by hand, or review it with `mgr drift " + env.name + "` and record it with `mgr "
                    "drift " + env.name + " --accept --reason \"...\"`; --allow-drift applies anyway.";
      break;
  }
  return out;
}

int run_drift(const GlobalOptions& global, const DriftOptions& opts) {
  if (opts.envs.empty() || opts.envs.size() > 2) throw UsageError("drift takes one environment, or two to compare");
  if (opts.envs.size() == 2 && (opts.accept || opts.against_migrations)) {
    throw UsageError("--accept and --against-migrations take one environment");
  }
  if (opts.accept && opts.against_migrations) throw UsageError("--accept and --against-migrations exclude each other");
  if (opts.reason && !opts.accept) throw UsageError("--reason goes with --accept");
  if (opts.reason && opts.reason->find_first_not_of(" \t\r\n") == std::string::npos) {
    throw UsageError("--reason must say why (it is empty)");
  }
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.envs[0]);
  if (opts.envs.size() == 2) {
    const auto& other = config.get(opts.envs[1]);
    if (other.name == env.name) throw UsageError("drift: give two different environments to compare");
    return drift_pair(global, config, env, other);
  }
  if (opts.against_migrations) return drift_against_migrations(global, config, env);
  return drift_one(global, config, env, opts);
}

}  // namespace mgr
