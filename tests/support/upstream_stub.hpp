#pragma once
// A scripted HTTP/1.1 server on 127.0.0.1 for the upstream transport tests: real sockets (and
// real TLS when given a certificate), a thread per connection, and replies a test chooses per
// request, including the ones no well-behaved server sends (stalls, truncated bodies, garbage,
// endless gzip bombs, connections dropped after reading the request).
//
//   UpstreamStub stub([](const StubRequest& r) {
//     if (r.index_on_connection == 2) return StubReply{.drop = true};
//     return StubReply{.status = 200, .body = "ok"};
//   });
//   client.send_sync({.url = stub.url("/x")});
//   EXPECT_EQ(stub.connections(), 1u);
//
//   TempDir dir;
//   auto certs = make_test_certificates(dir, {"DNS:localhost", "IP:127.0.0.1"});
//   UpstreamStub tls(handler, StubTls{certs.server_cert, certs.server_key});

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace kargo::itest {

struct StubRequest {
  std::string method;
  std::string target;
  Headers headers;  // lower-case names
  std::string body;
  unsigned connection = 0;           // 1-based number of the connection it arrived on
  unsigned index_on_connection = 0;  // 1-based position on that connection

  std::optional<std::string> header(std::string_view name) const;
};

struct StubReply {
  int status = 200;
  Headers headers;  // Content-Length is added unless given or the reply is chunked
  std::string body;
  std::string raw;                     // when not empty: sent as is instead of status, headers and body
  std::chrono::milliseconds delay{0};  // wait this long before answering
  bool hang = false;                   // never answer (the connection stays open until the stub stops)
  bool drop = false;                   // close the connection without answering
  bool close_after = false;            // close the connection after answering, without saying so
  // When set: the body is sent chunked, one chunk per call, until it returns "" (or the client
  // goes away: then chunked_aborted() counts it).
  std::function<std::string(std::size_t index)> chunks;
};

struct StubTls {
  std::string cert_file;  // PEM chain
  std::string key_file;
};

class UpstreamStub {
 public:
  using Handler = std::function<StubReply(const StubRequest&)>;

  explicit UpstreamStub(Handler handler, std::optional<StubTls> tls = std::nullopt);
  ~UpstreamStub();
  UpstreamStub(const UpstreamStub&) = delete;
  UpstreamStub& operator=(const UpstreamStub&) = delete;

  uint16_t port() const { return port_; }
  // http(s)://127.0.0.1:<port><path>, or with another host name (e.g. "localhost").
  std::string url(std::string_view path, std::string_view host = "127.0.0.1") const;
  void set_handler(Handler handler);

  unsigned connections() const { return connections_.load(); }  // accepted so far
  std::size_t open_connections() const;                         // not yet closed by either side
  std::vector<StubRequest> requests() const;
  std::size_t request_count() const;
  // Chunked replies whose client went away before the last chunk.
  unsigned chunked_aborted() const { return chunked_aborted_.load(); }

 private:
  void accept_loop();
  void serve(int fd, unsigned connection);

  std::optional<StubTls> tls_;
  void* tls_ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<unsigned> connections_{0};
  std::atomic<unsigned> chunked_aborted_{0};
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  Handler handler_;
  std::vector<StubRequest> requests_;
  std::set<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

struct TestCertificates {
  std::string ca_cert;      // PEM of the test CA
  std::string server_cert;  // PEM, signed by the CA
  std::string server_key;
};

// A fresh CA and a server certificate for `subject_alt_names` ("DNS:localhost", "IP:127.0.0.1"),
// made with the openssl command line in `dir`. Throws (failing the test) when openssl fails.
TestCertificates make_test_certificates(const TempDir& dir, const std::vector<std::string>& subject_alt_names,
                                        const std::string& prefix = "server");

// A gzip header followed by one deflate block of `mebibytes` MiB of zeros that ends in a full
// flush, so the block can be repeated forever: an endless gzip bomb for StubReply::chunks.
std::pair<std::string, std::string> endless_gzip_bomb(unsigned mebibytes = 1);

}  // namespace kargo::itest
