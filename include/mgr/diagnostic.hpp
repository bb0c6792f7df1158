// One kind of finding for every check that reports problems instead of
// stopping at the first (catalog, plan, lint, validate), and one renderer for
// text, JSON and SARIF. Pure core: no database, no terminal, no libpg_query.
//
// Codes are an enum; their names (`code_name`) are a contract: JSON, SARIF,
// the text in brackets and docs/ carry them and users' scripts match on them.
// Never rename one. The list is an X-macro (as LLVM's .def files) so the enum
// and the name table cannot disagree.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mgr {

// X(enumerator, "name"). Grouped by the check that reports them; docs/operations.md
// and docs/cli.md list them with their meaning.
#define MGR_DIAGNOSTIC_CODES(X)                              \
  /* the files (catalog.hpp) */                              \
  X(invalid_name, "invalid-name")                            \
  X(duplicate_id, "duplicate-id")                            \
  X(orphan_down, "orphan-down")                              \
  X(empty_file, "empty-file")                                \
  X(invalid_utf8, "invalid-utf8")                            \
  X(nul_byte, "nul-byte")                                    \
  X(unknown_directive, "unknown-directive")                  \
  X(read_error, "read-error")                                \
  X(bad_symlink, "bad-symlink")                              \
  X(not_a_file, "not-a-file")                                \
  /* the file rules apply, rollback and validate share (plan.hpp) */ \
  X(parse_error, "parse-error")                              \
  X(empty_migration, "empty-migration")                      \
  X(empty_down, "empty-down")                                \
  X(transaction_control, "transaction-control")              \
  /* one environment's history and the promotion gate (plan.hpp) */ \
  X(environment_mismatch, "environment-mismatch")            \
  X(checksum_mismatch, "checksum-mismatch")                  \
  X(missing_file, "missing-file")                            \
  X(failed_migration, "failed-migration")                    \
  X(out_of_order, "out-of-order")                            \
  X(not_in_source, "not-in-source")                          \
  X(source_failed, "source-failed")                          \
  X(source_checksum_differs, "source-checksum-differs")      \
  X(source_unreachable, "source-unreachable")                \
  X(lint, "lint") /* apply: an unallowed lint error under `lint: block` */ \
  /* rollback's own (docs/operations.md) */                  \
  X(missing_down, "missing-down")                            \
  X(down_checksum_differs, "down-checksum-differs")          \
  /* validate.hpp, across environments */                    \
  X(unreachable, "unreachable")                              \
  X(same_database, "same-database")                          \
  X(promotion_order_broken, "promotion-order-broken")        \
  X(schema_drift, "schema-drift")                            \
  X(drift_unchecked, "drift-unchecked")                      \
  X(schema_differs, "schema-differs")                        \
  X(can_apply, "can-apply")                                  \
  X(can_promote, "can-promote")                              \
  /* validate on a fleet (docs/fleets.md) */                 \
  X(fleet, "fleet")                                          \
  X(fleet_behind, "fleet-behind")                            \
  X(fleet_ahead, "fleet-ahead")                              \
  X(fleet_failed, "fleet-failed")                            \
  X(fleet_drifted, "fleet-drifted")                          \
  X(fleet_unreachable, "fleet-unreachable")

