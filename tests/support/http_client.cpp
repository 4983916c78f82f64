#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace kargo::itest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpResponse convert(bhttp::response<bhttp::string_body>&& msg) {
  HttpResponse out;
  out.status = static_cast<int>(msg.result_int());
  for (const auto& field : msg) {
    out.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(msg.body());
  return out;
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  auto key = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> HttpResponse::header_values(std::string_view name) const {
  auto key = lower(name);
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == key) out.push_back(v);
  }
  return out;
}

nlohmann::json HttpResponse::json() const {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw std::runtime_error("response body is not JSON: " + describe());
  return doc;
}

std::string HttpResponse::describe() const {
  constexpr size_t kMax = 2000;
  return "HTTP " + std::to_string(status) + " " + (body.size() > kMax ? body.substr(0, kMax) + "..." : body);
}

HttpClient::HttpClient(uint16_t port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

HttpResponse HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                 const Headers& headers) const {
  // Async operations on a private io_context: the only way Beast applies a deadline to every
  // step (connect, write, read), so a hung server fails the test instead of hanging it.
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port_);

  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
  req.set(bhttp::field::user_agent, "kargo-integration-tests");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::string(body);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") req.prepare_payload();

  beast::error_code failure;
  std::string step;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64u << 20);
  parser.header_limit(1u << 20);

  stream.expires_after(timeout_);
  stream.async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) {
      failure = ec;
      step = "connect";
      return;
    }
    bhttp::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        failure = wec;
        step = "write";
        return;
      }
      bhttp::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
        if (rec) {
          failure = rec;
          step = "read";
        }
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  if (failure) {
    throw std::runtime_error(std::string(method) + " " + std::string(target) + " on port " +
                             std::to_string(port_) + " failed at " + step + ": " + failure.message());
  }
  return convert(parser.release());
}

HttpResponse HttpClient::get(std::string_view target, const Headers& headers) const {
  return request("GET", target, {}, headers);
}

HttpResponse HttpClient::post_json(std::string_view target, const nlohmann::json& body,
                                   const Headers& headers) const {
  Headers all = headers;
  all.emplace_back("Content-Type", "application/json");
  return request("POST", target, body.dump(), all);
}

Headers bearer(const std::string& token, Headers extra) {
  extra.emplace_back("Authorization", "Bearer " + token);
  return extra;
}

RawConnection::RawConnection(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + std::strerror(err));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a server that already closed must fail the write, not kill the test with SIGPIPE.
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int RawConnection::read_some(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return -1;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // EOF or reset: either way the server is done with us
    received_.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
}

std::optional<HttpResponse> RawConnection::read_response(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.body_limit(64u << 20);
  size_t used = consumed_;
  for (;;) {
    if (received_.size() > used) {
      beast::error_code ec;
      used += parser.put(asio::const_buffer(received_.data() + used, received_.size() - used), ec);
      if (ec && ec != bhttp::error::need_more) {
        throw std::runtime_error("unparsable response (" + ec.message() +
                                 "): " + received_.substr(consumed_));
      }
      if (parser.is_done()) {
        consumed_ = used;
        return convert(parser.release());
      }
    }
    int n = read_some(deadline);
    if (n == 0 && parser.got_some()) {
      // A response without Content-Length ends at EOF.
      beast::error_code ec;
      parser.put_eof(ec);
      if (!ec && parser.is_done()) {
        consumed_ = received_.size();
        return convert(parser.release());
      }
    }
    if (n <= 0) return std::nullopt;
  }
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int n = read_some(deadline);
    if (n == 0) return true;
    if (n < 0) return false;
  }
}

bool RawConnection::read_until(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (received_.find(needle, consumed_) == std::string::npos) {
    if (read_some(deadline) <= 0) return false;
  }
  return true;
}

}  // namespace kargo::itest
