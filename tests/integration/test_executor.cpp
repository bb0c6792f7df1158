// The executor (include/mgr/executor.hpp) called directly, as commands and a
// fleet call it, against the sandbox server; and what apply and rollback
// render from its result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/executor.hpp"
#include "mgr/history.hpp"
#include "mgr/plan.hpp"
#include "mgr/session.hpp"
#include "support/project.hpp"

using namespace mgr::test;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// Records the events of a run, and accepts a confirmation when told to.
class Recorder : public mgr::ExecObserver {
 public:
  bool accept = false;
  std::vector<std::string> events;
  void confirm(const mgr::Environment& env, const std::string& what) override {
    events.push_back("confirm " + env.name);
    if (!accept) mgr::ExecObserver::confirm(env, what);
  }
  void run_started(const mgr::ExecPlan& p) override { events.push_back("run " + std::to_string(p.steps.size())); }
  void step_started(const mgr::ExecStep& s, std::size_t i, std::size_t n) override {
    events.push_back("start " + s.label + " " + std::to_string(i) + "/" + std::to_string(n));
  }
  void step_finished(const mgr::StepResult& r, std::size_t, std::size_t) override {
    events.push_back(std::string(r.ok ? "ok " : "failed ") + r.label);
  }
};

// A plan that applies every migration of the catalog, recording history rows as apply does.
mgr::ExecPlan apply_plan(const mgr::Catalog& catalog, const std::string& env) {
  mgr::ExecPlan plan;
  plan.action = "apply";
  for (const auto& m : catalog.migrations) {
    mgr::ExecStep step;
    step.id = m.id;
    step.name = m.name;
    step.label = m.label();
    step.file = &m.up;
    step.bookkeeping = [&m, env](mgr::HistoryStore& history, const std::optional<std::string>&) {
      auto row = mgr::history_row_for(m, env, "apply", "tester@host");
      auto log = mgr::LogEntry::of("apply", m.id, "tester@host", m.label());
      mgr::StepBooks books;
      books.books.on_success = {history.insert_sql(row, true), history.log_sql(log, true)};
      books.failure_log = log;
      return books;
    };
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

mgr::ExecResult run_plan(const Project& p, const std::string& env_name, Recorder& recorder, bool confirmed = true) {
  auto config = mgr::load_config(p.config_path());
  const auto& env = config.get(env_name);
  auto catalog = mgr::load_catalog(p.dir() / "migrations");
  mgr::Session session(env, "mgr " + env_name);
  mgr::MigrationLock lock(session, config.history_table, std::chrono::seconds(5));
  auto plan = apply_plan(catalog, env_name);
  plan.confirmed = confirmed;
  return mgr::execute(config, env, session, plan, recorder);
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST(ProgressLine, ShowsDoneOfTotalElapsedAndTheCurrentStep) {
  EXPECT_EQ(mgr::progress_line(3, 10, std::chrono::milliseconds(1234), "0004_add_col"), "[3/10] 1.2s  0004_add_col");
  EXPECT_EQ(mgr::progress_line(0, 1000, std::chrono::milliseconds(0), ""), "[0/1000] 0.0s");
  EXPECT_EQ(mgr::progress_line(10, 10, std::chrono::milliseconds(61050), "x"), "[10/10] 61.0s  x");
}

TEST_F(ExecutorTest, ReturnsEveryStepInOrderAndReportsEventsAsTheyHappen) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0002_row.sql", "INSERT INTO t VALUES (1);\n");
  Recorder rec;
  auto result = run_plan(p, "dev", rec);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.steps.size(), 2u);
  EXPECT_EQ(result.steps[0].label, "0001_t");
  EXPECT_TRUE(result.steps[1].ok);
  EXPECT_EQ(result.done(), 2u);
  EXPECT_FALSE(result.backup_file);  // backup: off
  // 0001 is reported once 0002's synchronous commit has made it durable.
  EXPECT_THAT(rec.events, ElementsAre("run 2", "start 0001_t 0/2", "start 0002_row 1/2", "ok 0001_t", "ok 0002_row"));
  EXPECT_EQ(p.dev().scalar("SELECT string_agg(migration_id, ',' ORDER BY migration_id) FROM schema_migrations"),
            "0001,0002");
}

TEST_F(ExecutorTest, AFailedStepIsAValueWithTheErrorsDetailHintAndPlace) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0002_bad.sql",
        "INSERT INTO t VALUES (1);\n"
        "DO $$ BEGIN RAISE EXCEPTION 'no way' USING DETAIL = 'the detail', HINT = 'the hint'; END $$;\n");
  p.add("0003_never.sql", "INSERT INTO t VALUES (3);\n");
  Recorder rec;
  auto result = run_plan(p, "dev", rec);
  ASSERT_FALSE(result.ok());
  ASSERT_TRUE(result.failure);
  EXPECT_EQ(result.failure->step, 1u);
  EXPECT_EQ(result.done(), 1u);
  ASSERT_EQ(result.steps.size(), 2u);
  EXPECT_FALSE(result.steps[1].ok);
  EXPECT_EQ(result.failure->outcome.state, mgr::RunState::rolled_back);
  const auto& err = *result.failure->outcome.error;
  EXPECT_EQ(err.message, "no way");
  EXPECT_EQ(err.detail, "the detail");
  EXPECT_EQ(err.hint, "the hint");
  EXPECT_EQ(err.file.filename(), "0002_bad.sql");
  EXPECT_TRUE(result.failure->audit_error.empty());
  EXPECT_FALSE(result.schema_sha256);
  // Nothing of the failed step stayed, nothing after it ran, and the audit log says it was tried.
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM t"), "0");
  EXPECT_EQ(p.dev().scalar("SELECT string_agg(migration_id, ',') FROM schema_migrations"), "0001");
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM schema_migrations_log WHERE outcome = 'failed' AND migration_id = '0002'"),
            "1");
  auto j = mgr::error_json(err);
  EXPECT_EQ(j["detail"], "the detail");
  EXPECT_EQ(j["hint"], "the hint");
}

