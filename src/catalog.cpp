#include "mgr/catalog.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <fstream>
#include <map>
#include <unordered_map>
#include <memory>
#include <sstream>
#include <string_view>

#include "mgr/error.hpp"
#include "mgr/fd.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_bom = "\xEF\xBB\xBF";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'; }

using ParsedName = MigrationFileName;

// What to do about each problem with the files (docs/operations.md lists them).
std::string catalog_hint(Code code) {
  switch (code) {
    case Code::invalid_name: return "name files <digits>_<lower_snake_name>.sql and <digits>_<name>.down.sql (`mgr new` does)";
    case Code::duplicate_id: return "give one of the migrations a new, unused id (`mgr new` picks one)";
    case Code::orphan_down: return "add the matching up file, or delete the down file";
    case Code::empty_file: return "write the migration's SQL, or delete the file";
    case Code::invalid_utf8: return "save the file as UTF-8";
    case Code::nul_byte: return "remove the NUL byte (often a UTF-16 file: save it as UTF-8)";
    case Code::unknown_directive:
      return "known directives are `-- mgr:no-transaction` and `-- mgr:allow <rule> reason: <why>`";
    case Code::read_error: return "check that the file exists and is readable";
    case Code::bad_symlink: return "copy the file into the folder, or point the link at a file inside it";
    case Code::not_a_file: return "rename or remove it";
    default: return "fix the file";
  }
}

// A problem with file `path` at `line` (0: the whole file).
Diagnostic file_problem(Code code, const fs::path& path, int line, std::string message) {
  Diagnostic d;
  d.code = code;
  d.file = path;
  d.line = line;
  d.message = std::move(message);
  d.hint = catalog_hint(code);
  return d;
}

}  // namespace

std::optional<MigrationFileName> parse_migration_file_name(const std::string& file_name) {
  MigrationFileName parsed;
  std::string stem;
  if (file_name.size() > 9 && file_name.ends_with(".down.sql")) {
    parsed.down = true;
    stem = file_name.substr(0, file_name.size() - 9);
  } else if (file_name.size() > 4 && file_name.ends_with(".sql")) {
    stem = file_name.substr(0, file_name.size() - 4);
  } else {
    return std::nullopt;
  }
  std::size_t i = 0;
  while (i < stem.size() && is_digit(stem[i])) ++i;
  if (i == 0 || i > 20 || i >= stem.size() || stem[i] != '_') return std::nullopt;
  parsed.id = stem.substr(0, i);
  parsed.name = stem.substr(i + 1);
  if (parsed.name.empty() || !std::all_of(parsed.name.begin(), parsed.name.end(), is_name_char)) {
    return std::nullopt;
  }
  return parsed;
}

