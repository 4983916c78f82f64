#include "kargo/upstream/channel.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>

#include "kargo/core/config.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"

namespace kargo::upstream {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The start of an upstream body for the log: printable ASCII only, so nothing odd (or long)
// reaches a log line.
std::string excerpt(std::string_view body) {
  constexpr std::size_t kMax = 300;
  std::string out;
  for (char c : body.substr(0, kMax)) out += (c >= 32 && c < 127) ? c : ' ';
  if (body.size() > kMax) out += "...";
  return out;
}

bool answer_is_failure(const HttpResponse& r) { return r.status == 429 || r.status >= 500; }

}  // namespace

HttpResponse UpstreamResult::value() && {
  if (!ok()) throw std::get<Error>(value_);
  return std::move(std::get<HttpResponse>(value_));
}

ChannelOptions ChannelOptions::from_config(std::string service, const Config& config) {
  ChannelOptions o;
  o.service = std::move(service);
  o.retry.max_retries = config.upstream_max_retries;
  o.max_in_flight = config.upstream_max_concurrency;
  o.max_queue_wait = std::chrono::milliseconds(config.upstream_timeout_ms) * 3;
  return o;
}

Error transport_error(std::string_view service, const TransportError& error) {
  std::string external = std::string(service) + ": " + error.message;
  std::string internal = external + (error.detail.empty() ? "" : " (" + error.detail + ")");
  Error e(codes::kExternalApi, std::move(external), std::move(internal));
  // Shutting down is this instance being unavailable, not the upstream failing.
  if (error.kind == FailureKind::kCancelled) return std::move(e).with_status(503);
  return e;
}

Error status_error(std::string_view service, const HttpResponse& response) {
  std::string external = std::string(service) + " answered HTTP " + std::to_string(response.status);
  return Error(codes::kExternalApi, external, external + ": " + excerpt(response.body));
}

namespace {

class Pending;

// The channel's state, shared by the channel and its calls in flight (UpstreamChannel::Impl).
struct ChannelState {
  ChannelState(HttpClient& c, Metrics& m, ChannelOptions o, CircuitBreaker::Clock clock,
               std::function<double()> uniform01)
      : client(c),
        metrics(m),
        options(std::move(o)),
        breaker(options.circuit, std::move(clock)),
        policy(options.retry, std::move(uniform01)) {
    publish_state();
  }

  // Keeps external_api_circuit_state in step with the breaker (set only on a change).
  void publish_state() {
    int state = static_cast<int>(breaker.state());
    if (published.exchange(state) != state) metrics.set_circuit_state(options.service, state);
  }

  // A slot for one attempt: true at once when one is free; else `waiter` is queued and started
  // (Pending::send) when one frees, unless its wait expires first.
  bool take_slot(const std::shared_ptr<Pending>& waiter) {
    std::lock_guard lock(mutex);
    if (in_flight < options.max_in_flight) {
      ++in_flight;
      return true;
    }
    waiting.push_back(waiter);
    return false;
  }
  // Frees a slot, or hands it straight to the first waiter still in line.
  std::shared_ptr<Pending> release_slot();
  // A waiter gave up (its deadline passed): true when it was still in line.
  bool leave_line(const Pending* waiter) {
    std::lock_guard lock(mutex);
    for (auto it = waiting.begin(); it != waiting.end(); ++it) {
      if (it->get() == waiter) {
        waiting.erase(it);
        return true;
      }
    }
    return false;
  }

  HttpClient& client;
  Metrics& metrics;
  ChannelOptions options;
  CircuitBreaker breaker;
  RetryPolicy policy;
  std::atomic<int> published{-1};
  std::mutex mutex;
  unsigned in_flight = 0;
  std::deque<std::shared_ptr<Pending>> waiting;
};

// One call through the channel: attempts, the waits between them, the final answer. Holds the
// channel's state, so the channel object may be destroyed while it runs.
class Pending : public std::enable_shared_from_this<Pending> {
 public:
  Pending(std::shared_ptr<ChannelState> channel, UpstreamCall call, UpstreamChannel::Callback done)
      : ch_(std::move(channel)), call_(std::move(call)), done_(std::move(done)) {
    switch (call_.idempotency) {
      case Idempotency::kByMethod:
        idempotent_ = idempotent_method(call_.request.method);
        break;
      case Idempotency::kIdempotent:
        idempotent_ = true;
        break;
      case Idempotency::kNotIdempotent:
        idempotent_ = false;
        break;
    }
    if (call_.request.request_id.empty()) call_.request.request_id = std::string(log::current_request_id());
    Deadline deadline = call_.deadline.is_set() ? call_.deadline : current_deadline();
    if (call_.budget) deadline = deadline.earliest(Deadline::after(*call_.budget));
    deadline_ = deadline.when();
  }

