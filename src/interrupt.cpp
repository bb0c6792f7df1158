#include "mgr/interrupt.hpp"

#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace mgr {

namespace {

std::atomic<bool> g_guarded{false};
std::atomic<pg_cancel*> g_cancel{nullptr};
volatile sig_atomic_t g_interrupted = 0;

void on_signal(int sig) {
  if (!g_guarded.load()) {
    // Not in a critical section: behave as if there were no handler.
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_interrupted = 1;
  if (pg_cancel* c = g_cancel.load()) {
    char err[256];
    PQcancel(c, err, sizeof err);
  }
}

}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted != 0; }

InterruptGuard::InterruptGuard(pg_cancel* cancel)
    : m_previous(g_cancel.exchange(cancel)), m_was_guarded(g_guarded.exchange(true)) {}

InterruptGuard::~InterruptGuard() {
  g_cancel.store(m_previous);
  g_guarded.store(m_was_guarded);
}

}  // namespace mgr