namespace {

bool only_whitespace(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// A view, not a copy: compare_ids runs O(N log N) times per command (sorts, sets, maps).
std::string_view strip_leading_zeros(std::string_view id) {
  auto nz = id.find_first_not_of('0');
  return nz == std::string_view::npos ? std::string_view("0") : id.substr(nz);
}

}  // namespace

namespace {

struct LoadedFile {
  std::optional<MigrationFile> file;
  std::vector<Diagnostic> problems;
};

// Reads `name` relative to the open directory `dir_fd` into `buf` (reused
// across files by the caller's thread, never shrunk, so no memset or
// allocation per file): no path walk from the root. O_NONBLOCK so that a FIFO
// swapped in after the scan cannot hang us; anything but a regular file is refused.
std::optional<std::string_view> read_at(int dir_fd, const char* name, std::vector<char>& buf) {
  Fd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    errno = EINVAL;  // reported as "not a regular file"
    return std::nullopt;
  }
  const auto got = read_to_end(fd.get(), buf);
  if (!got) return std::nullopt;
  return std::string_view(buf.data(), *got);
}

LoadedFile load_migration_file(int dir_fd, const fs::path& p, bool is_up) {
  LoadedFile out;
  thread_local std::vector<char> buffer;
  auto read = read_at(dir_fd, p.filename().c_str(), buffer);
  if (!read) {
    out.problems.push_back(file_problem(Code::read_error, p, 0, "cannot read " + p.string() + ": " + std::strerror(errno)));
    return out;
  }
  const std::string_view raw = *read;
  std::size_t bad = 0;
  if (!is_valid_utf8(raw, &bad)) {
    auto pos = line_col_at(std::string(raw), bad);
    out.problems.push_back(file_problem(Code::invalid_utf8, p, pos.line, "file is not valid UTF-8 (byte offset " + std::to_string(bad) + ")"));
    return out;
  }
  // PostgreSQL stops at a NUL (the C string ends there): the rest of the file
  // would silently not run, and the partial run be recorded as the whole.
  if (const auto nul = raw.find('\0'); nul != std::string_view::npos) {
    auto pos = line_col_at(std::string(raw), nul);
    out.problems.push_back(file_problem(Code::nul_byte, p, pos.line,
                            "file contains a NUL byte (byte offset " + std::to_string(nul) +
                                "); PostgreSQL would ignore everything after it"));
    return out;
  }
  MigrationFile f;
  f.path = p;
  f.sql = normalize_sql_text(raw);
  if (is_up && only_whitespace(f.sql)) {
    out.problems.push_back(file_problem(Code::empty_file, p, 0, "migration file is empty"));
    return out;
  }
  f.checksum = sha256_hex(f.sql);
  f.directives = parse_directives(f.sql, p, &out.problems);
  out.file = std::move(f);
  return out;
}

// Runs fn(0..n-1) on up to 4 threads; inline when n is small. Rethrows the
// first exception any call raised.
void for_each_parallel(std::size_t n, const std::function<void(std::size_t)>& fn) {
  unsigned threads = std::min(4u, std::max(1u, std::thread::hardware_concurrency()));
  if (n < 256 || threads == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

std::optional<std::size_t> read_to_end(int fd, std::vector<char>& buf) {
  if (buf.size() < 65536) buf.resize(65536);
  std::size_t got = 0;
  for (;;) {
    if (got == buf.size()) buf.resize(buf.size() * 2);
    const auto n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    // Only 0 is the end: NFS, FUSE and pipes return short reads mid-file.
    if (n == 0) return got;
    got += static_cast<std::size_t>(n);
  }
}

std::string read_file_bytes(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Failure("cannot read " + p.string() + ": " + std::strerror(errno));
  std::vector<char> buf;
  const auto got = read_to_end(fd.get(), buf);
  if (!got) throw Failure("cannot read " + p.string() + ": " + std::strerror(errno));
  return std::string(buf.data(), *got);
}

const Migration* Catalog::find(const std::string& id) const {
  auto it = std::lower_bound(migrations.begin(), migrations.end(), id,
                             [](const Migration& m, const std::string& v) { return compare_ids(m.id, v) < 0; });
  return it != migrations.end() && compare_ids(it->id, id) == 0 ? &*it : nullptr;
}

std::string canonical_id(const std::string& id) { return std::string(strip_leading_zeros(id)); }

int compare_ids(const std::string& a, const std::string& b) {
  auto na = strip_leading_zeros(a), nb = strip_leading_zeros(b);
  if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
  int c = na.compare(nb);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool is_valid_utf8(std::string_view bytes, std::size_t* bad_offset) {
  std::size_t i = 0, n = bytes.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(bytes[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else { if (bad_offset) *bad_offset = i; return false; }
    if (i + len > n) { if (bad_offset) *bad_offset = i; return false; }
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) { if (bad_offset) *bad_offset = i; return false; }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string normalize_sql_text(std::string_view bytes) {
  std::string_view in(bytes);
  if (in.starts_with(k_bom)) in.remove_prefix(3);
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') continue;
    out.push_back(in[i]);
  }
  return out;
}

std::string file_checksum(const std::string& raw_bytes) { return sha256_hex(normalize_sql_text(raw_bytes)); }

Directives parse_directives(const std::string& sql, const fs::path& path, std::vector<Diagnostic>* problems) {
  Directives d;
  int line_no = 0;
  // Directives live in the leading comment block: blank lines and `--` lines
  // before the first SQL. Later comments are just comments. (Walked by hand:
  // an istringstream per file is measurable at 10,000 files.)
  for (std::size_t start = 0; start < sql.size();) {
    auto end = sql.find('\n', start);
    if (end == std::string::npos) end = sql.size();
    std::string line = sql.substr(start, end - start);
    start = end + 1;
    ++line_no;
    auto t = trim(line);
    if (t.empty()) continue;
    if (!t.starts_with("--")) break;
    auto body = trim(t.substr(2));
    if (!body.starts_with("mgr:")) continue;
    auto rest = body.substr(4);
    auto space = rest.find_first_of(" \t");
    auto word = rest.substr(0, space);
    auto args = space == std::string::npos ? std::string() : trim(rest.substr(space));
    if (word == "no-transaction") {
      if (!args.empty() && problems) {
        problems->push_back(file_problem(Code::unknown_directive, path, line_no,
                             "-- mgr:no-transaction takes no arguments (found '" + args + "')"));
      }
      d.no_transaction = true;
    } else if (word == "allow") {
      AllowDirective allow;
      allow.line = line_no;
      auto reason_at = args.find("reason:");
      std::string rules_text = reason_at == std::string::npos ? args : args.substr(0, reason_at);
      if (reason_at != std::string::npos) allow.reason = trim(args.substr(reason_at + 7));
      std::string current;
      for (char c : rules_text + ",") {
        if (c == ',' || c == ' ' || c == '\t') {
          if (!current.empty()) allow.rules.push_back(current);
          current.clear();
        } else {
          current.push_back(c);
        }
      }
      if (allow.rules.empty() && problems) {
        problems->push_back(file_problem(Code::unknown_directive, path, line_no,
                             "-- mgr:allow needs at least one rule id: -- mgr:allow <rule>[,<rule>] reason: <text>"));
      }
      d.allows.push_back(std::move(allow));
    } else if (problems) {
      std::string hint = nearest(word, {"no-transaction", "allow"});
      problems->push_back(file_problem(Code::unknown_directive, path, line_no,
                           "unknown directive '-- mgr:" + word + "'" +
                               (hint.empty() ? std::string(" (known: no-transaction, allow)")
                                             : " (did you mean 'mgr:" + hint + "'?)")));
    }
  }
  return d;
}

namespace {

// A *.sql entry that is not a plain file, or a link that leaves the folder,
// is an error, never skipped: a link to /etc/shadow must not reach the
// server, and a directory or FIFO named like a migration is a mistake.
std::optional<Diagnostic> check_file_type(const fs::path& dir, const fs::directory_entry& de) {
  const auto& p = de.path();
  std::error_code ec;
  const auto link_status = de.symlink_status(ec);
  if (ec) return file_problem(Code::read_error, p, 0, "cannot read " + p.string() + ": " + ec.message());
  if (fs::is_symlink(link_status)) {
    const auto target = fs::canonical(p, ec);
    if (ec == std::errc::too_many_symbolic_link_levels) {
      return file_problem(Code::bad_symlink, p, 0, "symbolic link loop (" + ec.message() + ")");
    }
    if (ec) {
      return file_problem(Code::bad_symlink, p, 0,
                            "dangling symbolic link to " + fs::read_symlink(p, ec).string() + " (its target does not exist)");
    }
    const auto root = fs::canonical(dir, ec);
    if (ec) return file_problem(Code::read_error, p, 0, "cannot resolve " + dir.string() + ": " + ec.message());
    const auto rel = target.lexically_relative(root);
    if (rel.empty() || *rel.begin() == ".." || rel.is_absolute()) {
      return file_problem(Code::bad_symlink, p, 0,
                            "symbolic link leads out of the migrations folder (to " + target.string() +
                                "); only links to files inside " + root.string() + " are followed");
    }
  }
  const auto status = de.status(ec);
  if (ec) return file_problem(Code::read_error, p, 0, "cannot read " + p.string() + ": " + ec.message());
  if (fs::is_regular_file(status)) return std::nullopt;
  const std::string what = fs::is_directory(status) ? "a directory"
                           : fs::is_fifo(status)     ? "a FIFO (named pipe)"
                           : fs::is_socket(status)   ? "a socket"
                                                     : "not a regular file";
  return file_problem(Code::not_a_file, p, 0, "is " + what + ", not a migration file");
}

}  // namespace

namespace {

struct Entry {
  ParsedName parsed;
  fs::path path;
};

// The *.sql entries of `dir` (hidden files and other names skipped), sorted
// by name; entries that are not plain files inside it become problems.
std::vector<fs::path> list_sql_files(const fs::path& dir, std::vector<Diagnostic>& problems) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    const auto file_name = de.path().filename().string();
    if (file_name.starts_with(".") || !file_name.ends_with(".sql")) continue;  // README, .gitkeep, ...
    if (auto problem = check_file_type(dir, de)) {
      problems.push_back(std::move(*problem));
      continue;
    }
    files.push_back(de.path());
  }
  // By the native string: path::operator< parses components on every comparison.
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.native() < b.native(); });
  return files;
}

// duplicate-id for every up file whose id (numerically) another one has,
// naming every file involved. Returns how many up files have each id: hash
// maps of views into `ups` (not modified afterwards), no allocation per file.
std::unordered_map<std::string_view, int> count_ids(const std::vector<Entry>& ups, std::vector<Diagnostic>& problems) {
  std::unordered_map<std::string_view, int> id_count;
  id_count.reserve(ups.size());
  for (const auto& u : ups) ++id_count[strip_leading_zeros(u.parsed.id)];
  std::map<std::string_view, std::vector<fs::path>> duplicates;
  for (const auto& u : ups) {
    auto id = strip_leading_zeros(u.parsed.id);
    if (id_count[id] > 1) duplicates[id].push_back(u.path);
  }
  for (const auto& [id, paths] : duplicates) {
    std::vector<std::string> names;
    for (const auto& p : paths) names.push_back(p.filename().string());
    for (const auto& p : paths) {
      problems.push_back(file_problem(Code::duplicate_id, p, 0,
                                      "migration id " + std::string(id) + " is used by more than one file: " +
                                          join(names, ", ")));
    }
  }
  return id_count;
}

// An up file, its down file when there is one, and what reading them found.
struct Job {
  const Entry* up = nullptr;
  std::optional<fs::path> down;
  LoadedFile up_result, down_result;
};

// Pairs each up file with its down file by numeric id and name (0001_x.down.sql
// belongs to 1_x.sql); `down_used` marks the down files that found their up file.
std::vector<Job> pair_files(const std::vector<Entry>& ups, const std::vector<Entry>& downs,
                            std::vector<bool>& down_used) {
  auto pair_key = [](const ParsedName& n) { return std::string(strip_leading_zeros(n.id)) + "_" + n.name; };
  std::unordered_map<std::string, std::size_t> down_by_key;
  down_by_key.reserve(downs.size());
  for (std::size_t i = 0; i < downs.size(); ++i) down_by_key.emplace(pair_key(downs[i].parsed), i);
  down_used.assign(downs.size(), false);
  std::vector<Job> jobs(ups.size());
  for (std::size_t i = 0; i < ups.size(); ++i) {
    jobs[i].up = &ups[i];
    if (auto it = down_by_key.find(pair_key(ups[i].parsed)); it != down_by_key.end() && !down_used[it->second]) {
      jobs[i].down = downs[it->second].path;
      down_used[it->second] = true;
    }
  }
  return jobs;
}

// Reads, checks and hashes every file. That is the whole cost of a no-op
// `mgr apply` at 10,000 files, and the files are independent, so it runs on
// the machine's cores.
void load_files(const fs::path& dir, std::vector<Job>& jobs) {
  const Fd dir_handle(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_handle) throw ConfigError(dir.string() + ": cannot open migrations directory: " + std::strerror(errno));
  const int dir_fd = dir_handle.get();
  for_each_parallel(jobs.size(), [&](std::size_t i) {
    auto& job = jobs[i];
    job.up_result = load_migration_file(dir_fd, job.up->path, true);
    if (job.down) job.down_result = load_migration_file(dir_fd, *job.down, false);
  });
}

}  // namespace

CatalogScan scan_catalog(const fs::path& dir) {
  CatalogScan scan;
  scan.catalog.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw ConfigError(dir.string() + ": migrations directory does not exist (set migrations_dir in the config)");
  }

