#include "kargo/upstream/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <future>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "kargo/core/config.hpp"
#include "kargo/core/log.hpp"
#include "kargo/upstream/gzip.hpp"

namespace kargo::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A response header block larger than this is refused (Beast's default is 8 KiB, which some
// gateways' header sets come close to).
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// The client thread of the calling thread, for send_sync's deadlock check.
thread_local const void* t_client = nullptr;

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 32 || c >= 127 ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A header value must not be able to end the header line (request smuggling / injection).
bool safe_value(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos; }

TransportError failure(FailureKind kind, bool sent, std::string message, std::string detail = {}) {
  return TransportError{kind, sent, std::move(message), std::move(detail)};
}

// ---------------------------------------------------------------------------------------------
// Response body: size-capped, decoded while it arrives.

struct BodyState {
  std::string data;
  std::size_t max_bytes = 0;
  bool decode = true;
  std::size_t raw_bytes = 0;
  std::unique_ptr<GzipDecoder> decoder;
  std::optional<TransportError> failure;  // set when the body reader stopped the read
};

// Beast Body whose reader enforces the cap on the raw and the decoded size and inflates
// gzip/deflate on the fly, so neither a huge body nor a gzip bomb is ever held in memory.
struct CappedBody {
  using value_type = BodyState;

  class reader {
   public:
    // Beast builds the reader with the parser, before any header is read; the header is looked
    // at in init(), once it is complete.
    template <bool isRequest, class Fields>
    reader(bhttp::header<isRequest, Fields>& h, value_type& body) : body_(body) {
      if constexpr (std::is_base_of_v<bhttp::fields, Fields>) fields_ = &h;
    }

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (body_.decode && fields_) {
        std::string encoding = ascii_lower((*fields_)[bhttp::field::content_encoding]);
        while (!encoding.empty() && (encoding.back() == ' ' || encoding.back() == '\t')) encoding.pop_back();
        while (!encoding.empty() && (encoding.front() == ' ' || encoding.front() == '\t'))
          encoding.erase(0, 1);
        if (encoding == "gzip" || encoding == "x-gzip") {
          body_.decoder = std::make_unique<GzipDecoder>(GzipDecoder::Format::kAuto, body_.max_bytes);
        } else if (encoding == "deflate") {
          body_.decoder = std::make_unique<GzipDecoder>(GzipDecoder::Format::kDeflate, body_.max_bytes);
        } else if (!encoding.empty() && encoding != "identity") {
          return stop(ec, FailureKind::kDecode,
                      "unsupported content-encoding '" + encoding.substr(0, 40) + "'");
        }
      }
      if (length && *length > body_.max_bytes) {
        return stop(ec, FailureKind::kTooLarge,
                    "response larger than " + std::to_string(body_.max_bytes) + " bytes");
      }
      if (length && !body_.decoder) body_.data.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      for (auto b : beast::buffers_range_ref(buffers)) {
        std::string_view chunk(static_cast<const char*>(b.data()), b.size());
        body_.raw_bytes += chunk.size();
        n += chunk.size();
        if (body_.raw_bytes > body_.max_bytes) {
          stop(ec, FailureKind::kTooLarge,
               "response larger than " + std::to_string(body_.max_bytes) + " bytes");
          return n;
        }
        if (!body_.decoder) {
          body_.data.append(chunk);
          continue;
        }
        auto status = body_.decoder->feed(chunk, body_.data);
        if (status == GzipDecoder::Status::kTooLarge) {
          stop(ec, FailureKind::kTooLarge,
               "decoded response larger than " + std::to_string(body_.max_bytes) + " bytes");
          return n;
        }
        if (status != GzipDecoder::Status::kOk) {
          stop(ec, FailureKind::kDecode, "corrupt compressed response");
          return n;
        }
      }
      return n;
    }

    void finish(beast::error_code& ec) {
      // An empty body (204, HEAD, 304) has nothing to decode even when an encoding is named.
      if (body_.decoder && body_.raw_bytes > 0 && body_.decoder->finish() != GzipDecoder::Status::kOk) {
        stop(ec, FailureKind::kDecode, "truncated compressed response");
      }
    }

   private:
    void stop(beast::error_code& ec, FailureKind kind, std::string message) {
      body_.failure = failure(kind, true, std::move(message));
      ec = boost::system::errc::make_error_code(boost::system::errc::protocol_error);
    }

    const bhttp::fields* fields_ = nullptr;
    value_type& body_;
  };
};

