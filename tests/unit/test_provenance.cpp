#include "mgr/git_provenance.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "mgr/process.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProvenanceEnvLookup lookup(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(ProvenanceCi, OutsideCiThereIsNone) {
  EXPECT_FALSE(ci_provenance(lookup({})));
  EXPECT_FALSE(ci_provenance(lookup({{"CI", "false"}, {"GITHUB_RUN_ID", ""}})));
  EXPECT_FALSE(ci_provenance(lookup({{"CI", "0"}})));
}

TEST(ProvenanceCi, GenericCiSaysOnlyThat) {
  auto ci = ci_provenance(lookup({{"CI", "true"}}));
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->system, "ci");
  EXPECT_FALSE(ci->job);
  EXPECT_FALSE(ci->url);
}

TEST(ProvenanceCi, GithubActionsRunUrlFromServerRepositoryAndRunId) {
  auto ci = ci_provenance(lookup({{"CI", "true"},
                                  {"GITHUB_ACTIONS", "true"},
                                  {"GITHUB_RUN_ID", "123456"},
                                  {"GITHUB_REPOSITORY", "acme/shop"},
                                  {"GITHUB_SERVER_URL", "https://github.example"}}));
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->system, "github-actions");
  EXPECT_EQ(ci->job, "123456");
  EXPECT_EQ(ci->url, "https://github.example/acme/shop/actions/runs/123456");
  // github.com when the server is not named; a re-run names its attempt.
  ci = ci_provenance(lookup({{"GITHUB_RUN_ID", "9"}, {"GITHUB_REPOSITORY", "a/b"}, {"GITHUB_RUN_ATTEMPT", "2"}}));
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->url, "https://github.com/a/b/actions/runs/9/attempts/2");
}

TEST(ProvenanceCi, GitlabJobIdAndUrl) {
  auto ci = ci_provenance(lookup({{"CI", "true"},
                                  {"GITLAB_CI", "true"},
                                  {"CI_JOB_ID", "77"},
                                  {"CI_JOB_URL", "https://gitlab.example/acme/shop/-/jobs/77"}}));
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->system, "gitlab");
  EXPECT_EQ(ci->job, "77");
  EXPECT_EQ(ci->url, "https://gitlab.example/acme/shop/-/jobs/77");
}

TEST(ProvenanceCi, JenkinsCircleBuildkiteAzure) {
  auto jenkins = ci_provenance(lookup({{"JENKINS_URL", "https://ci.example/"},
                                       {"BUILD_URL", "https://ci.example/job/db/5/"},
                                       {"JOB_NAME", "db"},
                                       {"BUILD_NUMBER", "5"}}));
  ASSERT_TRUE(jenkins);
  EXPECT_EQ(jenkins->system, "jenkins");
  EXPECT_EQ(jenkins->job, "db#5");
  EXPECT_EQ(jenkins->url, "https://ci.example/job/db/5/");

  auto circle = ci_provenance(lookup({{"CI", "true"}, {"CIRCLECI", "true"}, {"CIRCLE_BUILD_NUM", "31"},
                                      {"CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/31"}}));
  ASSERT_TRUE(circle);
  EXPECT_EQ(circle->system, "circleci");
  EXPECT_EQ(circle->job, "31");
  EXPECT_EQ(circle->url, "https://circleci.com/gh/acme/shop/31");

  auto buildkite = ci_provenance(lookup({{"BUILDKITE", "true"}, {"BUILDKITE_BUILD_NUMBER", "8"},
                                         {"BUILDKITE_BUILD_URL", "https://buildkite.com/acme/shop/builds/8"}}));
  ASSERT_TRUE(buildkite);
  EXPECT_EQ(buildkite->system, "buildkite");
  EXPECT_EQ(buildkite->job, "8");
  EXPECT_EQ(buildkite->url, "https://buildkite.com/acme/shop/builds/8");

  auto azure = ci_provenance(lookup({{"TF_BUILD", "True"}, {"BUILD_BUILDID", "640"},
                                     {"SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"},
                                     {"SYSTEM_TEAMPROJECT", "Shop Db"}}));
  ASSERT_TRUE(azure);
  EXPECT_EQ(azure->system, "azure-pipelines");
  EXPECT_EQ(azure->job, "640");
  EXPECT_EQ(azure->url, "https://dev.azure.com/acme/Shop%20Db/_build/results?buildId=640");
}

TEST(ProvenanceCi, CredentialsInAUrlAreMasked) {
  auto ci = ci_provenance(lookup({{"CI_JOB_ID", "1"},
                                  {"CI_JOB_URL", "https://gitlab-ci-token:glcbt-s3cret@gitlab.example/a/-/jobs/1"}}));
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->url, "https://***:***@gitlab.example/a/-/jobs/1");
  // A token alone as the user name is a secret too.
  auto jenkins = ci_provenance(lookup({{"BUILD_URL", "https://ghp_T0ken@ci.example/job/x/1/"}}));
  ASSERT_TRUE(jenkins);
  EXPECT_EQ(jenkins->url, "https://***@ci.example/job/x/1/");
  EXPECT_EQ(redact_ci_text("https://ci.example/job/x/1/"), "https://ci.example/job/x/1/");
  EXPECT_EQ(redact_ci_text("1234"), "1234");
}

