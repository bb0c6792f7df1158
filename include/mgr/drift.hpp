// Schema drift, the pure part: a `pg_dump --schema-only` text made canonical
// (nothing in it that changes when the schema does not), a line diff of two
// canonical texts in unified-diff hunks, and the verdicts built from them.
//
// No database, no child process, no terminal here: schema_snapshot.hpp takes
// and stores the texts, cmd_drift.cpp prints them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mgr/config.hpp"
#include "mgr/history_row.hpp"

namespace mgr {

// ---- canonical schema text ----

// `pg_dump --schema-only --no-owner --no-privileges` output without what
// varies between two dumps of the same schema:
//   - the version comments (`-- Dumped from database version ...`,
//     `-- Dumped by pg_dump version ...`);
//   - the session settings pg_dump writes before the first object (`SET
//     statement_timeout = 0;`, `SELECT pg_catalog.set_config('search_path',
//     '', false);`, ...), but not `SET default_tablespace` and `SET
//     default_table_access_method`, which say where and how the tables after
//     them are stored;
//   - the `\restrict <key>` / `\unrestrict <key>` lines of pg_dump 15.14+
//     (a random key per dump);
//   - runs of blank lines (one kept) and blank lines at both ends.
// Only the preamble (before the first `-- Name:` object comment) and the tail
// (after `-- PostgreSQL database dump complete`) are filtered, so a line of a
// function body that happens to start with `SET ` is never dropped.
// The result ends with one newline (empty for an empty input).
std::string canonical_schema(std::string_view pg_dump_output);

// "15.18 (Debian 15.18-0+deb12u1)" from the `-- Dumped by pg_dump version`
// line of a plain dump; "" when there is none.
std::string pg_dump_version_of(std::string_view pg_dump_output);

// SHA-256 (lower-case hex) of a canonical text: the snapshot's key.
std::string schema_sha256(const std::string& canonical);

// The text split into lines (without their '\n'); a final line without a
// newline counts as a line.
std::vector<std::string_view> split_lines(std::string_view text);

// ---- diff ----

struct DiffLine {
  char op = ' ';  // ' ' context, '-' only in the old text, '+' only in the new one
  std::string text;
};

// One unified-diff hunk. Starts are 1-based line numbers; for an empty side
// (count 0) the start is the line before the change, as in diff -u.
struct DiffHunk {
  std::size_t old_start = 0;
  std::size_t old_count = 0;
  std::size_t new_start = 0;
  std::size_t new_count = 0;
  // The nearest `-- Name: ...; Type: ...` comment above the hunk in the old
  // text (the object the change is in or after); "" when there is none.
  std::string section;
  std::vector<DiffLine> lines;

  std::string header() const;  // "@@ -12,7 +12,8 @@ -- Name: users; Type: TABLE; ..."
};

struct SchemaDiff {
  std::vector<DiffHunk> hunks;
  std::size_t added = 0;    // '+' lines
  std::size_t removed = 0;  // '-' lines
  bool empty() const { return hunks.empty(); }
};

// Line diff (Myers' O(ND) algorithm, linear space) of `old_text` and
// `new_text`, grouped into hunks with `context` unchanged lines around each
// change. Minimal (fewest added + removed lines) as long as no single region
// differs in more than ~10,000 lines; beyond that such a region is shown as
// removed and re-added whole (still a correct diff, only longer).
SchemaDiff diff_texts(std::string_view old_text, std::string_view new_text, std::size_t context = 3);

// The edit script behind diff_texts, every line of both texts in order:
// ' ' lines are in both, '-' only in old, '+' only in new. For tests and for
// callers that want the whole picture.
std::vector<DiffLine> diff_lines(std::string_view old_text, std::string_view new_text);

// `--- old_label` / `+++ new_label` and the hunks. With `color`: headers
// bold, hunk headers dim, removed lines red, added lines green.
std::string format_unified_diff(const SchemaDiff& diff, const std::string& old_label, const std::string& new_label,
                                bool color);

// ---- verdicts ----

// A schema as captured: canonical text, its key, the pg_dump that wrote it.
struct SchemaText {
  std::string canonical;
  std::string sha256;
  std::string pg_dump_version;
};

// The snapshot mgr recorded as an environment's schema after its last change.
struct RecordedSchema {
  SchemaText schema;
  std::string recorded_at;  // ISO 8601 UTC
  std::string action;       // what recorded it: apply | rollback | baseline | repair | restore | drift-accept
  std::string environment;
};

// One environment compared with the snapshot recorded after mgr's last change.
struct DriftReport {
  enum class State {
    same,         // the schema is what mgr last recorded
    drifted,      // it differs: `diff` says how (old = snapshot, new = now)
    no_snapshot,  // nothing recorded yet: a database from before this feature, or never changed by mgr since
  };
  std::string environment;
  State state = State::no_snapshot;
  std::string current_sha256;
  std::string current_pg_dump_version;
  // The recorded snapshot, when there is one.
  std::string snapshot_sha256;
  std::string snapshot_recorded_at;  // ISO 8601 UTC
  std::string snapshot_action;       // apply | rollback | baseline | repair | restore | drift-accept
  std::string snapshot_pg_dump_version;
  SchemaDiff diff;

  bool drifted() const { return state == State::drifted; }
  // One line: "prod: no drift (schema as recorded after apply at ...)",
  // "prod: DRIFT: 3 line(s) added, 1 removed since ...", "prod: no schema snapshot yet ...".
  std::string summary() const;
  // Set when the snapshot was taken by another pg_dump major version than
  // now: some differences may come from the tool rather than the database.
  std::optional<std::string> tool_note() const;
};

std::string drift_state_name(DriftReport::State state);  // same | drift | no-snapshot

// `now` compared with the recorded snapshot (none: no_snapshot). Equal keys
// mean no drift; otherwise the diff goes from the snapshot to now.
DriftReport compare_with_snapshot(const std::string& environment, const SchemaText& now,
                                  const std::optional<RecordedSchema>& snapshot);

// What `apply` does with a report under the environment's `drift:` setting.
enum class DriftGate {
  proceed,  // no drift, the check is off, or nothing to compare with yet
  warn,     // drift, `drift: warn` or --allow-drift: print the diff and go on
  refuse,   // drift, `drift: block`: exit 3 with the diff, nothing changed
};
// No snapshot yet never refuses: that would stop every database that
// predates drift detection until someone accepts a first snapshot; the
// first successful change records one.
DriftGate drift_gate(DriftPolicy policy, const DriftReport& report, bool allow_drift);

// The applied migrations (successful rows: id and checksum) of two
// environments, compared for `mgr drift <a> <b>`.
struct MigrationComparison {
  std::vector<std::string> only_in_a;  // "0003_note" (label), in id order
  std::vector<std::string> only_in_b;
  std::vector<std::string> checksum_differs;  // recorded in both with different checksums
  bool same() const { return only_in_a.empty() && only_in_b.empty() && checksum_differs.empty(); }
};
MigrationComparison compare_applied(const std::vector<HistoryRow>& a, const std::vector<HistoryRow>& b);

}  // namespace mgr