// ---------------------------------------------------------------------------------------------
// Connections and the per-thread pool.

struct Connection {
  std::string origin;
  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<beast::ssl_stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  template <class F>
  void with_stream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(*plain);
    }
  }

  void close() {
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

  // An idle connection the server has closed (EOF readable), or that has bytes nobody asked
  // for (a TLS close_notify, garbage), must not carry the next request.
  bool looks_alive() {
    if (!socket().is_open() || buffer.size() > 0) return false;
    char c;
    ssize_t n = ::recv(socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

class Call;

// One I/O thread with its own io_context and idle pool: a call, its connection and its timers
// live on one thread, so none of them needs a strand or a lock.
struct Worker {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::thread thread;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;  // newest last
  std::unordered_set<std::shared_ptr<Call>> active;
  std::unordered_set<std::shared_ptr<asio::steady_timer>> timers;
  asio::steady_timer sweeper{io};
  bool stopping = false;
};

// The client's shared state; HttpClient::Impl is this (a name Call can use).
struct ClientCore {
  HttpClientOptions options;
  ssl::context tls{ssl::context::tls_client};
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<unsigned> next_worker{0};
  std::atomic<uint64_t> opened{0};
  std::atomic<bool> stopping{false};  // set first in ~HttpClient: later calls fail at once
  std::string user_agent;

  Worker& pick() { return *workers[next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size()]; }

  // The newest live idle connection to `origin` that `usable` accepts. Those it does not
  // accept stay in the pool for other calls.
  template <class Usable>
  std::unique_ptr<Connection> checkout(Worker& w, const std::string& origin, Usable&& usable) {
    auto it = w.idle.find(origin);
    if (it == w.idle.end()) return nullptr;
    auto& list = it->second;
    auto now = Clock::now();
    for (auto i = list.size(); i-- > 0;) {
      if (now - list[i]->idle_since >= options.idle_expiry || !list[i]->looks_alive()) {
        list[i]->close();
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (!usable(*list[i])) continue;
      auto conn = std::move(list[i]);
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      return conn;
    }
    return nullptr;
  }

  void release(Worker& w, std::unique_ptr<Connection> conn) {
    if (w.stopping || options.max_idle_per_host == 0) return conn->close();
    auto& list = w.idle[conn->origin];
    if (list.size() >= options.max_idle_per_host) {
      list.front()->close();
      list.erase(list.begin());
    }
    conn->idle_since = Clock::now();
    list.push_back(std::move(conn));
  }

  void sweep(Worker& w) {
    auto now = Clock::now();
    for (auto it = w.idle.begin(); it != w.idle.end();) {
      auto& list = it->second;
      std::erase_if(list, [&](std::unique_ptr<Connection>& c) {
        if (now - c->idle_since < options.idle_expiry && c->looks_alive()) return false;
        c->close();
        return true;
      });
      it = list.empty() ? w.idle.erase(it) : std::next(it);
    }
  }

  void arm_sweeper(Worker& w) {
    auto interval = std::clamp<std::chrono::milliseconds>(
        options.idle_expiry / 2, std::chrono::milliseconds(100), std::chrono::milliseconds(10000));
    w.sweeper.expires_after(interval);
    w.sweeper.async_wait([this, &w](beast::error_code ec) {
      if (ec || w.stopping) return;
      sweep(w);
      arm_sweeper(w);
    });
  }
};

// ---------------------------------------------------------------------------------------------
// One call: resolve -> connect -> TLS -> write -> read, redirects, all under one deadline.

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(ClientCore& client, Worker& worker, OutboundRequest request, HttpClient::Callback done)
      : client_(client),
        worker_(worker),
        req_(std::move(request)),
        done_(std::move(done)),
        timer_(worker.io),
        resolver_(worker.io) {}

  void start() {
    if (worker_.stopping) return finish(failure(FailureKind::kCancelled, false, "client shutting down"));
    worker_.active.insert(shared_from_this());
    auto timeout = req_.timeout.value_or(client_.options.timeout);
    max_bytes_ = req_.max_response_bytes.value_or(client_.options.max_response_bytes);
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), timeout](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->finish(failure(FailureKind::kTimeout, self->request_sent_,
                           "timed out after " + std::to_string(timeout.count()) + " ms",
                           "deadline passed for " + self->url_.origin()));
    });
    if (!is_token(req_.method))
      return finish(failure(FailureKind::kInvalidRequest, false, "invalid HTTP method"));
    for (const auto& [name, value] : req_.headers) {
      if (!is_token(name) || !safe_value(value)) {
        return finish(failure(FailureKind::kInvalidRequest, false, "invalid request header"));
      }
    }
    if (!safe_value(req_.request_id)) {
      return finish(failure(FailureKind::kInvalidRequest, false, "invalid request id"));
    }
    auto url = parse_url(req_.url);
    if (!url) return finish(failure(FailureKind::kInvalidRequest, false, "invalid URL"));
    url_ = std::move(*url);
    begin_hop();
  }

  // Client shutdown.
  void cancel() { finish(failure(FailureKind::kCancelled, request_sent_, "client shutting down")); }

 private:
  void begin_hop() {
    build_message();
    conn_ = client_.checkout(worker_, url_.origin(), [this](Connection& c) { return pooled_usable(c); });
    reused_ = conn_ != nullptr;
    if (reused_) return write_request();
    connect();
  }

  void build_message() {
    msg_ = std::make_unique<bhttp::request<bhttp::string_body>>();
    msg_->version(11);
    msg_->method_string(req_.method);
    msg_->target(url_.target);
    msg_->set(bhttp::field::host, url_.authority());
    msg_->set(bhttp::field::user_agent, client_.user_agent);
    if (req_.decode_content) msg_->set(bhttp::field::accept_encoding, "gzip, deflate");
    if (!req_.request_id.empty()) msg_->set("X-Request-ID", req_.request_id);
    for (const auto& [name, value] : req_.headers) {
      // Framing and the target host follow from the URL and the body, never from the caller.
      if (iequals(name, "host") || iequals(name, "content-length") || iequals(name, "transfer-encoding"))
        continue;
      if (iequals(name, "user-agent") || iequals(name, "accept-encoding") || iequals(name, "x-request-id")) {
        msg_->set(name, value);
      } else {
        msg_->insert(name, value);
      }
    }
    msg_->body() = req_.body;
    msg_->prepare_payload();
  }

  // A pooled connection may have been opened by a call that checked no address, or a
  // different rule: its remote address is checked again.
  bool pooled_usable(Connection& c) {
    if (!req_.refuse_address) return true;
    beast::error_code ec;
    auto remote = c.socket().remote_endpoint(ec);
    return !ec && !refusal(remote.address());
  }

  // Why refuse_address refuses `address`, or nullopt. A callback that throws refuses.
  std::optional<std::string> refusal(const asio::ip::address& address) {
    std::string ip = address.to_string();
    try {
      return req_.refuse_address(ip);
    } catch (const std::exception& e) {
      log::error("address callback threw", {{"error", e.what()}});
    } catch (...) {
      log::error("address callback threw");
    }
    return ip + " could not be checked";
  }

  void connect() {
    reused_ = false;
    beast::error_code ec;
    auto address = asio::ip::make_address(url_.host, ec);
    if (!ec) return open({tcp::endpoint(address, url_.port)});
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [self = shared_from_this()](beast::error_code e, tcp::resolver::results_type r) {
          if (self->finished_) return;
          if (e) {
            return self->finish(failure(FailureKind::kConnect, false, "could not resolve host",
                                        self->url_.host + ": " + e.message()));
          }
          std::vector<tcp::endpoint> endpoints;
          for (const auto& entry : r) endpoints.push_back(entry.endpoint());
          self->open(std::move(endpoints));
        });
  }

  // Connects to the first of `endpoints` that answers, of those refuse_address accepts: the
  // addresses checked are the ones connected to.
  void open(std::vector<tcp::endpoint> endpoints) {
    if (req_.refuse_address) {
      std::string reasons;
      std::erase_if(endpoints, [&](const tcp::endpoint& e) {
        auto why = refusal(e.address());
        if (why) reasons.append(reasons.empty() ? "" : "; ").append(*why);
        return why.has_value();
      });
      if (endpoints.empty()) {
        return finish(failure(FailureKind::kRefusedAddress, false, "the address is not allowed",
                              url_.authority() + ": " + reasons));
      }
    }
    conn_ = std::make_unique<Connection>();
    conn_->origin = url_.origin();
    if (url_.https) {
      conn_->tls = std::make_unique<beast::ssl_stream<tcp::socket>>(worker_.io, client_.tls);
    } else {
      conn_->plain = std::make_unique<tcp::socket>(worker_.io);
    }
    client_.opened.fetch_add(1, std::memory_order_relaxed);
    asio::async_connect(
        conn_->socket(), endpoints,
        [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) { self->on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(failure(FailureKind::kConnect, false, "could not connect",
                            "connect to " + url_.authority() + ": " + ec.message()));
    }
    beast::error_code ignored;
    conn_->socket().set_option(tcp::no_delay(true), ignored);
    if (!url_.https) return write_request();

    SSL* ssl = conn_->tls->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool host_ok = url_.ip_literal() ? X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str()) == 1
                                     : X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0) == 1;
    // SNI carries names only (RFC 6066 section 3), never an IP literal.
    if (!url_.ip_literal()) host_ok = host_ok && SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1;
    if (!host_ok) return finish(failure(FailureKind::kTls, false, "TLS setup failed", "host " + url_.host));
    conn_->tls->async_handshake(ssl::stream_base::client,
                                [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
  }

  void on_handshake(beast::error_code ec) {
    if (finished_) return;
    if (ec) {
      long verify = SSL_get_verify_result(conn_->tls->native_handle());
      if (verify != X509_V_OK) {
        return finish(failure(
            FailureKind::kTls, false,
            std::string("TLS certificate verification failed: ") + X509_verify_cert_error_string(verify),
            "handshake with " + url_.authority() + ": " + ec.message()));
      }
      return finish(failure(FailureKind::kConnect, false, "TLS handshake failed",
                            "handshake with " + url_.authority() + ": " + ec.message()));
    }
    write_request();
  }

  void write_request() {
    request_sent_ = true;
    conn_->with_stream([&](auto& stream) {
      bhttp::async_write(stream, *msg_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_write(ec);
      });
    });
  }

  void on_write(beast::error_code ec) {
    if (finished_) return;
    if (ec) {
      if (retry_stale()) return;
      return finish(failure(FailureKind::kConnectionLost, true, "connection lost while sending the request",
                            url_.authority() + ": " + ec.message()));
    }
    read_response();
  }

  void read_response() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(max_bytes_);
    parser_->get().body().max_bytes = max_bytes_;
    parser_->get().body().decode = req_.decode_content;
    if (msg_->method() == bhttp::verb::head) parser_->skip(true);
    conn_->with_stream([&](auto& stream) {
      bhttp::async_read(
          stream, conn_->buffer, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    });
  }

  // A pooled connection that the server had already given up on fails before the first byte
  // of a response. That failure says nothing about the server, so an idempotent request goes
  // once more on a fresh connection. Not an unsafe one: the server may have read it.
  bool retry_stale() {
    bool nothing_read = !parser_ || !parser_->got_some();
    if (!reused_ || stale_retried_ || !nothing_read || !idempotent()) return false;
    stale_retried_ = true;
    conn_->close();
    conn_.reset();
    parser_.reset();
    connect();
    return true;
  }

  bool idempotent() const {
    auto m = msg_->method();
    return m == bhttp::verb::get || m == bhttp::verb::head || m == bhttp::verb::options ||
           m == bhttp::verb::put || m == bhttp::verb::delete_ || m == bhttp::verb::trace;
  }

  void on_read(beast::error_code ec) {
    if (finished_) return;
    auto& body = parser_->get().body();
    if (ec) {
      if (body.failure) return finish(std::move(*body.failure));
      if (ec == bhttp::error::body_limit) {
        return finish(failure(FailureKind::kTooLarge, true,
                              "response larger than " + std::to_string(max_bytes_) + " bytes"));
      }
      if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return finish(failure(FailureKind::kTooLarge, true,
                              "response headers larger than " + std::to_string(kHeaderLimit) + " bytes"));
      }
      bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                    ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                    ec == ssl::error::stream_truncated;
      if (closed && !parser_->got_some()) {
        if (retry_stale()) return;
        return finish(failure(FailureKind::kConnectionLost, true, "connection closed before a response",
                              url_.authority() + ": " + ec.message()));
      }
      if (ec == bhttp::error::partial_message || closed) {
        return finish(failure(FailureKind::kMalformed, true, "truncated response",
                              url_.authority() + ": " + ec.message()));
      }
      if (ec.category() == beast::error_code(bhttp::error::bad_version).category()) {
        return finish(failure(FailureKind::kMalformed, true, "malformed response: " + ec.message(),
                              url_.authority() + ": " + ec.message()));
      }
      return finish(failure(FailureKind::kConnectionLost, true, "connection lost while reading the response",
                            url_.authority() + ": " + ec.message()));
    }

    auto& msg = parser_->get();
    int status = static_cast<int>(msg.result_int());
    if (status >= 100 && status < 200 && status != 101) return read_response();  // interim answer

    bool reusable = msg.keep_alive() && !parser_->need_eof() && conn_->buffer.size() == 0;
    HttpResponse response;
    response.status = status;
    response.url = url_.str();
    bool decoded = body.decoder != nullptr;
    for (const auto& field : msg) {
      std::string name = ascii_lower(field.name_string());
      if (decoded && (name == "content-encoding" || name == "content-length")) continue;
      response.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    response.body = std::move(body.data);
    parser_.reset();
    if (reusable) {
      client_.release(worker_, std::move(conn_));
    } else {
      conn_->close();
      conn_.reset();
    }

    bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (redirect && req_.follow_redirect) return follow(std::move(response));
    finish(std::move(response));
  }

  void follow(HttpResponse response) {
    auto location = response.header("location");
    if (!location) return finish(std::move(response));  // a 3xx without Location is an answer
    auto next = resolve_url(url_, *location);
    if (!next) return finish(failure(FailureKind::kRedirect, true, "redirect to an invalid URL"));
    if (++redirects_ > req_.max_redirects) {
      return finish(failure(FailureKind::kRedirect, true, "too many redirects"));
    }
    bool allowed = false;
    try {
      allowed = req_.follow_redirect(*next);
    } catch (const std::exception& e) {
      log::error("redirect callback threw", {{"error", e.what()}});
    }
    if (!allowed) {
      return finish(failure(FailureKind::kRedirect, true, "redirect to a location that is not allowed",
                            "refused redirect to " + next->str()));
    }
    int status = response.status;
    if (status == 303 || ((status == 301 || status == 302) && req_.method == "POST")) {
      // What every browser does, and RFC 9110 allows: the next hop is a GET without the body.
      if (req_.method != "HEAD") req_.method = "GET";
      req_.body.clear();
      std::erase_if(req_.headers, [](const auto& h) { return iequals(h.first, "content-type"); });
    }
    if (next->origin() != url_.origin()) {
      // Credentials are for the host they were given for, not for wherever it points us.
      std::erase_if(req_.headers, [](const auto& h) {
        return iequals(h.first, "authorization") || iequals(h.first, "cookie") ||
               iequals(h.first, "proxy-authorization");
      });
    }
    url_ = std::move(*next);
    begin_hop();
  }

  void finish(HttpResult result) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    resolver_.cancel();
    // A connection still held here was interrupted mid-call: never reuse it. Only close it: a
    // composed operation (TLS, HTTP read) may still be running on it and refers to the stream
    // and its buffer until its handler runs, which keeps this Call, and so the connection, alive.
    if (conn_) conn_->close();
    auto self = shared_from_this();  // keep alive past the erase below
    worker_.active.erase(self);
    auto done = std::move(done_);
    try {
      done(std::move(result));
    } catch (const std::exception& e) {
      log::error("upstream callback threw", {{"error", e.what()}});
    } catch (...) {
      log::error("upstream callback threw");
    }
  }

  ClientCore& client_;
  Worker& worker_;
  OutboundRequest req_;
  HttpClient::Callback done_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  Url url_;
  std::size_t max_bytes_ = 0;
  std::unique_ptr<bhttp::request<bhttp::string_body>> msg_;
  std::unique_ptr<Connection> conn_;
  std::optional<bhttp::response_parser<CappedBody>> parser_;
  unsigned redirects_ = 0;
  bool reused_ = false;
  bool stale_retried_ = false;
  bool request_sent_ = false;
  bool finished_ = false;
};

}  // namespace

