#include "mgr/backup.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mgr/error.hpp"
#include "mgr/fd.hpp"
#include "mgr/sha256.hpp"
#include "mgr/text.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/process.hpp"
#include "mgr/server_identity.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mgr {

namespace {

constexpr const char* k_completion_line = "-- PostgreSQL database dump complete";
constexpr int k_manifest_version = 1;

// Files that are deleted on scope exit unless commit() was called: a failed
// backup never leaves a partial dump or manifest behind.
class PartialFiles {
 public:
  PartialFiles() = default;
  ~PartialFiles() {
    if (m_committed) return;
    for (const auto& p : m_paths) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  }
  PartialFiles(const PartialFiles&) = delete;
  PartialFiles& operator=(const PartialFiles&) = delete;
  void add(const fs::path& p) { m_paths.push_back(p); }
  void commit() { m_committed = true; }

 private:
  std::vector<fs::path> m_paths;
  bool m_committed = false;
};

std::string errno_text() { return std::strerror(errno); }

// Creates `path` with mode 0600 whatever the umask; fails if it exists.
// Returns an empty Fd (errno EEXIST) when the name is taken.
Fd create_private_file_fd(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno == EEXIST) return fd;
    throw Failure(fmt::format("cannot create backup file {}: {}", path.string(), errno_text()));
  }
  if (::fchmod(fd.get(), 0600) != 0) {
    throw Failure(fmt::format("cannot set mode 0600 on {}: {}", path.string(), errno_text()));
  }
  return fd;
}

bool create_private_file(const fs::path& path) { return static_cast<bool>(create_private_file_fd(path)); }

void write_private_file(const fs::path& path, const std::string& content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw Failure(fmt::format("cannot write {}: {}", path.string(), errno_text()));
  if (::fchmod(fd.get(), 0600) != 0) {
    throw Failure(fmt::format("cannot set mode 0600 on {}: {}", path.string(), errno_text()));
  }
  if (!write_all(fd.get(), content)) throw Failure(fmt::format("cannot write {}: {}", path.string(), errno_text()));
  if (::fsync(fd.get()) != 0 || fd.close() != 0) {
    throw Failure(fmt::format("cannot write {}: {}", path.string(), errno_text()));
  }
}

// Makes `dir` and every missing parent with mode 0700 whatever the umask
// (backups hold the whole database), and forces 0700 on `dir` itself.
// Existing parents are left as they are: they are the user's.
void ensure_private_dir(const fs::path& dir) {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (auto p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      throw Failure(fmt::format("cannot create backup directory {}: {}", it->string(), errno_text()));
    }
    ::chmod(it->c_str(), 0700);  // ours, just made: the umask may have taken bits away
  }
  if (!fs::is_directory(dir, ec)) {
    throw Failure(fmt::format("cannot use backup directory {}: it is not a directory", dir.string()));
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    throw Failure(fmt::format("cannot set mode 0700 on {}: {}", dir.string(), errno_text()));
  }
}

struct Timestamps {
  std::string for_file;  // 2025-01-31T12-00-00Z
  std::string iso;       // 2025-01-31T12:00:00.123Z
};

Timestamps now_utc() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  // fmt::gmtime, not the time_point itself: fmt 9 formats time_points in local time.
  const auto tm = fmt::gmtime(std::chrono::system_clock::to_time_t(now));
  return {fmt::format("{:%Y-%m-%dT%H-%M-%SZ}", tm), fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", tm, ms)};
}

// Picks a free name: <env>-<ts>.dump, else <env>-<ts>-2.dump, ... and
// creates it (0600). Never overwrites a file or an orphaned manifest. The
// file stays locked (flock) through `lock` until the backup is complete, so
// that another mgr can tell a dump in progress from one a killed run left.
fs::path create_backup_file(const fs::path& dir, const std::string& env, const std::string& stamp,
                            const std::string& ext, Fd& lock) {
  for (int n = 1; n < 1000; ++n) {
    std::string name = n == 1 ? fmt::format("{}-{}{}", env, stamp, ext) : fmt::format("{}-{}-{}{}", env, stamp, n, ext);
    fs::path path = dir / name;
    std::error_code ec;
    if (fs::exists(manifest_path_for(path), ec)) continue;
    Fd fd = create_private_file_fd(path);
    if (!fd) continue;
    ::flock(fd.get(), LOCK_EX);
    lock = std::move(fd);
    return path;
  }
  throw Failure(fmt::format("cannot find a free backup file name in {}", dir.string()));
}

// pg_bin_dir of the environment, then of the config (the rest of the search
// order lives in find_pg_program).
std::vector<fs::path> bin_dirs(const Config& config, const Environment& env) {
  std::vector<fs::path> dirs;
  if (env.pg_bin_dir) dirs.push_back(*env.pg_bin_dir);
  if (config.pg_bin_dir) dirs.push_back(*config.pg_bin_dir);
  return dirs;
}

// A companion tool (pg_restore, psql) from the same directory as pg_dump
// when it is there, so the versions match.
fs::path find_companion(const std::string& name, const fs::path& beside, const Config& config,
                        const Environment& env) {
  std::vector<fs::path> dirs;
  if (!beside.empty()) dirs.push_back(beside.parent_path());
  for (auto& d : bin_dirs(config, env)) dirs.push_back(d);
  // Quiet search: the companion directory is a guess, not a configuration.
  for (const auto& d : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(d / name, ec) && ::access((d / name).c_str(), X_OK) == 0) return d / name;
  }
  return find_pg_program(name, {});
}

// PGPASSWORD for the child: the only way the password leaves mgr.
std::map<std::string, std::string> child_env(const Environment& env) {
  std::map<std::string, std::string> extra;
  if (env.url.password() && !env.url.password()->empty()) extra["PGPASSWORD"] = *env.url.password();
  return extra;
}

