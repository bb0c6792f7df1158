// The version line: the release number and the git commit the binary was
// built from (src/build_info.cpp, from a header cmake/build_info.cmake
// regenerates on every build). Plain data, so any layer may record it.
#pragma once

#include <string>

namespace mgr {

// "mgr 0.1.0 (git 4975c76a1b2c)", "... (git 4975c76a1b2c, dirty)" or
// "... (built outside git)".
std::string version_text();

}  // namespace mgr
