// The linter on arbitrary migration text, as an up file (all rules) and as a
// down file (runtime rules); the first byte picks the PostgreSQL version.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/error.hpp"
#include "mgr/lint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int pg_version = 10 + data[0] % 8;
  const std::string raw(reinterpret_cast<const char*>(data) + 1, size - 1);
  // No UTF-8 filter: callers check first, but parse_sql must itself turn
  // invalid UTF-8 into an error (fuzz/crashes/README.md).
  mgr::MigrationFile file;
  file.path = "/fuzz/migrations/0001_x.sql";
  file.sql = mgr::normalize_sql_text(raw);
  std::vector<mgr::Diagnostic> problems;
  file.directives = mgr::parse_directives(file.sql, file.path, &problems);
  for (const bool runtime_only : {false, true}) {
    try {
      mgr::LintSettings settings;
      settings.pg_version = pg_version;
      settings.runtime_only = runtime_only;
      const auto result = mgr::lint_migration(file, settings);
      (void)result.has_blocking();
      (void)result.allowed_rules();
    } catch (const mgr::Error&) {
    }
  }
  return 0;
}
