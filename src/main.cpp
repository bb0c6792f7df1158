#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "mgr/cli.hpp"

namespace {

// A core dump would hold the database passwords mgr keeps in memory: none,
// unless MGR_ALLOW_CORE=1 asks for one (to debug a crash). Both switches,
// because a core_pattern that pipes to a handler ignores RLIMIT_CORE; the
// limit is inherited by the tools mgr starts (pg_dump gets PGPASSWORD).
void forbid_core_dumps() {
  const char* allow = std::getenv("MGR_ALLOW_CORE");
  if (allow != nullptr && std::strcmp(allow, "1") == 0) return;
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  forbid_core_dumps();
  return mgr::run_cli(argc, argv);
}