// Who the child is in pg_stat_activity: unique per mgr process, so that mgr
// can find and stop the child's backend after a signal.
std::string child_application_name(const Environment& env, const std::string& purpose) {
  return fmt::format("mgr {} {} {}", env.name, purpose, ::getpid());
}

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string tool_failure(const std::string& tool, const ProcessResult& r, const DbUrl& url) {
  std::string err = redact_secrets(r.err, url);
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  return fmt::format("{} {}{}{}", tool, r.describe(), err.empty() ? "" : ":\n", err);
}

bool ends_with_completion_line(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  auto start = std::max<std::streamoff>(0, size - 8192);
  in.seekg(start);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto pos = tail.rfind(k_completion_line);
  if (pos == std::string::npos) return false;
  // After it pg_dump writes "--", blank lines and (15.14+) "\unrestrict <key>".
  std::istringstream rest(tail.substr(pos + std::strlen(k_completion_line)));
  std::string line;
  std::getline(rest, line);  // the rest of the completion line itself
  if (!line.empty() && line != "\r") return false;
  while (std::getline(rest, line)) {
    if (line.empty() || line == "--" || line.rfind("\\unrestrict ", 0) == 0) continue;
    return false;
  }
  return true;
}

// Offsets of every occurrence of `needle` in the file, read in 1 MiB blocks
// (a match may straddle two).
std::vector<std::uintmax_t> find_all_in_file(const fs::path& path, std::string_view needle) {
  std::vector<std::uintmax_t> found;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure(fmt::format("cannot read {}", path.string()));
  std::string carry;
  std::uintmax_t carry_offset = 0;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    std::string block = carry;
    block.append(buf.data(), n);
    for (auto at = block.find(needle); at != std::string::npos; at = block.find(needle, at + 1)) {
      found.push_back(carry_offset + at);
    }
    const auto keep = std::min(block.size(), needle.size() - 1);
    carry_offset += block.size() - keep;
    carry = block.substr(block.size() - keep);
  }
  return found;
}

// The first `n` bytes of a file ("" when unreadable).
std::string read_head(const fs::path& path, std::size_t n = 4096) {
  std::ifstream in(path, std::ios::binary);
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head;
}

// Verifies the dump; returns the start of its header (plain: the file; custom:
// pg_restore --list's output), which names the pg_dump version that wrote it.
std::string verify_dump(const fs::path& file, BackupFormat format, const fs::path& pg_dump, const Config& config,
                        const Environment& env) {
  if (format == BackupFormat::plain) {
    if (!ends_with_completion_line(file)) {
      throw Failure(fmt::format("backup verification failed: {} does not end with pg_dump's completion line "
                                "('{}'); the dump is incomplete",
                                file.string(), k_completion_line));
    }
    return read_head(file);
  }
  // The listing can be megabytes: it goes to a file beside the dump, and only
  // its head is read.
  auto listing = file;
  listing += ".list.tmp";
  struct Remover {
    fs::path path;
    ~Remover() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } remove_listing{listing};
  ProcessSpec spec;
  spec.program = find_companion("pg_restore", pg_dump, config, env);
  spec.args = {"--list", file.string()};
  spec.stdout_file = listing;
  spec.timeout = env.backup_timeout;
  auto r = run_process(spec);
  if (r.interrupted) return {};  // the caller reports the signal
  if (!r.ok()) {
    throw Failure(fmt::format("backup verification failed: {}", tool_failure("pg_restore --list", r, env.url)));
  }
  return read_head(listing);
}

// The progress line of a backup or restore: on stderr, only when stderr is a
// terminal and not --quiet (which leaves only errors, so warnings are the
// test); redrawn at most four times a second, erased when the work ends.
class ProgressLine {
 public:
  explicit ProgressLine(std::string what)
      : m_what(std::move(what)),
        m_enabled(::isatty(STDERR_FILENO) == 1 && spdlog::should_log(spdlog::level::warn)),
        m_start(std::chrono::steady_clock::now()) {}
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void show(std::uintmax_t bytes, std::optional<std::uintmax_t> total, const std::string& verb) {
    if (!m_enabled) return;
    const auto now = std::chrono::steady_clock::now();
    if (m_drawn && now - m_last < std::chrono::milliseconds(250)) return;
    m_last = now;
    m_drawn = true;
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - m_start);
    put("\r" + transfer_progress(m_what, verb, bytes, total, elapsed) + "\x1b[K");
  }
  void clear() {
    if (m_drawn) put("\r\x1b[K");
    m_drawn = false;
  }

 private:
  static void put(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }
  std::string m_what;
  bool m_enabled;
  bool m_drawn = false;
  std::chrono::steady_clock::time_point m_start;
  std::chrono::steady_clock::time_point m_last;
};

// pg_dump's output on its way into the backup file: written, hashed and
// counted as it arrives, so the file is never read back for its hash.
class DumpWriter {
 public:
  DumpWriter(int fd, fs::path file, ProgressLine& progress)
      : m_fd(fd), m_file(std::move(file)), m_progress(progress) {}
  void write(std::string_view block) {
    if (!write_all(m_fd, block)) {
      throw Failure(fmt::format("cannot write backup file {}: {}", m_file.string(), errno_text()));
    }
    m_sha.update(block);
    m_bytes += block.size();
    m_progress.show(m_bytes, std::nullopt, "dumped");
  }
  std::uintmax_t bytes() const { return m_bytes; }
  std::string sha256() { return m_sha.hex_digest(); }

 private:
  int m_fd;
  fs::path m_file;
  ProgressLine& m_progress;
  Sha256 m_sha;
  std::uintmax_t m_bytes = 0;
};

// How far process `pid` has read `file`: the offset of its open descriptor
// for it (Linux /proc/<pid>/fdinfo); nullopt when it has none open or /proc
// says nothing. Polled for the restore's progress, so psql keeps reading
// the script file itself.
std::optional<std::uintmax_t> read_offset(int pid, const fs::path& file) {
  struct stat target {};
  if (::stat(file.c_str(), &target) != 0) return std::nullopt;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  std::error_code ec;
  for (auto it = fs::directory_iterator(proc / "fd", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0 || st.st_dev != target.st_dev || st.st_ino != target.st_ino) continue;
    std::ifstream info(proc / "fdinfo" / it->path().filename());
    std::string key, value;
    while (info >> key >> value) {
      if (key == "pos:") return parse_integer<std::uintmax_t>(value);
    }
  }
  return std::nullopt;
}

