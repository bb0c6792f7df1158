// mgr new <name>: a timestamped up/down pair in migrations_dir.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <set>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "mgr/catalog.hpp"
#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/fd.hpp"
#include "mgr/output.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

// fmt::gmtime, not a time_point: fmt 9 formats time_points in local time.
std::string utc_id(std::time_t t) { return fmt::format("{:%Y%m%d%H%M%S}", fmt::gmtime(t)); }

// Creates the file only if it does not exist yet, so two `mgr new` in the
// same second cannot overwrite each other.
bool create_exclusive(const fs::path& p, const std::string& content) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    if (errno == EEXIST) return false;
    throw Failure("cannot create " + p.string() + ": " + std::strerror(errno));
  }
  if (!write_all(fd.get(), content) || fd.close() != 0) {
    throw Failure("cannot write " + p.string() + ": " + std::strerror(errno));
  }
  return true;
}

}  // namespace

int run_new(const GlobalOptions& global, const NewOptions& opts) {
  if (opts.name.empty() || opts.name.size() > 200 ||
      !std::all_of(opts.name.begin(), opts.name.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; })) {
    throw UsageError("invalid migration name '" + opts.name +
                     "': use lower-case letters, digits and _ (e.g. add_user_email)");
  }
  auto config = load_config(resolve_config_path(global.config_path, process_env_lookup()));
  fs::create_directories(config.migrations_dir);

  // Ids already taken, by any file that starts with digits and '_'.
  std::set<std::string> taken;
  for (const auto& de : fs::directory_iterator(config.migrations_dir)) {
    auto n = de.path().filename().string();
    auto us = n.find('_');
    if (us != std::string::npos && us > 0 && std::all_of(n.begin(), n.begin() + static_cast<long>(us), [](char c) { return c >= '0' && c <= '9'; })) {
      taken.insert(n.substr(0, us));
    }
  }

  auto now = std::time(nullptr);
  std::string created = utc_now_iso();
  for (std::time_t t = now;; ++t) {
    auto id = utc_id(t);
    if (taken.count(id) != 0) continue;
    auto up = config.migrations_dir / (id + "_" + opts.name + ".sql");
    auto down = config.migrations_dir / (id + "_" + opts.name + ".down.sql");
    std::string up_text =
        "-- " + opts.name + "\n"
        "-- Created " + created + " by mgr new.\n"
        "-- Directives go in this leading comment block, e.g.:\n"
        "--   -- mgr:no-transaction            (run statement by statement, for CONCURRENTLY)\n"
        "--   -- mgr:allow drop-column reason: <why this is safe>\n"
        "\n";
    std::string down_text =
        "-- Undoes " + id + "_" + opts.name + ".sql (mgr rollback).\n"
        "\n";
    if (!create_exclusive(up, up_text)) continue;
    if (!create_exclusive(down, down_text)) {
      fs::remove(up);
      continue;
    }
    if (global.json) {
      print_json({{"id", id}, {"name", opts.name}, {"up", up.string()}, {"down", down.string()}});
    } else {
      print_line(up.string());
      print_line(down.string());
    }
    return 0;
  }
}

}  // namespace mgr
