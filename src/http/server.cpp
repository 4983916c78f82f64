#include "kargo/http/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"

namespace kargo::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session;

struct Shared {
  ServerOptions options;
  Dispatcher& dispatcher;
  std::atomic<bool> draining{false};  // signalled: answers close their connection
  std::atomic<bool> stopping{false};  // the listener is closed
  std::atomic<int> in_flight{0};
  // Every connection, so that draining can close the idle keep-alive ones at once (a proxy drops
  // a closed connection from its pool; one closed later, as the process exits, can meet a
  // request the proxy has just sent on it). Expired entries are pruned as connections come.
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<Session>> sessions;
  size_t prune_at = 64;

  void add(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(sessions_mutex);
    if (sessions.size() >= prune_at) {
      std::erase_if(sessions, [](const std::weak_ptr<Session>& s) { return s.expired(); });
      prune_at = std::max<size_t>(64, 2 * sessions.size());
    }
    sessions.push_back(session);
  }
  std::vector<std::shared_ptr<Session>> live_sessions() {
    std::lock_guard lock(sessions_mutex);
    std::vector<std::shared_ptr<Session>> out;
    for (const auto& s : sessions)
      if (auto p = s.lock()) out.push_back(std::move(p));
    return out;
  }
};

// Splits the request target into a decoded path and decoded query pairs. False if malformed.
bool parse_target(std::string_view target, Request& req) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return false;
  const auto& url = *parsed;
  req.path = std::string(url.path());
  if (req.path.empty()) req.path = "/";
  for (auto param : url.params()) {
    req.query.emplace_back(std::string(param.key),
                           param.has_value ? std::string(param.value) : std::string());
  }
  return true;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }

  void start() {
    shared_.add(shared_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->wait_for_request(); });
  }

  // Draining: a connection waiting for its next request is closed now (on its own thread).
  void close_if_idle() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_ && self->answered_) self->close();
    });
  }

 private:
  // Idle phase: wait up to idle_timeout for the first bytes of the next request. The
  // header deadline (slow-loris guard) starts only once a request has begun.
  void wait_for_request() {
    if (shared_.stopping) return close();
    if (buffer_.size() > 0) return read_header();
    if (shared_.draining && answered_) return close();  // a new connection still gets its request in
    idle_ = true;
    stream_.expires_after(shared_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    new_request();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.header_limit));
    // No body limit yet: the route decides it once the header is read. (A limit here would make
    // Beast fail the header read itself for a large Content-Length, losing the header.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    // Usually the whole header arrived with the first read: parse it right here rather than
    // through another composed read operation (a scheduler round trip and a timer re-arm).
    if (buffer_.size() > 0) {
      beast::error_code ec;
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec != bhttp::error::need_more) return on_header(ec);
      if (buffer_.size() >= shared_.options.header_limit) return on_header(bhttp::error::header_limit);
    }
    stream_.expires_after(shared_.options.header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // A fresh Request for the next message. The previous one is reused (its strings and vectors
  // keep their capacity) when nothing else holds it any more, which is the usual case.
  void new_request() {
    if (request_ && request_.use_count() == 1) {
      Request& r = *request_;
      r.method.clear();
      r.target.clear();
      r.path.clear();
      r.query.clear();
      r.headers.clear();
      r.body.clear();
      r.request_id.clear();
      r.route = {};
      r.path_params.clear();
      r.principal.reset();
      r.idempotency.reset();
      r.idempotency_recorded = false;
    } else {
      request_ = std::make_shared<Request>();
      request_->remote_address = remote_;
    }
    request_->received_at = std::chrono::steady_clock::now();
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto& msg = parser_->get();
    if (!fill_from_header()) {
      return reject(Error::bad_body("the request target is not a valid origin-form URL"));
    }
    if (parser_->is_done()) return dispatch();  // no body: no limit to look up (a route match)
    size_t limit = shared_.dispatcher.body_limit(*request_);
    if (auto length = parser_->content_length(); length && *length > limit) {
      return reject(Error(codes::kPayloadTooLarge, "request body of " + std::to_string(*length) +
                                                       " bytes exceeds the limit of " +
                                                       std::to_string(limit)));
    }
    parser_->body_limit(limit);
    if (bhttp::token_list(msg[bhttp::field::expect]).exists("100-continue")) {
      // Tell the client to send the body we are willing to read.
      auto cont =
          std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, msg.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                           if (wec) return self->close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(shared_.options.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->on_read_error(ec);
                        self->dispatch();
                      });
  }

  // Copies method, target and headers from the parsed header into request_. False when the
  // target is not a valid origin-form URL.
  bool fill_from_header() {
    if (!request_->method.empty()) return true;  // already filled
    auto& msg = parser_->get();
    request_->method = msg.method_string();
    request_->target = msg.target();
    for (const auto& field : msg) {
      request_->headers.emplace_back(ascii_lower(field.name_string()), field.value());
    }
    return parse_target(request_->target, *request_);
  }

  void on_read_error(beast::error_code ec) {
    if (parser_->is_header_done()) fill_from_header();
    if (ec == bhttp::error::body_limit) {
      return reject(Error(codes::kPayloadTooLarge, "request body exceeds the limit"));
    }
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return reject(Error(
          codes::kHeadersTooLarge,
          "request headers exceed the limit of " + std::to_string(shared_.options.header_limit) + " bytes"));
    }
    if (ec.category() == beast::error_code(bhttp::error::end_of_stream).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      // Malformed HTTP: answer 400 once, then close.
      return reject(Error::bad_body(std::string("malformed HTTP request: ") + ec.message()));
    }
    close();  // timeout (slow client), reset, EOF: nothing to answer
  }

  // Answers a request the server will not read to the end, then closes the connection. The
  // answer still goes through the dispatcher (request id, rate limit, headers, metrics, log).
  void reject(const Error& error) {
    keep_alive_ = false;
    linger_ = true;
    if (request_->method.empty()) request_->method = "UNKNOWN";
    run_dispatcher(error);
  }

  void dispatch() {
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    http10_ = msg.version() < 11;
    request_->body = std::move(msg.body());
    run_dispatcher(std::nullopt);
  }

  void run_dispatcher(std::optional<Error> refused) {
    shared_.in_flight++;
    auto self = shared_from_this();
    shared_.dispatcher.handle(
        request_,
        [self](std::function<void()> fn) { asio::dispatch(self->stream_.get_executor(), std::move(fn)); },
        [self](Response res) { self->write(std::move(res)); }, std::move(refused));
  }

  // Serialises the status line and headers into one reused string and writes it with the body
  // in one gather write. Beast's serializer walks a buffers_cat_view over every field per
  // response, which cost more CPU than the rest of the /health/live request; the head of a
  // response is simple enough to write directly (values are CR/LF-free, see append_header_line).
  void write(Response res) {
    // A declared length that differs from the body (the sandbox's `truncate` fault) ends the
    // connection after the write, as a real truncated response would.
    // While draining, every answer closes its connection: the client's next request opens a new
    // one, which the load balancer sends to an instance that is staying.
    bool keep = keep_alive_ && !shared_.draining && !res.declared_length;
    int status = res.status;
    bool bodyless = status < 200 || status == 204 || status == 304;
    // A HEAD request gets the GET answer's head, Content-Length included, and no body.
    bool head_only = request_->method == "HEAD";
    head_.clear();
    head_ += "HTTP/1.1 ";
    char num[24];
    head_.append(num, std::to_chars(num, num + sizeof num, status).ptr);
    head_ += ' ';
    head_ += bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    head_ += "\r\n";
    if (!res.content_type.empty() && !bodyless) append_header_line(head_, "Content-Type", res.content_type);
    if (!bodyless) {
      head_ += "Content-Length: ";
      head_.append(num,
                   std::to_chars(num, num + sizeof num, res.declared_length.value_or(res.body.size())).ptr);
      head_ += "\r\n";
    }
    if (!keep) {
      head_ += "Connection: close\r\n";
    } else if (http10_) {
      head_ += "Connection: keep-alive\r\n";
    }
    head_ += res.head_lines;
    for (const auto& [name, value] : res.headers) append_header_line(head_, name, value);
    head_ += "\r\n";
    if (bodyless || head_only) res.body.clear();
    body_ = std::move(res.body);
    stream_.expires_after(shared_.options.write_timeout);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers, [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
      self->shared_.in_flight--;
      self->answered_ = true;
      if (!ec && self->linger_) return self->lingering_close();
      if (ec || !keep) return self->close();
      self->wait_for_request();
    });
  }

  // After refusing a request whose body may still be arriving: stop sending, read and discard
  // for a moment, then close. Closing at once would make the kernel reset the connection and
  // the client could lose the error response it has not read yet.
  void lingering_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    discard_ = std::make_unique<std::array<char, 16384>>();
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(*discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;  // bounded by the parser's header_limit and body_limit
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Request> request_;
  std::string remote_;
  std::string head_;  // the response head being written; reused for every response
  std::string body_;  // the response body being written
  bool keep_alive_ = true;
  bool idle_ = false;      // waiting for the first byte of the next request
  bool answered_ = false;  // a response was written (the connection is a kept-alive one)
  bool http10_ = false;
  bool linger_ = false;
  std::unique_ptr<std::array<char, 16384>> discard_;
};

}  // namespace