// The lint rules (lint.hpp): X(enumerator, "rule id"). The code's name is
// "lint-<rule id>" (as validate reports it); `mgr lint` and `-- mgr:allow`
// use the bare rule id.
#define MGR_LINT_RULE_CODES(X)                                             \
  X(lint_drop_table, "drop-table")                                         \
  X(lint_drop_column, "drop-column")                                       \
  X(lint_drop_schema, "drop-schema")                                       \
  X(lint_drop_database, "drop-database")                                   \
  X(lint_truncate, "truncate")                                             \
  X(lint_delete_without_where, "delete-without-where")                     \
  X(lint_update_without_where, "update-without-where")                     \
  X(lint_alter_column_type, "alter-column-type")                           \
  X(lint_drop_type, "drop-type")                                           \
  X(lint_rename_table, "rename-table")                                     \
  X(lint_rename_column, "rename-column")                                   \
  X(lint_drop_cascade, "drop-cascade")                                     \
  X(lint_system_catalog_write, "system-catalog-write")                     \
  X(lint_sequence_restart, "sequence-restart")                             \
  X(lint_create_rule, "create-rule")                                       \
  X(lint_publication_without_replica_identity, "publication-without-replica-identity") \
  X(lint_index_not_concurrent, "index-not-concurrent")                     \
  X(lint_drop_index_not_concurrent, "drop-index-not-concurrent")           \
  X(lint_add_column_not_null_no_default, "add-column-not-null-no-default") \
  X(lint_add_column_volatile_default, "add-column-volatile-default")       \
  X(lint_set_not_null, "set-not-null")                                     \
  X(lint_add_foreign_key_without_not_valid, "add-foreign-key-without-not-valid") \
  X(lint_add_check_without_not_valid, "add-check-without-not-valid")       \
  X(lint_add_unique_constraint, "add-unique-constraint")                   \
  X(lint_add_primary_key_existing_table, "add-primary-key-existing-table") \
  X(lint_vacuum_full, "vacuum-full")                                       \
  X(lint_cluster, "cluster")                                               \
  X(lint_reindex_not_concurrent, "reindex-not-concurrent")                 \
  X(lint_lock_table, "lock-table")                                         \
  X(lint_table_rewrite, "table-rewrite")                                   \
  X(lint_refresh_matview_not_concurrent, "refresh-matview-not-concurrent") \
  X(lint_backfill_under_lock, "backfill-under-lock")                       \
  X(lint_add_exclusion_constraint, "add-exclusion-constraint")             \
  X(lint_attach_partition_without_check, "attach-partition-without-check") \
  X(lint_detach_partition_not_concurrent, "detach-partition-not-concurrent") \
  X(lint_concurrently_in_transaction, "concurrently-in-transaction")       \
  X(lint_transaction_control, "transaction-control")                       \
  X(lint_enum_value_added_and_used, "enum-value-added-and-used")           \
  X(lint_prefer_timestamptz, "prefer-timestamptz")                         \
  X(lint_prefer_bigint_id, "prefer-bigint-id")                             \
  X(lint_prefer_text_over_varchar, "prefer-text-over-varchar")             \
  X(lint_missing_if_not_exists, "missing-if-not-exists")                   \
  X(lint_dynamic_sql, "dynamic-sql")                                       \
  X(lint_parse_error, "parse-error")                                       \
  X(lint_allow_without_reason, "allow-without-reason")                     \
  X(lint_allow_unknown_rule, "allow-unknown-rule")                         \
  X(lint_empty_down_migration, "empty-down-migration")                     \
  X(lint_unused_allow, "unused-allow")

enum class Code : std::uint8_t {
#define MGR_CODE_ENUMERATOR(id, name) id,
  MGR_DIAGNOSTIC_CODES(MGR_CODE_ENUMERATOR) MGR_LINT_RULE_CODES(MGR_CODE_ENUMERATOR)
#undef MGR_CODE_ENUMERATOR
};

// "checksum-mismatch", "lint-drop-column".
std::string_view code_name(Code code);
// The inverse of code_name; nullopt for an unknown name.
std::optional<Code> code_from_name(std::string_view name);
bool is_lint_rule(Code code);
// A lint rule's id ("drop-column"); for any other code its name.
std::string_view lint_rule_id(Code code);
// The lint rule with this id ("drop-column"); nullopt for anything else.
std::optional<Code> lint_rule_from_id(std::string_view id);
// Every lint rule code, in declaration order.
const std::vector<Code>& lint_rule_codes();

enum class Severity { error, warning, info };

const char* to_string(Severity severity);  // "error", "warning", "info"

