// Backups of one environment's database through pg_dump: taking, verifying,
// describing (a JSON manifest beside each file), listing, pruning and
// restoring them.
//
// Layout: <backups_dir>/<env>/<env>-<UTC YYYY-MM-DDTHH-MM-SSZ>.dump (custom
// format) or .sql (plain), mode 0600 in a 0700 directory, and <file>.json,
// the manifest. A file without a manifest is not an mgr backup: it is never
// restored or pruned; one with mgr's own name is what a killed run left and
// is listed as incomplete and removed by the next run.
//
// The password reaches pg_dump/pg_restore/psql only through PGPASSWORD in the
// child's environment; argv, logs, output and manifests never carry it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mgr/config.hpp"
#include "mgr/sha256.hpp"  // sha256_file, for checking a backup by hand

namespace mgr {

struct ServerIdentity;

// The manifest written beside every backup (<file>.json).
struct BackupManifest {
  std::string file;  // the backup's file name, no directory
  std::string environment;
  std::string database;
  std::string server_version;   // server_version, e.g. "15.18 (Debian ...)"
  int server_version_num = 0;   // e.g. 150018
  std::string pg_dump_version;  // e.g. "15.18 (Debian ...)"
  std::string created_at;       // ISO 8601 UTC with milliseconds: 2025-01-31T12:00:00.123Z
  std::uintmax_t size = 0;      // bytes
  std::string sha256;           // lower-case hex of the file
  std::optional<std::string> newest_migration;  // newest applied migration id when taken
  std::string reason;           // "before apply of 0003, 0004", "manual", "safety backup before restore of ..."
  std::string url;              // redacted URL (password as ***)
  BackupFormat format = BackupFormat::custom;
  std::string mgr_version;
};

// The manifest as JSON (the layout docs/backups.md describes, with
// "manifest_version": 1). from_json throws nlohmann's exceptions for a
// missing or mistyped required field and std::invalid_argument for an
// unknown format or a sha256 that is not 64 characters.
void to_json(nlohmann::json& j, const BackupManifest& m);
void from_json(const nlohmann::json& j, BackupManifest& m);

struct BackupResult {
  std::filesystem::path file;      // absolute path of the dump
  std::filesystem::path manifest;  // <file>.json
  std::uintmax_t size = 0;
  std::string sha256;
  BackupManifest details;
  std::vector<std::filesystem::path> pruned;  // old backups removed by backup_keep

  // What goes into the history rows' `backup` column and the audit log: the
  // file name only (e.g. "prod-2025-01-31T12-00-00Z.dump"). `mgr restore <env>
  // <name>` finds it under <backups_dir>/<env>/.
  std::string file_name() const { return file.filename().string(); }
};

// Takes a verified backup of `env` now. `server` is the identity of the
// database as the caller's Session reports it (for the pg_dump version rule
// and the manifest); `newest_migration` the newest applied migration id;
// `reason` goes into the manifest. Files in `protect` are never removed by
// retention (restore protects the file it is about to load).
//
// Steps: find pg_dump (pg_bin_dir of env, then of config, MGR_PG_BIN_DIR,
// PATH), refuse a pg_dump older than the server's major version, take
// pg_dump's stdout through a pipe into a new 0600 file (never overwriting
// one), hashing and counting the bytes on the way, fsync it, verify it
// (pg_restore --list for custom; the completion line for plain), write the
// manifest, prune. On a terminal, a progress line on stderr (bytes, time).
// Throws Failure (exit 1) with pg_dump's stderr on any problem; then no
// partial file or manifest is left behind.
BackupResult take_backup(const Config& config, const Environment& env, const ServerIdentity& server,
                         const std::optional<std::string>& newest_migration, const std::string& reason,
                         const std::vector<std::filesystem::path>& protect = {});

// The directory that holds `env`'s backups.
std::filesystem::path backup_dir_for(const Config& config, const std::string& env_name);
// <file>.json
std::filesystem::path manifest_path_for(const std::filesystem::path& backup_file);

// Reads and checks a manifest; throws Failure saying what is wrong with it.
BackupManifest read_manifest(const std::filesystem::path& manifest_path);

// A backup file checked against its manifest.
struct BackupCheck {
  std::filesystem::path file;
  std::filesystem::path manifest_path;
  std::optional<BackupManifest> manifest;  // nullopt when missing or unreadable
  bool file_exists = false;
  std::optional<std::uintmax_t> actual_size;
  std::string actual_sha256;  // empty when the file could not be read
  bool matches = false;       // manifest read, file present, size and SHA-256 equal
  std::string problem;        // why not, empty when it matches

