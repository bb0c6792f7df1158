#include "mgr/host.hpp"

#include <pwd.h>
#include <unistd.h>

namespace mgr {

std::string os_user_at_host() {
  std::string user = "unknown";
  if (auto* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) user = pw->pw_name;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return user + "@" + (host[0] ? host : "unknown");
}

}  // namespace mgr
