// What identifies a database independently of how its URL is spelled: plain
// data, read by the Session (session.hpp) and used by backups (manifests,
// the pg_dump version rule) and validate (same-database) without a connection.
#pragma once

#include <string>

namespace mgr {

struct ServerIdentity {
  std::string system_identifier;  // pg_control_system(): the cluster
  std::string port;               // the server's own port setting
  std::string database;           // current_database()
  int version_num = 0;            // server_version_num, e.g. 150018
  std::string version;            // server_version, e.g. "15.18 (Debian ...)"
  std::string user;               // current_user

  std::string key() const { return system_identifier + ":" + port + ":" + database; }
};

}  // namespace mgr
