// status.hpp: the environment matrix and its summaries.
#include "mgr/status.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mgr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string sum_of(const std::string& id) { return sha256_hex("status " + id); }

Migration mig(const std::string& id, const std::string& name) {
  Migration m;
  m.id = id;
  m.name = name;
  m.up.path = "/m/" + id + "_" + name + ".sql";
  m.up.checksum = sum_of(id);
  return m;
}

Catalog three() {
  Catalog c;
  c.migrations = {mig("0001", "a"), mig("0002", "b"), mig("0003", "c")};
  return c;
}

HistoryRow row(const std::string& id, const std::string& env, bool success = true, std::string checksum = "") {
  HistoryRow r;
  r.migration_id = id;
  r.name = "gone_" + id;
  r.checksum = checksum.empty() ? sum_of(id) : checksum;
  r.environment = env;
  r.applied_at = "2025-03-0" + id.substr(id.size() - 1) + "T10:00:00Z";
  r.success = success;
  return r;
}

std::vector<HistoryRow> rows_of(const std::vector<std::string>& ids, const std::string& env) {
  std::vector<HistoryRow> out;
  for (const auto& id : ids) out.push_back(row(id, env));
  return out;
}

EnvHistory env(const std::string& name, std::optional<std::vector<HistoryRow>> rows,
               std::optional<std::string> from = std::nullopt, std::string error = "") {
  return EnvHistory{name, std::move(from), std::move(rows), std::move(error)};
}

std::vector<CellState> column(const StatusMatrix& m, std::size_t env_index) {
  std::vector<CellState> out;
  for (const auto& r : m.rows) out.push_back(r.cells.at(env_index).state);
  return out;
}

using S = CellState;

TEST(Status, CellStateNamesAreStable) {
  EXPECT_STREQ(to_string(S::applied), "applied");
  EXPECT_STREQ(to_string(S::pending), "pending");
  EXPECT_STREQ(to_string(S::checksum_differs), "checksum-differs");
  EXPECT_STREQ(to_string(S::failed), "failed");
  EXPECT_STREQ(to_string(S::file_missing), "file-missing");
  EXPECT_STREQ(to_string(S::unknown), "unknown");
}

TEST(Status, RowsPerMigrationColumnsPerEnvironmentInOrder) {
  auto c = three();
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002", "0003"}, "dev")),
                            env("test", rows_of({"0001", "0002"}, "test"), "dev"),
                            env("prod", rows_of({"0001"}, "prod"), "test")});
  EXPECT_EQ(m.envs, (std::vector<std::string>{"dev", "test", "prod"}));
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[0].id, "0001");
  EXPECT_EQ(m.rows[0].name, "a");
  EXPECT_TRUE(m.rows[0].has_file);
  EXPECT_EQ(m.rows[2].id, "0003");
  for (const auto& r : m.rows) EXPECT_EQ(r.cells.size(), 3u);
  EXPECT_EQ(column(m, 0), (std::vector<S>{S::applied, S::applied, S::applied}));
  EXPECT_EQ(column(m, 1), (std::vector<S>{S::applied, S::applied, S::pending}));
  EXPECT_EQ(column(m, 2), (std::vector<S>{S::applied, S::pending, S::pending}));
}

TEST(Status, AppliedCellCarriesDateAndKind) {
  auto c = three();
  auto rows = rows_of({"0001"}, "dev");
  rows[0].kind = "baseline";
  auto m = build_status(c, {env("dev", rows)});
  EXPECT_EQ(m.rows[0].cells[0].applied_at, "2025-03-01T10:00:00Z");
  EXPECT_EQ(m.rows[0].cells[0].kind, "baseline");
  EXPECT_EQ(m.rows[1].cells[0].applied_at, "");  // pending has no date
}

TEST(Status, ChecksumDiffersCell) {
  auto c = three();
  std::vector<HistoryRow> rows = {row("0001", "dev"), row("0002", "dev", true, "edited-since")};
  auto m = build_status(c, {env("dev", rows)});
  EXPECT_EQ(column(m, 0), (std::vector<S>{S::applied, S::checksum_differs, S::pending}));
  EXPECT_EQ(m.rows[1].cells[0].applied_at, "2025-03-02T10:00:00Z");
}

TEST(Status, FailedCell) {
  auto c = three();
  std::vector<HistoryRow> rows = {row("0001", "dev"), row("0002", "dev", false)};
  auto m = build_status(c, {env("dev", rows)});
  EXPECT_EQ(column(m, 0), (std::vector<S>{S::applied, S::failed, S::pending}));
}

TEST(Status, FailedWinsOverChecksumDiffers) {
  auto c = three();
  std::vector<HistoryRow> rows = {row("0001", "dev", false, "other")};
  auto m = build_status(c, {env("dev", rows)});
  EXPECT_EQ(m.rows[0].cells[0].state, S::failed);
}

