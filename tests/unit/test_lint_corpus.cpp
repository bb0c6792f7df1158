// The labelled corpus in tests/lint-corpus/: every case is a migration file
// marked dangerous or safe by what PostgreSQL 15 does with it (locks held,
// rewrites, scans, data lost, later statements failing). A dangerous case is
// found when mgr lint reports an error finding for it; a safe case is a false
// positive when it does. The test prints both rates per family and fails
// below 95 % recall or above 5 % false positives. bench/lint-compare.sh runs
// squawk on the same files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "mgr/catalog.hpp"
#include "mgr/lint.hpp"

using namespace mgr;

namespace {

namespace fs = std::filesystem;

struct CorpusCase {
  std::string file;
  bool dangerous = false;
  std::string family;
};

const fs::path k_corpus = fs::path(MGR_SOURCE_DIR) / "tests" / "lint-corpus";

std::vector<CorpusCase> load_manifest() {
  std::ifstream in(k_corpus / "manifest.tsv");
  std::vector<CorpusCase> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CorpusCase c;
    std::string label;
    std::getline(fields, c.file, '\t');
    std::getline(fields, label, '\t');
    std::getline(fields, c.family, '\t');
    c.dangerous = label == "dangerous";
    out.push_back(c);
  }
  return out;
}

LintResult lint_case(const CorpusCase& c) {
  fs::path path = k_corpus / "cases" / c.file;
  MigrationFile f;
  f.path = path;
  f.sql = normalize_sql_text(read_file_bytes(path));
  std::vector<Diagnostic> problems;
  f.directives = parse_directives(f.sql, path, &problems);
  EXPECT_TRUE(problems.empty()) << c.file;
  return lint_migration(f, LintSettings{});
}

bool has_error(const LintResult& r) {
  return std::any_of(r.findings.begin(), r.findings.end(), [](const Diagnostic& f) {
    return f.severity == Severity::error && f.rule() != "parse-error";
  });
}

struct Tally {
  int dangerous = 0, found = 0, safe = 0, flagged = 0;
};

}  // namespace

TEST(LintCorpus, RecallAtLeast95PercentFalsePositivesAtMost5Percent) {
  auto cases = load_manifest();
  ASSERT_GE(cases.size(), 150u) << "the corpus needs at least 150 labelled cases";
  std::map<std::string, Tally> by_family;
  Tally all;
  std::vector<std::string> misses;
  for (const auto& c : cases) {
    auto result = lint_case(c);
    for (const auto& f : result.findings) {
      EXPECT_NE(f.rule(), "parse-error") << c.file << ": every corpus case must parse: " << f.message;
    }
    bool flagged = has_error(result);
    Tally& t = by_family[c.family];
    if (c.dangerous) {
      ++t.dangerous, ++all.dangerous;
      if (flagged) ++t.found, ++all.found;
      else misses.push_back("missed (dangerous, no error finding): " + c.file);
    } else {
      ++t.safe, ++all.safe;
      if (flagged) {
        ++t.flagged, ++all.flagged;
        std::string rules;
        for (const auto& f : result.findings) rules += " " + std::string(f.rule());
        misses.push_back("false positive (safe, flagged):" + rules + ": " + c.file);
      }
    }
  }
  for (const auto& [family, t] : by_family) {
    std::cout << fmt::format("  {:<20} dangerous {:>3} found {:>3}   safe {:>3} flagged {:>3}\n", family, t.dangerous,
                             t.found, t.safe, t.flagged);
  }
  for (const auto& m : misses) std::cout << "  " << m << "\n";
  double recall = 100.0 * all.found / std::max(all.dangerous, 1);
  double fp = 100.0 * all.flagged / std::max(all.safe, 1);
  std::cout << fmt::format("mgr lint on tests/lint-corpus: recall {:.1f} % ({}/{}), false positives {:.1f} % ({}/{})\n",
                           recall, all.found, all.dangerous, fp, all.flagged, all.safe);
  EXPECT_GE(recall, 95.0);
  EXPECT_LE(fp, 5.0);
}

TEST(LintCorpus, ManifestNamesEveryCaseFileOnce) {
  auto cases = load_manifest();
  std::set<std::string> listed;
  for (const auto& c : cases) EXPECT_TRUE(listed.insert(c.file).second) << "listed twice: " << c.file;
  for (const auto& e : fs::directory_iterator(k_corpus / "cases")) {
    EXPECT_EQ(listed.count(e.path().filename().string()), 1u) << "not in manifest.tsv: " << e.path();
  }
}
