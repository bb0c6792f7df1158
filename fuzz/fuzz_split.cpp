// The SQL splitter and syntax check (libpg_query under mgr's wrappers): every
// statement it returns must be the exact bytes at its offset in the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "mgr/error.hpp"
#include "mgr/sql.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string sql(reinterpret_cast<const char*>(data), size);
  // No UTF-8 filter: the splitter and the syntax check take any bytes
  // (fuzz/crashes/README.md).
  try {
    for (const auto& s : mgr::split_statements(sql)) {
      if (s.offset > sql.size() || s.length > sql.size() - s.offset) std::abort();
      if (sql.compare(s.offset, s.length, s.text) != 0) std::abort();
      if (s.text.empty()) std::abort();
    }
  } catch (const mgr::Error&) {
  }
  if (const auto error = mgr::check_syntax(sql)) {
    if (error->offset > sql.size() || error->pos.line < 1) std::abort();
  }
  if (mgr::skip_space_and_comments(sql, 0) > sql.size()) std::abort();
  return 0;
}
