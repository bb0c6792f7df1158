// Shared by src/cmd_fleet*.cpp only.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mgr {

// While alive (and a ThreadSafeLogging is), this thread's log lines are kept
// here instead of going to stderr.
class FleetLogCapture {
 public:
  FleetLogCapture();
  ~FleetLogCapture();
  FleetLogCapture(const FleetLogCapture&) = delete;
  FleetLogCapture& operator=(const FleetLogCapture&) = delete;
  std::vector<std::pair<spdlog::level::level_enum, std::string>> lines;

 private:
  FleetLogCapture* m_previous;
};

// While alive, the default logger is safe to use from several threads and
// honours FleetLogCapture (the CLI's logger is single-threaded).
class ThreadSafeLogging {
 public:
  ThreadSafeLogging();
  ~ThreadSafeLogging();
  ThreadSafeLogging(const ThreadSafeLogging&) = delete;
  ThreadSafeLogging& operator=(const ThreadSafeLogging&) = delete;

 private:
  std::shared_ptr<spdlog::logger> m_previous;
};

}  // namespace mgr
