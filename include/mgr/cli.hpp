// The command line: flags -> option structs -> commands; errors -> exit codes.
#pragma once

#include <string>

namespace mgr {

// The whole program; returns the process exit code (docs/cli.md).
int run_cli(int argc, char** argv);

// "mgr 0.1.0 (git 4975c76a1b2c)", "... (git 4975c76a1b2c, dirty)" or
// "... (built outside git)": the commit the binary was built from (src/build_info.cpp).
std::string version_text();

}  // namespace mgr
