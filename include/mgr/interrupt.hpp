// Ctrl-C and SIGTERM while mgr changes a database.
//
// Outside a guarded section a signal ends mgr at once, as usual: nothing is
// half-done (a transaction in flight is rolled back by the server when the
// connection drops). Inside one, the signal cancels the running query with
// libpq's PQcancel (async-signal-safe) so the server rolls the migration back
// promptly, and mgr then reports and exits 130 itself, after cleaning up
// (partial backup files, failed-row bookkeeping).
#pragma once

struct pg_cancel;

namespace mgr {

// Installs the SIGINT/SIGTERM handler once (cli.cpp).
void install_interrupt_handler();

// True once a signal arrived inside a guarded section.
bool interrupted();

// While alive, a signal is recorded (and cancels `cancel`'s query, if given)
// instead of ending the process.
class InterruptGuard {
 public:
  explicit InterruptGuard(pg_cancel* cancel = nullptr);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  pg_cancel* m_previous;
  bool m_was_guarded;
};

}  // namespace mgr
