// Canonical schema text, the line diff and its hunks, and the drift verdicts:
// pure functions, no server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "mgr/drift.hpp"
#include "mgr/error.hpp"

using namespace mgr;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// What pg_dump 15.18 writes for a small schema (--schema-only --no-owner
// --no-privileges), with the random \restrict key and a function body whose
// line starts with SET.
std::string dump(const std::string& key, const std::string& version, const std::string& body_extra = "") {
  return "--\n-- PostgreSQL database dump\n--\n\n\\restrict " + key +
         "\n\n-- Dumped from database version " + version + "\n-- Dumped by pg_dump version " + version +
         "\n\nSET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n"
         "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"
         "SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n"
         "SET xmloption = content;\nSET client_min_messages = warning;\nSET row_security = off;\n\n"
         "--\n-- Name: f(); Type: FUNCTION; Schema: public; Owner: -\n--\n\n"
         "CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE plpgsql\n    AS $$\nbegin\n"
         "SET search_path = public;\nreturn 1;\nend $$;\n\n\n"
         "SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n"
         "--\n-- Name: users; Type: TABLE; Schema: public; Owner: -\n--\n\n"
         "CREATE TABLE public.users (\n    id bigint NOT NULL,\n    email text NOT NULL" +
         body_extra +
         "\n);\n\n\n"
         "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict " +
         key + "\n\n";
}

const std::string k_v15 = "15.18 (Debian 15.18-0+deb12u1)";

std::string apply_script(const std::vector<DiffLine>& script, char keep) {
  std::string out;
  for (const auto& l : script) {
    if (l.op == ' ' || l.op == keep) out += l.text + "\n";
  }
  return out;
}

// Length of a longest common subsequence of lines, by the textbook table.
std::size_t lcs_length(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  std::vector<std::vector<std::size_t>> t(a.size() + 1, std::vector<std::size_t>(b.size() + 1, 0));
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    }
  }
  return t[a.size()][b.size()];
}

std::string lines_of(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += "l" + std::to_string(x) + "\n";
  return s;
}

}  // namespace

// ---- canonical text ----

