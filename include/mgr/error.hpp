// Exit codes and the exceptions that stop a command.
//
// Only the CLI entry point catches these and turns them into an exit code;
// code below it throws and never prints or exits. Checks that must report
// every problem at once (catalog, plan, lint, validate) collect values and
// throw one exception whose message lists them all.
#pragma once

#include <stdexcept>
#include <string>

namespace mgr {

// The documented contract (docs/cli.md): scripts rely on these numbers.
enum class ExitCode : int {
  ok = 0,
  failure = 1,  // failed while running: database, migration, backup, I/O
  usage = 2,    // usage or configuration error: flags, YAML, migration files
  refused = 3,  // refused by a safety rule: gate, checksum, lint, confirmation
  interrupted = 130,  // SIGINT (Ctrl-C): 128 + 2
  terminated = 143,   // SIGTERM: 128 + 15
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
  ExitCode code() const noexcept { return m_code; }

 private:
  ExitCode m_code;
};

// Bad flags or arguments (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& m) : Error(ExitCode::usage, m) {}
};

// Bad environments.yaml or bad files in migrations/ (exit 2). Messages start
// with `path:line:col:` when a position is known.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& m) : Error(ExitCode::usage, m) {}
};

// A safety rule said no; nothing was changed (exit 3).
class Refused : public Error {
 public:
  explicit Refused(const std::string& m) : Error(ExitCode::refused, m) {}
};

// Something failed while running: database, migration, backup, I/O (exit 1).
class Failure : public Error {
 public:
  explicit Failure(const std::string& m) : Error(ExitCode::failure, m) {}
};

}  // namespace mgr