  void attempt() {
    if (deadline_ && Clock::now() >= *deadline_) return finish_late("before the call could start");
    if (!ch_->breaker.allow()) {
      ch_->publish_state();
      if (last_) return finish(std::move(*last_));  // opened during our retries: report why
      ch_->metrics.count_external(ch_->options.service, call_.endpoint, "circuit_open");
      auto wait = std::chrono::ceil<std::chrono::seconds>(ch_->breaker.retry_after());
      Error e(codes::kExternalApi, ch_->options.service + ": circuit open",
              ch_->options.service + ": circuit open after repeated failures; call to " + call_.endpoint +
                  " refused");
      return deliver_later(UpstreamResult(
          std::move(e).with_status(503).with_header("Retry-After",
                                                    std::to_string(std::max<int64_t>(1, wait.count()))),
          0));
    }
    ch_->publish_state();
    if (!ch_->take_slot(shared_from_this())) return wait_in_line();
    send();
  }

  // Starts the attempt; the caller holds a slot for it.
  void send() {
    if (deadline_ && Clock::now() >= *deadline_) {  // waited in line past its deadline
      if (auto next = ch_->release_slot()) next->send();
      return finish_late("waiting for a free slot");
    }
    OutboundRequest request = call_.request;
    auto timeout = request.timeout.value_or(ch_->client.options().timeout);
    cut_by_deadline_ = false;
    if (deadline_) {
      auto left = std::chrono::duration_cast<milliseconds>(*deadline_ - Clock::now());
      if (left < timeout) {
        timeout = std::max(milliseconds(1), left);
        cut_by_deadline_ = true;
      }
    }
    request.timeout = timeout;
    ++attempts_;
    auto started = Clock::now();
    ch_->client.send(std::move(request), [self = shared_from_this(), started](HttpResult r) {
      self->on_result(std::move(r), started);
    });
  }

 private:
  // No slot is free: wait in line until one is handed over or the wait expires.
  void wait_in_line() {
    auto wait = ch_->options.max_queue_wait;
    if (deadline_) wait = std::min(wait, std::chrono::duration_cast<milliseconds>(*deadline_ - Clock::now()));
    ch_->client.schedule(std::max(milliseconds(0), wait), [self = shared_from_this()](bool) {
      if (!self->ch_->leave_line(self.get())) return;  // it got a slot meanwhile
      self->ch_->metrics.count_external(self->ch_->options.service, self->call_.endpoint, "queue_timeout");
      Error e(codes::kExternalApi,
              self->ch_->options.service + ": too many calls in flight; retry shortly",
              self->ch_->options.service + ": no free slot of " +
                  std::to_string(self->ch_->options.max_in_flight) + " for " + self->call_.endpoint +
                  " before the call's deadline");
      self->deliver(UpstreamResult(std::move(e).with_status(503).with_header("Retry-After", "1"),
                                   self->attempts_));
    });
  }

  void on_result(HttpResult result, Clock::time_point started) {
    if (auto next = ch_->release_slot()) next->send();
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::string status =
        result.ok() ? std::to_string(result.response().status) : std::string(to_string(result.error().kind));
    ch_->metrics.observe_external(ch_->options.service, call_.endpoint, status, seconds);
    bool late = cut_by_deadline_ && !result.ok() && result.error().kind == FailureKind::kTimeout;
    // A timeout the caller's deadline imposed says nothing about the upstream's health.
    ch_->breaker.record(late ? CircuitOutcome::kIgnored : circuit_outcome(result));
    ch_->publish_state();
    if (late) return finish_late("waiting for the answer");

    auto delay = ch_->policy.next_delay(attempts_ - 1, result, idempotent_);
    if (delay && deadline_ && Clock::now() + *delay >= *deadline_) delay.reset();  // no time left
    if (!delay) return finish(std::move(result));

    {
      log::RequestScope scope(call_.request.request_id);
      log::info("upstream call failed, retrying", {{"service", ch_->options.service},
                                                   {"endpoint", call_.endpoint},
                                                   {"attempt", attempts_},
                                                   {"status", status},
                                                   {"retry_in_ms", static_cast<long long>(delay->count())}});
    }
    last_ = std::move(result);
    ch_->client.schedule(*delay, [self = shared_from_this()](bool cancelled) {
      if (cancelled) {
        return self->finish(TransportError{FailureKind::kCancelled, true, "client shutting down", {}});
      }
      self->attempt();
    });
  }

