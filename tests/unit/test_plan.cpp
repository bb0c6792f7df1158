// plan.hpp: the pure promotion policy.
#include "mgr/plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mgr {
namespace {

using ::testing::HasSubstr;

std::string sum_of(const std::string& id) { return sha256_hex("file " + id); }

Migration mig(const std::string& id, const std::string& name) {
  Migration m;
  m.id = id;
  m.name = name;
  m.up.path = "/m/" + id + "_" + name + ".sql";
  m.up.sql = "select " + id + ";\n";
  m.up.checksum = sum_of(id);
  return m;
}

// Catalog 0001_a .. 0005_e.
Catalog five() {
  Catalog c;
  c.dir = "/m";
  c.migrations = {mig("0001", "a"), mig("0002", "b"), mig("0003", "c"), mig("0004", "d"), mig("0005", "e")};
  return c;
}

HistoryRow row(const std::string& id, const std::string& env, bool success = true, std::string checksum = "") {
  HistoryRow r;
  r.migration_id = id;
  r.name = "n" + id;
  r.checksum = checksum.empty() ? sum_of(id) : checksum;
  r.environment = env;
  r.applied_at = "2025-01-01T00:00:00Z";
  r.success = success;
  return r;
}

std::vector<HistoryRow> applied(const std::vector<std::string>& ids, const std::string& env) {
  std::vector<HistoryRow> out;
  for (const auto& id : ids) out.push_back(row(id, env));
  return out;
}

std::vector<std::string> ids_of(const std::vector<const Migration*>& ms) {
  std::vector<std::string> out;
  for (const auto* m : ms) out.push_back(m->id);
  return out;
}

std::vector<std::string> codes_of(const std::vector<Diagnostic>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(std::string(code_name(p.code)));
  return out;
}

using Ids = std::vector<std::string>;

// ---- check_history -------------------------------------------------------

TEST(Plan, CleanHistoryHasNoProblems) {
  auto c = five();
  EXPECT_TRUE(check_history(c, "dev", applied({"0001", "0002"}, "dev")).empty());
  EXPECT_TRUE(check_history(c, "dev", {}).empty());
}

TEST(Plan, EnvironmentMismatchNamesTheOwner) {
  auto c = five();
  auto ps = check_history(c, "test", applied({"0001"}, "prod"));
  ASSERT_EQ(codes_of(ps), Ids{"environment-mismatch"});
  EXPECT_THAT(ps[0].message, HasSubstr("'prod'"));
  EXPECT_THAT(ps[0].message, HasSubstr("'test'"));
}

TEST(Plan, EnvironmentMismatchOncePerOtherEnvironment) {
  auto c = five();
  std::vector<HistoryRow> rows = {row("0001", "prod"), row("0002", "prod"), row("0003", "test")};
  auto ps = check_history(c, "test", rows);
  EXPECT_EQ(codes_of(ps), Ids{"environment-mismatch"});
}

TEST(Plan, ChecksumMismatchShowsBothChecksums) {
  auto c = five();
  auto rows = applied({"0001"}, "dev");
  rows.push_back(row("0002", "dev", true, std::string(64, 'f')));
  auto ps = check_history(c, "dev", rows);
  ASSERT_EQ(codes_of(ps), Ids{"checksum-mismatch"});
  EXPECT_EQ(ps[0].migration, "0002");
  EXPECT_THAT(ps[0].message, HasSubstr("0002_b.sql"));
  EXPECT_THAT(ps[0].message, HasSubstr("ffffffffffff"));
  EXPECT_THAT(ps[0].message, HasSubstr(sum_of("0002").substr(0, 12)));
}

TEST(Plan, MissingFileIsAProblem) {
  auto c = five();
  auto rows = applied({"0001", "0099"}, "dev");
  auto ps = check_history(c, "dev", rows);
  ASSERT_EQ(codes_of(ps), Ids{"missing-file"});
  EXPECT_EQ(ps[0].migration, "0099");
  EXPECT_THAT(ps[0].message, HasSubstr("0099"));
}

TEST(Plan, FailedRowIsAProblemWithAWayForward) {
  auto c = five();
  auto rows = applied({"0001"}, "dev");
  rows.push_back(row("0002", "dev", false));
  auto ps = check_history(c, "dev", rows);
  ASSERT_EQ(codes_of(ps), Ids{"failed-migration"});
  EXPECT_EQ(ps[0].migration, "0002");
  EXPECT_THAT(ps[0].message, HasSubstr("half-changed"));
  EXPECT_THAT(ps[0].message, HasSubstr("mgr repair dev"));
}

TEST(Plan, HistoryIdMatchesFileIdNumerically) {
  auto c = five();
  // Recorded as "1": same migration as file 0001, not a missing file.
  auto ps = check_history(c, "dev", {row("1", "dev", true, sum_of("0001"))});
  EXPECT_TRUE(ps.empty()) << ::testing::PrintToString(codes_of(ps));
}

TEST(Plan, EveryHistoryProblemIsListedAtOnce) {
  auto c = five();
  std::vector<HistoryRow> rows = {row("0001", "dev", true, "x"), row("0002", "dev", false), row("0077", "dev"),
                                  row("0003", "prod")};
  auto ps = check_history(c, "dev", rows);
  auto codes = codes_of(ps);
  EXPECT_THAT(codes, ::testing::UnorderedElementsAre("environment-mismatch", "checksum-mismatch", "failed-migration",
                                                     "missing-file"));
}

// ---- pending_migrations --------------------------------------------------

TEST(Plan, PendingAreUnrecordedInIdOrder) {
  auto c = five();
  EXPECT_EQ(ids_of(pending_migrations(c, {})), (Ids{"0001", "0002", "0003", "0004", "0005"}));
  EXPECT_EQ(ids_of(pending_migrations(c, applied({"0001", "0003"}, "dev"))), (Ids{"0002", "0004", "0005"}));
  EXPECT_TRUE(pending_migrations(c, applied({"0001", "0002", "0003", "0004", "0005"}, "dev")).empty());
}

TEST(Plan, FailedRowIsNotPending) {
  auto c = five();
  std::vector<HistoryRow> rows = {row("0001", "dev"), row("0002", "dev", false)};
  EXPECT_EQ(ids_of(pending_migrations(c, rows)), (Ids{"0003", "0004", "0005"}));
}

TEST(Plan, PendingBoundedByTo) {
  auto c = five();
  EXPECT_EQ(ids_of(pending_migrations(c, applied({"0001"}, "dev"), std::string("0003"))), (Ids{"0002", "0003"}));
  EXPECT_EQ(ids_of(pending_migrations(c, {}, std::string("3"))), (Ids{"0001", "0002", "0003"}));  // numeric
  EXPECT_TRUE(pending_migrations(c, applied({"0001"}, "dev"), std::string("0001")).empty());
}

TEST(Plan, PendingUsesNumericIdsForRecordedRows) {
  auto c = five();
  EXPECT_EQ(ids_of(pending_migrations(c, applied({"1", "2"}, "dev"))), (Ids{"0003", "0004", "0005"}));
}

// ---- check_gate ----------------------------------------------------------

TEST(Plan, GatePassesWhenSourceHasEverythingWithSameChecksum) {
  auto c = five();
  auto src = applied({"0001", "0002", "0003"}, "dev");
  SourceHistory s{"dev", &src, ""};
  EXPECT_TRUE(check_gate({&c.migrations[0], &c.migrations[2]}, s).empty());
}

TEST(Plan, GateNotInSource) {
  auto c = five();
  auto src = applied({"0001"}, "dev");
  SourceHistory s{"dev", &src, ""};
  auto ps = check_gate({&c.migrations[0], &c.migrations[1], &c.migrations[2]}, s);
  ASSERT_EQ(codes_of(ps), (Ids{"not-in-source", "not-in-source"}));
  EXPECT_EQ(ps[0].migration, "0002");
  EXPECT_EQ(ps[1].migration, "0003");
  EXPECT_THAT(ps[0].message, HasSubstr("0002_b"));
  EXPECT_THAT(ps[0].message, HasSubstr("dev"));
}

TEST(Plan, GateSourceFailed) {
  auto c = five();
  std::vector<HistoryRow> src = {row("0001", "dev", false)};
  SourceHistory s{"dev", &src, ""};
  auto ps = check_gate({&c.migrations[0]}, s);
  ASSERT_EQ(codes_of(ps), Ids{"source-failed"});
  EXPECT_EQ(ps[0].migration, "0001");
}

TEST(Plan, GateSourceChecksumDiffers) {
  auto c = five();
  std::vector<HistoryRow> src = {row("0001", "dev", true, std::string(64, 'e'))};
  SourceHistory s{"dev", &src, ""};
  auto ps = check_gate({&c.migrations[0]}, s);
  ASSERT_EQ(codes_of(ps), Ids{"source-checksum-differs"});
  EXPECT_THAT(ps[0].message, HasSubstr("eeeeeeeeeeee"));
  EXPECT_THAT(ps[0].message, HasSubstr(sum_of("0001").substr(0, 12)));
}

TEST(Plan, GateSourceUnreachableRefusesWithTheReason) {
  auto c = five();
  SourceHistory s{"test", nullptr, "connection refused"};
  auto ps = check_gate({&c.migrations[0]}, s);
  ASSERT_EQ(codes_of(ps), Ids{"source-unreachable"});
  EXPECT_THAT(ps[0].message, HasSubstr("'test'"));
  EXPECT_THAT(ps[0].message, HasSubstr("connection refused"));
}

TEST(Plan, GateWithNothingToCheckIsQuiet) {
  SourceHistory s{"test", nullptr, "down"};
  EXPECT_TRUE(check_gate({}, s).empty());  // nothing pending: unreachable source is irrelevant
}

// ---- promotable ----------------------------------------------------------

TEST(Plan, PromotableTakesWhatTheSourceHas) {
  auto c = five();
  EXPECT_EQ(ids_of(promotable(c, applied({"0001"}, "test"), applied({"0001", "0002", "0003"}, "dev"))),
            (Ids{"0002", "0003"}));
  EXPECT_TRUE(promotable(c, applied({"0001"}, "test"), applied({"0001"}, "dev")).empty());
}

TEST(Plan, PromotableStopsAtTheFirstRefusal) {
  auto c = five();
  // 0003 missing from the source: 0004 cannot be promoted before it.
  EXPECT_EQ(ids_of(promotable(c, {}, applied({"0001", "0002", "0004"}, "dev"))), (Ids{"0001", "0002"}));
  std::vector<HistoryRow> failed_src = {row("0001", "dev"), row("0002", "dev", false), row("0003", "dev")};
  EXPECT_EQ(ids_of(promotable(c, {}, failed_src)), Ids{"0001"});
  std::vector<HistoryRow> differ_src = {row("0001", "dev", true, "other"), row("0002", "dev")};
  EXPECT_TRUE(promotable(c, {}, differ_src).empty());
}

// ---- make_plan -----------------------------------------------------------

PlanInput input(const Catalog& c, const std::string& env, const std::vector<HistoryRow>& rows) {
  PlanInput in;
  in.catalog = &c;
  in.env = env;
  in.applied = &rows;
  return in;
}

TEST(Plan, MakePlanFirstApplyWithoutSource) {
  auto c = five();
  std::vector<HistoryRow> none;
  PlanInput in;
  in.catalog = &c;
  in.env = "dev";
  in.applied = &none;
  auto p = make_plan(in);
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(ids_of(p.to_apply), (Ids{"0001", "0002", "0003", "0004", "0005"}));
  EXPECT_EQ(p.newest_applied, "");
}

TEST(Plan, MakePlanNewestAppliedIgnoresFailedRows) {
  auto c = five();
  std::vector<HistoryRow> rows = {row("0002", "dev"), row("0001", "dev"), row("0003", "dev", false)};
  auto in = input(c, "dev", rows);
  auto p = make_plan(in);
  EXPECT_EQ(p.newest_applied, "0002");
  EXPECT_EQ(codes_of(p.problems), Ids{"failed-migration"});
}

TEST(Plan, MakePlanNothingPending) {
  auto c = five();
  auto rows = applied({"0001", "0002", "0003", "0004", "0005"}, "test");
  auto in = input(c, "test", rows);
  in.source = SourceHistory{"dev", nullptr, "unreachable"};
  auto p = make_plan(in);
  EXPECT_TRUE(p.to_apply.empty());
  EXPECT_TRUE(p.problems.empty());  // nothing to gate: fast, clean exit 0
  EXPECT_EQ(p.newest_applied, "0005");
}

TEST(Plan, MakePlanOutOfOrderRefusedUnlessAllowed) {
  auto c = five();
  auto rows = applied({"0001", "0003"}, "dev");
  auto in = input(c, "dev", rows);
  auto p = make_plan(in);
  EXPECT_EQ(ids_of(p.to_apply), (Ids{"0002", "0004", "0005"}));
  ASSERT_EQ(codes_of(p.problems), Ids{"out-of-order"});
  EXPECT_EQ(p.problems[0].migration, "0002");
  EXPECT_THAT(p.problems[0].message, HasSubstr("--allow-out-of-order"));
  EXPECT_THAT(p.problems[0].message, HasSubstr("0003"));

  in.allow_out_of_order = true;
  p = make_plan(in);
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(ids_of(p.to_apply), (Ids{"0002", "0004", "0005"}));
}

TEST(Plan, MakePlanOutOfOrderIsNumericNotLexical) {
  Catalog c;
  c.migrations = {mig("9", "nine"), mig("10", "ten")};
  std::vector<HistoryRow> rows = {row("9", "dev")};
  auto in = input(c, "dev", rows);
  auto p = make_plan(in);
  EXPECT_TRUE(p.problems.empty()) << ::testing::PrintToString(codes_of(p.problems));
  EXPECT_EQ(ids_of(p.to_apply), Ids{"10"});
}

TEST(Plan, MakePlanGateListsEveryMissingMigration) {
  auto c = five();
  auto rows = applied({"0001"}, "prod");
  auto src = applied({"0001", "0002"}, "test");
  auto in = input(c, "prod", rows);
  in.source = SourceHistory{"test", &src, ""};
  auto p = make_plan(in);
  EXPECT_EQ(ids_of(p.to_apply), (Ids{"0002", "0003", "0004", "0005"}));
  EXPECT_EQ(codes_of(p.problems), (Ids{"not-in-source", "not-in-source", "not-in-source"}));
  EXPECT_EQ(p.problems[0].migration, "0003");
  EXPECT_EQ(p.problems[2].migration, "0005");
}

TEST(Plan, MakePlanToBoundsTheGate) {
  auto c = five();
  auto rows = applied({"0001"}, "prod");
  auto src = applied({"0001", "0002"}, "test");
  auto in = input(c, "prod", rows);
  in.source = SourceHistory{"test", &src, ""};
  in.to = "0002";
  auto p = make_plan(in);
  EXPECT_EQ(ids_of(p.to_apply), Ids{"0002"});
  EXPECT_TRUE(p.problems.empty()) << ::testing::PrintToString(codes_of(p.problems));
}

TEST(Plan, MakePlanSourceUnreachableRefuses) {
  auto c = five();
  std::vector<HistoryRow> rows;
  auto in = input(c, "test", rows);
  in.source = SourceHistory{"dev", nullptr, "could not connect"};
  auto p = make_plan(in);
  EXPECT_EQ(codes_of(p.problems), Ids{"source-unreachable"});
  EXPECT_FALSE(p.to_apply.empty());
}

TEST(Plan, MakePlanCombinesHistoryAndGateProblems) {
  auto c = five();
  std::vector<HistoryRow> rows = {row("0001", "prod", true, "edited")};
  std::vector<HistoryRow> src = {row("0001", "test"), row("0002", "test", true, "other")};
  auto in = input(c, "prod", rows);
  in.source = SourceHistory{"test", &src, ""};
  in.to = "0003";
  auto p = make_plan(in);
  EXPECT_EQ(codes_of(p.problems), (Ids{"checksum-mismatch", "source-checksum-differs", "not-in-source"}));
}

// check_history matches history ids numerically
// ("1" is file 0001), but check_gate and promotable match the source's ids
// as exact strings, so the same source row passes one check and fails the other.
TEST(Plan, GateMatchesSourceIdsNumericallyLikeCheckHistory) {
  Catalog c;
  c.migrations = {mig("0001", "a")};
  std::vector<HistoryRow> src = {row("1", "dev", true, sum_of("0001"))};
  EXPECT_TRUE(check_history(c, "dev", src).empty());
  SourceHistory s{"dev", &src, ""};
  EXPECT_TRUE(check_gate({&c.migrations[0]}, s).empty());
  EXPECT_EQ(promotable(c, {}, src).size(), 1u);
}

// ---- the file rules shared by apply, rollback and validate ----

MigrationFile file_of(const std::string& path, const std::string& sql, bool no_transaction = false) {
  MigrationFile f;
  f.path = path;
  f.sql = sql;
  f.directives.no_transaction = no_transaction;
  return f;
}

TEST(FileRules, CleanFileHasNoProblemAndNothingFolded) {
  auto c = check_migration_file("0001", file_of("m/0001_a.sql", "CREATE TABLE a (id int);\n"), FileRole::up);
  EXPECT_TRUE(c.problems.empty());
  EXPECT_TRUE(c.folded.empty());
}

TEST(FileRules, ParseErrorNamesFileLineAndColumn) {
  auto c = check_migration_file("0001", file_of("m/0001_a.sql", "SELECT 1;\nCREATE TABLE (;\n"), FileRole::up);
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.problems[0].code, Code::parse_error);
  EXPECT_EQ(c.problems[0].file, "m/0001_a.sql");
  EXPECT_EQ(c.problems[0].line, 2);
  EXPECT_EQ(c.problems[0].column, 14);
  EXPECT_THAT(c.problems[0].located(), HasSubstr("m/0001_a.sql:2:14: does not parse: syntax error"));
  EXPECT_TRUE(c.parse_error());
}