bool is_restrict_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

// Debian keeps each major version's tools in /usr/lib/postgresql/<major>/bin,
// so the directory tells the major version without running the binary: one
// child process fewer on every backup.
std::optional<int> debian_layout_major(const fs::path& program) {
  std::error_code ec;
  auto real = fs::canonical(program, ec);
  if (ec || real.parent_path().filename() != "bin") return std::nullopt;
  auto version_dir = real.parent_path().parent_path();
  if (version_dir.parent_path() != fs::path("/usr/lib/postgresql")) return std::nullopt;
  auto name = version_dir.filename().string();
  const auto major = parse_integer<int>(name);
  return major && *major >= 10 ? major : std::nullopt;
}

// "15.18 (Debian 15.18-0+deb12u1)" from "Dumped by pg_dump version: 15.18 ..." (custom
// listing) or "-- Dumped by pg_dump version 15.18 ..." (plain dump).
std::optional<std::string> dumped_by_version(const std::string& header) {
  static const std::string k_marker = "Dumped by pg_dump version";
  auto at = header.find(k_marker);
  if (at == std::string::npos) return std::nullopt;
  auto start = header.find_first_not_of(": \t", at + k_marker.size());
  if (start == std::string::npos) return std::nullopt;
  auto end = header.find_first_of("\r\n", start);
  auto text = header.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (text.empty()) return std::nullopt;
  return text;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec1, ec2;
  auto ca = fs::weakly_canonical(a, ec1);
  auto cb = fs::weakly_canonical(b, ec2);
  if (ec1 || ec2) return a == b;
  return ca == cb;
}

// Manifests in `dir` that belong to `env_name`, oldest first.
std::vector<BackupCheck> scan_dir(const fs::path& dir, const std::string& env_name, bool hash) {
  std::vector<BackupCheck> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() != ".json") continue;
    auto file = p.parent_path() / p.stem();  // strip .json
    if (file.extension() != ".dump" && file.extension() != ".sql") continue;
    BackupCheck c;
    if (hash) {
      c = check_backup(file);
    } else {
      c.file = file;
      c.manifest_path = p;
      try {
        c.manifest = read_manifest(p);
      } catch (const Error& e) {
        c.problem = e.what();
      }
      c.file_exists = fs::exists(file, ec);
    }
    // A manifest naming another environment is not this one's backup.
    if (c.manifest && c.manifest->environment != env_name) continue;
    found.push_back(std::move(c));
  }
  std::sort(found.begin(), found.end(), [](const BackupCheck& a, const BackupCheck& b) {
    std::string ka = a.manifest ? a.manifest->created_at : "";
    std::string kb = b.manifest ? b.manifest->created_at : "";
    if (ka != kb) return ka < kb;
    return a.file < b.file;
  });
  return found;
}

constexpr const char* k_restore_dir_prefix = ".mgr-restore-";
// Holds the audit table during a restore's transaction; the wipe skips it.
constexpr const char* k_carry_schema = "_mgr_restore_audit";

