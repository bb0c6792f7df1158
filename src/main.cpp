#include "mgr/cli.hpp"

int main(int argc, char** argv) { return mgr::run_cli(argc, argv); }
