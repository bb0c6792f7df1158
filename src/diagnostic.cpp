#include "mgr/diagnostic.hpp"
#include "mgr/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace mgr {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct CodeEntry {
  Code code;
  std::string_view name;
};

constexpr std::array k_codes = {
#define MGR_CODE_ENTRY(id, name) CodeEntry{Code::id, name},
#define MGR_LINT_CODE_ENTRY(id, rule) CodeEntry{Code::id, "lint-" rule},
    MGR_DIAGNOSTIC_CODES(MGR_CODE_ENTRY) MGR_LINT_RULE_CODES(MGR_LINT_CODE_ENTRY)
#undef MGR_CODE_ENTRY
#undef MGR_LINT_CODE_ENTRY
};

constexpr std::size_t k_lint_prefix = 5;  // "lint-"
constexpr Code k_first_lint_rule = Code::lint_drop_table;

// The table is indexed by the enum: declaration order is the table's order.
constexpr bool table_matches_enum() {
  for (std::size_t i = 0; i < k_codes.size(); ++i) {
    if (static_cast<std::size_t>(k_codes[i].code) != i) return false;
  }
  return true;
}
static_assert(table_matches_enum());

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

// SARIF wants a URI reference: relative paths with `/`, reserved bytes escaped.
std::string uri_of(const std::string& display) {
  std::string out;
  for (unsigned char c : display) {
    if (std::isalnum(c) != 0 || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

const char* sarif_level(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "note";
  }
  return "error";
}

}  // namespace

std::string_view code_name(Code code) { return k_codes[static_cast<std::size_t>(code)].name; }

std::optional<Code> code_from_name(std::string_view name) {
  for (const auto& e : k_codes) {
    if (e.name == name) return e.code;
  }
  return std::nullopt;
}

bool is_lint_rule(Code code) { return code >= k_first_lint_rule; }

std::string_view lint_rule_id(Code code) {
  auto name = code_name(code);
  return is_lint_rule(code) ? name.substr(k_lint_prefix) : name;
}

std::optional<Code> lint_rule_from_id(std::string_view id) {
  for (auto code : lint_rule_codes()) {
    if (lint_rule_id(code) == id) return code;
  }
  return std::nullopt;
}

const std::vector<Code>& lint_rule_codes() {
  static const std::vector<Code> k_lint = [] {
    std::vector<Code> out;
    for (const auto& e : k_codes) {
      if (is_lint_rule(e.code)) out.push_back(e.code);
    }
    return out;
  }();
  return k_lint;
}

const char* to_string(Severity severity) {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "info";
  }
  return "error";
}

std::string display_path(const fs::path& path, const fs::path& root) {
  if (root.empty()) return path.string();
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (ec) return path.generic_string();
  auto rel = abs.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return abs.generic_string();
  return rel.generic_string();
}

std::string Diagnostic::where(const fs::path& root) const {
  if (file.empty()) return "";
  std::string out = display_path(file, root);
  if (line > 0) out += ":" + std::to_string(line);
  if (line > 0 && column > 0) out += ":" + std::to_string(column);
  return out;
}

std::string Diagnostic::located(const fs::path& root) const {
  return file.empty() ? message : where(root) + ": " + message;
}

Diagnostic diagnostic(Code code, std::string message, std::string hint) {
  Diagnostic d;
  d.code = code;
  d.message = std::move(message);
  d.hint = std::move(hint);
  return d;
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error && !d.allowed; });
}

bool has_code(const std::vector<Diagnostic>& diagnostics, Code code) {
  return std::any_of(diagnostics.begin(), diagnostics.end(), [code](const Diagnostic& d) { return d.code == code; });
}

std::string format_listing(const Diagnostic& d, const RenderOptions& options) {
  std::string sev = to_string(d.severity);
  sev.resize(7, ' ');
  std::string out = sev + " [" + std::string(code_name(d.code)) + "]";
  if (!d.environment.empty()) out += " " + d.environment;
  if (!d.migration.empty()) out += " " + d.migration;
  out += ": " + one_line(d.located(options.root));
  if (!d.hint.empty()) out += " -> " + one_line(d.hint);
  return out;
}

