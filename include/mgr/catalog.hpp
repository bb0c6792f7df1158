// The migration catalog on disk: ids, names, up/down pairs, checksums and
// `-- mgr:` directives. Pure file reading; no database, no SQL parsing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mgr/diagnostic.hpp"
#include "mgr/sha256.hpp"  // sha256_hex, the checksum below

namespace mgr {

// `-- mgr:allow rule-a,rule-b reason: why` in the leading comment block.
struct AllowDirective {
  std::vector<std::string> rules;
  std::string reason;  // empty when missing: the linter reports that as an error
  int line = 0;
};

struct Directives {
  bool no_transaction = false;
  std::vector<AllowDirective> allows;
};

struct MigrationFile {
  std::filesystem::path path;
  std::string sql;       // file text after BOM removal and CRLF -> LF
  std::string checksum;  // SHA-256 hex of `sql`
  Directives directives;
};

struct Migration {
  std::string id;    // digits as written in the file name, e.g. "20250101120000" or "0001"
  std::string name;  // [a-z0-9_]+
  MigrationFile up;
  std::optional<MigrationFile> down;

  std::string label() const { return id + "_" + name; }
};

struct Catalog {
  std::filesystem::path dir;
  std::vector<Migration> migrations;  // sorted by numeric id

  // By numeric id ("1" finds 0001_x.sql); binary search, migrations being sorted.
  const Migration* find(const std::string& id) const;
};

struct CatalogScan {
  Catalog catalog;  // the valid migrations found
  // Errors with the files (codes invalid-name, duplicate-id, orphan-down,
  // empty-file, invalid-utf8, nul-byte, unknown-directive, read-error,
  // bad-symlink, not-a-file), each with its file, line (0: the whole file) and
  // hint; the message names every other file involved. Sorted by file.
  std::vector<Diagnostic> problems;
};

struct MigrationFileName {
  std::string id;    // digits as written
  std::string name;  // [a-z0-9_]+
  bool down = false;
};

// `<id>_<name>.sql` or `<id>_<name>.down.sql` (id 1-20 digits, name
// [a-z0-9_]+); nullopt for any other name.
std::optional<MigrationFileName> parse_migration_file_name(const std::string& file_name);

// Orders ids numerically ("9" < "10"; "0001" == "1").
int compare_ids(const std::string& a, const std::string& b);

// The id without leading zeros: equal for ids that compare_ids finds equal,
// so it can key hash maps.
std::string canonical_id(const std::string& id);

// Reads every file; never throws for file problems (they go to `problems`),
// only for an unreadable directory (ConfigError).
CatalogScan scan_catalog(const std::filesystem::path& dir);

// scan_catalog, then ConfigError listing every problem when there is any.
Catalog load_catalog(const std::filesystem::path& dir);

// Parses directives from a file's leading comment block. Unknown directives
// are appended to `problems` (when given) with their line.
Directives parse_directives(const std::string& sql, const std::filesystem::path& path,
                            std::vector<Diagnostic>* problems);

// Checksum of file bytes: strip a leading UTF-8 BOM, CRLF -> LF, SHA-256 (OpenSSL EVP), lower hex.
std::string normalize_sql_text(std::string_view bytes);
std::string file_checksum(const std::string& raw_bytes);

bool is_valid_utf8(std::string_view bytes, std::size_t* bad_offset = nullptr);

// A whole file as bytes; Failure naming the file when it cannot be read.
std::string read_file_bytes(const std::filesystem::path& p);

// Reads `fd` into `buf` (grown as needed, never shrunk) until read() returns 0:
// a short read is not the end of the file (NFS, FUSE). The byte count, or
// nullopt with errno set on a read error.
std::optional<std::size_t> read_to_end(int fd, std::vector<char>& buf);

}  // namespace mgr
