#include "kargo/upstream/circuit_breaker.hpp"

namespace kargo::upstream {

std::string_view to_string(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kHalfOpen:
      return "half_open";
    case CircuitState::kOpen:
      return "open";
  }
  return "closed";
}

CircuitOutcome circuit_outcome(const HttpResult& result) {
  if (result.ok()) {
    int status = result.response().status;
    return status == 429 || status >= 500 ? CircuitOutcome::kFailure : CircuitOutcome::kSuccess;
  }
  switch (result.error().kind) {
    case FailureKind::kConnect:
    case FailureKind::kTimeout:
    case FailureKind::kTls:
    case FailureKind::kConnectionLost:
    case FailureKind::kMalformed:
      return CircuitOutcome::kFailure;
    case FailureKind::kTooLarge:
    case FailureKind::kDecode:
    case FailureKind::kRedirect:
      return CircuitOutcome::kSuccess;
    case FailureKind::kInvalidRequest:
    case FailureKind::kCancelled:
    case FailureKind::kRefusedAddress:
      return CircuitOutcome::kIgnored;
  }
  return CircuitOutcome::kIgnored;
}

CircuitBreaker::CircuitBreaker(CircuitOptions options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {
  if (options_.failure_threshold == 0) options_.failure_threshold = 1;
}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case CircuitState::kClosed:
      return true;
    case CircuitState::kOpen:
      if (now() - opened_at_ < options_.open_duration) return false;
      state_ = CircuitState::kHalfOpen;
      probe_out_ = true;
      probe_started_ = now();
      return true;
    case CircuitState::kHalfOpen:
      // A probe whose outcome never came back (its caller went away) must not hold the circuit
      // half-open for ever: after another open_duration the next caller probes instead.
      if (probe_out_ && now() - probe_started_ < options_.open_duration) return false;
      probe_out_ = true;
      probe_started_ = now();
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mutex_);
  // While open, a late success of a call started before the circuit opened does not close it:
  // only the probe decides (half-open).
  if (state_ == CircuitState::kOpen) return;
  state_ = CircuitState::kClosed;
  consecutive_failures_ = 0;
  probe_out_ = false;
}

void CircuitBreaker::record_failure() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case CircuitState::kClosed:
      if (++consecutive_failures_ >= options_.failure_threshold) {
        state_ = CircuitState::kOpen;
        opened_at_ = now();
      }
      break;
    case CircuitState::kHalfOpen:
      state_ = CircuitState::kOpen;
      opened_at_ = now();
      probe_out_ = false;
      break;
    case CircuitState::kOpen:
      break;  // late failures of calls started before it opened do not extend the open time
  }
}

void CircuitBreaker::record_ignored() {
  std::lock_guard lock(mutex_);
  if (state_ == CircuitState::kHalfOpen) probe_out_ = false;  // the next caller probes instead
}

void CircuitBreaker::record(CircuitOutcome outcome) {
  switch (outcome) {
    case CircuitOutcome::kSuccess:
      return record_success();
    case CircuitOutcome::kFailure:
      return record_failure();
    case CircuitOutcome::kIgnored:
      return record_ignored();
  }
}

CircuitState CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  if (state_ == CircuitState::kOpen && now() - opened_at_ >= options_.open_duration) {
    return CircuitState::kHalfOpen;
  }
  return state_;
}

std::chrono::milliseconds CircuitBreaker::retry_after() const {
  std::lock_guard lock(mutex_);
  if (state_ == CircuitState::kOpen) {
    auto left = options_.open_duration - (now() - opened_at_);
    if (left > std::chrono::steady_clock::duration::zero()) {
      return std::chrono::ceil<std::chrono::milliseconds>(left);
    }
  } else if (state_ == CircuitState::kHalfOpen && probe_out_) {
    auto left = options_.open_duration - (now() - probe_started_);
    if (left > std::chrono::steady_clock::duration::zero()) {
      return std::chrono::ceil<std::chrono::milliseconds>(left);
    }
  }
  return std::chrono::milliseconds(0);
}

}  // namespace kargo::upstream
