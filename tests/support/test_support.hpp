// Helpers shared by the test binaries: temporary directories, file writing,
// and running the built mgr binary.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mgr::test {

// A fresh directory under the system temp dir, removed on destruction unless
// the test failed (then kept, and its path printed, for a post-mortem).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& rel) const { return m_path / rel; }

 private:
  std::filesystem::path m_path;
};

void write_file(const std::filesystem::path& p, const std::string& content);
std::string read_file(const std::filesystem::path& p);

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the built mgr with args (no shell), extra environment entries added to
// (or, with an empty value, removed from) the current environment, stdin from /dev/null.
RunResult run_mgr(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env = {},
                  const std::filesystem::path& cwd = {});

// A mgr started in the background, for tests that signal it.
class RunningMgr {
 public:
  RunningMgr(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
             const std::filesystem::path& cwd = {});
  ~RunningMgr();
  int pid() const { return m_pid; }
  RunResult wait();

 private:
  int m_pid = -1;
  std::unique_ptr<class TempDir> m_io;
  int m_out = -1, m_err = -1;
  bool m_waited = false;
};

std::string mgr_binary();
std::filesystem::path source_dir();

// A TCP port on 127.0.0.1 that refuses connections for as long as the test
// process runs: this process holds it bound and never listens on it, so no
// other program can take it (a fixed port such as 1 refuses only while
// nothing happens to listen there). Connecting to it fails at once.
int refused_port();
// "postgresql://<userinfo>127.0.0.1:<refused_port()>/<database>"
std::string refused_url(const std::string& database, const std::string& userinfo = "");

}  // namespace mgr::test