  std::vector<Entry> ups, downs;
  for (const auto& p : list_sql_files(dir, scan.problems)) {
    auto parsed = parse_migration_file_name(p.filename().string());
    if (!parsed) {
      scan.problems.push_back(file_problem(Code::invalid_name, p, 0,
                                           "file name does not match <id>_<name>.sql or <id>_<name>.down.sql "
                                           "(id: 1-20 digits; name: lower-case letters, digits, _)"));
      continue;
    }
    (parsed->down ? downs : ups).push_back({*parsed, p});
  }
  auto id_count = count_ids(ups, scan.problems);
  std::vector<bool> down_used;
  auto jobs = pair_files(ups, downs, down_used);
  load_files(dir, jobs);

  scan.catalog.migrations.reserve(jobs.size());
  for (auto& job : jobs) {
    for (auto* r : {&job.up_result, &job.down_result}) {
      scan.problems.insert(scan.problems.end(), std::make_move_iterator(r->problems.begin()),
                           std::make_move_iterator(r->problems.end()));
    }
    const auto& u = *job.up;
    if (!job.up_result.file || id_count[strip_leading_zeros(u.parsed.id)] > 1) continue;
    scan.catalog.migrations.push_back(
        Migration{u.parsed.id, u.parsed.name, std::move(*job.up_result.file), std::move(job.down_result.file)});
  }
  for (std::size_t i = 0; i < downs.size(); ++i) {
    if (down_used[i]) continue;
    scan.problems.push_back(file_problem(Code::orphan_down, downs[i].path, 0,
                                         "down file has no up file (expected " + downs[i].parsed.id + "_" +
                                             downs[i].parsed.name + ".sql beside it)"));
  }

  std::sort(scan.catalog.migrations.begin(), scan.catalog.migrations.end(),
            [](const Migration& a, const Migration& b) { return compare_ids(a.id, b.id) < 0; });
  std::stable_sort(scan.problems.begin(), scan.problems.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.file < b.file; });
  return scan;
}

Catalog load_catalog(const fs::path& dir) {
  auto scan = scan_catalog(dir);
  if (!scan.problems.empty()) {
    throw ConfigError(located_list("problems in " + dir.string() + ":", scan.problems));
  }
  return std::move(scan.catalog);
}

}  // namespace mgr
