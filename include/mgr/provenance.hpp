// Where a change came from, recorded on every history and audit row: the git
// commit of the migrations folder (and whether it had uncommitted changes), the
// CI job that ran mgr, and for an apply to a promoted environment the
// environment it was promoted from. docs/operations.md, "Provenance".
//
// Best effort by design: anything that cannot be found out is left empty
// (NULL in the tables). Finding it out never stops a command.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace mgr {

struct GitProvenance {
  std::string commit;  // full hash of HEAD
  bool dirty = false;  // files under the migrations folder differ from HEAD or are untracked
};

struct CiProvenance {
  std::string system;              // github-actions | gitlab | jenkins | circleci | buildkite | azure-pipelines | ci
  std::optional<std::string> job;  // run/job/build id or number as the CI names it
  std::optional<std::string> url;  // link to the run, credentials masked
};

struct Provenance {
  std::optional<GitProvenance> git;
  std::optional<CiProvenance> ci;
  std::optional<std::string> source_environment;  // apply to a promoted environment: its promote_from

  bool empty() const { return !git && !ci && !source_environment; }
  // Short form for tables: "1a2b3c4+dirty github-actions#123 from test"; "-" when empty.
  std::string summary() const;
};

// As `mgr log --json` and `status --json` show it: {"git_commit", "git_dirty",
// "ci": {"system", "job", "url"} | null, "source_environment"}, unknowns null.
nlohmann::json provenance_json(const Provenance& p);

using ProvenanceEnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The CI job from its environment variables (GitHub Actions, GitLab CI,
// Jenkins, CircleCI, Buildkite, Azure Pipelines, else a generic CI=true);
// nullopt outside CI. Pure: `env` is the lookup (getenv in mgr).
std::optional<CiProvenance> ci_provenance(const ProvenanceEnvLookup& env);

// `text` (a URL or an id from an environment variable) with any credentials
// masked: scheme://user:secret@ and scheme://token@ become ***.
std::string redact_ci_text(const std::string& text);

}  // namespace mgr
