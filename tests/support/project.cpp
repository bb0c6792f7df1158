#include "support/project.hpp"

namespace mgr::test {

Project::Project(const std::string& extra_env_yaml, bool confirm_prod) {
  for (const char* n : {"dev", "test", "prod"}) m_dbs.push_back(std::make_unique<PgTestDb>(n));
  std::string yaml = "environments:\n";
  yaml += "  dev:\n    url: " + url(0) + "\n" + extra_env_yaml;
  yaml += "  test:\n    url: " + url(1) + "\n    promote_from: dev\n" + extra_env_yaml;
  yaml += "  prod:\n    url: " + url(2) + "\n    promote_from: test\n" + extra_env_yaml;
  if (confirm_prod) yaml += "    confirm: true\n";
  write_config(yaml);
  std::filesystem::create_directories(m_dir / "migrations");
}

void Project::add(const std::string& file_name, const std::string& sql) const { write_file(m_dir / ("migrations/" + file_name), sql); }

void Project::write_config(const std::string& yaml) const { write_file(m_dir / "config/environments.yaml", yaml); }

RunResult Project::mgr(std::vector<std::string> args, const std::map<std::string, std::string>& env) const {
  args.insert(args.begin(), {"--config", config_path()});
  return run_mgr(args, env, m_dir.path());
}

}  // namespace mgr::test
