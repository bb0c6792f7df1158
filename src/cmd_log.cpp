// mgr log <env>: the audit log of one environment, newest first. Read-only;
// mgr only ever appends to the log table.
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/history.hpp"
#include "mgr/output.hpp"
#include "mgr/provenance.hpp"
#include "mgr/session.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

constexpr std::size_t k_width = 100;
constexpr std::size_t k_indent = 4;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Greedy word wrap at `width` display columns; a word longer than that (a
// path, a URL) gets a line of its own rather than being cut.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace


int run_log(const GlobalOptions& global, const LogOptions& opts) {
  using json = nlohmann::json;
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  const auto& env = config.get(opts.env);
  if (opts.limit <= 0) throw UsageError("--limit must be a positive number");

  Session session(env, "mgr " + env.name);
  HistoryStore history(session, config.history_table);
  auto entries = history.read_log(opts.limit);

  auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  if (global.json) {
    json list = json::array();
    for (const auto& e : entries) {
      list.push_back({{"at", e.at},
                      {"action", e.action},
                      {"migration", opt(e.migration_id)},
                      {"os_user", e.os_user},
                      {"db_user", e.db_user},
                      {"mgr_version", e.mgr_version},
                      {"outcome", e.outcome},
                      {"duration_ms", e.duration_ms ? json(*e.duration_ms) : json(nullptr)},
                      {"backup", opt(e.backup)},
                      {"detail", e.detail},
                      {"provenance", provenance_json(e.provenance)}});
    }
    print_json({{"environment", env.name}, {"table", history.log_table().display()}, {"entries", list}});
    return 0;
  }

  if (entries.empty()) {
    print_line(env.name + ": the audit log (" + history.log_table().display() + ") is empty");
    return 0;
  }
  // One table row per entry, then an indented line with its provenance, backup
  // and detail: the table stays narrow enough for 100 columns whatever they hold.
  Style style(global.color);
  TextTable table({"when (UTC)", "action", "migration", "outcome", "ms", "by"});
  for (const auto& e : entries) {
    std::string outcome = e.outcome == "ok" ? style.green(e.outcome) : style.red(e.outcome);
    table.add({e.at, e.action, e.migration_id.value_or("-"), outcome,
               e.duration_ms ? std::to_string(*e.duration_ms) : "-", e.db_user + " (" + e.os_user + ")"});
  }
  const auto rows = split_lines(table.render(style));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    print_line(rows[i]);
    if (i < 2 || i - 2 >= entries.size()) continue;  // header and rule
    const auto& e = entries[i - 2];
    std::vector<std::string> about{e.provenance.summary()};
    if (e.backup) about.push_back("backup " + *e.backup);
    if (!e.detail.empty()) about.push_back(e.detail);
    for (const auto& line : wrap(join(about, "; "), k_width - k_indent)) {
      print_line(std::string(k_indent, ' ') + style.dim(line));
    }
  }
  print_line(std::to_string(entries.size()) + " entr" + (entries.size() == 1 ? "y" : "ies") + ", newest first" +
             (static_cast<int>(entries.size()) == opts.limit ? " (--limit " + std::to_string(opts.limit) + " reached)" : ""));
  return 0;
}

}  // namespace mgr
