// Who runs mgr, where: the OS user@host recorded in history rows
// (applied_by), the audit log and schema snapshots.
#pragma once

#include <string>

namespace mgr {

// OS user@host, e.g. "deploy@ci-7"; "unknown" for a part that cannot be read.
std::string os_user_at_host();

}  // namespace mgr
