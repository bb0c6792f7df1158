// The command line: flags -> option structs -> commands; errors -> exit codes.
#pragma once

namespace mgr {

// The whole program; returns the process exit code (docs/cli.md).
int run_cli(int argc, char** argv);

}  // namespace mgr
