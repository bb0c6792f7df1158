#include "mgr/drift.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "mgr/catalog.hpp"
#include "mgr/style.hpp"

namespace mgr {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

constexpr std::string_view k_object_comment = "-- Name: ";
constexpr std::string_view k_completion_line = "-- PostgreSQL database dump complete";
constexpr std::string_view k_dumped_by = "-- Dumped by pg_dump version";

// A session setting as pg_dump writes it before the first object. The two
// storage settings are kept: they belong to the tables that follow them.
bool is_volatile_preamble_line(std::string_view line) {
  if (starts_with(line, "-- Dumped from database version") || starts_with(line, k_dumped_by)) return true;
  if (starts_with(line, "\\restrict ") || line == "\\restrict") return true;
  if (starts_with(line, "SELECT pg_catalog.set_config(")) return true;
  if (starts_with(line, "SET ")) {
    return !starts_with(line, "SET default_tablespace ") && !starts_with(line, "SET default_table_access_method ");
  }
  return false;
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string canonical_schema(std::string_view pg_dump_output) {
  std::string out;
  out.reserve(pg_dump_output.size());
  bool in_preamble = true;
  bool in_tail = false;
  bool pending_blank = false;  // one blank line owed before the next kept line
  for (auto line : split_lines(pg_dump_output)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (in_preamble && starts_with(line, k_object_comment)) in_preamble = false;
    if (starts_with(line, k_completion_line)) in_tail = true;
    if ((in_preamble && is_volatile_preamble_line(line)) || (in_tail && starts_with(line, "\\unrestrict"))) continue;
    if (is_blank(line)) {
      pending_blank = !out.empty();
      continue;
    }
    if (pending_blank) out += '\n';
    pending_blank = false;
    out.append(line);
    out += '\n';
  }
  return out;
}

std::string pg_dump_version_of(std::string_view pg_dump_output) {
  for (auto line : split_lines(pg_dump_output)) {
    if (starts_with(line, k_object_comment)) break;  // the header is over
    if (!starts_with(line, k_dumped_by)) continue;
    line.remove_prefix(k_dumped_by.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == ':')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    return std::string(line);
  }
  return "";
}

std::string schema_sha256(const std::string& canonical) { return sha256_hex(canonical); }

// ---- Myers' diff, linear-space variant (the "middle snake" bisection of
// section 4b of Myers 1986), on lines interned as integers ----

namespace {

class LineDiff {
 public:
  LineDiff(std::vector<int> a, std::vector<int> b)
      : m_a(std::move(a)), m_b(std::move(b)), m_keep_a(m_a.size(), false), m_keep_b(m_b.size(), false) {}

  void run() { solve(0, m_a.size(), 0, m_b.size()); }
  const std::vector<bool>& keep_a() const { return m_keep_a; }
  const std::vector<bool>& keep_b() const { return m_keep_b; }

 private:
  // Beyond this many edits within one region the search stops and the region
  // counts as replaced: bounded time on unrelated texts.
  static constexpr std::ptrdiff_t k_max_edits = 10'000;

  // Marks the lines of a[a0,a1) and b[b0,b1) that belong to a longest common subsequence.
  void solve(std::size_t a0, std::size_t a1, std::size_t b0, std::size_t b1) {
    while (a0 < a1 && b0 < b1 && m_a[a0] == m_b[b0]) {
      m_keep_a[a0++] = true;
      m_keep_b[b0++] = true;
    }
    while (a0 < a1 && b0 < b1 && m_a[a1 - 1] == m_b[b1 - 1]) {
      m_keep_a[--a1] = true;
      m_keep_b[--b1] = true;
    }
    if (a0 == a1 || b0 == b1) return;  // only insertions or only deletions remain
    auto split = middle_snake(a0, a1, b0, b1);
    if (!split) return;  // too different: the whole region is replaced
    solve(a0, a0 + split->first, b0, b0 + split->second);
    solve(a0 + split->first, a1, b0 + split->second, b1);
  }

  // A point (x, y), relative to (a0, b0), on an optimal edit path, found by
  // searching forward from the start and backward from the end until the two
  // searches meet on a diagonal (the structure follows diff-match-patch's
  // diff_bisect, a well-tested rendering of Myers' middle snake).
  std::optional<std::pair<std::size_t, std::size_t>> middle_snake(std::size_t a0, std::size_t a1, std::size_t b0,
                                                                  std::size_t b1) {
    using I = std::ptrdiff_t;
    const auto n = static_cast<I>(a1 - a0);
    const auto m = static_cast<I>(b1 - b0);
    const I max_d = std::min<I>((n + m + 1) / 2, k_max_edits);
    const I v_offset = max_d;
    // + 2: room for the seed at v_offset + 1 when max_d is 1 (one line against
    // one line), which 2 * max_d alone lacks (ASan: heap-buffer-overflow).
    const I v_length = 2 * max_d + 2;
    // v_fwd[v_offset + k]: furthest x on diagonal k (x - y = k) from the start;
    // v_bwd[v_offset + k]: furthest x on diagonal k counted from the end.
    std::vector<I> v_fwd(static_cast<std::size_t>(v_length), -1), v_bwd(static_cast<std::size_t>(v_length), -1);
    auto vf = [&](I i) -> I& { return v_fwd[static_cast<std::size_t>(i)]; };
    auto vb = [&](I i) -> I& { return v_bwd[static_cast<std::size_t>(i)]; };
    vf(v_offset + 1) = 0;
    vb(v_offset + 1) = 0;
    const I delta = n - m;
    // With an odd delta the paths meet during a forward step, else during a backward one.
    const bool front = (delta % 2) != 0;
    const auto A = [&](I i) { return m_a[a0 + static_cast<std::size_t>(i)]; };
    const auto B = [&](I j) { return m_b[b0 + static_cast<std::size_t>(j)]; };
    // Diagonals that ran off the right or bottom edge are not explored again.
    I k1_start = 0, k1_end = 0, k2_start = 0, k2_end = 0;
    for (I d = 0; d < max_d; ++d) {
      for (I k1 = -d + k1_start; k1 <= d - k1_end; k1 += 2) {
        const I k1_offset = v_offset + k1;
        I x1 = (k1 == -d || (k1 != d && vf(k1_offset - 1) < vf(k1_offset + 1))) ? vf(k1_offset + 1)
                                                                               : vf(k1_offset - 1) + 1;
        I y1 = x1 - k1;
        while (x1 < n && y1 < m && A(x1) == B(y1)) ++x1, ++y1;
        vf(k1_offset) = x1;
        if (x1 > n) {
          k1_end += 2;
        } else if (y1 > m) {
          k1_start += 2;
        } else if (front) {
          const I k2_offset = v_offset + delta - k1;
          if (k2_offset >= 0 && k2_offset < v_length && vb(k2_offset) != -1 && x1 >= n - vb(k2_offset)) {
            return std::make_pair(static_cast<std::size_t>(x1), static_cast<std::size_t>(y1));
          }
        }
      }
      for (I k2 = -d + k2_start; k2 <= d - k2_end; k2 += 2) {
        const I k2_offset = v_offset + k2;
        I x2 = (k2 == -d || (k2 != d && vb(k2_offset - 1) < vb(k2_offset + 1))) ? vb(k2_offset + 1)
                                                                               : vb(k2_offset - 1) + 1;
        I y2 = x2 - k2;
        while (x2 < n && y2 < m && A(n - x2 - 1) == B(m - y2 - 1)) ++x2, ++y2;
        vb(k2_offset) = x2;
        if (x2 > n) {
          k2_end += 2;
        } else if (y2 > m) {
          k2_start += 2;
        } else if (!front) {
          const I k1_offset = v_offset + delta - k2;
          if (k1_offset >= 0 && k1_offset < v_length && vf(k1_offset) != -1) {
            const I x1 = vf(k1_offset);
            const I y1 = v_offset + x1 - k1_offset;
            if (x1 >= n - x2) return std::make_pair(static_cast<std::size_t>(x1), static_cast<std::size_t>(y1));
          }
        }
      }
    }
    return std::nullopt;
  }

  std::vector<int> m_a, m_b;
  std::vector<bool> m_keep_a, m_keep_b;
};

}  // namespace

std::vector<DiffLine> diff_lines(std::string_view old_text, std::string_view new_text) {
  auto old_lines = split_lines(old_text);
  auto new_lines = split_lines(new_text);
  std::unordered_map<std::string_view, int> ids;
  auto intern = [&](const std::vector<std::string_view>& lines) {
    std::vector<int> out;
    out.reserve(lines.size());
    for (auto l : lines) out.push_back(ids.emplace(l, static_cast<int>(ids.size())).first->second);
    return out;
  };
  LineDiff diff(intern(old_lines), intern(new_lines));
  diff.run();
  const auto& keep_a = diff.keep_a();
  const auto& keep_b = diff.keep_b();
  std::vector<DiffLine> out;
  out.reserve(old_lines.size() + new_lines.size());
  std::size_t i = 0, j = 0;
  while (i < old_lines.size() || j < new_lines.size()) {
    // Within a change, removals first, then additions, as diff -u prints them.
    if (i < old_lines.size() && !keep_a[i]) {
      out.push_back({'-', std::string(old_lines[i++])});
    } else if (j < new_lines.size() && !keep_b[j]) {
      out.push_back({'+', std::string(new_lines[j++])});
    } else {
      out.push_back({' ', std::string(old_lines[i])});
      ++i;
      ++j;
    }
  }
  return out;
}

std::string DiffHunk::header() const {
  auto range = [](std::size_t start, std::size_t count) {
    return count == 1 ? std::to_string(start) : std::to_string(start) + "," + std::to_string(count);
  };
  auto h = "@@ -" + range(old_start, old_count) + " +" + range(new_start, new_count) + " @@";
  if (!section.empty()) h += " " + section;
  return h;
}

SchemaDiff diff_texts(std::string_view old_text, std::string_view new_text, std::size_t context) {
  const auto script = diff_lines(old_text, new_text);
  SchemaDiff result;
  // Line numbers (0-based) in old and new before each script entry, and the
  // newest object comment seen in the old text so far.
  std::vector<std::size_t> old_no(script.size() + 1), new_no(script.size() + 1);
  std::vector<std::string> section(script.size() + 1);
  std::vector<std::size_t> changes;
  for (std::size_t s = 0; s < script.size(); ++s) {
    old_no[s + 1] = old_no[s] + (script[s].op != '+' ? 1 : 0);
    new_no[s + 1] = new_no[s] + (script[s].op != '-' ? 1 : 0);
    section[s + 1] = script[s].op != '+' && starts_with(script[s].text, k_object_comment) ? script[s].text : section[s];
    if (script[s].op != ' ') {
      changes.push_back(s);
      (script[s].op == '+' ? result.added : result.removed)++;
    }
  }
  std::size_t c = 0;
  while (c < changes.size()) {
    // A hunk runs from `context` lines before its first change to `context`
    // lines after its last; changes closer than 2 * context share one.
    std::size_t first = changes[c];
    std::size_t last = first;
    while (c + 1 < changes.size() && changes[c + 1] - last <= 2 * context + 1) last = changes[++c];
    ++c;
    std::size_t begin = first >= context ? first - context : 0;
    std::size_t end = std::min(script.size(), last + context + 1);
    DiffHunk h;
    h.old_count = old_no[end] - old_no[begin];
    h.new_count = new_no[end] - new_no[begin];
    h.old_start = h.old_count == 0 ? old_no[begin] : old_no[begin] + 1;
    h.new_start = h.new_count == 0 ? new_no[begin] : new_no[begin] + 1;
    h.section = section[begin];
    h.lines.assign(script.begin() + static_cast<std::ptrdiff_t>(begin), script.begin() + static_cast<std::ptrdiff_t>(end));
    result.hunks.push_back(std::move(h));
  }
  return result;
}

std::string format_unified_diff(const SchemaDiff& diff, const std::string& old_label, const std::string& new_label,
                                bool color) {
  Style style(color);
  std::string out = style.bold("--- " + old_label) + "\n" + style.bold("+++ " + new_label) + "\n";
  for (const auto& h : diff.hunks) {
    out += style.dim(h.header()) + "\n";
    for (const auto& l : h.lines) {
      std::string line = std::string(1, l.op) + l.text;
      out += (l.op == '-' ? style.red(line) : l.op == '+' ? style.green(line) : line) + "\n";
    }
  }
  return out;
}

// ---- verdicts ----

std::string drift_state_name(DriftReport::State state) {
  switch (state) {
    case DriftReport::State::same: return "same";
    case DriftReport::State::drifted: return "drift";
    case DriftReport::State::no_snapshot: return "no-snapshot";
  }
  return "no-snapshot";
}

std::string DriftReport::summary() const {
  switch (state) {
    case State::same:
      return fmt::format("{}: no drift: the schema is as mgr recorded it after {} at {}", environment, snapshot_action,
                         snapshot_recorded_at);
    case State::drifted:
      return fmt::format("{}: DRIFT: the schema differs from what mgr recorded after {} at {} ({} line(s) added, {} "
                         "removed outside mgr)",
                         environment, snapshot_action, snapshot_recorded_at, diff.added, diff.removed);
    case State::no_snapshot:
      break;
  }
  return fmt::format("{}: no schema snapshot yet (mgr has not changed this database since drift detection "
                     "exists), so drift cannot be checked; review the schema and record it with `mgr drift {} "
                     "--accept`, or compare it with `mgr drift {} --against-migrations`",
                     environment, environment, environment);
}

namespace {
// "15" of "15.18 (Debian ...)"; "" when unknown.
std::string major_of(const std::string& version) { return version.substr(0, version.find_first_of(". ")); }
}  // namespace

std::optional<std::string> DriftReport::tool_note() const {
  if (state != State::drifted || snapshot_pg_dump_version.empty() || current_pg_dump_version.empty()) return std::nullopt;
  if (major_of(snapshot_pg_dump_version) == major_of(current_pg_dump_version)) return std::nullopt;
  return fmt::format("note: the snapshot was taken with pg_dump {} and the schema now with pg_dump {}; some "
                     "differences may come from the tool's output rather than the database",
                     snapshot_pg_dump_version, current_pg_dump_version);
}

DriftReport compare_with_snapshot(const std::string& environment, const SchemaText& now,
                                  const std::optional<RecordedSchema>& snapshot) {
  DriftReport r;
  r.environment = environment;
  r.current_sha256 = now.sha256;
  r.current_pg_dump_version = now.pg_dump_version;
  if (!snapshot) {
    r.state = DriftReport::State::no_snapshot;
    return r;
  }
  r.snapshot_sha256 = snapshot->schema.sha256;
  r.snapshot_recorded_at = snapshot->recorded_at;
  r.snapshot_action = snapshot->action;
  r.snapshot_pg_dump_version = snapshot->schema.pg_dump_version;
  if (snapshot->schema.sha256 == now.sha256) {
    r.state = DriftReport::State::same;
    return r;
  }
  r.diff = diff_texts(snapshot->schema.canonical, now.canonical);
  // Equal texts under different keys cannot happen; if the stored key were
  // stale, the texts still decide.
  r.state = r.diff.empty() ? DriftReport::State::same : DriftReport::State::drifted;
  return r;
}

DriftGate drift_gate(DriftPolicy policy, const DriftReport& report, bool allow_drift) {
  if (policy == DriftPolicy::off || report.state != DriftReport::State::drifted) return DriftGate::proceed;
  if (policy == DriftPolicy::warn || allow_drift) return DriftGate::warn;
  return DriftGate::refuse;
}

MigrationComparison compare_applied(const std::vector<HistoryRow>& a, const std::vector<HistoryRow>& b) {
  // Keyed by canonical id so "0001" and "1" are one migration, as in the catalog.
  auto index = [](const std::vector<HistoryRow>& rows) {
    std::map<std::string, const HistoryRow*> out;
    for (const auto& r : rows) {
      if (r.success) out[canonical_id(r.migration_id)] = &r;
    }
    return out;
  };
  auto in_a = index(a);
  auto in_b = index(b);
  MigrationComparison cmp;
  auto label = [](const HistoryRow& r) { return r.name.empty() ? r.migration_id : r.migration_id + "_" + r.name; };
  for (const auto& [id, row] : in_a) {
    auto other = in_b.find(id);
    if (other == in_b.end()) {
      cmp.only_in_a.push_back(label(*row));
    } else if (other->second->checksum != row->checksum) {
      cmp.checksum_differs.push_back(label(*row));
    }
  }
  for (const auto& [id, row] : in_b) {
    if (in_a.count(id) == 0) cmp.only_in_b.push_back(label(*row));
  }
  auto by_id = [](std::vector<std::string>& v) {
    std::sort(v.begin(), v.end(), [](const std::string& x, const std::string& y) {
      return compare_ids(x.substr(0, x.find('_')), y.substr(0, y.find('_'))) < 0;
    });
  };
  by_id(cmp.only_in_a);
  by_id(cmp.only_in_b);
  by_id(cmp.checksum_differs);
  return cmp;
}

}  // namespace mgr