// One io_context per I/O thread (Beast's http_server_fast pattern): a connection lives on one
// context for its whole life, so its handlers need no strand and the threads do not wake each
// other for every completion. Accepting, signals and timers run on the first context.
struct Server::Impl {
  Impl(ServerOptions opts, Dispatcher& dispatcher) : shared{std::move(opts), dispatcher} {
    unsigned n = std::max(1u, shared.options.io_threads);
    for (unsigned i = 0; i < n; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(asio::make_work_guard(*contexts.back()));
    }
    acceptor.emplace(*contexts[0]);
    signals.emplace(*contexts[0], SIGINT, SIGTERM);
    drain_timer.emplace(*contexts[0]);
  }

  asio::io_context& main() { return *contexts[0]; }

  void accept() {
    auto& target = *contexts[next_context++ % contexts.size()];
    acceptor->async_accept(target, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        log::warn("accept failed", {{"error", ec.message()}});
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), shared)->start();
      }
      if (!shared.stopping) accept();
    });
  }

  // The signal (or stop()): readiness turns 503 through the drain hooks; the listener stays
  // open for shutdown_delay so that requests routed here before the load balancer noticed still
  // land, then closes. A second signal cuts the delay short.
  void begin_shutdown() {
    if (shared.draining.exchange(true)) return close_listener();
    log::info("draining", {{"in_flight", shared.in_flight.load()},
                           {"delay_seconds", shared.options.shutdown_delay.count()}});
    for (auto& fn : drain_hooks) fn();
    for (auto& session : shared.live_sessions()) session->close_if_idle();
    if (shared.options.shutdown_delay.count() <= 0) return close_listener();
    signals->async_wait([this](beast::error_code ec, int) {
      if (!ec) close_listener();
    });
    drain_timer->expires_after(shared.options.shutdown_delay);
    drain_timer->async_wait([this](beast::error_code ec) {
      if (!ec) close_listener();
    });
  }

  void close_listener() {
    if (shared.stopping.exchange(true)) return;
    log::info("shutting down", {{"in_flight", shared.in_flight.load()}});
    beast::error_code ec;
    acceptor->close(ec);
    signals->cancel(ec);
    drain_timer->cancel();
    for (auto& t : timers) t->cancel();
    for (auto& fn : shutdown_hooks) fn();
    deadline = std::chrono::steady_clock::now() + shared.options.shutdown_grace;
    drain();
  }

  void drain() {
    if (shared.in_flight.load() <= 0 || std::chrono::steady_clock::now() >= deadline) {
      if (shared.in_flight.load() > 0) {
        log::warn("shutdown grace period over; dropping requests", {{"in_flight", shared.in_flight.load()}});
      }
      for (auto& g : guards) g.reset();
      for (auto& c : contexts) c->stop();
      return;
    }
    drain_timer->expires_after(std::chrono::milliseconds(20));
    drain_timer->async_wait([this](beast::error_code) { drain(); });
  }

  Shared shared;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  size_t next_context = 0;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::optional<asio::steady_timer> drain_timer;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::vector<std::function<void()>> drain_hooks;
  std::vector<std::function<void()>> shutdown_hooks;
  std::vector<std::shared_ptr<std::function<void()>>> ticks;
  std::chrono::steady_clock::time_point deadline;
  bool bound = false;
};

