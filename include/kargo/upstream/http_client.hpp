#pragma once
// The one outbound HTTP(S) client: asynchronous HTTP/1.1 on Boost.Beast and OpenSSL, with its own
// I/O thread(s), never the server's. Upstream clients (Amazon DSP, Login with Amazon, Kargo) do
// not use it directly but through an UpstreamChannel (upstream/channel.hpp), which adds retries,
// the circuit breaker and metrics; tests and the bench use it bare.
//
// What one call gets: http and https (TLS >= 1.2, certificate and host name verified against the
// system CA store or HttpClientOptions::ca_file, SNI); a reused keep-alive connection when one is
// idle for the same scheme://host:port; one deadline covering resolve, connect, TLS handshake,
// write and read; a cap on the response size, enforced while reading and again on the decoded
// size; gzip/deflate decoding; X-Request-ID; redirects only where the caller's callback allows;
// connections only to the addresses the caller's refuse_address accepts, when it sets one.
// The answer is an HttpResult: an HttpResponse (any status) or a TransportError, never an
// exception and never a crash.
//
//   HttpClient client(HttpClientOptions::from_config(config));
//   client.send({.method = "GET", .url = "https://api.kargo.com/v1/campaigns"},
//               [](HttpResult r) { if (r.ok()) use(r.response().status, r.response().body); });
//
//   // Job workers and BlockingPool threads only, never a server I/O thread or a client callback:
//   HttpResult r = client.send_sync({.url = snippet_url, .follow_redirect = allowed_host});

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kargo/upstream/url.hpp"

namespace kargo {
struct Config;
}

namespace kargo::upstream {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup of the first header called `name`.
std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name);

struct OutboundRequest {
  std::string method = "GET";
  std::string url;  // absolute http(s) URL
  HeaderList headers;
  std::string body;
  // X-Request-ID to send. Empty: the id of the log::RequestScope of the thread calling send(),
  // if there is one.
  std::string request_id;
  std::optional<std::chrono::milliseconds> timeout;  // whole call incl. redirects; default: client's
  std::optional<std::size_t> max_response_bytes;     // raw and decoded body; default: client's
  // Send `Accept-Encoding: gzip, deflate` (unless the caller set one) and decode what comes back.
  bool decode_content = true;
  // Empty: a 3xx is returned as the response. Set: a 3xx with a Location is followed when this
  // returns true for the target, else the call fails with FailureKind::kRedirect.
  std::function<bool(const Url&)> follow_redirect;
  unsigned max_redirects = 5;
  // Set: every address the host resolves to (or the URL's literal address) is passed to it
  // before connecting; nullopt accepts the address, a string is why it is refused. The call
  // connects only to accepted addresses of that same resolution (no second lookup, so what was
  // checked is what is reached: no DNS rebinding), and reuses a pooled connection only when its
  // remote address is accepted. All refused: the call fails with FailureKind::kRefusedAddress.
  // The rule for webhooks is upstream::refused_address (address_policy.hpp). A callback that
  // throws refuses.
  std::function<std::optional<std::string>(std::string_view ip)> refuse_address;
};

struct HttpResponse {
  int status = 0;
  // Names lower-case, in the order received. When the body was decoded, content-encoding and
  // content-length (which describe the encoded bytes) are left out.
  HeaderList headers;
  std::string body;
  std::string url;  // the URL that answered (differs from the request's after redirects)

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

enum class FailureKind {
  kInvalidRequest,  // bad URL, CR/LF in a header, send_sync on a client thread: never sent
  kConnect,         // DNS, TCP connect or TLS handshake I/O failed: the request was not sent
  kTimeout,         // the call's deadline passed
  kTls,             // the server's certificate was refused (unknown CA, expired, wrong host)
  kConnectionLost,  // the connection closed or reset after the request was (partly) sent
  kMalformed,       // not HTTP, or truncated before the end of the body
  kTooLarge,        // the body (raw or decoded) is over max_response_bytes
  kDecode,          // corrupt or unsupported Content-Encoding
  kRedirect,        // redirect refused by follow_redirect, bad Location or too many hops
  kCancelled,       // the client is shutting down
  kRefusedAddress,  // refuse_address refused every address of the host: never sent
};
// "connect_error", "timeout", ...: the `status` label of external_api_requests_total.
std::string_view to_string(FailureKind kind);

struct TransportError {
  FailureKind kind = FailureKind::kConnect;
  // Whether any byte of the request may have reached the server. False means the server
  // provably never saw it, so even an unsafe write may be sent again.
  bool request_sent = false;
  std::string message;  // what went wrong, safe to show a client: no host, address or OS text
  std::string detail;   // for the log: host, OS / TLS error text
};

// The outcome of one call: the server's answer (any status) or why there is none.
class HttpResult {
 public:
  HttpResult(HttpResponse response) : value_(std::move(response)) {}
  HttpResult(TransportError error) : value_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<HttpResponse>(value_); }
  HttpResponse& response() { return std::get<HttpResponse>(value_); }
  const HttpResponse& response() const { return std::get<HttpResponse>(value_); }
  const TransportError& error() const { return std::get<TransportError>(value_); }

 private:
  std::variant<HttpResponse, TransportError> value_;
};

struct HttpClientOptions {
  std::chrono::milliseconds timeout{10000};      // per call (UPSTREAM_TIMEOUT_MS)
  std::size_t max_response_bytes = 16u << 20;    // per call
  std::optional<std::string> ca_file;            // PEM bundle instead of the system store
  unsigned io_threads = 1;                       // each with its own io_context and pool
  std::size_t max_idle_per_host = 64;            // idle keep-alive connections kept per origin
  std::chrono::milliseconds idle_expiry{30000};  // an idle connection older than this is closed
  std::string user_agent;                        // empty: "kargo-dsp/<version>"

  // timeout from UPSTREAM_TIMEOUT_MS, ca_file from UPSTREAM_CA_FILE.
  static HttpClientOptions from_config(const Config& config);
};

// Thread-safe: send, send_sync and schedule may be called from any thread.
class HttpClient {
 public:
  using Callback = std::function<void(HttpResult)>;

  explicit HttpClient(HttpClientOptions options = {});
  // Fails calls still in flight with kCancelled (their callbacks run), then joins the threads.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts the call and returns at once. `done` runs exactly once, on a client thread: keep it
  // short and never block in it (no send_sync there).
  void send(OutboundRequest request, Callback done);
  // Blocks the calling thread until the call ends (at most the call's timeout). For job workers
  // and BlockingPool threads only: on a server I/O thread it would stall every connection of
  // that thread. On a client thread it would deadlock, so it fails with kInvalidRequest there.
  HttpResult send_sync(OutboundRequest request);

  // Runs `fn(false)` on a client thread after `delay`, or `fn(true)` at once when the client
  // shuts down first. UpstreamChannel waits between retries with it (no thread sleeps).
  void schedule(std::chrono::milliseconds delay, std::function<void(bool cancelled)> fn);

  bool on_client_thread() const;
  const HttpClientOptions& options() const;
  // Connections opened so far (tests check reuse with it; the bench reports it).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::upstream
