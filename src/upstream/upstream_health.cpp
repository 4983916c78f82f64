#include "kargo/upstream/upstream_health.hpp"

#include <functional>
#include <future>
#include <mutex>

#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::upstream {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// One upstream's last probe, and the lock that lets one caller probe at a time.
struct Probe {
  std::mutex probing;
  std::mutex mutex;
  std::optional<UpstreamCheck> last;
  Clock::time_point at{};
};

}  // namespace

struct UpstreamHealth::Impl {
  UpstreamCheck cached(Probe& p, std::chrono::milliseconds ttl, const std::function<UpstreamCheck()>& probe,
                       CircuitState live) {
    auto fresh = [&]() -> std::optional<UpstreamCheck> {
      std::lock_guard lock(p.mutex);
      if (p.last && Clock::now() - p.at < ttl) return p.last;
      return std::nullopt;
    };
    auto check = fresh();
    if (!check) {
      std::lock_guard one(p.probing);
      check = fresh();  // another caller may have probed while we waited
      if (!check) {
        check = probe();
        std::lock_guard lock(p.mutex);
        p.last = check;
        p.at = Clock::now();
      }
    }
    // The circuit is read live, not from the cache: it is in memory and changes with every call.
    check->circuit = live;
    if (check->status == "not_configured") return *check;
    if (live == CircuitState::kOpen) {
      check->status = "down";
      if (check->error.empty()) check->error = "circuit open after repeated failures";
    } else if (live == CircuitState::kHalfOpen && check->status == "ok") {
      check->status = "degraded";
      check->error = "circuit half-open: probing the upstream";
    }
    return *check;
  }

  LwaTokenManager& tokens;
  AmazonDspClient& amazon;
  KargoClient& kargo;
  std::chrono::milliseconds ttl, budget;
  Probe amazon_probe, kargo_probe;
};

UpstreamHealth::UpstreamHealth(LwaTokenManager& tokens, AmazonDspClient& amazon, KargoClient& kargo,
                               std::chrono::milliseconds ttl, std::chrono::milliseconds budget)
    : impl_(new Impl{tokens, amazon, kargo, ttl, budget}) {}

UpstreamHealth::~UpstreamHealth() = default;

UpstreamCheck UpstreamHealth::amazon_dsp() {
  auto& i = *impl_;
  auto probe = [&]() -> UpstreamCheck {
    if (!i.amazon.configured()) return {"not_configured", false, std::nullopt, {}, ""};
    auto start = Clock::now();
    // Shared with the token callback, which may finish after this probe gave up waiting.
    auto promise = std::make_shared<std::promise<TokenResult>>();
    auto future = promise->get_future();
    i.tokens.token([promise](TokenResult r) { promise->set_value(std::move(r)); });
    if (future.wait_for(i.budget) != std::future_status::ready) {
      return {"degraded",
              true,
              std::nullopt,
              {},
              "no access token within " + std::to_string(i.budget.count()) + " ms"};
    }
    auto result = future.get();
    double ms = ms_since(start);
    if (auto* e = std::get_if<Error>(&result)) return {"down", true, ms, {}, e->external_message()};
    return {"ok", true, ms, {}, ""};
  };
  return i.cached(i.amazon_probe, i.ttl, probe, i.amazon.circuit_state());
}

UpstreamCheck UpstreamHealth::kargo() {
  auto& i = *impl_;
  auto probe = [&]() -> UpstreamCheck {
    if (!i.kargo.configured()) return {"not_configured", false, std::nullopt, {}, ""};
    auto start = Clock::now();
    try {
      i.kargo.probe(i.budget);
      return {"ok", true, ms_since(start), {}, ""};
    } catch (const Error& e) {
      return {"down", true, ms_since(start), {}, e.external_message()};
    }
  };
  return i.cached(i.kargo_probe, i.ttl, probe, i.kargo.circuit_state());
}

}  // namespace kargo::upstream
