#pragma once
// The amazon_dsp and kargo checks of /health/detailed (contract section 8), cached so that a
// monitor polling the health route never hammers the upstreams: each probe runs at most once per
// `ttl` per process (one caller probes, the others wait for its answer or take the cached result),
// and a probe never takes longer than `budget`. Asynchronous: nobody's thread waits for a probe.
//
// * amazon_dsp: a valid Login with Amazon token (the cached one when it is still good, so usually no
//   call at all) and the amazon_dsp circuit. A token refused for the credentials is "down".
// * kargo: GET /v1/campaigns?page=1&per_page=1 and the kargo circuit.
// status: "ok", "degraded" (circuit half-open, or the probe did not finish within the budget),
// "down" (circuit open, probe failed) or "not_configured".
//
//   UpstreamHealth health(client, tokens, amazon, kargo);
//   health.amazon_dsp([](UpstreamCheck a) { a.status; a.latency_ms; to_string(a.circuit); });

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kargo/upstream/circuit_breaker.hpp"

namespace kargo::upstream {

class HttpClient;
class LwaTokenManager;
class AmazonDspClient;
class KargoClient;

struct UpstreamCheck {
  std::string status;  // ok | degraded | down | not_configured
  bool configured = false;
  std::optional<double> latency_ms;  // the probe's duration; none when nothing was probed
  CircuitState circuit = CircuitState::kClosed;
  std::string error;  // why it is not ok ("" when ok)
};

class UpstreamHealth {
 public:
  using Callback = std::function<void(UpstreamCheck)>;
  // `client` gives the probes their timers.
  UpstreamHealth(HttpClient& client, LwaTokenManager& tokens, AmazonDspClient& amazon, KargoClient& kargo,
                 std::chrono::milliseconds ttl = std::chrono::seconds(10),
                 std::chrono::milliseconds budget = std::chrono::seconds(2));
  ~UpstreamHealth();
  UpstreamHealth(const UpstreamHealth&) = delete;
  UpstreamHealth& operator=(const UpstreamHealth&) = delete;

  // `done` runs once: at once with a fresh cached check, else on an upstream client thread.
  void amazon_dsp(Callback done);
  void kargo(Callback done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::upstream
