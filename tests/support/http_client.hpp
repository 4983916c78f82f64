#pragma once
// HTTP as a black-box client sees it: a small synchronous HTTP/1.1 client (Boost.Beast) for
// well-formed requests, and a raw TCP connection for everything a well-behaved client would
// never send (malformed request lines, huge headers, lying Content-Length, slow-loris).
//
//   HttpClient http(server.port());
//   auto res = http.post_json("/api/auth/token", {{"username", u}, {"password", p}});
//   EXPECT_EQ(res.status, 200);
//   auto token = res.json()["data"]["access_token"];
//
//   RawConnection raw(server.port());
//   raw.send("GARBAGE\r\n\r\n");
//   auto reply = raw.read_response(std::chrono::seconds(5));  // nullopt if closed silently

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kargo::itest {

// Header names are stored lower-case; lookups are case-insensitive.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  std::optional<std::string> header(std::string_view name) const;
  bool has_header(std::string_view name) const { return header(name).has_value(); }
  // Every value of a repeated header, in order.
  std::vector<std::string> header_values(std::string_view name) const;
  // The body as JSON; throws std::runtime_error quoting the body when it is not JSON, so a
  // failing test shows what the server actually sent.
  nlohmann::json json() const;
  // "HTTP 404 {...}" for assertion messages.
  std::string describe() const;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // One request on a fresh connection (no state leaks between requests of a test).
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const Headers& headers = {}) const;
  HttpResponse get(std::string_view target, const Headers& headers = {}) const;
  HttpResponse post_json(std::string_view target, const nlohmann::json& body,
                         const Headers& headers = {}) const;

  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::chrono::milliseconds timeout_;
};

// {"Authorization", "Bearer <token>"} plus any extra headers.
Headers bearer(const std::string& token, Headers extra = {});

// A plain TCP connection to 127.0.0.1:port that sends exactly the bytes it is given.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False when the peer has already closed or reset the connection.
  bool send(std::string_view bytes);
  // Reads one complete response; nullopt when the connection closed or the deadline passed
  // before a whole response arrived.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout);
  // True when the server closes (EOF or reset) within `timeout`; bytes read meanwhile are kept
  // in received().
  bool wait_closed(std::chrono::milliseconds timeout);
  // True once the bytes read so far contain `needle` (within `timeout`).
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout);
  const std::string& received() const { return received_; }

 private:
  // >0 bytes read, 0 EOF/reset, -1 deadline passed.
  int read_some(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string received_;  // everything read so far
  size_t consumed_ = 0;   // bytes of received_ already returned as responses
};

}  // namespace kargo::itest
