// mgr reset end to end against the sandbox server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/project.hpp"

using namespace mgr::test;
using ::testing::HasSubstr;

namespace {

const char* k_items = "CREATE TABLE items (id bigint PRIMARY KEY, label text);\n";
const char* k_rows = "INSERT INTO items (id, label) VALUES (1, 'one'), (2, 'two');\n";

void add_two(const Project& p) {
  p.add("0001_items.sql", k_items);
  p.add("0002_rows.sql", k_rows);
}

// Applies both migrations through to prod, then leaves things reset must remove.
void apply_all_and_litter(Project& p) {
  for (const char* e : {"dev", "test", "prod"}) ASSERT_EQ(p.mgr({"apply", e, "--yes"}).exit_code, 0) << e;
  p.prod().exec("INSERT INTO items VALUES (3, 'three'); CREATE TABLE stray (x int); CREATE SCHEMA extra; "
                "CREATE TABLE extra.t (y int); CREATE EXTENSION IF NOT EXISTS pgcrypto");
}

bool exists(PgTestDb& db, const std::string& regclass) {
  return db.scalar("SELECT to_regclass('" + regclass + "') IS NOT NULL") == "t";
}

class ResetTest : public ::testing::Test {
 protected:
  void SetUp() override { MGR_REQUIRE_DB(); }
};

}  // namespace

TEST_F(ResetTest, DropsEverythingAndAppliesAllMigrationsAgainKeepingTheAuditLog) {
  Project p;
  add_two(p);
  apply_all_and_litter(p);
  auto log_before = p.prod().scalar("SELECT count(*) FROM schema_migrations_log");
  auto r = p.mgr({"reset", "prod", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(exists(p.prod(), "stray"));
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'extra'"), "0");
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"), "0");
  EXPECT_EQ(p.prod().scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), "1,2");
  EXPECT_EQ(p.prod().scalar("SELECT string_agg(migration_id, ',' ORDER BY migration_id) FROM schema_migrations"),
            "0001,0002");
  // public as PostgreSQL 15 creates it.
  EXPECT_EQ(p.prod().scalar("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"),
            "pg_database_owner");
  // The audit log kept every row it had, then the reset and the new applies.
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM schema_migrations_log WHERE id <= (SELECT min(id) FROM "
                            "schema_migrations_log WHERE action = 'reset') - 1"),
            log_before);
  EXPECT_EQ(p.prod().scalar("SELECT string_agg(action || ':' || coalesce(migration_id, '-'), ',' ORDER BY id) FROM "
                            "schema_migrations_log WHERE id >= (SELECT min(id) FROM schema_migrations_log WHERE "
                            "action = 'reset')"),
            "reset:-,apply:0001,apply:0002");
}

TEST_F(ResetTest, RefusesAProtectedEnvironmentUnlessForcedWithYes) {
  Project p("    backup: off\n", /*confirm_prod=*/true);
  add_two(p);
  apply_all_and_litter(p);
  p.dev().exec("CREATE TABLE stray (x int)");
  // dev: test promotes from it; prod: confirm: true.
  for (const char* e : {"dev", "prod"}) {
    for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--yes"}, {"--force"}}) {
      std::vector<std::string> args{"reset", e};
      args.insert(args.end(), extra.begin(), extra.end());
      auto r = p.mgr(args);
      EXPECT_EQ(r.exit_code, 3) << e << r.out << r.err;
      EXPECT_THAT(r.err, HasSubstr("--force --yes")) << e;
    }
  }
  EXPECT_TRUE(exists(p.dev(), "stray"));
  EXPECT_TRUE(exists(p.prod(), "stray"));
  auto r = p.mgr({"reset", "dev", "--force", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(exists(p.dev(), "stray"));
  EXPECT_EQ(p.dev().scalar("SELECT count(*) FROM items"), "2");
}

TEST_F(ResetTest, AsksForConfirmationAndChangesNothingWithoutIt) {
  Project p;
  add_two(p);
  apply_all_and_litter(p);
  auto r = p.mgr({"reset", "prod"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--yes"));
  EXPECT_TRUE(exists(p.prod(), "stray"));
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM schema_migrations_log WHERE action = 'reset'"), "0");
}

TEST_F(ResetTest, ThePromotionGateIsCheckedBeforeAnythingIsDropped) {
  Project p;
  add_two(p);
  apply_all_and_litter(p);
  // 0003 is in the folder but not applied in test: prod's gate refuses it.
  p.add("0003_more.sql", "CREATE TABLE more (z int);\n");
  auto r = p.mgr({"reset", "prod", "--yes"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("0003"));
  EXPECT_TRUE(exists(p.prod(), "stray"));
  EXPECT_EQ(p.prod().scalar("SELECT count(*) FROM items"), "3");
}

TEST_F(ResetTest, TakesABackupFirstAndRecordsIt) {
  Project p("    backup: required\n");
  add_two(p);
  apply_all_and_litter(p);
  auto r = p.mgr({"reset", "prod", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto logged = p.prod().scalar("SELECT backup FROM schema_migrations_log WHERE action = 'reset'");
  EXPECT_THAT(logged, HasSubstr("prod-"));
  EXPECT_TRUE(std::filesystem::exists(p.dir() / "schema-backups/prod" / logged));
  // The backup holds the state before the reset.
  EXPECT_EQ(p.prod().scalar("SELECT count(DISTINCT backup) FROM schema_migrations"), "1");
  EXPECT_EQ(p.prod().scalar("SELECT backup FROM schema_migrations LIMIT 1"), logged);
  auto restored = p.mgr({"restore", "prod", logged, "--yes", "--no-safety-backup"});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_TRUE(exists(p.prod(), "stray"));
}

// The reset checks the plan before the prompt, then applies it: each lint warning is shown once.
TEST_F(ResetTest, LintWarningsAreShownOnce) {
  Project p("    backup: off\n    lint: warn\n");
  p.add("0001_items.sql", k_items);
  p.add("0002_drop.sql", "ALTER TABLE items DROP COLUMN label;\n");
  auto r = p.mgr({"reset", "dev", "--force", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string warning = "0002_drop.sql:1:1: [drop-column] ";
  auto first = r.err.find(warning);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning, first + 1), std::string::npos) << r.err;
}
