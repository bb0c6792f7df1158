#include "mgr/interrupt.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace mgr {

namespace {

std::atomic<bool> g_guarded{false};
std::atomic<pg_cancel*> g_cancel{nullptr};
volatile sig_atomic_t g_signal = 0;
int g_pipe[2] = {-1, -1};

void on_signal(int sig) {
  if (!g_guarded.load()) {
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
  if (pg_cancel* c = g_cancel.load()) {
    char err[256];
    PQcancel(c, err, sizeof err);
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

InterruptGuard::InterruptGuard(pg_cancel* cancel)
    : m_previous(g_cancel.exchange(cancel)), m_was_guarded(g_guarded.exchange(true)) {}

InterruptGuard::~InterruptGuard() {
  g_cancel.store(m_previous);
  g_guarded.store(m_was_guarded);
}

}  // namespace mgr