TEST(DriftCanonical, TwoDumpsOfTheSameSchemaAreEqualDespiteKeysAndVersions) {
  auto a = canonical_schema(dump("RVQDjZdVDSdCHab2cv0udpXdRa2rHrMcwbp3Qkoh", k_v15));
  auto b = canonical_schema(dump("kVTa7waCa0mPjjSQ6UgwycBLBhdst1rwo58VvT0L", "15.20 (Debian 15.20-0+deb12u1)"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(schema_sha256(a), schema_sha256(b));
  EXPECT_THAT(a, Not(HasSubstr("restrict")));
  EXPECT_THAT(a, Not(HasSubstr("Dumped")));
  EXPECT_THAT(a, Not(HasSubstr("statement_timeout")));
  EXPECT_THAT(a, Not(HasSubstr("set_config")));
}

TEST(DriftCanonical, KeepsFunctionBodiesStorageSettingsAndObjects) {
  auto c = canonical_schema(dump("k", k_v15));
  // A function body line that starts with SET is schema, not a pg_dump setting.
  EXPECT_THAT(c, HasSubstr("begin\nSET search_path = public;\nreturn 1;"));
  EXPECT_THAT(c, HasSubstr("SET default_tablespace = '';"));
  EXPECT_THAT(c, HasSubstr("SET default_table_access_method = heap;"));
  EXPECT_THAT(c, HasSubstr("-- Name: users; Type: TABLE; Schema: public; Owner: -"));
  EXPECT_THAT(c, HasSubstr("CREATE TABLE public.users ("));
}

TEST(DriftCanonical, CollapsesBlankRunsAndTrimsBothEnds) {
  auto c = canonical_schema(dump("k", k_v15));
  EXPECT_THAT(c, Not(HasSubstr("\n\n\n")));
  EXPECT_NE(c.front(), '\n');
  ASSERT_GE(c.size(), 2u);
  EXPECT_EQ(c.back(), '\n');
  EXPECT_NE(c[c.size() - 2], '\n');
  EXPECT_EQ(canonical_schema("\n\n  \n"), "");
  EXPECT_EQ(canonical_schema(""), "");
  EXPECT_EQ(canonical_schema("a\r\n\r\n\r\nb"), "a\n\nb\n");
}

TEST(DriftCanonical, ASchemaChangeChangesTheText) {
  auto a = canonical_schema(dump("k1", k_v15));
  auto b = canonical_schema(dump("k2", k_v15, ",\n    phone text"));
  EXPECT_NE(a, b);
  EXPECT_NE(schema_sha256(a), schema_sha256(b));
  EXPECT_EQ(schema_sha256(a).size(), 64u);
}

TEST(DriftCanonical, ReadsThePgDumpVersion) {
  EXPECT_EQ(pg_dump_version_of(dump("k", k_v15)), k_v15);
  EXPECT_EQ(pg_dump_version_of("CREATE TABLE t ();\n"), "");
}

// ---- diff ----

TEST(DriftDiff, EqualTextsHaveNoHunks) {
  auto d = diff_texts("a\nb\nc\n", "a\nb\nc\n");
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.added, 0u);
  EXPECT_EQ(d.removed, 0u);
}

TEST(DriftDiff, AnAddedLineMakesOneHunkWithContext) {
  std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string new_text = "1\n2\n3\n4\n5\nnew\n6\n7\n8\n9\n";
  auto d = diff_texts(old_text, new_text);
  ASSERT_EQ(d.hunks.size(), 1u);
  const auto& h = d.hunks[0];
  EXPECT_EQ(h.header(), "@@ -3,6 +3,7 @@");
  ASSERT_EQ(h.lines.size(), 7u);
  EXPECT_EQ(h.lines[3].op, '+');
  EXPECT_EQ(h.lines[3].text, "new");
  EXPECT_EQ(d.added, 1u);
  EXPECT_EQ(d.removed, 0u);
}

TEST(DriftDiff, ChangesFarApartMakeSeparateHunksAndCloseOnesMerge) {
  std::string old_text, far_text, near_text;
  for (int i = 1; i <= 20; ++i) old_text += std::to_string(i) + "\n";
  far_text = old_text;
  far_text.replace(far_text.find("2\n"), 2, "two\n");
  far_text.replace(far_text.find("19\n"), 3, "nineteen\n");
  auto far = diff_texts(old_text, far_text);
  ASSERT_EQ(far.hunks.size(), 2u);
  EXPECT_EQ(far.hunks[0].header(), "@@ -1,5 +1,5 @@");
  EXPECT_EQ(far.hunks[1].header(), "@@ -16,5 +16,5 @@");
  near_text = old_text;
  near_text.replace(near_text.find("\n5\n"), 3, "\nfive\n");
  near_text.replace(near_text.find("\n11\n"), 4, "\neleven\n");  // 5 unchanged lines apart (< 2 * 3 + 1)
  auto near = diff_texts(old_text, near_text);
  ASSERT_EQ(near.hunks.size(), 1u);
  EXPECT_EQ(near.hunks[0].header(), "@@ -2,13 +2,13 @@");
}

TEST(DriftDiff, EmptySidesUseTheLineBeforeAsStart) {
  auto added = diff_texts("", "a\nb\n");
  ASSERT_EQ(added.hunks.size(), 1u);
  EXPECT_EQ(added.hunks[0].header(), "@@ -0,0 +1,2 @@");
  auto removed = diff_texts("a\n", "");
  ASSERT_EQ(removed.hunks.size(), 1u);
  EXPECT_EQ(removed.hunks[0].header(), "@@ -1 +0,0 @@");
}

TEST(DriftDiff, HunkNamesTheObjectItIsIn) {
  auto a = canonical_schema(dump("k1", k_v15));
  auto b = canonical_schema(dump("k2", k_v15, ",\n    phone text"));
  auto d = diff_texts(a, b);
  ASSERT_EQ(d.hunks.size(), 1u);
  EXPECT_EQ(d.hunks[0].section, "-- Name: users; Type: TABLE; Schema: public; Owner: -");
  EXPECT_THAT(d.hunks[0].header(), HasSubstr("@@ -- Name: users; Type: TABLE"));
  // "email text NOT NULL" became "email text NOT NULL," and a line was added.
  EXPECT_EQ(d.added, 2u);
  EXPECT_EQ(d.removed, 1u);
  auto text = format_unified_diff(d, "snapshot", "now", false);
  EXPECT_THAT(text, HasSubstr("--- snapshot\n+++ now\n@@ "));
  EXPECT_THAT(text, HasSubstr("\n-    email text NOT NULL\n+    email text NOT NULL,\n+    phone text\n"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b[")));
}

TEST(DriftDiff, ColourOnlyWhenAsked) {
  auto d = diff_texts("a\n", "b\n");
  auto text = format_unified_diff(d, "x", "y", true);
  EXPECT_THAT(text, HasSubstr("\x1b[31m-a\x1b[0m"));
  EXPECT_THAT(text, HasSubstr("\x1b[32m+b\x1b[0m"));
}

TEST(DriftDiff, RandomTextsGiveAValidMinimalScript) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 400; ++round) {
    std::uniform_int_distribution<int> len(0, 30), sym(0, round % 3 == 0 ? 2 : 6);
    std::vector<int> a(static_cast<std::size_t>(len(rng))), b;
    for (auto& x : a) x = sym(rng);
    // b is a with random edits, so both unrelated and similar pairs occur.
    b = a;
    std::uniform_int_distribution<int> edits(0, 8);
    for (int e = edits(rng); e > 0; --e) {
      std::uniform_int_distribution<std::size_t> pos(0, b.size());
      auto p = pos(rng);
      if (rng() % 2 == 0 && p < b.size()) {
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(p));
      } else {
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(p), sym(rng));
      }
    }
    if (round % 5 == 0) std::shuffle(b.begin(), b.end(), rng);
    auto old_text = lines_of(a), new_text = lines_of(b);
    auto script = diff_lines(old_text, new_text);
    ASSERT_EQ(apply_script(script, '-'), old_text) << "round " << round;
    ASSERT_EQ(apply_script(script, '+'), new_text) << "round " << round;
    std::size_t edits_made = 0;
    for (const auto& l : script) edits_made += l.op != ' ' ? 1 : 0;
    auto lcs = lcs_length(split_lines(old_text), split_lines(new_text));
    ASSERT_EQ(edits_made, a.size() + b.size() - 2 * lcs) << "round " << round << ": not minimal";
  }
}

