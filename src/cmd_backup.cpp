// mgr backup / mgr backups / mgr restore.
#include <fmt/format.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "mgr/backup.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/catalog.hpp"
#include "mgr/history.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/plan.hpp"
#include "mgr/schema_snapshot.hpp"
#include "mgr/session.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mgr {

namespace {

Config load(const GlobalOptions& global) {
  return load_config(resolve_config_path(global.config_path, process_env_lookup()));
}

std::string application_name(const Environment& env) { return "mgr " + env.name; }

std::string human_size(std::uintmax_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

// The manifest as `backups --json` shows it: the file's own fields (backup.cpp's
// to_json) without the two that only say how to read the file.
json manifest_json(const BackupManifest& m) {
  json j = m;
  j.erase("manifest_version");
  j.erase("server_version_num");
  return j;
}

json result_json(const BackupResult& r) {
  json pruned = json::array();
  for (const auto& p : r.pruned) pruned.push_back(p.string());
  return json{{"file", r.file.string()},   {"name", r.file_name()}, {"manifest", r.manifest.string()},
              {"size", r.size},            {"sha256", r.sha256},    {"newest_migration", r.details.newest_migration ? json(*r.details.newest_migration) : json(nullptr)},
              {"pruned", pruned}};
}

// A path as given, else a bare file name looked up in the environment's
// backup directory, then in the others' (what `mgr backups` and the history
// table's `backup` column show is the file name).
fs::path resolve_backup_file(const Config& config, const Environment& env, const std::string& given) {
  fs::path p(given);
  std::error_code ec;
  if (fs::exists(p, ec)) return p;
  std::vector<fs::path> looked{fs::absolute(p)};
  if (!p.has_parent_path()) {
    std::vector<std::string> names{env.name};
    for (const auto& e : config.environments) {
      if (e.name != env.name) names.push_back(e.name);
    }
    for (const auto& n : names) {
      auto candidate = backup_dir_for(config, n) / p;
      if (fs::exists(candidate, ec)) return candidate;
      looked.push_back(candidate);
    }
  }
  std::string list;
  for (const auto& l : looked) list += "\n  - " + l.string();
  throw UsageError(fmt::format("backup file {} not found; looked at:{}\nRun `mgr backups {}` to list backups.",
                               given, list, env.name));
}

struct HistoryState {
  std::size_t rows = 0;
  std::optional<std::string> newest;
  bool table_exists = false;
};

HistoryState history_state(HistoryStore& store) {
  HistoryState s;
  s.table_exists = store.exists();
  auto rows = store.read_all();
  s.rows = rows.size();
  s.newest = newest_applied(rows);
  return s;
}

// The audit row for a restore; best effort when the restore itself failed.
void log_restore(HistoryStore& store, const LogEntry& entry) {
  if (!store.exists()) {
    spdlog::warn("no history table {} after the restore; the restore is not recorded in the audit log",
                 store.table().display());
    return;
  }
  store.ensure();
  HistoryEdit edit;
  edit.log.push_back(entry);
  store.commit(edit, "restore's audit row");
}

// ok | mismatch | incomplete | in_progress | restore_leftover
std::string backup_state(const BackupCheck& b) {
  if (b.in_progress) return "in_progress";
  if (b.leftover == BackupCheck::Leftover::incomplete_dump) return "incomplete";
  if (b.leftover == BackupCheck::Leftover::restore_files) return "restore_leftover";
  return b.matches ? "ok" : "mismatch";
}

// The CHECK column of `mgr backups` for a state other than ok.
std::string check_label(const std::string& state) {
  if (state == "mismatch") return "MISMATCH";
  if (state == "incomplete") return "INCOMPLETE";
  if (state == "in_progress") return "RUNNING";
  return "LEFTOVER";
}

// The identity check apply makes (plan's check_history): history rows that
// record another environment mean the URL points at that environment's
// database. Refused (exit 3) before anything is written.
void refuse_other_environments_database(const std::string& command, const Environment& env,
                                        const std::vector<HistoryRow>& rows) {
  std::string msg;
  for (const auto& p : check_history(Catalog{}, env.name, rows)) {
    if (p.code == Code::environment_mismatch) msg += "\n  - " + format_refusal(p);
  }
  if (!msg.empty()) throw Refused(command + " of " + env.name + " refused; nothing was changed:" + msg);
}

// A random hex token that marks this restore's audit row, so that after a
// signal mgr can tell whether psql's COMMIT got through.
std::string run_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

// After a signal: stop psql's backend if it is still there (psql was
// killed; the server would notice only at its next read), then read whether
// the restore committed.
bool restore_committed_after_signal(Session& session, HistoryStore& store, const std::string& application_name,
                                    const std::string& token) {
  try {
    pqxx::nontransaction tx(session.connection());
    tx.exec_params("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                   "WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid()",
                   application_name);
    // A COMMIT that reached the server finishes before the backend exits:
    // read the outcome only once the backend is gone (bounded wait).
    for (int i = 0; i < 200; ++i) {
      auto left = tx.exec_params1("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = $1",
                                  application_name)[0]
                      .as<long>();
      if (left == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const std::exception& e) {
    spdlog::warn("after the signal, cannot stop psql's backend on {}: {}", session.environment().name,
                 session.clean(e.what()));
  }
  try {
    return store.log_has("restore", token);
  } catch (const std::exception& e) {
    spdlog::warn("after the signal, cannot check the state of {}: {}", session.environment().name,
                 session.clean(e.what()));
    return false;
  }
}

}  // namespace

int run_backup(const GlobalOptions& global, const BackupOptions& opts) {
  auto config = load(global);
  const auto& env = config.get(opts.env);
  Session session(env, application_name(env));
  // Under the lock, so the newest migration in the manifest is what the dump holds.
  MigrationLock lock(session, config.history_table, env.lock_wait);
  HistoryStore store(session, config);
  auto rows = store.read_all();
  refuse_other_environments_database("backup", env, rows);
  auto newest = newest_applied(rows);
  auto result = take_backup(config, env, session.identity(), newest, "manual");

  if (global.json) {
    auto j = result_json(result);
    j["environment"] = env.name;
    print_json(j);
  } else {
    print_line(fmt::format("Backup of {} written: {} ({})", env.name, result.file.string(), human_size(result.size)));
    print_line(fmt::format("  manifest: {}", result.manifest.string()));
    print_line(fmt::format("  sha256:   {}", result.sha256));
    print_line(fmt::format("  newest migration: {}", newest.value_or("(none)")));
    for (const auto& p : result.pruned) print_line(fmt::format("  removed by backup_keep: {}", p.string()));
  }
  return 0;
}

int run_backups(const GlobalOptions& global, const BackupsOptions& opts) {
  auto config = load(global);
  auto backups = list_backups(config, opts.env);

  if (global.json) {
    json arr = json::array();
    for (const auto& b : backups) {
      json j{{"file", b.file.string()},
             {"name", b.file.filename().string()},
             {"state", backup_state(b)},
             {"manifest_path", b.leftover == BackupCheck::Leftover::none ? json(b.manifest_path.string()) : json(nullptr)},
             {"file_exists", b.file_exists},
             {"actual_size", b.actual_size ? json(*b.actual_size) : json(nullptr)},
             {"actual_sha256", b.actual_sha256.empty() ? json(nullptr) : json(b.actual_sha256)},
             {"matches", b.matches},
             {"problem", b.problem.empty() ? json(nullptr) : json(b.problem)}};
      if (b.manifest) {
        j["environment"] = b.manifest->environment;
        j["created_at"] = b.manifest->created_at;
        j["size"] = b.manifest->size;
        j["newest_migration"] = b.manifest->newest_migration ? json(*b.manifest->newest_migration) : json(nullptr);
        j["reason"] = b.manifest->reason;
        j["format"] = backup_format_name(b.manifest->format);
        j["manifest"] = manifest_json(*b.manifest);
      } else {
        j["manifest"] = nullptr;
      }
      arr.push_back(std::move(j));
    }
    print_json(json{{"backups", arr}});
    return 0;
  }

  if (backups.empty()) {
    print_line(opts.env ? fmt::format("No backups of {} in {}.", *opts.env, backup_dir_for(config, *opts.env).string())
                        : fmt::format("No backups in {}.", config.backups_dir.string()));
    return 0;
  }
  // Fits 100 columns: file names without their directory (named below the
  // table), times to the minute; reasons, hashes and paths are in --json.
  Style style(global.color);
  TextTable table({"ENV", "CREATED (UTC)", "SIZE", "NEWEST", "CHECK", "FILE"});
  std::vector<std::string> problems;
  std::vector<std::string> dirs;
  for (const auto& b : backups) {
    const auto* m = b.manifest ? &*b.manifest : nullptr;
    const auto dir = b.file.parent_path().string();
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
    const auto state = backup_state(b);
    std::string check = state == "ok" ? style.green("ok") : style.red(check_label(state));
    std::string created = m ? m->created_at.substr(0, 16) : "-";
    std::replace(created.begin(), created.end(), 'T', ' ');
    std::string size = m                                                                   ? human_size(m->size)
                       : b.actual_size && b.leftover == BackupCheck::Leftover::incomplete_dump ? human_size(*b.actual_size)
                                                                                               : "-";
    table.add({m ? m->environment : b.file.parent_path().filename().string(), created, size,
               m && m->newest_migration ? *m->newest_migration : "-", check, b.file.filename().string()});
    if (!b.matches) problems.push_back(b.file.filename().string() + ": " + b.problem);
  }
  std::cout << table.render(style);
  for (const auto& d : dirs) print_line("in " + d);
  for (const auto& p : problems) print_line(style.red("! ") + p);
  std::cout.flush();
  return 0;
}

namespace {

// Step 1 of restore: the file must be exactly what was backed up, and meant
// for this environment. Returns its manifest.
BackupManifest checked_manifest(const fs::path& file, const Environment& env, const RestoreOptions& opts) {
  auto check = check_backup(file);
  if (!check.manifest) {
    throw Refused(fmt::format("refusing to restore {}: {}\nWithout its manifest the file cannot be checked; "
                              "nothing was changed.",
                              file.string(), check.problem));
  }
  if (!check.matches) {
    throw Refused(fmt::format("refusing to restore {}: {}\nThe file is corrupt or was modified; nothing was "
                              "changed. Pick another backup (`mgr backups {}`).",
                              file.string(), check.problem, env.name));
  }
  if (check.manifest->environment != env.name && !opts.from_other_env) {
    throw Refused(fmt::format("refusing to restore {} into {}: it is a backup of {}; pass --from-other-env to "
                              "load another environment's backup on purpose. Nothing was changed.",
                              file.string(), env.name, check.manifest->environment));
  }
  return *check.manifest;
}

// Step 3: every environment asks, whatever its `confirm` setting.
void confirm_restore(Session& session, const Environment& env, const fs::path& file, const BackupManifest& manifest,
                     const RestoreOptions& opts) {
  if (!opts.yes && ::isatty(STDIN_FILENO) == 0) {
    throw Refused(fmt::format("restore of {} needs confirmation and there is no terminal to ask on; pass --yes "
                              "to confirm. Nothing was changed.",
                              env.name));
  }
  confirm_or_refuse(
      env.name,
      fmt::format("Restore {} ({}) from {}\n  taken {} from {}, newest migration {}, reason: {}\n"
                  "Every schema of database {} is dropped and replaced by the backup's: tables, columns and rows "
                  "added or changed since the backup are lost (the audit log is kept).\n{}",
                  env.name, env.url.redacted(), file.string(), manifest.created_at, manifest.environment,
                  manifest.newest_migration.value_or("(none)"), manifest.reason, session.identity().database,
                  opts.no_safety_backup ? "--no-safety-backup: the current state is NOT backed up first."
                                        : "A safety backup of the current state is taken first."),
      opts.yes);
}

// The audit row the restore commits with the restored data, marked with
// `token` so that after a signal mgr can tell whether it committed.
LogEntry restore_entry(const fs::path& file, const BackupManifest& manifest, const std::optional<BackupResult>& safety,
                       const std::string& token) {
  LogEntry entry = LogEntry::of("restore", manifest.newest_migration, os_user_at_host());
  entry.backup = file.filename().string();
  entry.detail = fmt::format("restored from {} (taken {} from {}, newest migration {})", file.filename().string(),
                             manifest.created_at, manifest.environment, manifest.newest_migration.value_or("none"));
  if (safety) entry.detail += fmt::format("; safety backup {}", safety->file_name());
  entry.detail += fmt::format("; run {}", token);
  return entry;
}

// Step 5's report: what came back with the dump, beside what was there before.
void render_restore(const GlobalOptions& global, const Config& config, const Environment& env, const fs::path& file,
                    const BackupManifest& manifest, const std::optional<BackupResult>& safety,
                    std::chrono::milliseconds duration, const std::optional<std::string>& snapshot,
                    const HistoryState& before, const HistoryState& after) {
  if (global.json) {
    json j{{"environment", env.name},
           {"restored_from", file.string()},
           {"manifest", manifest_json(manifest)},
           {"safety_backup", safety ? result_json(*safety) : json(nullptr)},
           {"duration_ms", duration.count()},
           {"schema_sha256", snapshot ? json(*snapshot) : json(nullptr)},
           {"history", json{{"table", config.history_table.display()},
                            {"exists", after.table_exists},
                            {"rows", after.rows},
                            {"newest_migration", after.newest ? json(*after.newest) : json(nullptr)}}},
           {"before", json{{"rows", before.rows},
                           {"newest_migration", before.newest ? json(*before.newest) : json(nullptr)}}}};
    print_json(j);
    return;
  }
  print_line(fmt::format("Restored {} from {} in {:.1f}s.", env.name, file.string(),
                         static_cast<double>(duration.count()) / 1000.0));
  if (safety) {
    print_line(fmt::format("  safety backup of the state before: {} ({})", safety->file.string(),
                           human_size(safety->size)));
  }
  print_line(fmt::format("  before: {} history rows, newest migration {}", before.rows, before.newest.value_or("(none)")));
  if (after.table_exists) {
    print_line(fmt::format("  now:    {} history rows, newest migration {}", after.rows, after.newest.value_or("(none)")));
  } else {
    print_line(fmt::format("  now:    no history table {} (the backup had none)", config.history_table.display()));
  }
  print_line(fmt::format("Check it with `mgr status {}`.", env.name));
}

}  // namespace

int run_restore(const GlobalOptions& global, const RestoreOptions& opts) {
  auto config = load(global);
  const auto& env = config.get(opts.env);
  auto file = fs::absolute(resolve_backup_file(config, env, opts.file));
  const auto manifest = checked_manifest(file, env, opts);  // 1

  // 2. The database must be this environment's, as apply checks it.
  Session session(env, application_name(env));
  HistoryStore store(session, config);
  refuse_other_environments_database("restore", env, store.read_all());
  confirm_restore(session, env, file, manifest, opts);  // 3

  // 4. Under the migration lock, so no apply runs in between.
  MigrationLock lock(session, config.history_table, env.lock_wait);
  auto before = history_state(store);

  std::optional<BackupResult> safety;
  if (!opts.no_safety_backup) {
    safety = take_backup(config, env, session.identity(), before.newest,
                         fmt::format("safety backup before restore of {}", file.filename().string()), {file});
    spdlog::info("safety backup: {}", safety->file.string());
  } else {
    spdlog::warn("--no-safety-backup: the current state of {} is not backed up first", env.name);
  }

  const auto token = run_token();
  LogEntry entry = restore_entry(file, manifest, safety, token);
  RestoreAudit audit;
  audit.log_schema = store.log_schema();
  audit.log_table = store.log_table().table;
  audit.restore_row_sql = store.log_sql(entry);
  audit.application_name = fmt::format("mgr {} restore {}", env.name, ::getpid());
  const std::string safety_note =
      safety ? fmt::format("\nSafety backup of the state before: {}", safety->file.string()) : "";

  auto started = std::chrono::steady_clock::now();
  try {
    restore_backup(config, env, file, manifest.format, env.backup_timeout, audit);
  } catch (const Interrupted& e) {
    if (restore_committed_after_signal(session, store, audit.application_name, token)) {
      throw Interrupted(std::string(e.what()) + " after its transaction had committed: " + env.name +
                        " now holds the backup (the audit log records the restore)." + safety_note);
    }
    throw Interrupted(std::string(e.what()) + "; its transaction was rolled back: " + env.name +
                      " is unchanged. Temporary files were removed." + safety_note);
  } catch (const Error& e) {
    entry.outcome = "failed";
    entry.migration_id.reset();
    entry.duration_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started).count());
    try {
      log_restore(store, entry);
    } catch (const std::exception& log_error) {
      spdlog::warn("could not record the failed restore in the audit log: {}", session.clean(log_error.what()));
    }
    if (e.code() == ExitCode::refused) throw Refused(std::string(e.what()) + safety_note);
    throw Failure(std::string(e.what()) + safety_note);
  }
  auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);

  // 5. The migration state that came back with the dump, and the schema
  // (still under the lock): drift is measured from the restored state.
  auto after = history_state(store);
  auto snapshot = snapshot_after_change(session, config, env, "restore");
  render_restore(global, config, env, file, manifest, safety, duration, snapshot, before, after);
  return 0;
}

}  // namespace mgr