// <env>-YYYY-MM-DDTHH-MM-SSZ[-N].dump|.sql: a name mgr gives its backups.
bool is_mgr_backup_name(const std::string& name, const std::string& env) {
  std::string_view n(name);
  std::string_view ext = n.size() > 5 && n.substr(n.size() - 5) == ".dump" ? ".dump"
                         : n.size() > 4 && n.substr(n.size() - 4) == ".sql" ? ".sql"
                                                                            : "";
  if (ext.empty() || n.substr(0, env.size() + 1) != env + "-") return false;
  n = n.substr(env.size() + 1, n.size() - env.size() - 1 - ext.size());
  constexpr std::string_view shape = "dddd-dd-ddTdd-dd-ddZ";
  if (n.size() < shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    bool digit = n[i] >= '0' && n[i] <= '9';
    if (shape[i] == 'd' ? !digit : n[i] != shape[i]) return false;
  }
  n = n.substr(shape.size());
  if (n.empty()) return true;
  if (n.size() < 2 || n[0] != '-') return false;
  return std::all_of(n.begin() + 1, n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// True while another open file (a running mgr's) holds the flock on `path`.
bool held_by_running_mgr(const fs::path& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  return fd && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

// Dumps without a manifest named like mgr's, and restore directories.
std::vector<BackupCheck> scan_leftovers(const fs::path& dir, const std::string& env_name) {
  std::vector<BackupCheck> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    const auto name = p.filename().string();
    BackupCheck c;
    c.file = p;
    if (name.rfind(k_restore_dir_prefix, 0) == 0 && it->is_directory(ec)) {
      c.leftover = BackupCheck::Leftover::restore_files;
      c.problem = "temporary files of a restore that did not finish (mgr was killed); removed by the next "
                  "backup or restore of " + env_name;
    } else if (is_mgr_backup_name(name, env_name) && !fs::exists(manifest_path_for(p), ec)) {
      c.leftover = BackupCheck::Leftover::incomplete_dump;
      c.file_exists = true;
      c.problem = "incomplete backup without a manifest (pg_dump did not finish); removed by the next backup "
                  "or restore of " + env_name;
    } else {
      continue;
    }
    c.in_progress = held_by_running_mgr(p);
    if (c.in_progress) c.problem = "being written by a running mgr";
    c.actual_size = c.leftover == BackupCheck::Leftover::incomplete_dump ? fs::file_size(p, ec) : 0;
    if (ec) c.actual_size.reset();
    found.push_back(std::move(c));
  }
  std::sort(found.begin(), found.end(), [](const BackupCheck& a, const BackupCheck& b) { return a.file < b.file; });
  return found;
}

// backup_keep: N -> keep the newest N mgr backups of this environment.
std::vector<fs::path> prune(const fs::path& dir, const Environment& env, const fs::path& just_taken,
                            const std::vector<fs::path>& protect) {
  std::vector<fs::path> removed;
  if (!env.backup_keep || *env.backup_keep < 1) return removed;
  auto all = scan_dir(dir, env.name, /*hash=*/false);
  // Only backups whose manifest we could read count, and only those are deleted.
  std::erase_if(all, [](const BackupCheck& c) { return !c.manifest; });
  auto keep = static_cast<std::size_t>(*env.backup_keep);
  if (all.size() <= keep) return removed;
  std::size_t excess = all.size() - keep;
  for (std::size_t i = 0; i < all.size() && removed.size() < excess; ++i) {
    const auto& c = all[i];
    if (same_file(c.file, just_taken)) continue;
    if (std::any_of(protect.begin(), protect.end(), [&](const fs::path& p) { return same_file(p, c.file); })) continue;
    std::error_code ec;
    fs::remove(c.file, ec);
    if (ec) {
      spdlog::warn("retention: cannot remove {}: {}", c.file.string(), ec.message());
      continue;
    }
    fs::remove(c.manifest_path, ec);
    if (ec) spdlog::warn("retention: cannot remove {}: {}", c.manifest_path.string(), ec.message());
    spdlog::info("retention (backup_keep: {}): removed {}", *env.backup_keep, c.file.string());
    removed.push_back(c.file);
  }
  return removed;
}

// What `mgr restore` runs before the dump, in the same transaction: empties
// the database so that afterwards it holds exactly what the backup holds,
// including no objects created after the backup was taken.
//
// A DO block, so it reads the live catalog on the server. Every schema but
// the system ones (pg_catalog, information_schema, pg_toast*, pg_temp* -
// the latter two include other sessions' temporary schemas) is dropped with
// CASCADE; extensions in those schemas go first (an extension that created
// its own schema would otherwise block the DROP SCHEMA), and come back from
// the dump's CREATE EXTENSION.
//
// `public` is recreated as CREATE DATABASE makes it, because pg_dump never
// writes CREATE SCHEMA public: it writes only the differences from that
// initial state (ALTER SCHEMA public OWNER TO, COMMENT ON SCHEMA public IS
// '', GRANT/REVOKE ... ON SCHEMA public), with or without --clean. In
// PostgreSQL 15 the initial state is owner pg_database_owner, ACL
// {pg_database_owner=UC/pg_database_owner,=U/pg_database_owner} and the
// comment 'standard public schema'; before 15 the owner was the bootstrap
// superuser and PUBLIC also had CREATE.
//
// Roles, other databases and database-wide objects outside schemas are not
// touched. Whatever the connected role may not drop makes the statement
// fail, and the whole restore with it.
std::string wipe_sql() {
  return R"sql(-- mgr restore: empty every user schema before loading the backup.
SET client_min_messages = warning;
DO $mgr_wipe$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT e.extname
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\_toast%'
       AND n.nspname NOT LIKE 'pg\_temp%'
     ORDER BY e.extname
  LOOP
    EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN
    SELECT n.nspname
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', '_mgr_restore_audit')
       AND n.nspname NOT LIKE 'pg\_toast%'
       AND n.nspname NOT LIKE 'pg\_temp%'
     ORDER BY n.nspname
  LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  CREATE SCHEMA public;
  IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
    ALTER SCHEMA public OWNER TO pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    EXECUTE pg_catalog.format('ALTER SCHEMA public OWNER TO %I',
                              (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10));
    GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC;
  END IF;
  COMMENT ON SCHEMA public IS 'standard public schema';
END
$mgr_wipe$;
)sql";
}

// The time left of a restore's budget, at least 1 ms so that a spent budget
// still ends the next step at once.
std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

// A private (0700) directory for a restore's temporary files, in the
// environment's backup directory, removed with its contents on destruction.
// It stays locked (flock) while it exists, so that after a kill -9 the next
// run can tell it is abandoned, list it and remove it: the converted script
// holds the whole data.
class RestoreWorkDir {
 public:
  explicit RestoreWorkDir(const fs::path& env_dir) {
    std::string templ = (env_dir / (std::string(k_restore_dir_prefix) + "XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      throw Failure(fmt::format("cannot create a temporary directory for the restore in {}: {}\nNothing was changed.",
                                env_dir.string(), errno_text()));
    }
    m_path = buf.data();
    ::chmod(m_path.c_str(), 0700);
    m_lock.reset(::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (m_lock) ::flock(m_lock.get(), LOCK_EX);
  }
  ~RestoreWorkDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
    if (ec) spdlog::warn("cannot remove the restore's temporary directory {}: {}", m_path.string(), ec.message());
  }
  RestoreWorkDir(const RestoreWorkDir&) = delete;
  RestoreWorkDir& operator=(const RestoreWorkDir&) = delete;
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
  Fd m_lock;  // closed after the directory is gone
};

// "name" with embedded quotes doubled, for SQL that mgr generates itself.
std::string sql_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// 'text' with quotes doubled (the scripts set standard_conforming_strings).
std::string sql_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

// Run before the wipe, in the restore's transaction: the audit table is
// moved out of the wipe's way into a schema the wipe leaves alone.
std::string carry_out_sql(const RestoreAudit& audit) {
  const auto table = sql_ident(audit.log_schema) + "." + sql_ident(audit.log_table);
  // client_connection_check_interval (PostgreSQL 14+): should psql die
  // during a long statement (mgr killed), the server notices within a second
  // and rolls back, rather than when the statement ends.
  return fmt::format(R"sql(-- mgr restore: keep the audit log out of the wipe.
SET standard_conforming_strings = on;
SET client_min_messages = warning;
DO $mgr_check$
BEGIN
  IF pg_catalog.current_setting('server_version_num')::int >= 140000 THEN
    PERFORM pg_catalog.set_config('client_connection_check_interval', '1000', false);
  END IF;
END
$mgr_check$;
CREATE SCHEMA {0};
DO $mgr_carry$
BEGIN
  IF pg_catalog.to_regclass({1}) IS NOT NULL THEN
    ALTER TABLE {2} SET SCHEMA {0};
  END IF;
END
$mgr_carry$;
)sql",
                     sql_ident(k_carry_schema), sql_literal(table), table);
}