TEST(Status, AppliedButFileMissingGetsItsOwnRowInIdOrder) {
  auto c = three();
  std::vector<HistoryRow> rows = {row("0001", "dev"), row("0002", "dev"), row("00025", "dev")};
  auto m = build_status(c, {env("dev", rows)});
  ASSERT_EQ(m.rows.size(), 4u);
  // 25 sorts after 3 numerically.
  EXPECT_EQ(m.rows[3].id, "00025");
  EXPECT_FALSE(m.rows[3].has_file);
  EXPECT_EQ(m.rows[3].name, "gone_00025");  // name from the history row
  EXPECT_EQ(m.rows[3].cells[0].state, S::file_missing);
  EXPECT_TRUE(m.rows[0].has_file);
}

TEST(Status, FileMissingRowInTheMiddleSortsNumerically) {
  Catalog c;
  c.migrations = {mig("9", "nine"), mig("11", "eleven")};
  std::vector<HistoryRow> rows = {row("9", "dev"), row("10", "dev")};
  auto m = build_status(c, {env("dev", rows)});
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[0].id, "9");
  EXPECT_EQ(m.rows[1].id, "10");
  EXPECT_EQ(m.rows[1].cells[0].state, S::file_missing);
  EXPECT_EQ(m.rows[2].id, "11");
  EXPECT_EQ(m.rows[2].cells[0].state, S::pending);
}

TEST(Status, UnreachableEnvironmentIsUnknownAndDoesNotHideOthers) {
  auto c = three();
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002"}, "dev")),
                            env("test", std::nullopt, "dev", "connection refused")});
  EXPECT_EQ(column(m, 0), (std::vector<S>{S::applied, S::applied, S::pending}));
  EXPECT_EQ(column(m, 1), (std::vector<S>{S::unknown, S::unknown, S::unknown}));
  ASSERT_EQ(m.summaries.size(), 2u);
  EXPECT_TRUE(m.summaries[0].reachable);
  EXPECT_FALSE(m.summaries[1].reachable);
  EXPECT_EQ(m.summaries[1].error, "connection refused");
  EXPECT_THAT(m.summaries[1].next, HasSubstr("unreachable"));
  EXPECT_THAT(m.summaries[1].next, HasSubstr("connection refused"));
  EXPECT_FALSE(m.summaries[1].can_take.has_value());
}

TEST(Status, SummaryCountsAndNewestApplied) {
  auto c = three();
  std::vector<HistoryRow> rows = {row("0002", "dev"), row("0001", "dev"), row("0003", "dev", false)};
  auto m = build_status(c, {env("dev", rows)});
  const auto& s = m.summaries.at(0);
  EXPECT_EQ(s.name, "dev");
  EXPECT_TRUE(s.reachable);
  EXPECT_EQ(s.applied, 2);            // the failed row is not applied
  EXPECT_EQ(s.newest_applied, "0002");  // nor the newest
  EXPECT_EQ(s.pending, 0);            // but it is not pending either
}

TEST(Status, SummaryForEmptyDatabase) {
  auto c = three();
  auto m = build_status(c, {env("dev", std::vector<HistoryRow>{})});
  const auto& s = m.summaries.at(0);
  EXPECT_EQ(s.applied, 0);
  EXPECT_EQ(s.newest_applied, "");
  EXPECT_EQ(s.pending, 3);
  EXPECT_EQ(s.next, "dev can take 3 pending migrations");
}

TEST(Status, SummaryFirstEnvironmentUpToDate) {
  auto c = three();
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002", "0003"}, "dev"))});
  EXPECT_EQ(m.summaries.at(0).next, "dev is up to date");
  EXPECT_FALSE(m.summaries.at(0).can_take.has_value());
}

TEST(Status, ProdCanTakeNMigrationsFromTest) {
  auto c = three();
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002", "0003"}, "dev")),
                            env("test", rows_of({"0001", "0002", "0003"}, "test"), "dev"),
                            env("prod", std::vector<HistoryRow>{}, "test")});
  const auto& prod = m.summaries.at(2);
  EXPECT_EQ(prod.promote_from, std::optional<std::string>("test"));
  ASSERT_TRUE(prod.can_take.has_value());
  EXPECT_EQ(*prod.can_take, 3);
  EXPECT_EQ(prod.pending, 3);
  EXPECT_EQ(prod.next, "prod can take 3 migrations from test");
  EXPECT_EQ(m.summaries.at(1).next, "test has nothing to take from dev");
}

TEST(Status, CanTakeOneUsesSingular) {
  auto c = three();
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002"}, "dev")),
                            env("test", rows_of({"0001"}, "test"), "dev")});
  EXPECT_EQ(m.summaries.at(1).can_take, std::optional<int>(1));
  EXPECT_EQ(m.summaries.at(1).next, "test can take 1 migration from dev");
}