TEST_F(ExecutorTest, AnEnvironmentThatAsksForConfirmationIsRefusedUnlessSomeoneConfirms) {
  Project p("    backup: off\n    confirm: true\n");
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  Recorder refusing;
  EXPECT_THROW(run_plan(p, "dev", refusing, /*confirmed=*/false), mgr::Refused);
  EXPECT_THAT(refusing.events, ElementsAre("confirm dev"));
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('schema_migrations') IS NULL AND to_regclass('t') IS NULL"), "t");

  Recorder accepting;
  accepting.accept = true;
  EXPECT_TRUE(run_plan(p, "dev", accepting, /*confirmed=*/false).ok());
  EXPECT_EQ(accepting.events.front(), "confirm dev");
}

// As a fleet calls it: one execute() per database, each on its own thread with its own session.
TEST_F(ExecutorTest, RunsOnSeveralDatabasesAtOnceFromWorkerThreads) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0002_row.sql", "INSERT INTO t VALUES (1);\n");
  std::vector<mgr::ExecResult> results(3);
  std::vector<Recorder> recorders(3);
  std::vector<std::thread> threads;
  const char* names[] = {"dev", "test", "prod"};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { results[i] = run_plan(p, names[i], recorders[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(results[i].ok()) << names[i];
    EXPECT_EQ(recorders[i].events.size(), 5u) << names[i];
  }
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM t"), "1");
  EXPECT_EQ(p.test().scalar("SELECT count(*) FROM schema_migrations"), "2");
}

TEST_F(ExecutorTest, RollbackJsonErrorCarriesDetailHintAndPlaceLikeApply) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0001_t.down.sql",
        "DROP TABLE t;\nDO $$ BEGIN RAISE EXCEPTION 'refusing' USING DETAIL = 'why not', HINT = 'try later'; END $$;\n");
  ASSERT_EQ(p.mgr({"apply", "dev"}).exit_code, 0);
  auto r = p.mgr({"--json", "rollback", "dev", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"]["message"], "refusing");
  EXPECT_EQ(j["error"]["detail"], "why not");
  EXPECT_EQ(j["error"]["hint"], "try later");
  EXPECT_THAT(j["error"]["file"].get<std::string>(), HasSubstr("0001_t.down.sql"));
  EXPECT_EQ(j["rolled_back"][0]["outcome"], "failed");
  EXPECT_EQ(p.dev().scalar("SELECT to_regclass('t') IS NOT NULL"), "t");  // rolled back
}

// stderr is a pipe here, not a terminal: no progress line, no control characters.
TEST_F(ExecutorTest, ApplyShowsNoProgressWhenStderrIsNotATerminal) {
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0002_row.sql", "INSERT INTO t VALUES (1);\n");
  auto r = p.mgr({"apply", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, Not(HasSubstr("\r")));
  EXPECT_THAT(r.out, Not(HasSubstr("[1/2]")));
}

// Issue 16 §1: all but the run's last migration commit without waiting for the
// WAL flush; durable_each turns that off. --dry-run --sql shows what is sent.
TEST_F(ExecutorTest, OnlyTheLastCommitWaitsForTheFlushUnlessDurableEach) {
  const std::string off = "SET LOCAL synchronous_commit = off";
  Project p;
  p.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  p.add("0002_row.sql", "INSERT INTO t VALUES (1);\n");
  auto r = p.mgr({"--json", "apply", "dev", "--dry-run", "--sql"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_THAT(j["plan"][0]["sql"][0].get<std::string>(), HasSubstr(off));
  EXPECT_THAT(j["plan"][1]["sql"][0].get<std::string>(), Not(HasSubstr(off)));

  Project each("    backup: off\n    durable_each: true\n");
  each.add("0001_t.sql", "CREATE TABLE t (id int);\n");
  each.add("0002_row.sql", "INSERT INTO t VALUES (1);\n");
  r = each.mgr({"--json", "apply", "dev", "--dry-run", "--sql"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_THAT(j["plan"][0]["sql"][0].get<std::string>(), Not(HasSubstr(off)));

  // A real run reports every step, all durable, in order.
  Recorder rec;
  auto result = run_plan(p, "dev", rec);
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(rec.events, ElementsAre("run 2", "start 0001_t 0/2", "start 0002_row 1/2", "ok 0001_t", "ok 0002_row"));
  for (const auto& s : result.steps) EXPECT_TRUE(s.durable) << s.label;
}
