// A temporary mgr project: config/environments.yaml with dev -> test -> prod,
// each on its own fresh database, and a migrations/ folder.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/pg_test_db.hpp"
#include "support/test_support.hpp"

namespace mgr::test {

class Project {
 public:
  // `extra_env_yaml` is appended to every environment (indented by the caller with 4 spaces).
  explicit Project(const std::string& extra_env_yaml = "    backup: off\n", bool confirm_prod = false);

  void add(const std::string& file_name, const std::string& sql) const;
  void write_config(const std::string& yaml) const;
  std::string config_path() const { return (m_dir / "config/environments.yaml").string(); }
  const std::filesystem::path& dir() const { return m_dir.path(); }

  RunResult mgr(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) const;

  PgTestDb& dev() { return *m_dbs[0]; }
  PgTestDb& test() { return *m_dbs[1]; }
  PgTestDb& prod() { return *m_dbs[2]; }
  std::string url(int i) const { return m_dbs[static_cast<std::size_t>(i)]->url(); }

 private:
  TempDir m_dir;
  std::vector<std::unique_ptr<PgTestDb>> m_dbs;
};

}  // namespace mgr::test
