#include "mgr/interrupt.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace mgr {

namespace {

// Guards may be alive on several threads at once (a fleet applies to many
// databases in parallel) and end in any order: a count, not a flag, and one
// cancel slot per guard, so a signal cancels every running query and a guard
// never restores another thread's (possibly freed) cancel handle.
std::atomic<int> g_guards{0};
constexpr int k_cancel_slots = 512;
std::atomic<pg_cancel*> g_cancels[k_cancel_slots];
volatile sig_atomic_t g_signal = 0;
int g_pipe[2] = {-1, -1};

void on_signal(int sig) {
  if (g_guards.load() == 0) {
    // Not in a critical section: behave as if there were no handler.
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  if (g_signal != 0) {
    // Second signal: the user wants out now. Children started with a parent-death
    // signal die with us; the server rolls back an open transaction.
    ::_exit(128 + sig);
  }
  g_signal = sig;
  if (g_pipe[1] >= 0) {
    char b = 1;
    [[maybe_unused]] auto n = ::write(g_pipe[1], &b, 1);
  }
  for (auto& slot : g_cancels) {
    if (pg_cancel* c = slot.load()) {
      char err[256];
      PQcancel(c, err, sizeof err);
    }
  }
}

}  // namespace

void install_interrupt_handler() {
  if (g_pipe[0] < 0 && ::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) g_pipe[0] = g_pipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signal != 0; }

int interrupt_signal() { return g_signal; }

ExitCode interrupt_exit_code() { return g_signal == SIGTERM ? ExitCode::terminated : ExitCode::interrupted; }

std::string interrupt_description() {
  return g_signal == SIGTERM ? "terminated (SIGTERM)" : "interrupted (Ctrl-C)";
}

int interrupt_fd() { return g_pipe[0]; }

void reset_interrupt_for_tests() {
  g_signal = 0;
  if (g_pipe[0] >= 0) {
    char buf[64];
    while (::read(g_pipe[0], buf, sizeof buf) > 0) {
    }
  }
}

InterruptGuard::InterruptGuard(pg_cancel* cancel) : m_previous(nullptr), m_was_guarded(true) {
  g_guards.fetch_add(1);
  if (cancel == nullptr) return;
  for (auto& slot : g_cancels) {
    pg_cancel* empty = nullptr;
    if (slot.compare_exchange_strong(empty, cancel)) {
      m_previous = cancel;  // the handle this guard registered (its slot holds it)
      return;
    }
  }
}

InterruptGuard::~InterruptGuard() {
  if (m_previous != nullptr) {
    for (auto& slot : g_cancels) {
      pg_cancel* mine = m_previous;
      if (slot.compare_exchange_strong(mine, nullptr)) break;
    }
  }
  g_guards.fetch_sub(1);
}

}  // namespace mgr