// Run after the backup's script, in the same transaction: the audit rows
// the backup does not have (written after it was taken) are appended to the
// restored audit table (columns both have; new ids, original times), or the
// whole table comes back when the backup had none; then the restore's own row.
std::string carry_back_sql(const RestoreAudit& audit) {
  const auto table = sql_ident(audit.log_schema) + "." + sql_ident(audit.log_table);
  const auto saved = sql_ident(k_carry_schema) + "." + sql_ident(audit.log_table);
  return fmt::format(R"sql(-- mgr restore: the audit log is append-only, across restores too.
RESET search_path;
SET standard_conforming_strings = on;
SET client_min_messages = warning;
DO $mgr_carry$
DECLARE
  target regclass := pg_catalog.to_regclass({0});
  saved regclass := pg_catalog.to_regclass({1});
  cols text;
BEGIN
  IF saved IS NULL THEN
    RETURN;
  END IF;
  IF target IS NULL THEN
    EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', {2});
    EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA %I', saved, {2});
    RETURN;
  END IF;
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'id'
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
                  WHERE b.attrelid = saved AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped);
  EXECUTE pg_catalog.format(
    'INSERT INTO %s (%s) SELECT %s FROM %s s WHERE NOT EXISTS '
    '(SELECT 1 FROM %s r WHERE r.id = s.id AND r.at = s.at AND r.action = s.action) ORDER BY s.id',
    target, cols, cols, saved, target);
END
$mgr_carry$;
DROP SCHEMA {3} CASCADE;
DO $mgr_row$
BEGIN
  IF pg_catalog.to_regclass({0}) IS NOT NULL THEN
    EXECUTE {4};
  END IF;
END
$mgr_row$;
)sql",
                     sql_literal(table), sql_literal(saved), sql_literal(audit.log_schema), sql_ident(k_carry_schema),
                     sql_literal(audit.restore_row_sql));
}

}  // namespace

std::string reset_wipe_sql(const RestoreAudit& audit) { return carry_out_sql(audit) + wipe_sql() + carry_back_sql(audit); }

void check_dump_script(const fs::path& script) {
  auto refuse = [&](const std::string& why) {
    throw Refused(fmt::format("refusing to restore {}: {}. psql would run backslash commands (such as \\! "
                              "<shell command>) in it as you; mgr runs only scripts laid out as pg_dump writes "
                              "them. Nothing was changed.",
                              script.string(), why));
  };
  // 1. The header: comments and blank lines, then `\restrict <key>`, after
  //    which psql refuses every backslash command but `\unrestrict <key>`.
  const std::string head = read_head(script, 65536);
  std::string key;
  std::size_t pos = 0;
  int line_no = 0;
  while (key.empty()) {
    auto nl = head.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(head.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line.substr(0, 2) == "--" && line.find('\\') == std::string_view::npos)) continue;
    if (line.substr(0, 10) == "\\restrict " && is_restrict_key(line.substr(10))) {
      key = std::string(line.substr(10));
      break;
    }
    refuse(fmt::format("line {} comes before pg_dump's \\restrict line and is not a comment", line_no));
  }
  if (key.empty()) {
    refuse("its header has no \\restrict line (pg_dump and pg_restore 15.14, 16.10, 17.6 and later write one); a "
           "script from an older one can only be restored by hand, after reading it");
  }
  // 2. The end: pg_dump's completion line, then only comments, blank lines
  //    and `\unrestrict <key>`.
  if (!ends_with_completion_line(script)) {
    throw Failure(fmt::format("{} does not end with pg_dump's completion line ('{}'); the dump is incomplete. "
                              "Nothing was changed.",
                              script.string(), k_completion_line));
  }
  // 3. No other \restrict or \unrestrict anywhere (whatever quoting or
  //    escapes would hide the key): the one pair is the header's and the end's.
  const auto restricts = find_all_in_file(script, "\\restrict ");
  const auto unrestricts = find_all_in_file(script, "\\unrestrict");
  if (restricts.size() != 1) refuse(fmt::format("it has {} \\restrict lines, pg_dump writes one", restricts.size()));
  std::error_code ec;
  const auto size = fs::file_size(script, ec);
  const std::string tail_line = "\\unrestrict " + key;
  auto at_unrestrict = [&] {
    std::ifstream in(script, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(unrestricts[0]));
    std::string text(tail_line.size() + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text;
  };
  // The completion check above allows only comments and blank lines around it.
  if (unrestricts.size() != 1 || ec || size - unrestricts[0] > 8192 ||
      !(at_unrestrict() == tail_line || at_unrestrict() == tail_line + "\n" || at_unrestrict() == tail_line + "\r")) {
    refuse(fmt::format("it has {} \\unrestrict commands; pg_dump writes one, with its key, after the completion line",
                       unrestricts.size()));
  }
}

void to_json(json& j, const BackupManifest& m) {
  j = json{{"manifest_version", k_manifest_version},
           {"file", m.file},
           {"environment", m.environment},
           {"database", m.database},
           {"server_version", m.server_version},
           {"server_version_num", m.server_version_num},
           {"pg_dump_version", m.pg_dump_version},
           {"created_at", m.created_at},
           {"size", m.size},
           {"sha256", m.sha256},
           {"newest_migration", m.newest_migration ? json(*m.newest_migration) : json(nullptr)},
           {"reason", m.reason},
           {"url", m.url},
           {"format", backup_format_name(m.format)},
           {"mgr_version", m.mgr_version}};
}