struct HttpClient::Impl : ClientCore {};

std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::kInvalidRequest:
      return "invalid_request";
    case FailureKind::kConnect:
      return "connect_error";
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kTls:
      return "tls_error";
    case FailureKind::kConnectionLost:
      return "connection_lost";
    case FailureKind::kMalformed:
      return "malformed_response";
    case FailureKind::kTooLarge:
      return "too_large";
    case FailureKind::kDecode:
      return "decode_error";
    case FailureKind::kRedirect:
      return "redirect_refused";
    case FailureKind::kCancelled:
      return "cancelled";
    case FailureKind::kRefusedAddress:
      return "refused_address";
  }
  return "unknown";
}

HttpClientOptions HttpClientOptions::from_config(const Config& config) {
  HttpClientOptions o;
  o.timeout = std::chrono::milliseconds(config.upstream_timeout_ms);
  o.ca_file = config.upstream_ca_file;
  return o;
}

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.options = std::move(options);
  im.user_agent =
      im.options.user_agent.empty() ? std::string("kargo-dsp/") + KARGO_VERSION : im.options.user_agent;
  SSL_CTX_set_min_proto_version(im.tls.native_handle(), TLS1_2_VERSION);
  im.tls.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  im.tls.set_verify_mode(ssl::verify_peer);
  if (im.options.ca_file) {
    im.tls.load_verify_file(*im.options.ca_file);  // throws, naming the problem, at start-up
  } else {
    im.tls.set_default_verify_paths();
  }
  unsigned threads = std::max(1u, im.options.io_threads);
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    Worker* wp = w.get();
    Impl* ip = &im;
    im.arm_sweeper(*wp);
    wp->thread = std::thread([wp, ip] {
      t_client = ip;
      wp->io.run();
    });
    im.workers.push_back(std::move(w));
  }
}