Server::Server(ServerOptions options, Dispatcher& dispatcher)
    : impl_(std::make_unique<Impl>(std::move(options), dispatcher)) {}
Server::~Server() = default;

void Server::bind() {
  auto& a = *impl_->acceptor;
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->shared.options.host, ec);
  if (ec) throw std::runtime_error("HOST: not an IP address: " + impl_->shared.options.host);
  tcp::endpoint ep{address, impl_->shared.options.port};
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + impl_->shared.options.host + ":" +
                             std::to_string(impl_->shared.options.port) + ": " + ec.message());
  }
  impl_->bound = true;
}

uint16_t Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor->local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::every(std::chrono::milliseconds period, std::function<void()> fn) {
  auto timer = std::make_unique<asio::steady_timer>(impl_->main());
  auto* t = timer.get();
  impl_->timers.push_back(std::move(timer));
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [t, period, fn = std::move(fn), tick_weak = std::weak_ptr<std::function<void()>>(tick), this]() {
    t->expires_after(period);
    t->async_wait([fn, tick_weak, this](beast::error_code ec) {
      if (ec || impl_->shared.stopping) return;
      fn();
      if (auto next = tick_weak.lock()) (*next)();
    });
  };
  impl_->ticks.push_back(tick);
  (*tick)();
}

void Server::on_drain(std::function<void()> fn) { impl_->drain_hooks.push_back(std::move(fn)); }

void Server::on_shutdown(std::function<void()> fn) { impl_->shutdown_hooks.push_back(std::move(fn)); }

void Server::stop() {
  asio::post(impl_->main(), [this] { impl_->begin_shutdown(); });
}

void Server::run() {
  if (!impl_->bound) bind();
  impl_->signals->async_wait([this](beast::error_code ec, int) {
    if (!ec) impl_->begin_shutdown();
  });
  impl_->accept();
  std::vector<std::thread> threads;
  for (size_t i = 1; i < impl_->contexts.size(); ++i) {
    threads.emplace_back([ctx = impl_->contexts[i].get()] { ctx->run(); });
  }
  impl_->main().run();
  for (auto& t : threads) t.join();
}

}  // namespace kargo::http
