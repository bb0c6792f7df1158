// The backup manifest's JSON (a contract: manifests on disk must stay
// readable) and the backup/restore progress line, without a server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "mgr/backup.hpp"
#include "mgr/error.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using nlohmann::json;
using test::TempDir;
using test::write_file;

const std::string k_sha = "3b09c3bd4f3c16a7f1c5d1c3e7e3b1d7b1e0d5c4a2f8b9a6c7d8e9f0a1b2c3d4";

// Byte for byte what mgr 0.1.0 writes (keys in nlohmann's sorted order, two
// spaces, a final newline).
const std::string k_written_by_0_1_0 = R"j({
  "created_at": "2025-01-31T12:00:00.123Z",
  "database": "app_prod",
  "environment": "prod",
  "file": "prod-2025-01-31T12-00-00Z.dump",
  "format": "custom",
  "manifest_version": 1,
  "mgr_version": "0.1.0",
  "newest_migration": "0004",
  "pg_dump_version": "15.18 (Debian 15.18-0+deb12u1)",
  "reason": "before apply of 0005, 0006",
  "server_version": "15.18 (Debian 15.18-0+deb12u1)",
  "server_version_num": 150018,
  "sha256": ")j" + k_sha + R"j(",
  "size": 1048576,
  "url": "postgresql://app:***@db/app_prod"
}
)j";

TEST(BackupManifest, ReadsAManifestAsWrittenToday) {
  TempDir dir;
  write_file(dir / "m.json", k_written_by_0_1_0);
  const auto m = read_manifest(dir / "m.json");
  EXPECT_EQ(m.file, "prod-2025-01-31T12-00-00Z.dump");
  EXPECT_EQ(m.environment, "prod");
  EXPECT_EQ(m.database, "app_prod");
  EXPECT_EQ(m.server_version, "15.18 (Debian 15.18-0+deb12u1)");
  EXPECT_EQ(m.server_version_num, 150018);
  EXPECT_EQ(m.pg_dump_version, "15.18 (Debian 15.18-0+deb12u1)");
  EXPECT_EQ(m.created_at, "2025-01-31T12:00:00.123Z");
  EXPECT_EQ(m.size, 1048576u);
  EXPECT_EQ(m.sha256, k_sha);
  EXPECT_EQ(m.newest_migration, std::optional<std::string>("0004"));
  EXPECT_EQ(m.reason, "before apply of 0005, 0006");
  EXPECT_EQ(m.url, "postgresql://app:***@db/app_prod");
  EXPECT_EQ(m.format, BackupFormat::custom);
  EXPECT_EQ(m.mgr_version, "0.1.0");
}

TEST(BackupManifest, WritesTheSameBytes) {
  const auto m = json::parse(k_written_by_0_1_0).get<BackupManifest>();
  EXPECT_EQ(json(m).dump(2) + "\n", k_written_by_0_1_0);
}

TEST(BackupManifest, NullNewestMigrationAndPlainFormat) {
  auto j = json::parse(k_written_by_0_1_0);
  j["newest_migration"] = nullptr;
  j["format"] = "plain";
  const auto m = j.get<BackupManifest>();
  EXPECT_FALSE(m.newest_migration);
  EXPECT_EQ(m.format, BackupFormat::plain);
  EXPECT_TRUE(json(m)["newest_migration"].is_null());
}

TEST(BackupManifest, OptionalFieldsMayBeAbsent) {
  auto j = json::parse(k_written_by_0_1_0);
  for (const char* key : {"database", "server_version", "server_version_num", "pg_dump_version", "newest_migration",
                          "reason", "url", "mgr_version", "manifest_version"}) {
    j.erase(key);
  }
  const auto m = j.get<BackupManifest>();
  EXPECT_EQ(m.database, "");
  EXPECT_EQ(m.server_version_num, 0);
  EXPECT_FALSE(m.newest_migration);
  EXPECT_EQ(m.sha256, k_sha);
}

std::string read_error(const std::string& text) {
  TempDir dir;
  write_file(dir / "m.json", text);
  try {
    read_manifest(dir / "m.json");
  } catch (const Failure& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return "";
}

TEST(BackupManifest, SaysWhatIsWrong) {
  auto j = json::parse(k_written_by_0_1_0);
  EXPECT_NE(read_error("{not json").find("not valid JSON"), std::string::npos);
  auto missing = j;
  missing.erase("sha256");
  EXPECT_NE(read_error(missing.dump()).find("lacks a required field"), std::string::npos);
  auto mistyped = j;
  mistyped["size"] = "big";
  EXPECT_NE(read_error(mistyped.dump()).find("lacks a required field"), std::string::npos);
  auto format = j;
  format["format"] = "directory";
  EXPECT_NE(read_error(format.dump()).find("unknown format 'directory'"), std::string::npos);
  auto short_sha = j;
  short_sha["sha256"] = "abc";
  EXPECT_NE(read_error(short_sha.dump()).find("not a SHA-256"), std::string::npos);
}

TEST(TransferProgress, BytesAndElapsedWithoutATotal) {
  using std::chrono::milliseconds;
  EXPECT_EQ(transfer_progress("backup of prod", "dumped", 0, std::nullopt, milliseconds(0)),
            "backup of prod: 0 B dumped, 0.0s");
  EXPECT_EQ(transfer_progress("backup of prod", "dumped", 1023, std::nullopt, milliseconds(300)),
            "backup of prod: 1023 B dumped, 0.3s");
  EXPECT_EQ(transfer_progress("backup of prod", "dumped", 12'900'000, std::nullopt, milliseconds(4200)),
            "backup of prod: 12.3 MiB dumped, 4.2s");
  EXPECT_EQ(transfer_progress("backup of prod", "dumped", 3ull << 30, std::nullopt, milliseconds(65'000)),
            "backup of prod: 3.0 GiB dumped, 1m05s");
  EXPECT_EQ(transfer_progress("backup of prod", "dumped", 1536, std::nullopt, milliseconds(3'725'000)),
            "backup of prod: 1.5 KiB dumped, 1h02m");
}

TEST(TransferProgress, PercentOfAKnownTotal) {
  using std::chrono::milliseconds;
  EXPECT_EQ(transfer_progress("restore into prod", "loaded", 45 << 20, 120 << 20, milliseconds(12'000)),
            "restore into prod: 45.0 MiB of 120.0 MiB loaded (37%), 12.0s");
  EXPECT_EQ(transfer_progress("restore into prod", "loaded", 130, 100, milliseconds(0)),
            "restore into prod: 130 B of 100 B loaded (100%), 0.0s");
  // A zero total (an empty script) says nothing about a percentage.
  EXPECT_EQ(transfer_progress("restore into prod", "loaded", 0, 0, milliseconds(0)),
            "restore into prod: 0 B loaded, 0.0s");
}

}  // namespace
}  // namespace mgr