TEST(FileRules, CommentOnlyUpAndDownFilesAreEmpty) {
  auto up = check_migration_file("0001", file_of("m/0001_a.sql", "-- Write your migration here.\n"), FileRole::up);
  ASSERT_EQ(up.problems.size(), 1u);
  EXPECT_EQ(up.problems[0].code, Code::empty_migration);
  auto down = check_migration_file("0001", file_of("m/0001_a.down.sql", "/* undo */\n-- here\n"), FileRole::down);
  ASSERT_EQ(down.problems.size(), 1u);
  EXPECT_EQ(down.problems[0].code, Code::empty_down);
  EXPECT_THAT(down.problems[0].message, HasSubstr("undo nothing"));
  EXPECT_EQ(down.problems[0].severity, Severity::warning);  // apply is not affected
  EXPECT_EQ(down.problems[0].located().rfind("m/0001_a.down.sql: contains no SQL", 0), 0u) << down.problems[0].located();
}

TEST(FileRules, FoldedStatementsAreListedWithFileAndLine) {
  auto c = check_migration_file("0001", file_of("m/0001_a.sql", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n"),
                                FileRole::up);
  EXPECT_TRUE(c.problems.empty());
  EXPECT_EQ(c.folded, (std::vector<std::string>{"m/0001_a.sql:1 BEGIN", "m/0001_a.sql:3 COMMIT"}));
}

TEST(FileRules, UnfoldableTransactionStatementIsRefusedWithTheWayOut) {
  auto c = check_migration_file("0001", file_of("m/0001_a.sql", "BEGIN;\nDELETE FROM a;\nROLLBACK;\n"), FileRole::up);
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.problems[0].code, Code::transaction_control);
  EXPECT_EQ(c.problems[0].migration, "0001");
  EXPECT_THAT(c.problems[0].located(), HasSubstr("m/0001_a.sql:3: ROLLBACK:"));
  EXPECT_THAT(c.problems[0].message, HasSubstr("-- mgr:no-transaction"));
  // The same blocks in a no-transaction file run as written.
  auto no_tx = check_migration_file(
      "0001", file_of("m/0001_a.sql", "-- mgr:no-transaction\nBEGIN;\nDELETE FROM a;\nROLLBACK;\n", true), FileRole::down);
  EXPECT_TRUE(no_tx.problems.empty());
  EXPECT_TRUE(no_tx.folded.empty());
}

}  // namespace
}  // namespace mgr
