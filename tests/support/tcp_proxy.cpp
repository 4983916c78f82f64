#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace kargo::itest {
namespace {

constexpr int kPollMs = 50;  // how quickly pumps notice freeze/drop/stop

int connect_to(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Moves what is readable on `from` to `to`; false when either side is done.
bool forward(int from, int to) {
  char buf[65536];
  ssize_t n = ::recv(from, buf, sizeof buf, 0);
  if (n <= 0) return false;
  for (ssize_t sent = 0; sent < n;) {
    ssize_t w = ::send(to, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += w;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::string upstream_host, uint16_t upstream_port)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("proxy listen failed: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::lock_guard lock(mutex_);
  for (auto& t : pumps_) t.join();
}

void TcpProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = connect_to(upstream_host_, upstream_port_);
    if (upstream < 0) {
      ::close(client);
      continue;
    }
    std::lock_guard lock(mutex_);
    pumps_.emplace_back([this, client, upstream, gen = generation_.load()] { pump(client, upstream, gen); });
  }
}

void TcpProxy::pump(int client, int upstream, unsigned generation) {
  while (!stopping_ && generation_ == generation) {
    if (frozen_) {
      // Read nothing, forward nothing: to both ends the other side just went silent.
      ::usleep(kPollMs * 1000);
      continue;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    int r = ::poll(fds, 2, kPollMs);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0 || frozen_) continue;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !forward(client, upstream)) break;
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !forward(upstream, client)) break;
  }
  ::close(client);
  ::close(upstream);
}

}  // namespace kargo::itest
