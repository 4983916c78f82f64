#pragma once
// Circuit breaker of one upstream (contract section 9): a thread-safe state machine with an
// injectable clock, no I/O. UpstreamChannel asks it before every attempt and reports every
// outcome.
//
//   closed    --(failure_threshold consecutive failures)--> open
//   open      --(open_duration passed; the next allow() is the one probe)--> half-open
//   half-open --(probe succeeds)--> closed      half-open --(probe fails)--> open (timer restarts)
//
// While open, allow() is false and the channel answers 503 EXTERNAL_API_ERROR "circuit open" at
// once. While the probe is out, other calls are refused too; a probe whose outcome never comes
// back does not block the circuit for longer than another open_duration.
//
//   CircuitBreaker breaker({.failure_threshold = 5, .open_duration = std::chrono::seconds(30)});
//   if (!breaker.allow()) return refuse(breaker.retry_after());
//   breaker.record(circuit_outcome(result));

#include <chrono>
#include <functional>
#include <mutex>
#include <string_view>

#include "kargo/upstream/http_client.hpp"

namespace kargo::upstream {

// Values are the external_api_circuit_state gauge's.
enum class CircuitState { kClosed = 0, kHalfOpen = 1, kOpen = 2 };
std::string_view to_string(CircuitState state);  // "closed", "half_open", "open"

struct CircuitOptions {
  unsigned failure_threshold = 5;
  std::chrono::milliseconds open_duration{30000};
};

// What an attempt says about the upstream's health. Failure: no answer (connect, timeout, TLS,
// lost connection, malformed), 429 and 5xx. Success: every other status (a 404 or 400 is the
// upstream working and disagreeing with us), and oversized or undecodable bodies and refused
// redirects (about content, not health). Ignored: requests that never left (invalid, refused
// address, cancelled).
enum class CircuitOutcome { kSuccess, kFailure, kIgnored };
CircuitOutcome circuit_outcome(const HttpResult& result);

class CircuitBreaker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit CircuitBreaker(CircuitOptions options = {}, Clock clock = {});

  // May an attempt go out now? In half-open exactly one caller gets true (the probe).
  bool allow();
  void record_success();
  void record_failure();
  // An allowed attempt that told nothing (never sent): frees the half-open probe slot.
  void record_ignored();
  void record(CircuitOutcome outcome);

  // Open whose open_duration has passed reads as half-open: the next call is let through.
  CircuitState state() const;
  // While open: time until the probe is allowed (for Retry-After); else 0.
  std::chrono::milliseconds retry_after() const;
  const CircuitOptions& options() const { return options_; }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  TimePoint now() const { return clock_(); }

  CircuitOptions options_;
  Clock clock_;
  mutable std::mutex mutex_;
  CircuitState state_ = CircuitState::kClosed;
  unsigned consecutive_failures_ = 0;
  TimePoint opened_at_{};
  bool probe_out_ = false;
  TimePoint probe_started_{};
};

}  // namespace kargo::upstream
