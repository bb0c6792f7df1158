#include "mgr/text.hpp"

#include <algorithm>

namespace mgr {

namespace {
bool is_continuation_byte(unsigned char c) { return (c & 0xC0) == 0x80; }
}  // namespace

LineIndex::LineIndex(const std::string& text) : m_text(&text) {
  m_line_starts.push_back(0);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') m_line_starts.push_back(i + 1);
  }
}

LineCol LineIndex::at(std::size_t byte_offset) const {
  byte_offset = std::min(byte_offset, m_text->size());
  auto it = std::upper_bound(m_line_starts.begin(), m_line_starts.end(), byte_offset);
  auto line_index = static_cast<std::size_t>(std::distance(m_line_starts.begin(), it)) - 1;
  std::size_t start = m_line_starts[line_index];
  int col = 1;
  for (std::size_t i = start; i < byte_offset; ++i) {
    if (!is_continuation_byte(static_cast<unsigned char>((*m_text)[i]))) ++col;
  }
  return LineCol{static_cast<int>(line_index) + 1, col};
}

std::size_t byte_offset_of_char(std::string_view text, std::size_t pos) {
  if (pos <= 1) return 0;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_continuation_byte(static_cast<unsigned char>(text[i]))) continue;
    if (++chars == pos) return i;
  }
  return text.size();
}

LineCol line_col_at(const std::string& text, std::size_t byte_offset) {
  return LineIndex(text).at(byte_offset);
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // A suggestion helps only when it is plausibly a typo of the word.
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::string one_line(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace mgr
