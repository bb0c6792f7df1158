// Small text helpers with no mgr-specific knowledge.
#pragma once

#include <cstddef>
#include <string>
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

// Edit distance, for "did you mean ...?" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace mgr