TEST(DriftDiff, LargeSimilarTextsStayMinimal) {
  std::string a, b;
  for (int i = 0; i < 20000; ++i) {
    a += "line " + std::to_string(i) + "\n";
    if (i % 1000 == 500) b += "inserted " + std::to_string(i) + "\n";
    if (i % 1500 != 7) b += "line " + std::to_string(i) + "\n";
  }
  auto d = diff_texts(a, b);
  EXPECT_EQ(d.added, 20u);
  EXPECT_EQ(d.removed, 14u);  // i = 7, 1507, ..., 19507
}

// ---- verdicts ----

TEST(DriftGate, FollowsThePolicy) {
  DriftReport drifted;
  drifted.state = DriftReport::State::drifted;
  DriftReport same;
  same.state = DriftReport::State::same;
  DriftReport none;
  none.state = DriftReport::State::no_snapshot;
  EXPECT_EQ(drift_gate(DriftPolicy::block, drifted, false), DriftGate::refuse);
  EXPECT_EQ(drift_gate(DriftPolicy::block, drifted, true), DriftGate::warn);
  EXPECT_EQ(drift_gate(DriftPolicy::warn, drifted, false), DriftGate::warn);
  EXPECT_EQ(drift_gate(DriftPolicy::off, drifted, false), DriftGate::proceed);
  EXPECT_EQ(drift_gate(DriftPolicy::block, same, false), DriftGate::proceed);
  EXPECT_EQ(drift_gate(DriftPolicy::block, none, false), DriftGate::proceed);
}

TEST(DriftReportText, SummariesSayWhatWasFound) {
  DriftReport r;
  r.environment = "prod";
  r.snapshot_action = "apply";
  r.snapshot_recorded_at = "2026-11-28T10:00:00Z";
  r.state = DriftReport::State::same;
  EXPECT_THAT(r.summary(), HasSubstr("prod: no drift"));
  r.state = DriftReport::State::drifted;
  r.diff = diff_texts("a\n", "a\nb\n");
  EXPECT_THAT(r.summary(), HasSubstr("prod: DRIFT"));
  EXPECT_THAT(r.summary(), HasSubstr("1 line(s) added, 0 removed"));
  r.state = DriftReport::State::no_snapshot;
  EXPECT_THAT(r.summary(), HasSubstr("mgr drift prod --accept"));
  EXPECT_EQ(drift_state_name(DriftReport::State::drifted), "drift");
}

