#include "kargo/upstream/channel.hpp"

#include <algorithm>
#include <atomic>
#include <future>

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

  HttpClient& client;
  Metrics& metrics;
  ChannelOptions options;
  CircuitBreaker breaker;
  RetryPolicy policy;
  std::atomic<int> published{-1};
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
    if (call_.budget) deadline_ = Clock::now() + *call_.budget;
  }

  void attempt() {
    if (!ch_->breaker.allow()) {
      ch_->publish_state();
      if (last_) return finish(std::move(*last_));  // opened during our retries: report why
      ch_->metrics.count_external(ch_->options.service, call_.endpoint, "circuit_open");
      auto wait = std::chrono::ceil<std::chrono::seconds>(ch_->breaker.retry_after());
      Error e(codes::kExternalApi, ch_->options.service + ": circuit open",
              ch_->options.service + ": circuit open after repeated failures; call to " + call_.endpoint +
                  " refused");
      auto refused = std::make_shared<UpstreamResult>(
          std::move(e).with_status(503).with_header("Retry-After",
                                                    std::to_string(std::max<int64_t>(1, wait.count()))),
          0);
      // Through the client, so the callback runs on a client thread like every other answer.
      ch_->client.schedule(milliseconds(0), [self = shared_from_this(), refused](bool) {
        self->deliver(std::move(*refused));
      });
      return;
    }
    ch_->publish_state();
    OutboundRequest request = call_.request;
    if (deadline_) {
      auto left = std::chrono::duration_cast<milliseconds>(*deadline_ - Clock::now());
      auto timeout = request.timeout.value_or(ch_->client.options().timeout);
      request.timeout = std::max(milliseconds(1), std::min(timeout, left));
    }
    ++attempts_;
    auto started = Clock::now();
    ch_->client.send(std::move(request), [self = shared_from_this(), started](HttpResult r) {
      self->on_result(std::move(r), started);
    });
  }

 private:
  void on_result(HttpResult result, Clock::time_point started) {
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::string status =
        result.ok() ? std::to_string(result.response().status) : std::string(to_string(result.error().kind));
    ch_->metrics.observe_external(ch_->options.service, call_.endpoint, status, seconds);
    ch_->breaker.record(circuit_outcome(result));
    ch_->publish_state();

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

  void deliver(UpstreamResult result) {
    auto done = std::move(done_);
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
  unsigned attempts_ = 0;
  std::optional<Clock::time_point> deadline_;
  std::optional<HttpResult> last_;  // the failed attempt we are waiting to retry
};

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

CircuitState UpstreamChannel::circuit_state() const {
  impl_->publish_state();  // open -> half-open happens by time alone; keep the gauge in step
  return impl_->breaker.state();
}

const std::string& UpstreamChannel::service() const { return impl_->options.service; }

bool UpstreamChannel::on_client_thread() const { return impl_->client.on_client_thread(); }

}  // namespace kargo::upstream
