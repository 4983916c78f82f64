#include "kargo/upstream/upstream_health.hpp"

#include <mutex>
#include <vector>

#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::upstream {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The circuit is read live, not from the cache: it is in memory and changes with every call.
UpstreamCheck with_circuit(UpstreamCheck check, CircuitState live) {
  check.circuit = live;
  if (check.status == "not_configured") return check;
  if (live == CircuitState::kOpen) {
    check.status = "down";
    if (check.error.empty()) check.error = "circuit open after repeated failures";
  } else if (live == CircuitState::kHalfOpen && check.status == "ok") {
    check.status = "degraded";
    check.error = "circuit half-open: probing the upstream";
  }
  return check;
}

// One upstream's last probe and the callers waiting for the probe in flight. Shared with the
// probe's callbacks, which may outlive the UpstreamHealth.
struct Probe {
  std::mutex mutex;
  std::optional<UpstreamCheck> last;
  Clock::time_point at{};
  bool probing = false;
  std::vector<UpstreamHealth::Callback> waiting;

  // The probe's answer (the first of the result and the budget timer): cached, handed to every
  // waiter.
  void settle(const UpstreamCheck& check) {
    std::vector<UpstreamHealth::Callback> callers;
    {
      std::lock_guard lock(mutex);
      if (!probing) return;  // the other of result and timer came first
      probing = false;
      last = check;
      at = Clock::now();
      callers.swap(waiting);
    }
    for (auto& c : callers) c(check);
  }
};

}  // namespace

struct UpstreamHealth::Impl {
  // Answers from the cache, joins the probe in flight, or starts one with `start`, which must call
  // its argument (a settle function) once with the outcome.
  void check(const std::shared_ptr<Probe>& p, const std::function<CircuitState()>& live, Callback done,
             const std::function<void(std::function<void(UpstreamCheck)>)>& start) {
    auto answer = [live, done = std::move(done)](UpstreamCheck c) { done(with_circuit(std::move(c), live())); };
    std::optional<UpstreamCheck> cached;
    {
      std::lock_guard lock(p->mutex);
      if (p->last && Clock::now() - p->at < ttl) {
        cached = p->last;
      } else {
        p->waiting.push_back(answer);
        if (p->probing) return;
        p->probing = true;
      }
    }
    if (cached) return answer(*cached);  // outside the lock: the callback may take a while
    client.schedule(budget, [p, b = budget](bool) {
      p->settle({"degraded", true, std::nullopt, {}, "no answer within " + std::to_string(b.count()) + " ms"});
    });
    start([p](UpstreamCheck c) { p->settle(c); });
  }

  HttpClient& client;
  LwaTokenManager& tokens;
  AmazonDspClient& amazon;
  KargoClient& kargo;
  std::chrono::milliseconds ttl, budget;
  std::shared_ptr<Probe> amazon_probe = std::make_shared<Probe>();
  std::shared_ptr<Probe> kargo_probe = std::make_shared<Probe>();
};

UpstreamHealth::UpstreamHealth(HttpClient& client, LwaTokenManager& tokens, AmazonDspClient& amazon,
                               KargoClient& kargo, std::chrono::milliseconds ttl, std::chrono::milliseconds budget)
    : impl_(new Impl{client, tokens, amazon, kargo, ttl, budget}) {}

UpstreamHealth::~UpstreamHealth() = default;

void UpstreamHealth::amazon_dsp(Callback done) {
  auto& i = *impl_;
  if (!i.amazon.configured()) return done({"not_configured", false, std::nullopt, i.amazon.circuit_state(), ""});
  i.check(
      i.amazon_probe, [&amazon = i.amazon] { return amazon.circuit_state(); }, std::move(done),
      [&tokens = i.tokens](std::function<void(UpstreamCheck)> settle) {
        auto start = Clock::now();
        tokens.token([start, settle = std::move(settle)](TokenResult r) {
          double ms = ms_since(start);
          if (auto* e = std::get_if<Error>(&r)) return settle({"down", true, ms, {}, e->external_message()});
          settle({"ok", true, ms, {}, ""});
        });
      });
}

void UpstreamHealth::kargo(Callback done) {
  auto& i = *impl_;
  if (!i.kargo.configured()) return done({"not_configured", false, std::nullopt, i.kargo.circuit_state(), ""});
  i.check(
      i.kargo_probe, [&kargo = i.kargo] { return kargo.circuit_state(); }, std::move(done),
      [&kargo = i.kargo, budget = i.budget](std::function<void(UpstreamCheck)> settle) {
        auto start = Clock::now();
        kargo.probe(Deadline::after(budget), [start, settle = std::move(settle)](Result<Done> r) {
          double ms = ms_since(start);
          if (auto* e = std::get_if<Error>(&r)) return settle({"down", true, ms, {}, e->external_message()});
          settle({"ok", true, ms, {}, ""});
        });
      });
}

}  // namespace kargo::upstream
