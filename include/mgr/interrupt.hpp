// Ctrl-C and SIGTERM while mgr changes a database or writes a file.
//
// Outside a guarded section a signal ends mgr at once, as usual: nothing is
// half-done (a transaction in flight is rolled back by the server when the
// connection drops). Inside one, the first signal is recorded: it cancels the
// running query with libpq's PQcancel (async-signal-safe) so the server rolls
// the migration back promptly, wakes anyone waiting on interrupt_fd() (a child
// process being waited for), and mgr then cleans up (partial files, failed-row
// bookkeeping), says what state things are in and exits 130 (SIGINT) or 143
// (SIGTERM). A second signal ends mgr at once with that code.
#pragma once

#include <string>

#include "mgr/error.hpp"

struct pg_cancel;

namespace mgr {

// Installs the SIGINT/SIGTERM handler once (cli.cpp).
void install_interrupt_handler();

// True once a signal arrived inside a guarded section.
bool interrupted();

// The signal that arrived (SIGINT or SIGTERM), 0 if none.
int interrupt_signal();

// 130 for SIGINT, 143 for SIGTERM (128 + signal, the shell's convention).
ExitCode interrupt_exit_code();

// "interrupted (Ctrl-C)" or "terminated (SIGTERM)", for messages.
std::string interrupt_description();

// A descriptor that becomes readable when a guarded signal arrives, for
// poll()-based waits (child processes). Valid after install_interrupt_handler().
int interrupt_fd();

// The error that ends a command after a signal: exit code from the signal.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& m) : Error(interrupt_exit_code(), m) {}
};

// While alive, a signal is recorded (and cancels `cancel`'s query, if given)
// instead of ending the process.
class InterruptGuard {
 public:
  explicit InterruptGuard(pg_cancel* cancel = nullptr);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  pg_cancel* m_previous;  // the cancel handle this guard registered, if any
  bool m_was_guarded;     // unused: guards are counted
};

// Test hook: forget a recorded signal (unit tests raise signals in-process).
void reset_interrupt_for_tests();

}  // namespace mgr