void from_json(const json& j, BackupManifest& m) {
  // Required: what identifies and checks the file. The rest was added over
  // time or is descriptive: a default when absent.
  j.at("file").get_to(m.file);
  j.at("environment").get_to(m.environment);
  j.at("created_at").get_to(m.created_at);
  j.at("size").get_to(m.size);
  j.at("sha256").get_to(m.sha256);
  m.database = j.value("database", "");
  m.server_version = j.value("server_version", "");
  m.server_version_num = j.value("server_version_num", 0);
  m.pg_dump_version = j.value("pg_dump_version", "");
  m.newest_migration.reset();
  if (auto it = j.find("newest_migration"); it != j.end() && it->is_string()) m.newest_migration = it->get<std::string>();
  m.reason = j.value("reason", "");
  m.url = j.value("url", "");
  m.mgr_version = j.value("mgr_version", "");
  const auto format = j.at("format").get<std::string>();
  if (format == "custom") {
    m.format = BackupFormat::custom;
  } else if (format == "plain") {
    m.format = BackupFormat::plain;
  } else {
    throw std::invalid_argument(fmt::format("unknown format '{}'", format));
  }
  if (m.sha256.size() != 64) throw std::invalid_argument("sha256 is not a SHA-256");
}

std::string transfer_progress(const std::string& what, const std::string& verb, std::uintmax_t bytes,
                              std::optional<std::uintmax_t> total, std::chrono::milliseconds elapsed) {
  auto size = [](std::uintmax_t n) {
    if (n < 1024) return fmt::format("{} B", n);
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    auto value = static_cast<double>(n) / 1024;
    std::size_t unit = 0;
    for (; value >= 1024 && unit + 1 < std::size(units); ++unit) value /= 1024;
    return fmt::format("{:.1f} {}", value, units[unit]);
  };
  const auto secs = elapsed.count() / 1000;
  const auto time = secs < 60     ? fmt::format("{:.1f}s", static_cast<double>(elapsed.count()) / 1000)
                    : secs < 3600 ? fmt::format("{}m{:02}s", secs / 60, secs % 60)
                                  : fmt::format("{}h{:02}m", secs / 3600, secs / 60 % 60);
  if (total && *total > 0) {
    const auto percent = static_cast<int>(std::min(100.0, 100.0 * static_cast<double>(bytes) / static_cast<double>(*total)));
    return fmt::format("{}: {} of {} {} ({}%), {}", what, size(bytes), size(*total), verb, percent, time);
  }
  return fmt::format("{}: {} {}, {}", what, size(bytes), verb, time);
}

std::string backup_format_name(BackupFormat format) {
  return format == BackupFormat::plain ? "plain" : "custom";
}

std::string child_conninfo(const DbUrl& url, const std::string& application_name) {
  // The password reaches the child through PGPASSWORD; any other secret cannot.
  for (const auto& [key, value] : url.secret_options()) {
    if (key != "password") {
      // Neither argv nor the environment can carry it privately (libpq has
      // no variable for it), and a file holding it could outlive a killed mgr.
      throw Failure(fmt::format(
          "the URL sets {}, which mgr cannot hand to pg_dump, pg_restore or psql without exposing it on "
          "their command line; use a client key without a passphrase (mode 0600) for this environment, or "
          "backup: off. Nothing was run.",
          key));
    }
  }
  std::string out;
  for (const auto& [key, value] : url.options()) {
    if (key == "application_name") continue;  // ours, below
    if (secret_conninfo_keywords().count(key) != 0) continue;  // options() has none; kept as a second lock
    if (!out.empty()) out.push_back(' ');
    out += key + "=" + quote_conninfo(value);
  }
  if (!out.empty()) out.push_back(' ');
  out += "application_name=" + quote_conninfo(application_name);
  return out;
}

fs::path backup_dir_for(const Config& config, const std::string& env_name) {
  const auto* env = config.find(env_name);  // one database of a fleet: a folder of its own (docs/fleets.md)
  return env != nullptr && !env->database.empty() ? config.backups_dir / env_name / env->database : config.backups_dir / env_name;
}

fs::path manifest_path_for(const fs::path& backup_file) {
  return backup_file.parent_path() / (backup_file.filename().string() + ".json");
}

BackupManifest read_manifest(const fs::path& manifest_path) {
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) throw Failure(fmt::format("manifest {} is missing or unreadable", manifest_path.string()));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Failure(fmt::format("manifest {} is not valid JSON: {}", manifest_path.string(), e.what()));
  }
  try {
    return j.get<BackupManifest>();
  } catch (const json::exception& e) {
    throw Failure(fmt::format("manifest {} lacks a required field: {}", manifest_path.string(), e.what()));
  } catch (const std::invalid_argument& e) {
    throw Failure(fmt::format("manifest {}: {}", manifest_path.string(), e.what()));
  }
}

BackupCheck check_backup(const fs::path& backup_file) {
  BackupCheck c;
  c.file = backup_file;
  c.manifest_path = manifest_path_for(backup_file);
  std::error_code ec;
  c.file_exists = fs::is_regular_file(backup_file, ec);
  try {
    c.manifest = read_manifest(c.manifest_path);
  } catch (const Error& e) {
    c.problem = e.what();
  }
  if (c.file_exists) {
    c.actual_size = fs::file_size(backup_file, ec);
    if (ec) c.actual_size.reset();
    try {
      c.actual_sha256 = sha256_file(backup_file);
    } catch (const Error& e) {
      if (c.problem.empty()) c.problem = e.what();
    }
  } else if (c.problem.empty()) {
    c.problem = fmt::format("backup file {} is missing", backup_file.string());
  }
  if (!c.manifest || !c.file_exists || c.actual_sha256.empty()) return c;
  if (c.manifest->file != backup_file.filename().string()) {
    c.problem = fmt::format("manifest {} describes {}, not {}", c.manifest_path.string(), c.manifest->file,
                            backup_file.filename().string());
  } else if (c.actual_size != c.manifest->size) {
    c.problem = fmt::format("{} is {} bytes, its manifest says {}: the file changed since the backup",
                            backup_file.string(), c.actual_size.value_or(0), c.manifest->size);
  } else if (c.actual_sha256 != c.manifest->sha256) {
    c.problem = fmt::format("SHA-256 of {} does not match its manifest (file {}, manifest {}): the file "
                            "changed since the backup",
                            backup_file.string(), c.actual_sha256, c.manifest->sha256);
  } else {
    c.matches = true;
  }
  return c;
}