HttpClient::~HttpClient() {
  impl_->stopping = true;
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    asio::post(wp->io, [wp] {
      wp->stopping = true;
      wp->sweeper.cancel();
      // finish() erases from `active`, so iterate over a copy.
      auto calls = std::vector<std::shared_ptr<Call>>(wp->active.begin(), wp->active.end());
      for (auto& call : calls) call->cancel();
      for (auto& timer : wp->timers) timer->cancel();
      for (auto& [origin, list] : wp->idle) {
        for (auto& conn : list) conn->close();
      }
      wp->idle.clear();
    });
    wp->guard.reset();
  }
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void HttpClient::send(OutboundRequest request, Callback done) {
  if (impl_->stopping) return done(failure(FailureKind::kCancelled, false, "client shutting down"));
  if (request.request_id.empty()) request.request_id = std::string(log::current_request_id());
  Worker& w = impl_->pick();
  auto call = std::make_shared<Call>(*impl_, w, std::move(request), std::move(done));
  asio::post(w.io, [call] { call->start(); });
}

HttpResult HttpClient::send_sync(OutboundRequest request) {
  if (on_client_thread()) {
    return failure(FailureKind::kInvalidRequest, false, "internal error",
                   "send_sync called on an upstream client thread (it would deadlock)");
  }
  std::promise<HttpResult> promise;
  auto future = promise.get_future();
  send(std::move(request), [&promise](HttpResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

void HttpClient::schedule(std::chrono::milliseconds delay, std::function<void(bool cancelled)> fn) {
  if (impl_->stopping) return fn(true);
  Worker* w = &impl_->pick();
  asio::post(w->io, [w, delay, fn = std::move(fn)]() mutable {
    if (w->stopping) return fn(true);
    auto timer = std::make_shared<asio::steady_timer>(w->io, delay);
    w->timers.insert(timer);
    timer->async_wait([w, timer, fn = std::move(fn)](beast::error_code) {
      w->timers.erase(timer);
      fn(w->stopping);
    });
  });
}

bool HttpClient::on_client_thread() const { return t_client == impl_.get(); }

const HttpClientOptions& HttpClient::options() const { return impl_->options; }

uint64_t HttpClient::connections_opened() const { return impl_->opened.load(std::memory_order_relaxed); }

}  // namespace kargo::upstream
