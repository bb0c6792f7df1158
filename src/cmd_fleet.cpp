// Fleets: resolving the databases, the bounded pool, logs from worker
// threads, and --database for the commands that work on one database.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "mgr/error.hpp"
#include "mgr/fleet_commands.hpp"
#include "cmd_fleet_internal.hpp"
#include "mgr/session.hpp"

namespace mgr {

namespace {

thread_local FleetLogCapture* t_log_capture = nullptr;

// The default logger while a pool runs: thread-safe, and a worker's lines go
// to its database's capture instead of interleaving on stderr.
class RoutingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RoutingSink(std::vector<spdlog::sink_ptr> targets) : m_targets(std::move(targets)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (t_log_capture != nullptr) {
      t_log_capture->lines.emplace_back(msg.level, std::string(msg.payload.data(), msg.payload.size()));
      return;
    }
    for (auto& sink : m_targets) {
      if (sink->should_log(msg.level)) sink->log(msg);
    }
  }
  void flush_() override {
    for (auto& sink : m_targets) sink->flush();
  }

 private:
  std::vector<spdlog::sink_ptr> m_targets;
};

}  // namespace

FleetLogCapture::FleetLogCapture() : m_previous(t_log_capture) { t_log_capture = this; }
FleetLogCapture::~FleetLogCapture() { t_log_capture = m_previous; }

ThreadSafeLogging::ThreadSafeLogging() : m_previous(spdlog::default_logger()) {
  auto sink = std::make_shared<RoutingSink>(m_previous->sinks());
  auto logger = std::make_shared<spdlog::logger>(m_previous->name(), sink);
  logger->set_level(m_previous->level());
  spdlog::set_default_logger(logger);
}

ThreadSafeLogging::~ThreadSafeLogging() { spdlog::set_default_logger(m_previous); }

std::size_t run_bounded(std::size_t count, int parallel, const std::function<void(std::size_t)>& job,
                        const std::function<bool()>& stop, const std::function<void()>& tick) {
  const auto workers = std::min<std::size_t>(count, static_cast<std::size_t>(std::max(1, parallel)));
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> started{0};
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t running = workers;
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&]() {
      while (!stop()) {
        const auto i = next.fetch_add(1);
        if (i >= count) break;
        started.fetch_add(1);
        job(i);
        changed.notify_all();
      }
      std::lock_guard<std::mutex> lock(mutex);
      --running;
      changed.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    while (running > 0) {
      changed.wait_for(lock, std::chrono::milliseconds(250));
      lock.unlock();
      if (tick) tick();
      lock.lock();
    }
  }
  for (auto& t : threads) t.join();
  return started.load();
}

std::vector<FleetMember> resolve_fleet(const Config& config, const Environment& env) {
  (void)config;
  if (!env.fleet) throw UsageError("environment '" + env.name + "' is not a fleet");
  if (!env.fleet->query) return fleet_members(env.fleet->databases);
  const auto& query = *env.fleet->query;
  Environment catalog_env = env;
  catalog_env.fleet.reset();
  catalog_env.url = query.url.get();
  std::vector<std::string> values;
  Session session(catalog_env, "mgr " + env.name + " (databases_query)");
  try {
    pqxx::read_transaction tx(session.connection());
    const auto result = tx.exec(query.sql);
    if (result.columns() != 1) {
      throw ConfigError(query.where + ": databases_query of environment '" + env.name + "' must return one column (URLs or database names), got " +
                        std::to_string(result.columns()));
    }
    for (const auto& row : result) {
      if (row[0].is_null()) continue;
      values.push_back(row[0].c_str());
    }
  } catch (const Error&) {
    throw;
  } catch (...) {
    session.rethrow("running databases_query (" + query.where + ")");
  }
  if (values.empty()) {
    throw ConfigError(query.where + ": databases_query of environment '" + env.name + "' returned no database");
  }
  return fleet_members_from_query(catalog_env.url.get(), values, query.where);
}

void select_fleet_database(const GlobalOptions& global, const std::string& env_name, const FleetOptions& fleet,
                           const std::string& command) {
  if (env_name.empty()) return;
  const auto config = load_config_quietly(resolve_config_path(global.config_path, process_env_lookup()));
  const auto* env = config.find(env_name);
  if (env == nullptr) return;  // the command names the known environments
  if (!env->fleet) {
    if (fleet.database) {
      throw UsageError("--database " + *fleet.database + ": environment '" + env_name +
                       "' is one database, not a fleet; leave --database out");
    }
    return;
  }
  if (!fleet.database) {
    throw UsageError("environment '" + env_name + "' is a fleet: mgr " + command +
                     " works on one database; pick it with --database NAME (`mgr status " + env_name +
                     " --databases` lists them)");
  }
  const auto members = resolve_fleet(config, *env);
  select_fleet_member(fleet_member_environment(*env, find_member(members, env_name, *fleet.database)));
}

}  // namespace mgr
