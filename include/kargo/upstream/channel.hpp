#pragma once
// One named upstream (amazon_dsp, amazon_lwa, kargo, ...): the shared HttpClient plus the one
// RetryPolicy, a CircuitBreaker of its own and the external_api_* metrics. The Amazon and Kargo
// clients and the token manager make every call through a channel; they decide what a 2xx or 4xx
// means, the channel deals with everything that is not an answer.
//
// A call's result is either the upstream's answer (any status except 429 / 5xx, i.e. 2xx, 3xx
// and 4xx, after the retries that the policy allowed) or a kargo::Error EXTERNAL_API_ERROR naming
// the service: 503 with Retry-After when the circuit is open, when the call's deadline passed
// (waiting for a slot or for the answer), 502 for everything else (no answer after the retries,
// 429 / 5xx after the retries, body too large, ...). Retries and waits for a slot are timers on
// the client's io_context; no thread sleeps or blocks.
//
//   UpstreamChannel kargo(client, metrics, ChannelOptions::from_config("kargo", config));
//   UpstreamResult r = kargo.call_sync({
//       .endpoint = "/v1/campaigns",   // metrics label: a template, never a raw path
//       .request = {.url = base + "/v1/campaigns?page=1", .headers = {{"Authorization", bearer}}},
//   });
//   HttpResponse res = std::move(r).value();   // throws the kargo::Error when !r.ok()
//   if (res.status == 404) ...;
//
//   // An unsafe write (POST) is retried only when it never reached the server; mark a POST
//   // that is really a read (Amazon's /list calls, the LWA token refresh) as idempotent:
//   amazon.call({.endpoint = "/dsp/v1/campaigns/list", .request = ...,
//                .idempotency = Idempotency::kIdempotent}, [](UpstreamResult r) { ... });

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "kargo/core/deadline.hpp"
#include "kargo/core/error.hpp"
#include "kargo/upstream/circuit_breaker.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/retry_policy.hpp"

namespace kargo {
class Metrics;
struct Config;
}  // namespace kargo

namespace kargo::upstream {

enum class Idempotency {
  kByMethod,       // GET, HEAD, OPTIONS, PUT, DELETE are idempotent; POST, PATCH are not
  kIdempotent,     // safe to send twice (a read sent as POST, a write made safe by the caller)
  kNotIdempotent,  // retried only when the request provably never reached the server
};

struct UpstreamCall {
  std::string endpoint;  // route template for metrics, e.g. "/dsp/v1/adCreatives/{id}/moderation"
  OutboundRequest request;
  Idempotency idempotency = Idempotency::kByMethod;
  // Time for all attempts and the waits between them (an interactive request's remaining time).
  // Each attempt's timeout is cut to what is left; no retry starts that could not finish waiting
  // in it. None: bounded by the retry policy only.
  std::optional<std::chrono::milliseconds> budget;
  // The request's deadline, the same limit as an absolute time (the earlier of the two applies).
  // Neither set: the deadline of the calling thread's DeadlineScope, if any.
  Deadline deadline;
};

class UpstreamResult {
 public:
  UpstreamResult(HttpResponse response, unsigned attempts)
      : value_(std::move(response)), attempts_(attempts) {}
  UpstreamResult(Error error, unsigned attempts, std::optional<FailureKind> failure = std::nullopt)
      : value_(std::move(error)), attempts_(attempts), failure_(failure) {}

  bool ok() const { return std::holds_alternative<HttpResponse>(value_); }
  HttpResponse& response() { return std::get<HttpResponse>(value_); }
  const HttpResponse& response() const { return std::get<HttpResponse>(value_); }
  const Error& error() const { return std::get<Error>(value_); }
  // The response, or throws the Error.
  HttpResponse value() &&;
  // Attempts sent to the server (0 when the circuit refused the call).
  unsigned attempts() const { return attempts_; }
  // When the error is a transport failure: its kind (a client tells "the snippet is too large" or
  // "a redirect was refused" from "the upstream is down" by it). nullopt for answers, an open
  // circuit, and 429 / 5xx after the retries.
  std::optional<FailureKind> failure() const { return failure_; }

 private:
  std::variant<HttpResponse, Error> value_;
  unsigned attempts_;
  std::optional<FailureKind> failure_;
};

struct ChannelOptions {
  std::string service;  // metrics label and the name in error messages: "amazon_dsp", "kargo", ...
  RetryOptions retry;
  CircuitOptions circuit;
  // Attempts in flight at once (UPSTREAM_MAX_CONCURRENCY). A further call waits in line (FIFO)
  // until a slot frees or its deadline passes (then 503 with Retry-After); a call without a
  // deadline waits at most `max_queue_wait`.
  unsigned max_in_flight = 64;
  std::chrono::milliseconds max_queue_wait{30000};

  // max_retries from UPSTREAM_MAX_RETRIES, max_in_flight from UPSTREAM_MAX_CONCURRENCY; the
  // contract's 5 failures / 30 s breaker.
  static ChannelOptions from_config(std::string service, const Config& config);
};

class UpstreamChannel {
 public:
  using Callback = std::function<void(UpstreamResult)>;

  // `client` and `metrics` must outlive the channel and its calls in flight. The channel itself
  // may go away while calls are in flight: they keep its state alive until they finish.
  UpstreamChannel(HttpClient& client, Metrics& metrics, ChannelOptions options);
  // For tests: the breaker with a fake clock, the policy with a fixed jitter.
  UpstreamChannel(HttpClient& client, Metrics& metrics, ChannelOptions options, CircuitBreaker::Clock clock,
                  std::function<double()> uniform01);
  ~UpstreamChannel();
  UpstreamChannel(const UpstreamChannel&) = delete;
  UpstreamChannel& operator=(const UpstreamChannel&) = delete;

  // `done` runs once, on a client thread (keep it short, never block in it).
  void call(UpstreamCall call, Callback done);
  // Blocking form for job workers and BlockingPool threads; never on a server I/O thread.
  UpstreamResult call_sync(UpstreamCall call);

  // An endpoint the channel's client calls: its external_api_* series exist (at zero) from the
  // first scrape.
  void declare_endpoint(std::string_view endpoint);
  // For /health/detailed and the integration status route.
  CircuitState circuit_state() const;
  // Whether the calling thread is one of the HttpClient's (where call_sync would deadlock).
  bool on_client_thread() const;
  const std::string& service() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// kargo::Error EXTERNAL_API_ERROR (502) for a call without an answer: "<service>: <what went
// wrong>" outside, the transport detail inside.
Error transport_error(std::string_view service, const TransportError& error);
// kargo::Error EXTERNAL_API_ERROR (502) for an answer the caller cannot use: "<service> answered
// HTTP <status>" outside, the start of the body inside (for the log). Upstream clients use it for
// statuses they have no rule for.
Error status_error(std::string_view service, const HttpResponse& response);

}  // namespace kargo::upstream
