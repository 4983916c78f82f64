#pragma once
// The one retry policy of the service (contract section 9), shared by every upstream. Pure: it
// looks at the outcome of an attempt and answers "wait this long, then try again" or "stop";
// UpstreamChannel does the waiting.
//
// Rules: at most max_retries retries (UPSTREAM_MAX_RETRIES). Retried: connect failures,
// timeouts, lost connections and malformed answers, 429 and 5xx. Never retried: any other
// status, TLS certificate refusals, oversized or undecodable bodies, refused redirects. A request
// that is not idempotent (POST / PATCH unless the caller says otherwise) is retried only when
// it provably never reached the server (TransportError::request_sent == false). The wait is
// Retry-After (delta-seconds or HTTP-date, capped at max_retry_after) when the answer has one,
// else exponential backoff with full jitter: uniform in [0, min(max_delay, base_delay * 2^n)].
//
//   RetryPolicy policy({.max_retries = config.upstream_max_retries});
//   if (auto wait = policy.next_delay(retries_done, result, /*idempotent=*/true)) schedule(*wait);

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "kargo/upstream/http_client.hpp"

namespace kargo::upstream {

struct RetryOptions {
  unsigned max_retries = 4;
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{20000};
  std::chrono::milliseconds max_retry_after{60000};
};

// GET, HEAD, OPTIONS, PUT, DELETE, TRACE (RFC 9110 section 9.2.2).
bool idempotent_method(std::string_view method);

// Retry-After as a wait from `now`: delta-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or
// asctime form; a date in the past is 0). nullopt when absent or unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

class RetryPolicy {
 public:
  // `uniform01` returns values in [0, 1) for the jitter; tests inject a fixed one.
  explicit RetryPolicy(RetryOptions options = {}, std::function<double()> uniform01 = {});

  // Whether this outcome may be retried at all (the count aside).
  static bool retryable(const HttpResult& outcome, bool idempotent);
  // Full-jitter backoff before retry number `retry` (0 = the first retry).
  std::chrono::milliseconds backoff(unsigned retry) const;
  // The wait before the next attempt, or nullopt to stop, after `retries_done` retries.
  std::optional<std::chrono::milliseconds> next_delay(
      unsigned retries_done, const HttpResult& outcome, bool idempotent,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  std::function<double()> uniform01_;
};

}  // namespace kargo::upstream