  // Not a backup but what a killed mgr left behind: a dump with mgr's file
  // name and no manifest, or a restore's temporary directory (which may hold
  // the whole data as SQL). The next backup or restore of the environment
  // removes them unless `in_progress` (a running mgr holds their lock).
  enum class Leftover { none, incomplete_dump, restore_files };
  Leftover leftover = Leftover::none;
  bool in_progress = false;
};

// Hashes the file and compares it with <file>.json. Never throws for a bad
// file or manifest: that is what `problem` is for.
BackupCheck check_backup(const std::filesystem::path& backup_file);

// Every mgr backup (a file with a manifest) of `env`, or of every configured
// environment, oldest first within each environment, each checked against
// its manifest; then the leftovers of killed runs (see BackupCheck::leftover).
// Throws UsageError for an unknown environment name.
std::vector<BackupCheck> list_backups(const Config& config, const std::optional<std::string>& env);

// Removes the leftovers of killed runs in `env`'s backup directory (dumps
// without a manifest named like mgr's, restore directories) that no running
// mgr holds; returns what was removed.
std::vector<std::filesystem::path> remove_leftovers(const Config& config, const Environment& env);

// What restore_backup needs to keep the audit log append-only across the
// restore (see restore_backup).
struct RestoreAudit {
  std::string log_schema;       // the schema that holds (or will hold) the audit table
  std::string log_table;        // its name, e.g. schema_migrations_log
  std::string restore_row_sql;  // INSERT of the restore's own audit row
  std::string application_name; // psql's, unique to this mgr process (to find its backend)
};

// Replaces `env`'s database contents with the backup's, in ONE transaction:
// a custom archive is first turned into SQL (pg_restore --file, into a
// private locked directory in the environment's backup directory), the
// script is checked to be what pg_dump writes (check_dump_script), then one
// `psql --single-transaction` moves the audit table aside, runs a wipe
// (every non-system schema and extension dropped, `public` recreated as
// PostgreSQL creates it), the dump, appends the audit rows the backup lacks
// and the restore's own row. A failure anywhere leaves the database as it
// was. Owners and privileges are restored as dumped: the roles must exist.
// Throws Failure with the tool's stderr, Refused for a script that is not
// pg_dump's, Interrupted after SIGINT/SIGTERM (psql stopped; whether its
// COMMIT got through is for the caller to check). `timeout` bounds
// conversion and load together. On a terminal, a progress line on stderr
// (script bytes converted, then loaded of the total, polled).
void restore_backup(const Config& config, const Environment& env, const std::filesystem::path& file,
                    BackupFormat format, std::chrono::milliseconds timeout, const RestoreAudit& audit);

// `mgr reset`'s wipe, restore's own scripts with no dump between them: the
// audit table moved aside, every non-system schema and extension dropped,
// `public` recreated as PostgreSQL creates it, the audit table moved back
// (into its schema, recreated if needed) and `audit.restore_row_sql` run.
// For one transaction on the caller's connection; sets session settings
// (search_path, client_min_messages) that the caller resets after.
std::string reset_wipe_sql(const RestoreAudit& audit);

// Checks that an SQL script is laid out as pg_dump writes it, so that psql
// can run no backslash command from it: only comments before `\restrict
// <key>` (after which psql refuses every backslash command but `\unrestrict
// <key>`), pg_dump's completion line at the end followed only by comments
// and `\unrestrict <key>`, and no other \restrict or \unrestrict anywhere.
// Throws Refused, or Failure when the completion line is missing (incomplete).
void check_dump_script(const std::filesystem::path& script);

std::string backup_format_name(BackupFormat format);

// The progress line backup and restore redraw on a terminal (stderr, never
// when it is not a terminal or with --quiet): "backup of prod: 12.3 MiB
// dumped, 4.2s", or with a known total "restore into prod: 45.0 MiB of
// 120.0 MiB loaded (37%), 1m05s".
std::string transfer_progress(const std::string& what, const std::string& verb, std::uintmax_t bytes,
                              std::optional<std::uintmax_t> total, std::chrono::milliseconds elapsed);

// The conninfo a child (pg_dump, pg_restore, psql) gets in --dbname: built
// from the URL's parsed options, never from its text, so no secret can be in
// it by construction; the password travels in PGPASSWORD of the child's
// environment. `application_name` replaces the URL's. Throws Failure when
// the URL holds a secret other than the password (sslpassword): there is no
// private way to hand it to a child.
std::string child_conninfo(const DbUrl& url, const std::string& application_name);

}  // namespace mgr
