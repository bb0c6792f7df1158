// newest_applied (plan.hpp): one definition of "the newest applied migration"
// for plan, status, backup manifests and reset.
#include <gtest/gtest.h>

#include "mgr/plan.hpp"

namespace mgr {
namespace {

HistoryRow row(const std::string& id, bool success = true) {
  HistoryRow r;
  r.migration_id = id;
  r.success = success;
  return r;
}

TEST(NewestApplied, NoneWithoutSuccessfulRows) {
  EXPECT_FALSE(newest_applied({}));
  EXPECT_FALSE(newest_applied({row("0001", false)}));
}

TEST(NewestApplied, ByIdNotByRowOrderAndOnlySuccessful) {
  // An out-of-order apply recorded 0002 after 0003; 0004 failed.
  EXPECT_EQ(newest_applied({row("0001"), row("0003"), row("0002"), row("0004", false)}), "0003");
  EXPECT_EQ(newest_applied({row("20250101000000"), row("20250102000000")}), "20250102000000");
}

}  // namespace
}  // namespace mgr