TEST(DriftReportText, NotesAPgDumpMajorVersionChange) {
  DriftReport r;
  r.state = DriftReport::State::drifted;
  r.snapshot_pg_dump_version = "15.18 (Debian)";
  r.current_pg_dump_version = "15.20 (Debian)";
  EXPECT_FALSE(r.tool_note());
  r.current_pg_dump_version = "16.4";
  ASSERT_TRUE(r.tool_note());
  EXPECT_THAT(*r.tool_note(), HasSubstr("pg_dump 15.18 (Debian)"));
}

TEST(DriftCompareApplied, FindsMigrationsOnOneSideAndChecksumDifferences) {
  auto row = [](std::string id, std::string name, std::string sum, bool ok = true) {
    HistoryRow r;
    r.migration_id = std::move(id);
    r.name = std::move(name);
    r.checksum = std::move(sum);
    r.success = ok;
    return r;
  };
  std::vector<HistoryRow> a{row("0001", "a", "x"), row("0002", "b", "y"), row("0010", "c", "z")};
  std::vector<HistoryRow> b{row("1", "a", "x"), row("0002", "b", "changed"), row("0003", "d", "w", false)};
  auto cmp = compare_applied(a, b);
  EXPECT_FALSE(cmp.same());
  EXPECT_EQ(cmp.only_in_a, std::vector<std::string>{"0010_c"});
  EXPECT_TRUE(cmp.only_in_b.empty());  // a failed row is not an applied migration
  EXPECT_EQ(cmp.checksum_differs, std::vector<std::string>{"0002_b"});
  EXPECT_TRUE(compare_applied(a, a).same());
}

// ---- configuration ----

namespace {
Config drift_config(const std::string& yaml) {
  return parse_config(yaml, "/srv/app/config/environments.yaml",
                      [](const std::string& name) -> std::optional<std::string> {
                        if (name == "SCRATCH_PW") return std::string("s3cret");
                        return std::nullopt;
                      });
}
std::string drift_config_error(const std::string& yaml) {
  try {
    drift_config(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(DriftConfig, DriftPolicyDefaultsToBlockAndReadsEachValue) {
  auto c = drift_config(
      "environments:\n  dev:\n    url: postgresql://h/dev\n    drift: off\n  test:\n    url: postgresql://h/test\n"
      "    drift: warn\n  prod:\n    url: postgresql://h/prod\n");
  EXPECT_EQ(c.get("dev").drift, DriftPolicy::off);
  EXPECT_EQ(c.get("test").drift, DriftPolicy::warn);
  EXPECT_EQ(c.get("prod").drift, DriftPolicy::block);
  auto err = drift_config_error("environments:\n  dev:\n    url: postgresql://h/dev\n    drift: maybe\n");
  EXPECT_THAT(err, HasSubstr("environments.yaml:4:12: 'drift' in environment 'dev' must be one of block, warn, off"));
}

TEST(DriftConfig, ScratchUrlAtTheTopLevelAndPerEnvironment) {
  auto c = drift_config(
      "scratch_url: postgresql://app:${SCRATCH_PW}@scratch/postgres\nenvironments:\n  dev:\n    url: postgresql://h/dev\n"
      "  prod:\n    url: postgresql://h/prod\n    scratch_url: host=other dbname=postgres\n");
  ASSERT_TRUE(c.scratch_url);
  EXPECT_EQ(c.scratch_url->redacted(), "postgresql://app:***@scratch/postgres");
  EXPECT_EQ(c.scratch_url->password().value_or(""), "s3cret");
  EXPECT_FALSE(c.get("dev").scratch_url);
  ASSERT_TRUE(c.get("prod").scratch_url);
  EXPECT_EQ(c.get("prod").scratch_url->option("host"), "other");
  auto err = drift_config_error("scratch_url: mysql://x\nenvironments:\n  dev:\n    url: postgresql://h/dev\n");
  EXPECT_THAT(err, HasSubstr("environments.yaml:1:14: 'scratch_url'"));
}
