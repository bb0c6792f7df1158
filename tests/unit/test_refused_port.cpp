// The tests' "no server there" port (test::refused_port) really refuses:
// tests of unreachable environments rely on a connection failing at once.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "support/test_support.hpp"

namespace mgr {
namespace {

int connect_errno(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

TEST(TestSupport, RefusedPortRefusesConnectionsAndStaysTaken) {
  int port = test::refused_port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(port, test::refused_port()) << "one port for the whole process";
  EXPECT_EQ(connect_errno(port), ECONNREFUSED);

  // Nobody else can start listening there while the tests run.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  EXPECT_NE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);

  EXPECT_EQ(test::refused_url("app", "u@"), "postgresql://u@127.0.0.1:" + std::to_string(port) + "/app");
}

}  // namespace
}  // namespace mgr