std::vector<BackupCheck> list_backups(const Config& config, const std::optional<std::string>& env) {
  std::vector<BackupCheck> all;
  std::vector<std::string> names;
  if (env) {
    config.get(*env);  // UsageError naming the known environments
    names.push_back(*env);
  } else {
    for (const auto& e : config.environments) names.push_back(e.name);
  }
  for (const auto& name : names) {
    auto found = scan_dir(backup_dir_for(config, name), name, /*hash=*/true);
    std::move(found.begin(), found.end(), std::back_inserter(all));
  }
  for (const auto& name : names) {
    auto found = scan_leftovers(backup_dir_for(config, name), name);
    std::move(found.begin(), found.end(), std::back_inserter(all));
  }
  return all;
}

std::vector<fs::path> remove_leftovers(const Config& config, const Environment& env) {
  std::vector<fs::path> removed;
  for (const auto& c : scan_leftovers(backup_dir_for(config, env.name), env.name)) {
    if (c.in_progress) continue;
    std::error_code ec;
    fs::remove_all(c.file, ec);
    if (ec) {
      spdlog::warn("cannot remove {} (left by a killed mgr): {}", c.file.string(), ec.message());
      continue;
    }
    spdlog::info("removed {} left by an mgr that was killed", c.file.string());
    removed.push_back(c.file);
  }
  return removed;
}

BackupResult take_backup(const Config& config, const Environment& env, const ServerIdentity& server,
                         const std::optional<std::string>& newest_migration, const std::string& reason,
                         const std::vector<fs::path>& protect) {
  // From here a signal is recorded, stops the running child and ends in
  // Interrupted after the partial files are removed.
  InterruptGuard guard;
  // 1. The tool and its version: pg_dump refuses servers newer than itself,
  //    so say so before creating anything.
  auto pg_dump = find_pg_program("pg_dump", bin_dirs(config, env));
  PgToolVersion version;
  if (auto major = debian_layout_major(pg_dump)) {
    version.major = *major;
    version.text = std::to_string(*major);  // the full text comes from the dump's header below
  } else {
    try {
      version = pg_tool_version(pg_dump);
    } catch (const Failure&) {
      if (!interrupted()) throw;
    }
    if (interrupted()) {
      throw Interrupted(fmt::format("{} before the backup of {} started; nothing was written",
                                    interrupt_description(), env.name));
    }
  }
  int server_major = server_major_version(server.version_num);
  if (server.version_num > 0 && version.major < server_major) {
    throw Failure(fmt::format(
        "{} is version {}, older than the server of environment {} (PostgreSQL {}); pg_dump cannot dump "
        "a newer server. Install postgresql-client-{} (or newer) and set pg_bin_dir (or MGR_PG_BIN_DIR) "
        "to its bin directory, e.g. /usr/lib/postgresql/{}/bin",
        pg_dump.string(), version.text, env.name, server.version, server_major, server_major));
  }

  // 2. A new private file in a private directory.
  auto dir = fs::absolute(backup_dir_for(config, env.name));
  ensure_private_dir(dir);
  remove_leftovers(config, env);
  auto stamps = now_utc();
  const bool plain = env.backup_format == BackupFormat::plain;
  PartialFiles partial;
  Fd in_progress;  // the new file: written through, and locked while the backup runs
  auto file = create_backup_file(dir, env.name, stamps.for_file, plain ? ".sql" : ".dump", in_progress);
  partial.add(file);
  spdlog::info("backing up {} ({}) to {}", env.name, env.url.redacted(), file.string());
  auto stop_if_interrupted = [&](const std::string& during) {
    if (!interrupted()) return;
    throw Interrupted(fmt::format("{} during the backup of {} ({}): the partial file {} was removed; nothing "
                                  "else was changed",
                                  interrupt_description(), env.name, during, file.filename().string()));
  };

  // 3. pg_dump writes to its stdout, a pipe to mgr, which writes the 0600
  //    file it created and hashes the bytes on the way: the file is not
  //    read again for its hash. The password goes only into PGPASSWORD;
  //    --dbname is built from the parsed options, without any secret.
  ProgressLine progress(fmt::format("backup of {}", env.name));
  DumpWriter writer(in_progress.get(), file, progress);
  ProcessSpec spec;
  spec.program = pg_dump;
  spec.stdout_sink = [&writer](std::string_view block) { writer.write(block); };
  spec.args = {plain ? "--format=plain" : "--format=custom", "--no-password"};
  if (plain) {
    // So a plain dump can be replayed over the live database by restore.
    spec.args.push_back("--clean");
    spec.args.push_back("--if-exists");
  }
  spec.args.push_back("--dbname=" + child_conninfo(env.url, child_application_name(env, "backup")));
  spec.extra_env = child_env(env);
  spec.timeout = env.backup_timeout;
  auto r = run_process(spec);
  progress.clear();
  stop_if_interrupted("pg_dump was stopped");
  if (!r.ok()) {
    throw Failure(fmt::format("backup of {} failed: {}\nThe partial file was removed; nothing else was changed.",
                              env.name, tool_failure(pg_dump.string(), r, env.url)));
  }
  // On disk before it is verified and described (pg_dump's own --file
  // writes are fsynced too); the size on disk must be what came through.
  struct stat st {};
  if (::fsync(in_progress.get()) != 0 || ::fstat(in_progress.get(), &st) != 0) {
    throw Failure(fmt::format("cannot write backup file {}: {}", file.string(), errno_text()));
  }
  if (static_cast<std::uintmax_t>(st.st_size) != writer.bytes()) {
    throw Failure(fmt::format("backup file {} holds {} bytes, pg_dump wrote {}", file.string(), st.st_size,
                              writer.bytes()));
  }

  // 4. Verify, hash, describe.
  auto header = verify_dump(file, env.backup_format, pg_dump, config, env);
  stop_if_interrupted("while verifying the dump");
  BackupManifest m;
  m.file = file.filename().string();
  m.environment = env.name;
  m.database = server.database;
  m.server_version = server.version;
  m.server_version_num = server.version_num;
  m.pg_dump_version = dumped_by_version(header).value_or(version.text);
  m.created_at = stamps.iso;
  m.size = writer.bytes();
  m.sha256 = writer.sha256();
  m.newest_migration = newest_migration;
  m.reason = reason;
  m.url = env.url.redacted();
  m.format = env.backup_format;
  m.mgr_version = MGR_VERSION;

  // Written under a temporary name and renamed, so a manifest is never half there.
  auto manifest = manifest_path_for(file);
  auto tmp = manifest;
  tmp += ".tmp";
  partial.add(tmp);
  partial.add(manifest);
  write_private_file(tmp, json(m).dump(2) + "\n");
  stop_if_interrupted("before the manifest was written");
  std::error_code ec;
  fs::rename(tmp, manifest, ec);
  if (ec) throw Failure(fmt::format("cannot write manifest {}: {}", manifest.string(), ec.message()));
  partial.commit();

  BackupResult result;
  result.file = file;
  result.manifest = manifest;
  result.size = m.size;
  result.sha256 = m.sha256;
  result.details = m;
  // 5. Retention only after a good new backup exists.
  result.pruned = prune(dir, env, file, protect);
  return result;
}

