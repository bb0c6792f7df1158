// Provenance found out by running git: the process layer (cmake/layers.cmake),
// above the plain data and CI lookup of provenance.hpp.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "mgr/provenance.hpp"

namespace mgr {

// HEAD and the dirty flag of the checkout holding `dir`, asked of `git`
// (found on PATH) without a shell, each call bounded by `timeout`. nullopt when
// git is not installed, `dir` is not in a checkout (or has no commit), or git
// fails or times out.
std::optional<GitProvenance> git_provenance(const std::filesystem::path& dir,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

// This command's provenance for rows about an environment promoted from
// `source_environment`: git (of `migrations_dir`, skipped when empty) and CI
// are found out once per process and folder, then reused.
Provenance command_provenance(const std::filesystem::path& migrations_dir,
                              const std::optional<std::string>& source_environment);

}  // namespace mgr
