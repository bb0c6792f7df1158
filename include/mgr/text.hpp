// Small text helpers with no mgr-specific knowledge.
#pragma once

#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mgr {

struct LineCol {
  int line = 1;  // 1-based
  int col = 1;   // 1-based, in characters (UTF-8 code points), as editors count
};

// Position of a byte offset in text. Offsets past the end map to the end.
LineCol line_col_at(const std::string& text, std::size_t byte_offset);

// Maps many offsets into the same text without rescanning it each time.
class LineIndex {
 public:
  explicit LineIndex(const std::string& text);
  LineCol at(std::size_t byte_offset) const;

 private:
  const std::string* m_text;
  std::vector<std::size_t> m_line_starts;
};

// Byte offset of the 1-based character (UTF-8 code point) position `pos`,
// as PostgreSQL and libpg_query report error positions; 0 for pos <= 1, the
// end of the text for positions past it.
std::size_t byte_offset_of_char(std::string_view text, std::size_t pos);

// The whole of `text` as an integer in `base` (std::from_chars: no sign for
// unsigned types, no spaces); nullopt for anything else, overflow included.
template <class Int>
std::optional<Int> parse_integer(std::string_view text, int base = 10) {
  Int value{};
  const auto* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc{} || stop != end) return std::nullopt;
  return value;
}

// Edit distance, for "did you mean ...?" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// `text` on one line: runs of whitespace and line breaks become one space
// (libpq's messages span lines: "...\n\tIs the server running...").
std::string one_line(const std::string& text);

std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace mgr
