// reference_server: the "bare Boost.Beast server" that scripts/bench.sh measures kargo-dsp against.
//
//   reference_server --port 18080 --threads 2
//
// It answers every GET with 200 and a small, fixed JSON document of about the size of kargo-dsp's
// /health/live, and anything else with 405. It is written the way Beast's own advanced_server and
// http_server_fast examples are, so that it is a competent baseline rather than a strawman:
// one io_context per thread with connections handed out round-robin (http_server_fast's model,
// the same threading kargo-dsp uses, so the ratio compares per-request work only), one session
// object per connection that reuses its read buffer and response object for the whole keep-alive
// connection, a request parser with header and body limits, a deadline on reads and writes,
// TCP_NODELAY, and no logging.
// What it deliberately lacks is everything kargo-dsp adds per request (routing, request id,
// security headers, auth, rate limit, metrics, access log): that difference is what the ratio in
// docs/PERFORMANCE.md measures.
#include <CLI/CLI.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Same shape and size (~140 bytes) as kargo-dsp's /health/live document.
constexpr std::string_view kBody =
    R"({"status":"healthy","timestamp":"2026-01-01T00:00:00Z","service":"kargo-amazon-dsp-integration",)"
    R"("version":"0.1.0","uptime_seconds":12.345})";

constexpr std::chrono::seconds kReadTimeout{30};
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 1024 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void start() {
    // The accept handler runs on the listening context; hop onto this connection's context.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();  // end_of_stream, timeout, reset or malformed: nothing to answer
    const auto& req = parser_->get();
    response_.clear();
    response_.body().clear();
    response_.version(req.version());
    response_.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get) {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "application/json");
      response_.body().assign(kBody);
    } else {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET");
    }
    response_.prepare_payload();
    // As in advanced_server, the write runs under the deadline set before the read.
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
      if (wec || !self->response_.keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};  // reused for every request of the connection
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;  // reused too: its body keeps its capacity
};

class Listener {
 public:
  Listener(std::vector<std::unique_ptr<asio::io_context>>& contexts, tcp::endpoint endpoint)
      : contexts_(contexts), acceptor_(*contexts[0]) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void accept() {
    auto& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket))->start();
      }
      accept();
    });
  }

  void stop() {
    beast::error_code ec;
    acceptor_.close(ec);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>>& contexts_;
  size_t next_ = 0;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"reference_server: a bare Boost.Beast HTTP/1.1 server, the baseline of scripts/bench.sh"};
  std::string address = "127.0.0.1";
  std::uint16_t port = 18080;
  unsigned threads = 1;
  cli.add_option("--address", address, "listen address")->capture_default_str();
  cli.add_option("--port", port, "listen port (0: any free port)")->capture_default_str();
  cli.add_option("--threads", threads, "io_context threads")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  try {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (unsigned i = 0; i < threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(asio::make_work_guard(*contexts.back()));
    }
    Listener listener(contexts, tcp::endpoint(asio::ip::make_address(address), port));
    listener.accept();
    asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      listener.stop();
      for (auto& c : contexts) c->stop();
    });
    std::cout << "reference_server listening on " << address << ":" << listener.port() << " with " << threads
              << " thread(s)" << std::endl;

    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([ctx = contexts[i].get()] { ctx->run(); });
    contexts[0]->run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "reference_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