void restore_backup(const Config& config, const Environment& env, const fs::path& file, BackupFormat format,
                    std::chrono::milliseconds timeout, const RestoreAudit& audit) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // A signal stops the child and ends in Interrupted; a second one, or a
  // kill -9, kills mgr and its children with it (the server then rolls the
  // open transaction back) and leaves the work directory to the next run.
  InterruptGuard guard;
  auto stop_if_interrupted = [&](const std::string& state) {
    if (!interrupted()) return;
    throw Interrupted(fmt::format("{} during the restore of {} into {}: {}", interrupt_description(),
                                  file.filename().string(), env.name, state));
  };
  // Everything mgr writes for this restore lives in one private, locked
  // directory in the environment's backup directory, removed on every way
  // out of here.
  const auto env_dir = fs::absolute(backup_dir_for(config, env.name));
  ensure_private_dir(env_dir);
  remove_leftovers(config, env);
  RestoreWorkDir work(env_dir);

  // 1. The SQL script to replay: a plain backup as it is; a custom archive
  //    turned into the same kind of script by pg_restore, which needs no
  //    database connection for that.
  fs::path script = file;
  fs::path psql;
  // Progress is polled, not pumped: pg_restore and psql keep reading and
  // writing their files themselves (mgr does not sit in the data path of
  // the restore's transaction), and mgr looks at the converted script's
  // size, then at psql's read offset in it, which also gives a total.
  ProgressLine progress(fmt::format("restore into {}", env.name));
  if (format == BackupFormat::custom) {
    auto pg_restore = find_pg_program("pg_restore", bin_dirs(config, env));
    script = work.path() / "restore.sql";
    if (!create_private_file(script)) {
      throw Failure(fmt::format("cannot create {}: it already exists", script.string()));
    }
    ProcessSpec convert;
    convert.program = pg_restore;
    // --clean --if-exists as for plain backups: DROP ... IF EXISTS before
    // each object, which matters for objects outside schemas (event
    // triggers, publications, large objects) that the wipe leaves alone.
    convert.args = {"--clean", "--if-exists", "--file=" + script.string(), file.string()};
    convert.stdout_file = "/dev/null";
    convert.timeout = remaining(deadline);
    convert.on_tick = [&](int) {
      std::error_code ec;
      const auto size = fs::file_size(script, ec);
      if (!ec) progress.show(size, std::nullopt, "converted to SQL");
    };
    spdlog::info("converting {} to SQL with {}", file.string(), pg_restore.string());
    auto r = run_process(convert);
    progress.clear();
    stop_if_interrupted("pg_restore was stopped while converting the archive; the database was not touched");
    if (!r.ok()) {
      throw Failure(fmt::format("restore of {} into {} failed: cannot read the archive: {}\nThe database was not "
                                "touched.",
                                file.string(), env.name, tool_failure(pg_restore.string(), r, env.url)));
    }
    psql = find_companion("psql", pg_restore, config, env);
  } else {
    psql = find_pg_program("psql", bin_dirs(config, env));
  }

  // 2. Only what pg_dump writes: no backslash command can run, and a script
  //    cut short (which would load part of the backup after the wipe and
  //    still succeed) is refused.
  check_dump_script(script);

  // 3. In one transaction (psql 15 wraps all its -f files in a single
  //    BEGIN/COMMIT with --single-transaction; ON_ERROR_STOP ends it at the
  //    first error without a COMMIT): the audit table out of the way, the
  //    wipe, the dump, the audit rows back with the restore's own row.
  auto before = work.path() / "before.sql";
  write_private_file(before, carry_out_sql(audit) + wipe_sql());
  auto after = work.path() / "after.sql";
  write_private_file(after, carry_back_sql(audit));

  ProcessSpec spec;
  spec.program = psql;
  spec.args = {"-X",
               "--no-password",
               "--quiet",
               "-v",
               "ON_ERROR_STOP=1",
               "--single-transaction",
               "--dbname=" + child_conninfo(env.url, audit.application_name),
               "--file=" + before.string(),
               "--file=" + script.string(),
               "--file=" + after.string()};
  // psql echoes query results (set_config etc.); nobody needs them.
  spec.stdout_file = "/dev/null";
  spec.extra_env = child_env(env);
  spec.timeout = remaining(deadline);
  std::error_code size_ec;
  const auto script_size = fs::file_size(script, size_ec);
  spec.on_tick = [&](int pid) {
    progress.show(read_offset(pid, script).value_or(0), size_ec ? std::nullopt : std::optional(script_size), "loaded");
  };
  spdlog::info("restoring {} into {} ({}) with {}: every schema is emptied, then the backup is loaded",
               file.string(), env.name, env.url.redacted(), psql.string());
  auto r = run_process(spec);
  progress.clear();
  stop_if_interrupted("psql was stopped");
  if (!r.ok()) {
    throw Failure(fmt::format("restore of {} into {} failed: {}\nThe restore ran in one transaction, so the "
                              "database was left as it was before.",
                              file.string(), env.name, tool_failure(psql.string(), r, env.url)));
  }
}

}  // namespace mgr
