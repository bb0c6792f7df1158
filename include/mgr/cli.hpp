// The command line: flags -> option structs -> commands; errors -> exit codes.
#pragma once

#include <string>

#include "mgr/build_info.hpp"  // version_text(), which --version prints

namespace mgr {

// The whole program; returns the process exit code (docs/cli.md).
int run_cli(int argc, char** argv);

}  // namespace mgr