TEST(ProvenanceSummary, ShortCommitDirtyJobAndSource) {
  Provenance p;
  EXPECT_EQ(p.summary(), "-");
  p.git = GitProvenance{"1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", true};
  p.ci = CiProvenance{"github-actions", "42", "https://github.com/a/b/actions/runs/42"};
  p.source_environment = "test";
  EXPECT_EQ(p.summary(), "1a2b3c4+dirty github-actions#42 from test");
  p.git->dirty = false;
  p.ci->job.reset();
  EXPECT_EQ(p.summary(), "1a2b3c4 github-actions from test");
  auto j = provenance_json(p);
  EXPECT_EQ(j["git_commit"], "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d");
  EXPECT_EQ(j["git_dirty"], false);
  EXPECT_TRUE(j["ci"]["job"].is_null());
  EXPECT_TRUE(provenance_json(Provenance{})["git_dirty"].is_null());
}

// ---- git, run for real in temporary folders ----

std::string git(const std::filesystem::path& dir, std::vector<std::string> args) {
  ProcessSpec spec;
  spec.program = "/usr/bin/env";
  spec.args = {"git", "-C", dir.string(), "-c", "user.name=t", "-c", "user.email=t@example.invalid"};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  auto r = run_process(spec);
  EXPECT_TRUE(r.ok()) << r.describe() << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

TEST(ProvenanceGit, NoneOutsideACheckoutOrBeforeTheFirstCommit) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "migrations");
  EXPECT_FALSE(git_provenance(dir / "migrations"));
  EXPECT_FALSE(git_provenance(dir / "no-such-folder"));
  git(dir.path(), {"init", "-q"});
  EXPECT_FALSE(git_provenance(dir / "migrations"));  // no HEAD yet
}

TEST(ProvenanceGit, HeadAndWhetherTheMigrationsFolderDiffers) {
  test::TempDir dir;
  test::write_file(dir / "migrations/0001_a.sql", "SELECT 1;\n");
  test::write_file(dir / "README", "x\n");
  git(dir.path(), {"init", "-q"});
  git(dir.path(), {"add", "-A"});
  git(dir.path(), {"commit", "-q", "-m", "one"});
  const auto head = git(dir.path(), {"rev-parse", "HEAD"});

  auto clean = git_provenance(dir / "migrations");
  ASSERT_TRUE(clean);
  EXPECT_EQ(clean->commit, head);
  EXPECT_FALSE(clean->dirty);
  // A change outside the folder is not the migrations' business.
  test::write_file(dir / "README", "changed\n");
  test::write_file(dir / "notes.txt", "untracked\n");
  EXPECT_FALSE(git_provenance(dir / "migrations")->dirty);
  // An untracked migration, then an edited one.
  test::write_file(dir / "migrations/0002_b.sql", "SELECT 2;\n");
  EXPECT_TRUE(git_provenance(dir / "migrations")->dirty);
  std::filesystem::remove(dir / "migrations/0002_b.sql");
  test::write_file(dir / "migrations/0001_a.sql", "SELECT 11;\n");
  auto dirty = git_provenance(dir / "migrations");
  ASSERT_TRUE(dirty);
  EXPECT_EQ(dirty->commit, head);
  EXPECT_TRUE(dirty->dirty);
}

TEST(ProvenanceGit, NoneWhenGitIsNotInstalled) {
  test::TempDir dir;
  test::write_file(dir / "migrations/0001_a.sql", "SELECT 1;\n");
  git(dir.path(), {"init", "-q"});
  git(dir.path(), {"add", "-A"});
  git(dir.path(), {"commit", "-q", "-m", "one"});
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", (dir / "empty-bin").c_str(), 1);
  auto p = git_provenance(dir / "migrations");
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_FALSE(p);
  EXPECT_TRUE(git_provenance(dir / "migrations"));
}

// A git that hangs or fails leaves the provenance empty, never an error.
TEST(ProvenanceGit, NoneWhenGitHangsOrFails) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "migrations");
  std::filesystem::create_directories(dir / "bin");
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", (dir / "bin").c_str(), 1);
  std::optional<GitProvenance> hung, failed;
  test::write_file(dir / "bin/git", "#!/bin/sh\nexec /bin/sleep 30\n");
  std::filesystem::permissions(dir / "bin/git", std::filesystem::perms::owner_all);
  hung = git_provenance(dir / "migrations", std::chrono::milliseconds(300));
  test::write_file(dir / "bin/git", "#!/bin/sh\necho 'fatal: not a git repository' >&2\nexit 128\n");
  failed = git_provenance(dir / "migrations");
  // HEAD answers, status does not: a commit without a dirty flag would claim too much.
  test::write_file(dir / "bin/git",
                   "#!/bin/sh\nfor a; do [ \"$a\" = rev-parse ] && { echo 1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d; exit 0; }; "
                   "done\nexit 1\n");
  auto half = git_provenance(dir / "migrations");
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_FALSE(hung);
  EXPECT_FALSE(failed);
  EXPECT_FALSE(half);
}

}  // namespace
}  // namespace mgr
