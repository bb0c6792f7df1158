#include "mgr/provenance.hpp"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>

#include "mgr/db_url.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_short_commit = 7;  // git's own default abbreviation

std::optional<std::string> non_empty(const ProvenanceEnvLookup& env, const std::string& name) {
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

bool truthy(const ProvenanceEnvLookup& env, const std::string& name) {
  auto v = non_empty(env, name);
  return v && *v != "0" && *v != "false" && *v != "False" && *v != "FALSE";
}

std::optional<std::string> redacted(std::optional<std::string> v) {
  if (v) v = redact_ci_text(*v);
  return v;
}

CiProvenance make(std::string system, std::optional<std::string> job, std::optional<std::string> url) {
  return CiProvenance{std::move(system), redacted(std::move(job)), redacted(std::move(url))};
}

std::optional<CiProvenance> github(const ProvenanceEnvLookup& env) {
  auto run = non_empty(env, "GITHUB_RUN_ID");
  if (!run && !truthy(env, "GITHUB_ACTIONS")) return std::nullopt;
  std::optional<std::string> url;
  if (auto repo = non_empty(env, "GITHUB_REPOSITORY"); run && repo) {
    url = non_empty(env, "GITHUB_SERVER_URL").value_or("https://github.com") + "/" + *repo + "/actions/runs/" + *run;
    // A re-run keeps the run id: the attempt tells them apart.
    if (auto attempt = non_empty(env, "GITHUB_RUN_ATTEMPT"); attempt && *attempt != "1") {
      *url += "/attempts/" + *attempt;
    }
  }
  return make("github-actions", run, url);
}

std::optional<CiProvenance> gitlab(const ProvenanceEnvLookup& env) {
  auto id = non_empty(env, "CI_JOB_ID");
  auto url = non_empty(env, "CI_JOB_URL");
  if (!id && !url && !truthy(env, "GITLAB_CI")) return std::nullopt;
  return make("gitlab", id, url);
}

std::optional<CiProvenance> jenkins(const ProvenanceEnvLookup& env) {
  auto url = non_empty(env, "BUILD_URL");
  if (!url && !non_empty(env, "JENKINS_URL")) return std::nullopt;
  auto job = non_empty(env, "JOB_NAME");
  auto number = non_empty(env, "BUILD_NUMBER");
  std::optional<std::string> id = job && number ? std::optional<std::string>(*job + "#" + *number) : number;
  return make("jenkins", id, url);
}

std::optional<CiProvenance> circleci(const ProvenanceEnvLookup& env) {
  if (!truthy(env, "CIRCLECI")) return std::nullopt;
  return make("circleci", non_empty(env, "CIRCLE_BUILD_NUM"), non_empty(env, "CIRCLE_BUILD_URL"));
}

std::optional<CiProvenance> buildkite(const ProvenanceEnvLookup& env) {
  if (!truthy(env, "BUILDKITE")) return std::nullopt;
  return make("buildkite", non_empty(env, "BUILDKITE_BUILD_NUMBER"), non_empty(env, "BUILDKITE_BUILD_URL"));
}

std::optional<CiProvenance> azure(const ProvenanceEnvLookup& env) {
  if (!truthy(env, "TF_BUILD")) return std::nullopt;
  auto id = non_empty(env, "BUILD_BUILDID");
  std::optional<std::string> url;
  auto collection = non_empty(env, "SYSTEM_COLLECTIONURI");  // https://dev.azure.com/org/
  auto project = non_empty(env, "SYSTEM_TEAMPROJECT");
  if (id && collection && project) {
    std::string p;
    for (char c : *project) p += c == ' ' ? std::string("%20") : std::string(1, c);
    url = *collection + (collection->back() == '/' ? "" : "/") + p + "/_build/results?buildId=" + *id;
  }
  return make("azure-pipelines", id, url);
}

}  // namespace

std::string Provenance::summary() const {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : " ") + part; };
  if (git) add(git->commit.substr(0, k_short_commit) + (git->dirty ? "+dirty" : ""));
  if (ci) add(ci->system + (ci->job ? "#" + *ci->job : std::string()));
  if (source_environment) add("from " + *source_environment);
  return out.empty() ? "-" : out;
}

nlohmann::json provenance_json(const Provenance& p) {
  using json = nlohmann::json;
  auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  return {{"git_commit", p.git ? json(p.git->commit) : json(nullptr)},
          {"git_dirty", p.git ? json(p.git->dirty) : json(nullptr)},
          {"ci", p.ci ? json{{"system", p.ci->system}, {"job", opt(p.ci->job)}, {"url", opt(p.ci->url)}} : json(nullptr)},
          {"source_environment", opt(p.source_environment)}};
}

std::string redact_ci_text(const std::string& text) {
  std::string out = redact_secrets(text, DbUrl{});  // scheme://user:secret@
  // scheme://token@ (a user name alone is how many tokens travel): mask it too.
  for (auto pos = out.find("://"); pos != std::string::npos; pos = out.find("://", pos + 3)) {
    const std::size_t start = pos + 3;
    std::size_t p = start;
    while (p < out.size() && out[p] != '@' && out[p] != '/' && out[p] != ' ') ++p;
    if (p >= out.size() || out[p] != '@' || p == start) continue;
    const auto colon = out.find(':', start);
    const std::size_t user_end = colon != std::string::npos && colon < p ? colon : p;
    if (out.compare(start, user_end - start, "***") != 0) out.replace(start, user_end - start, "***");
  }
  return out;
}

std::optional<CiProvenance> ci_provenance(const ProvenanceEnvLookup& env) {
  for (auto* detect : {github, gitlab, jenkins, circleci, buildkite, azure}) {
    if (auto ci = detect(env)) return ci;
  }
  if (truthy(env, "CI")) return CiProvenance{"ci", std::nullopt, std::nullopt};
  return std::nullopt;
}

}  // namespace mgr