  // The call's deadline passed: 503, so the client may retry later; not the upstream's failure.
  void finish_late(std::string_view when) {
    const std::string& service = ch_->options.service;
    std::string external = service + ": no answer within the request's deadline";
    {
      log::RequestScope scope(call_.request.request_id);
      log::warn("upstream call out of time", {{"service", service},
                                              {"endpoint", call_.endpoint},
                                              {"attempts", attempts_},
                                              {"when", when}});
    }
    deliver_later(UpstreamResult(Error(codes::kExternalApi, external,
                                       external + " (" + call_.endpoint + ", " + std::string(when) + ")")
                                     .with_status(503)
                                     .with_header("Retry-After", "1"),
                                 attempts_));
  }

  void finish(HttpResult result) {
    if (result.ok() && !answer_is_failure(result.response())) {
      return deliver(UpstreamResult(std::move(result.response()), attempts_));
    }
    const std::string& service = ch_->options.service;
    std::optional<Error> error;
    std::optional<FailureKind> failure;
    if (result.ok()) {
      const auto& r = result.response();
      std::string external = service + " answered HTTP " + std::to_string(r.status) + " after " +
                             std::to_string(attempts_) + (attempts_ == 1 ? " attempt" : " attempts");
      error.emplace(codes::kExternalApi, external,
                    external + " (" + call_.endpoint + "): " + excerpt(r.body));
    } else {
      error.emplace(transport_error(service, result.error()));
      failure = result.error().kind;
    }
    {
      log::RequestScope scope(call_.request.request_id);
      log::warn("upstream call failed", {{"service", service},
                                         {"endpoint", call_.endpoint},
                                         {"attempts", attempts_},
                                         {"error", error->internal_message()}});
    }
    deliver(UpstreamResult(std::move(*error), attempts_, failure));
  }

  // Through the client, so the callback runs on a client thread like every other answer (never on
  // the caller's thread inside call()).
  void deliver_later(UpstreamResult result) {
    auto shared = std::make_shared<UpstreamResult>(std::move(result));
    ch_->client.schedule(milliseconds(0),
                         [self = shared_from_this(), shared](bool) { self->deliver(std::move(*shared)); });
  }

  void deliver(UpstreamResult result) {
    auto done = std::move(done_);
    if (!done) return;
    try {
      done(std::move(result));
    } catch (const std::exception& e) {
      log::error("upstream channel callback threw", {{"error", e.what()}});
    } catch (...) {
      log::error("upstream channel callback threw");
    }
  }

  std::shared_ptr<ChannelState> ch_;
  UpstreamCall call_;
  UpstreamChannel::Callback done_;
  bool idempotent_ = true;
  bool cut_by_deadline_ = false;  // this attempt's timeout is what was left of the deadline
  unsigned attempts_ = 0;
  std::optional<Clock::time_point> deadline_;
  std::optional<HttpResult> last_;  // the failed attempt we are waiting to retry
};

std::shared_ptr<Pending> ChannelState::release_slot() {
  std::lock_guard lock(mutex);
  if (!waiting.empty()) {
    auto next = std::move(waiting.front());
    waiting.pop_front();
    return next;  // the slot passes to it: in_flight stays
  }
  --in_flight;
  return nullptr;
}

}  // namespace

struct UpstreamChannel::Impl : ChannelState {
  using ChannelState::ChannelState;
};

UpstreamChannel::UpstreamChannel(HttpClient& client, Metrics& metrics, ChannelOptions options)
    : UpstreamChannel(client, metrics, std::move(options), {}, {}) {}

UpstreamChannel::UpstreamChannel(HttpClient& client, Metrics& metrics, ChannelOptions options,
                                 CircuitBreaker::Clock clock, std::function<double()> uniform01)
    : impl_(std::make_shared<Impl>(client, metrics, std::move(options), std::move(clock),
                                   std::move(uniform01))) {}

UpstreamChannel::~UpstreamChannel() = default;

void UpstreamChannel::call(UpstreamCall call, Callback done) {
  std::make_shared<Pending>(impl_, std::move(call), std::move(done))->attempt();
}

UpstreamResult UpstreamChannel::call_sync(UpstreamCall call) {
  if (impl_->client.on_client_thread()) {
    return UpstreamResult(
        Error(codes::kInternal, "internal error",
              "UpstreamChannel::call_sync on an upstream client thread (it would deadlock)"),
        0);
  }
  std::promise<UpstreamResult> promise;
  auto future = promise.get_future();
  this->call(std::move(call), [&promise](UpstreamResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

void UpstreamChannel::declare_endpoint(std::string_view endpoint) {
  impl_->metrics.declare_external(impl_->options.service, endpoint);
}

CircuitState UpstreamChannel::circuit_state() const {
  impl_->publish_state();  // open -> half-open happens by time alone; keep the gauge in step
  return impl_->breaker.state();
}

const std::string& UpstreamChannel::service() const { return impl_->options.service; }

bool UpstreamChannel::on_client_thread() const { return impl_->client.on_client_thread(); }

}  // namespace kargo::upstream