TEST(Status, CanTakeStopsAtAChecksumDifferenceInTheSource) {
  auto c = three();
  std::vector<HistoryRow> dev = {row("0001", "dev"), row("0002", "dev", true, "old"), row("0003", "dev")};
  auto m = build_status(c, {env("dev", dev), env("test", rows_of({"0001"}, "test"), "dev")});
  const auto& test = m.summaries.at(1);
  EXPECT_EQ(test.can_take, std::optional<int>(0));
  EXPECT_EQ(test.pending, 2);
  EXPECT_THAT(test.next, HasSubstr("test has nothing to take from dev"));
  EXPECT_THAT(test.next, HasSubstr("2 pending"));
}

TEST(Status, CanTakeUnknownWhenSourceUnreachable) {
  auto c = three();
  auto m = build_status(c, {env("test", std::nullopt, "dev", "timeout"),
                            env("prod", std::vector<HistoryRow>{}, "test")});
  EXPECT_FALSE(m.summaries.at(1).can_take.has_value());
  EXPECT_TRUE(m.summaries.at(1).reachable);
  EXPECT_THAT(m.summaries.at(1).next, HasSubstr("test"));
}

TEST(Status, CanTakeUnknownWhenSourceNotShown) {
  auto c = three();
  auto m = build_status(c, {env("prod", std::vector<HistoryRow>{}, "test")});
  EXPECT_FALSE(m.summaries.at(0).can_take.has_value());
  EXPECT_EQ(m.summaries.at(0).pending, 3);
}

TEST(Status, EmptyCatalogAndNoHistory) {
  Catalog c;
  auto m = build_status(c, {env("dev", std::vector<HistoryRow>{})});
  EXPECT_TRUE(m.rows.empty());
  EXPECT_EQ(m.summaries.at(0).next, "dev is up to date");
}


// check_history and pending_migrations treat history id "1" as the file
// 0001 (compare_ids), and the summary counts 0 pending; the cell must agree.
TEST(Status, CellMatchesHistoryIdNumericallyLikeThePlan) {
  Catalog c;
  c.migrations = {mig("0001", "a")};
  auto m = build_status(c, {env("dev", std::vector<HistoryRow>{row("1", "dev", true, sum_of("0001"))})});
  ASSERT_EQ(m.rows.size(), 1u);
  EXPECT_EQ(m.summaries[0].pending, 0);
  EXPECT_EQ(m.rows[0].cells[0].state, S::applied) << to_string(m.rows[0].cells[0].state);
}

// A row whose file is gone cannot be pending anywhere: there is nothing to
// apply, and the summary (rightly) does not count it as pending.
TEST(Status, FileMissingRowIsNotPendingInOtherEnvironments) {
  Catalog c;
  c.migrations = {mig("0001", "a")};
  auto m = build_status(c, {env("dev", rows_of({"0001", "0002"}, "dev")),
                            env("test", rows_of({"0001"}, "test"), "dev")});
  ASSERT_EQ(m.rows.size(), 2u);
  EXPECT_EQ(m.rows[1].cells[0].state, S::file_missing);
  EXPECT_EQ(m.summaries[1].pending, 0);
  EXPECT_NE(m.rows[1].cells[1].state, S::pending) << to_string(m.rows[1].cells[1].state);
}

}  // namespace
}  // namespace mgr

namespace mgr {
namespace {

// Issue 12 #8: "dev is up to date" beside a CHECKSUM DIFFERS cell was false.
TEST(StatusProblems, AChangedFileIsNotUpToDate) {
  auto c = three();
  auto rows = rows_of({"0001", "0002", "0003"}, "dev");
  rows[1].checksum = sum_of("edited");
  auto m = build_status(c, {env("dev", rows)});
  const auto& s = m.summaries.at(0);
  EXPECT_THAT(s.next, Not(HasSubstr("up to date")));
  EXPECT_THAT(s.next, HasSubstr("dev needs attention"));
  ASSERT_EQ(s.problems.size(), 1u);
  EXPECT_THAT(s.problems[0], HasSubstr("0002_b"));
  EXPECT_THAT(s.problems[0], HasSubstr("checksum differs"));
}

TEST(StatusProblems, FailedInProgressAndMissingFilesAreProblems) {
  auto c = three();
  auto rows = rows_of({"0001", "0002", "0003", "0004"}, "dev");
  rows[1].success = false;
  rows[2].success = false;
  rows[2].in_progress = true;
  auto m = build_status(c, {env("dev", rows)});
  EXPECT_EQ(column(m, 0), (std::vector<CellState>{S::applied, S::failed, S::in_progress, S::file_missing}));
  const auto& s = m.summaries.at(0);
  ASSERT_EQ(s.problems.size(), 3u);
  EXPECT_THAT(s.problems[1], HasSubstr("never finished"));
  EXPECT_STREQ(to_string(S::in_progress), "in-progress");
}

TEST(StatusProblems, AHealthyEnvironmentHasNone) {
  auto m = build_status(three(), {env("dev", rows_of({"0001"}, "dev"))});
  EXPECT_TRUE(m.summaries.at(0).problems.empty());
}

}  // namespace
}  // namespace mgr
