// The catalog's parsers: the first line is a file name, the rest the file's
// text (directives, UTF-8 check, normalisation, checksum, positions).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/error.hpp"
#include "mgr/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string file_name = input.substr(0, newline);
  const std::string text = newline == std::string::npos ? std::string() : input.substr(newline + 1);

  if (const auto parsed = mgr::parse_migration_file_name(file_name)) {
    // A parsed name is digits, '_', [a-z0-9_]+, and orders like itself.
    if (parsed->id.empty() || parsed->name.empty()) std::abort();
    if (mgr::compare_ids(parsed->id, mgr::canonical_id(parsed->id)) != 0) std::abort();
  }
  std::size_t bad = 0;
  if (mgr::is_valid_utf8(text, &bad) == false && bad >= text.size()) std::abort();
  const auto normalized = mgr::normalize_sql_text(text);
  if (normalized.size() > text.size()) std::abort();
  std::vector<mgr::Diagnostic> problems;
  const auto directives = mgr::parse_directives(normalized, "/fuzz/migrations/0001_x.sql", &problems);
  for (const auto& allow : directives.allows) {
    if (allow.line <= 0) std::abort();
  }
  for (const auto& p : problems) (void)p.located();
  const mgr::LineIndex index(normalized);
  for (std::size_t offset : {std::size_t{0}, normalized.size() / 2, normalized.size(), normalized.size() + 7}) {
    const auto pos = index.at(offset);
    if (pos.line < 1 || pos.col < 1) std::abort();
  }
  (void)mgr::nearest(file_name, {"no-transaction", "allow"});
  return 0;
}
