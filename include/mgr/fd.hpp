// A POSIX file descriptor owned by one object and closed when it goes.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <utility>

namespace mgr {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  // Gives the descriptor up without closing it.
  int release() { return std::exchange(m_fd, -1); }
  // Closes the current descriptor (errors ignored: nothing was written
  // through it, or close() below already reported them) and owns `fd`.
  void reset(int fd = -1) {
    if (m_fd >= 0) {
      const int saved = errno;  // callers report the errno of the failure that got them here
      ::close(m_fd);
      errno = saved;
    }
    m_fd = fd;
  }
  // Closes now and returns close()'s result: after writes, a failed close
  // can mean lost data, so a writer checks it.
  int close() { return m_fd < 0 ? 0 : ::close(release()); }

 private:
  int m_fd = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR. False with
// errno set on failure.
inline bool write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace mgr
