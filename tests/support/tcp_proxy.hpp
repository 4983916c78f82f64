#pragma once
// A TCP forwarder between the server under test and one of its dependencies, to simulate the
// failures a process cannot produce on its own: a network partition (freeze: connections stay
// open, nothing gets through, nobody is told) and a dropped link (drop_all).
//
//   TcpProxy pg("127.0.0.1", 5432);
//   ServerProcess server({.env = {{"DATABASE_URL", pg_url.with_port(pg.port())}}});
//   pg.freeze();  // PostgreSQL "hangs"
//   pg.thaw();

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kargo::itest {

class TcpProxy {
 public:
  TcpProxy(std::string upstream_host, uint16_t upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  void freeze() { frozen_ = true; }
  void thaw() { frozen_ = false; }
  // Closes every forwarded connection (both sides see a reset/EOF); new ones are still accepted.
  void drop_all() { ++generation_; }

 private:
  void accept_loop();
  void pump(int client, int upstream, unsigned generation);

  std::string upstream_host_;
  uint16_t upstream_port_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<unsigned> generation_{0};
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace kargo::itest
