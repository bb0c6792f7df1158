#include "mgr/git_provenance.hpp"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>

#include "mgr/process.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_short_commit = 7;  // git's own default abbreviation

// The first executable `name` in $PATH; empty when none.
fs::path find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::string all(path);
  std::size_t start = 0;
  while (start <= all.size()) {
    auto end = all.find(':', start);
    if (end == std::string::npos) end = all.size();
    fs::path dir = all.substr(start, end - start);
    if (!dir.empty()) {
      std::error_code ec;
      auto candidate = dir / name;
      if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return {};
}

std::optional<std::string> run_git(const fs::path& git, const fs::path& dir, std::vector<std::string> args,
                                   std::chrono::milliseconds timeout) {
  ProcessSpec spec;
  spec.program = git;
  spec.args = {"-C", dir.string()};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  // Reading only: no index.lock that could get in the way of the user's own git.
  spec.extra_env["GIT_OPTIONAL_LOCKS"] = "0";
  spec.extra_env["LC_ALL"] = "C";
  spec.timeout = timeout;
  auto r = run_process(spec);
  if (!r.ok()) {
    spdlog::debug("provenance: git {} in {}: {}: {}", args.front(), dir.string(), r.describe(), r.err);
    return std::nullopt;
  }
  return r.out;
}

}  // namespace

std::optional<GitProvenance> git_provenance(const fs::path& dir, std::chrono::milliseconds timeout) {
  try {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) return std::nullopt;
    const auto git = find_on_path("git");
    if (git.empty()) return std::nullopt;
    auto head = run_git(git, dir, {"rev-parse", "--verify", "--quiet", "HEAD"}, timeout);
    if (!head) return std::nullopt;
    std::string commit = head->substr(0, head->find_first_of("\r\n"));
    if (commit.size() < k_short_commit || commit.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return std::nullopt;
    }
    // "." with -C: the migrations folder only, untracked files included (an
    // applied file that was never committed is not described by the commit).
    auto status = run_git(git, dir, {"status", "--porcelain", "--untracked-files=all", "--", "."}, timeout);
    if (!status) return std::nullopt;  // a commit without a trustworthy dirty flag would claim too much
    return GitProvenance{commit, !status->empty()};
  } catch (const std::exception& e) {  // e.g. git could not be started: provenance never stops a command
    spdlog::debug("provenance: git in {}: {}", dir.string(), e.what());
    return std::nullopt;
  }
}

Provenance command_provenance(const fs::path& migrations_dir, const std::optional<std::string>& source_environment) {
  static std::mutex mutex;
  static std::map<fs::path, std::optional<GitProvenance>> git_by_dir;
  static std::optional<std::optional<CiProvenance>> ci;
  std::lock_guard lock(mutex);
  Provenance p;
  if (!migrations_dir.empty()) {
    auto it = git_by_dir.find(migrations_dir);
    if (it == git_by_dir.end()) it = git_by_dir.emplace(migrations_dir, git_provenance(migrations_dir)).first;
    p.git = it->second;
  }
  if (!ci) {
    ci = ci_provenance([](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    });
  }
  p.ci = *ci;
  p.source_environment = source_environment;
  return p;
}

}  // namespace mgr