// A coded finding at a place, with a message and what to do about it.
struct Diagnostic {
  Code code = Code::parse_error;
  Severity severity = Severity::error;
  std::filesystem::path file;  // empty when not about one file
  int line = 0;                // 0: the whole file
  int column = 0;              // 0: the whole line; in code points, as editors count
  std::string message;         // one line, without the location
  std::string hint;            // one line: what to do (JSON: "advice"); may be empty
  std::string environment;     // "" when not about one environment
  std::string migration;       // migration id, "" when not about one
  bool allowed = false;        // lint: allowed by `-- mgr:allow` in the file
  std::string allow_reason;

  // The lint rule's id for a lint code ("drop-column"), else the code's name.
  std::string_view rule() const { return lint_rule_id(code); }
  // "file:line:col", "file:line", "file" or "" (root: see RenderOptions).
  std::string where(const std::filesystem::path& root = {}) const;
  // where() + ": " + message, or the message when there is no file.
  std::string located(const std::filesystem::path& root = {}) const;
};

// A diagnostic of severity error with only a code, a message and a hint; set the rest as needed.
Diagnostic diagnostic(Code code, std::string message, std::string hint = {});

bool has_errors(const std::vector<Diagnostic>& diagnostics);
bool has_code(const std::vector<Diagnostic>& diagnostics, Code code);

// --- rendering -------------------------------------------------------------

struct RenderOptions {
  // Files are shown relative to this folder when under it ("" : as stored).
  std::filesystem::path root;
  // JSON "message": with the location in front (validate, apply, as
  // documented) or bare, the location being in "file"/"line"/"column" only (lint).
  bool location_in_message = true;
};

// A path as shown to people and in JSON: relative to `root` when under it,
// else absolute; as stored when `root` is empty.
std::string display_path(const std::filesystem::path& path, const std::filesystem::path& root);

// Colours the severity word ("error", "warning", "allowed") of `d`: the
// command supplies the terminal styling; the core has none.
using PaintSeverity = std::function<std::string(const Diagnostic& d, const std::string& word)>;

// `error   [code] env migration: file:line:col: message -> hint` (validate).
std::string format_listing(const Diagnostic& d, const RenderOptions& options = {});
// `file:line:col: error [rule] message`, `... allowed [rule] message (reason: r)` (lint).
std::string format_compiler(const Diagnostic& d, const RenderOptions& options = {},
                            const PaintSeverity& paint = nullptr);
// `[code] file:line:col: message` (apply/rollback refusals, one line each).
std::string format_refusal(const Diagnostic& d);
// `head` then "\n  - [code] ..." per diagnostic: the message of a Refused.
std::string refusal_text(const std::string& head, const std::vector<Diagnostic>& diagnostics);
// `head` then "\n  file:line: message" per diagnostic: a ConfigError about files.
std::string located_list(const std::string& head, const std::vector<Diagnostic>& diagnostics);

// {"code", "severity", "message", "advice", "file", "line", "column",
//  "environment", "migration"}; lint codes add "rule", "allowed", "reason".
// Absent values are null.
nlohmann::json to_json(const Diagnostic& d, const RenderOptions& options = {});
nlohmann::json to_json(const std::vector<Diagnostic>& diagnostics, const RenderOptions& options = {});
// apply's and rollback's "problems": to_json plus "migration_id" ("" when
// none), the name those documents have always used.
nlohmann::json refusal_json(const std::vector<Diagnostic>& diagnostics);

// What SARIF's tool.driver.rules lists for one rule.
struct SarifRule {
  std::string id;
  std::string summary;
  std::string help;
  Severity level = Severity::error;
};
// A SARIF 2.1.0 log with one run. ruleId is the rule's id (lint) or the
// code's name; allowed findings carry an inSource suppression.
nlohmann::json to_sarif(const std::vector<Diagnostic>& diagnostics, const std::vector<SarifRule>& rules,
                        const std::string& tool_version, const RenderOptions& options = {});

}  // namespace mgr