std::string format_compiler(const Diagnostic& d, const RenderOptions& options, const PaintSeverity& paint) {
  std::string word = d.allowed ? "allowed" : to_string(d.severity);
  if (paint) word = paint(d, word);
  std::string head = d.file.empty() ? word : d.where(options.root) + ": " + word;
  std::string out = fmt::format("{} [{}] {}", head, d.rule(), d.message);
  if (d.allowed) out += " (reason: " + d.allow_reason + ")";
  return out;
}

std::string format_refusal(const Diagnostic& d) { return "[" + std::string(code_name(d.code)) + "] " + d.located(); }

std::string refusal_text(const std::string& head, const std::vector<Diagnostic>& diagnostics) {
  std::string out = head;
  for (const auto& d : diagnostics) out += "\n  - " + format_refusal(d);
  return out;
}

std::string located_list(const std::string& head, const std::vector<Diagnostic>& diagnostics) {
  std::string out = head;
  for (const auto& d : diagnostics) out += "\n  " + d.located();
  return out;
}

json to_json(const Diagnostic& d, const RenderOptions& options) {
  const bool located = !d.file.empty();
  json j{{"code", code_name(d.code)},
         {"severity", to_string(d.severity)},
         {"message", options.location_in_message ? d.located(options.root) : d.message},
         {"advice", d.hint},
         {"file", located ? json(display_path(d.file, options.root)) : json(nullptr)},
         {"line", located && d.line > 0 ? json(d.line) : json(nullptr)},
         {"column", located && d.line > 0 && d.column > 0 ? json(d.column) : json(nullptr)},
         {"environment", or_null(d.environment)},
         {"migration", or_null(d.migration)}};
  if (is_lint_rule(d.code)) {
    j["rule"] = d.rule();
    j["allowed"] = d.allowed;
    j["reason"] = d.allowed ? json(d.allow_reason) : json(nullptr);
  }
  return j;
}

json to_json(const std::vector<Diagnostic>& diagnostics, const RenderOptions& options) {
  json list = json::array();
  for (const auto& d : diagnostics) list.push_back(to_json(d, options));
  return list;
}

json refusal_json(const std::vector<Diagnostic>& diagnostics) {
  json list = json::array();
  for (const auto& d : diagnostics) {
    auto j = to_json(d);
    j["migration_id"] = d.migration;
    list.push_back(std::move(j));
  }
  return list;
}

json to_sarif(const std::vector<Diagnostic>& diagnostics, const std::vector<SarifRule>& rules,
              const std::string& tool_version, const RenderOptions& options) {
  json rule_list = json::array();
  std::map<std::string, int, std::less<>> rule_index;
  for (const auto& r : rules) {
    rule_index[r.id] = static_cast<int>(rule_list.size());
    rule_list.push_back({{"id", r.id},
                         {"shortDescription", {{"text", r.summary}}},
                         {"help", {{"text", r.help}}},
                         {"defaultConfiguration", {{"level", sarif_level(r.level)}}}});
  }
  json results = json::array();
  for (const auto& d : diagnostics) {
    json region = json::object();
    if (d.line > 0) region["startLine"] = d.line;
    if (d.line > 0 && d.column > 0) region["startColumn"] = d.column;
    json result = {{"ruleId", d.rule()},
                   {"level", sarif_level(d.severity)},
                   {"message", {{"text", d.hint.empty() ? d.message : d.message + ". Safer: " + d.hint}}}};
    if (!d.file.empty()) {
      json physical = {{"artifactLocation", {{"uri", uri_of(display_path(d.file, options.root))}}},
                       {"region", region}};
      json location = {{"physicalLocation", physical}};
      result["locations"] = json::array({location});
    }
    if (auto it = rule_index.find(d.rule()); it != rule_index.end()) result["ruleIndex"] = it->second;
    if (d.allowed) result["suppressions"] = {{{"kind", "inSource"}, {"justification", d.allow_reason}}};
    results.push_back(std::move(result));
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs", {{{"tool", {{"driver", {{"name", "mgr"}, {"version", tool_version}, {"rules", rule_list}}}}},
                     {"results", results}}}}};
}

}  // namespace mgr
