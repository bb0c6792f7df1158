// `mgr lint [PATH...]`: runs the analysis on files or on the catalog and
// renders the findings as text, JSON or SARIF 2.1.0 on stdout.
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/diagnostic.hpp"
#include "mgr/error.hpp"
#include "mgr/lint.hpp"
#include "mgr/output.hpp"

namespace mgr {

namespace {

namespace fs = std::filesystem;

struct LintedFile {
  fs::path path;
  LintResult result;
};

// Paths are shown relative to the project: the folder that holds
// migrations_dir (the current directory when there is no config). A file
// outside it is shown absolute.
fs::path g_project_root;

RenderOptions render_options() {
  std::error_code ec;
  RenderOptions options;
  options.root = g_project_root.empty() ? fs::current_path(ec) : g_project_root;
  options.location_in_message = false;  // lint's JSON has always had the location in file/line/column only
  return options;
}

fs::path project_root_of(const Config& config) {
  std::error_code ec;
  return fs::absolute(config.migrations_dir, ec).lexically_normal().parent_path();
}

bool is_down_file(const fs::path& p) {
  std::string name = p.filename().string();
  return name.size() > 9 && name.ends_with(".down.sql");
}

MigrationFile load_path(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) throw UsageError(fmt::format("{}: no such file", p.string()));
  std::string raw = read_file_bytes(p);
  std::size_t bad = 0;
  if (!is_valid_utf8(raw, &bad)) {
    throw ConfigError(fmt::format("{}:{}:{}: invalid UTF-8", p.string(), line_col_at(raw, bad).line,
                                  line_col_at(raw, bad).col));
  }
  MigrationFile f;
  f.path = p;
  f.sql = normalize_sql_text(raw);
  f.checksum = sha256_hex(f.sql);
  std::vector<Diagnostic> problems;
  f.directives = parse_directives(f.sql, p, &problems);
  if (!problems.empty()) {
    std::vector<std::string> lines;
    for (const auto& pr : problems) lines.push_back(pr.located());
    throw ConfigError(join(lines, "\n"));
  }
  return f;
}

// With PATHs the config is optional: only lint_pg_version and the project
// root come from it.
int pg_version_for_paths(const GlobalOptions& global) {
  auto env = process_env_lookup();
  auto path = resolve_config_path(global.config_path, env);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (global.config_path) throw UsageError(fmt::format("{}: config file not found", path.string()));
    return LintSettings{}.pg_version;
  }
  try {
    Config config = load_config(path, env);
    g_project_root = project_root_of(config);
    return config.lint_pg_version;
  } catch (const ConfigError& e) {
    spdlog::warn("ignoring the config for lint_pg_version: {}", e.what());
    return LintSettings{}.pg_version;
  }
}

// `x.down.sql` -> `x.sql` beside it, when it exists: a down file is linted
// knowing what its up file created.
std::optional<fs::path> up_file_of(const fs::path& down) {
  std::string name = down.filename().string();
  fs::path up = down.parent_path() / (name.substr(0, name.size() - 9) + ".sql");
  std::error_code ec;
  if (fs::is_regular_file(up, ec)) return up;
  return std::nullopt;
}

std::vector<LintedFile> lint_all(const GlobalOptions& global, const LintOptions& options) {
  std::vector<LintedFile> out;
  if (!options.paths.empty()) {
    LintSettings settings;
    settings.pg_version = pg_version_for_paths(global);
    std::vector<MigrationFile> files;
    std::vector<std::optional<MigrationFile>> ups;
    for (const auto& p : options.paths) {  // all usage errors before output
      files.push_back(load_path(p));
      auto up = is_down_file(p) ? up_file_of(p) : std::nullopt;
      ups.push_back(up ? std::optional<MigrationFile>(load_path(*up)) : std::nullopt);
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      LintSettings s = settings;
      s.rollback_of = ups[i] ? &*ups[i] : nullptr;
      s.runtime_only = is_down_file(files[i].path) && !ups[i];
      out.push_back({files[i].path, lint_migration(files[i], s)});
    }
    return out;
  }
  auto env = process_env_lookup();
  Config config = load_config(resolve_config_path(global.config_path, env), env);
  g_project_root = project_root_of(config);
  Catalog catalog = load_catalog(config.migrations_dir);
  LintSettings up;
  up.pg_version = config.lint_pg_version;
  for (const auto& m : catalog.migrations) {
    out.push_back({m.up.path, lint_migration(m.up, up)});
    if (m.down) {
      LintSettings down = up;
      down.rollback_of = &m.up;  // a rollback runs against prod too
      out.push_back({m.down->path, lint_migration(*m.down, down)});
    }
  }
  return out;
}

struct Counts {
  int errors = 0;
  int warnings = 0;
  int allowed = 0;
};

Counts count(const std::vector<LintedFile>& files) {
  Counts c;
  for (const auto& f : files) {
    for (const auto& x : f.result.findings) {
      if (x.allowed) ++c.allowed;
      else if (x.severity == Severity::error) ++c.errors;
      else ++c.warnings;
    }
  }
  return c;
}

std::string plural(int n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

void render_text(const std::vector<LintedFile>& files, const LintOptions& options, const Style& style) {
  const auto render = render_options();
  auto paint = [&style](const Diagnostic& d, const std::string& word) {
    return d.allowed ? style.dim(word) : d.severity == Severity::error ? style.red(word) : style.yellow(word);
  };
  for (const auto& f : files) {
    for (const auto& x : f.result.findings) {
      print_line(format_compiler(x, render, paint));
      if (options.explain && !x.hint.empty()) print_line("    safer: " + x.hint);
    }
  }
  Counts c = count(files);
  print_line(fmt::format("{} checked: {}, {}, {} allowed", plural(static_cast<int>(files.size()), "file"),
                         plural(c.errors, "error"), plural(c.warnings, "warning"), c.allowed));
}

std::vector<Diagnostic> all_findings(const std::vector<LintedFile>& files) {
  std::vector<Diagnostic> out;
  for (const auto& f : files) out.insert(out.end(), f.result.findings.begin(), f.result.findings.end());
  return out;
}

nlohmann::json render_json(const std::vector<LintedFile>& files, bool ok) {
  return {{"ok", ok}, {"findings", to_json(all_findings(files), render_options())}, {"files", files.size()}};
}

nlohmann::json render_sarif(const std::vector<LintedFile>& files) {
  std::vector<SarifRule> rules;
  for (const auto& r : lint_rules()) rules.push_back({r.id(), r.summary, r.advice, r.severity});
  return to_sarif(all_findings(files), rules, MGR_VERSION, render_options());
}

}  // namespace

int run_lint(const GlobalOptions& global, const LintOptions& options) {
  auto files = lint_all(global, options);
  bool ok = std::none_of(files.begin(), files.end(), [](const LintedFile& f) { return f.result.has_blocking(); });
  LintFormat format = options.format;
  if (global.json && format == LintFormat::text) format = LintFormat::json;
  switch (format) {
    case LintFormat::json:
      print_json(render_json(files, ok));
      break;
    case LintFormat::sarif:
      print_json(render_sarif(files));
      break;
    case LintFormat::text:
      render_text(files, options, Style(global.color));
      break;
  }
  return static_cast<int>(ok ? ExitCode::ok : ExitCode::refused);
}

}  // namespace mgr
