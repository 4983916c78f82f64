#include "kargo/service/webhook_dispatcher.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "kargo/core/digest.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/domain/webhook.hpp"
#include "kargo/store/webhooks.hpp"
#include "kargo/upstream/address_policy.hpp"
#include "kargo/upstream/http_client.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kFanOutBatch = 500;
constexpr size_t kMaxResponseBytes = 64u << 10;  // the answer is not used; only its status
constexpr auto kDepthEvery = std::chrono::seconds(5);
constexpr auto kDueCheckEvery = std::chrono::seconds(1);  // repair_due(): webhooks left without a due time
constexpr std::chrono::milliseconds kMaxErrorWait{5000};

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

struct WebhookDispatcher::Impl {
  Impl(store::WebhookStore& s, Metrics& m, WebhookDispatcherOptions o)
      : store(s),
        metrics(m),
        options(std::move(o)),
        owner(options.owner_prefix + "-" + random_id("", 6)),
        client(upstream::HttpClientOptions{.timeout = std::chrono::milliseconds(options.timeout),
                                           .max_response_bytes = kMaxResponseBytes,
                                           .io_threads = 1,
                                           .user_agent = std::string("kargo-dsp-webhooks/") + KARGO_VERSION}) {}

  store::WebhookStore& store;
  Metrics& metrics;
  WebhookDispatcherOptions options;
  const std::string owner;
  upstream::HttpClient client;
  std::mutex mutex;
  std::condition_variable wake_senders, wake_scheduler;
  bool stopping = false;
  uint64_t wakes = 0;  // guarded by mutex: a sender waits for this to move
  std::thread scheduler;
  std::vector<std::thread> senders;

  void wake(bool all) {
    {
      std::lock_guard lock(mutex);
      ++wakes;
    }
    if (all) {
      wake_senders.notify_all();
    } else {
      wake_senders.notify_one();
    }
  }

  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  // Moves committed events to deliveries and wakes the senders; every `poll` it also wakes one
  // for the retries that came due (it wakes the next when it found work).
  void schedule_loop() {
    auto last_depth = Clock::time_point{};
    auto last_due = Clock::time_point{};
    int failures = 0;  // in a row: the wait grows to kMaxErrorWait (a database down or not migrated)
    for (;;) {
      size_t moved = 0;
      try {
        moved = store.fan_out(kFanOutBatch);
        failures = 0;
      } catch (const std::exception& e) {
        if (failures++ == 0) log::warn("webhook fan-out failed", {{"error", e.what()}});
      }
      const auto now = Clock::now();
      if (moved > 0) {
        wake(true);
      } else {
        if (now - last_due >= kDueCheckEvery) {
          last_due = now;
          try {
            store.repair_due();
          } catch (const std::exception&) {
            // As the fan-out: logged there.
          }
        }
        // One sender looks for retries that came due (a claim that finds none is one indexed
        // UPDATE), so a retry is late by at most `poll`; it wakes the next when it finds one.
        if (failures == 0) wake(false);
      }
      if (now - last_depth >= kDepthEvery) {
        last_depth = now;
        try {
          metrics.set_webhook_outbox_depth(static_cast<double>(store.depth()));
        } catch (const std::exception&) {
          // The database is down: /health/ready says so; the gauge keeps its last value.
        }
      }
      std::unique_lock lock(mutex);
      if (stopping) return;
      if (moved == kFanOutBatch) continue;  // more are waiting
      auto wait = failures == 0 ? options.poll
                                : std::min<std::chrono::milliseconds>(options.poll * (1 << std::min(failures, 10)),
                                                                      kMaxErrorWait);
      wake_scheduler.wait_for(lock, wait, [&] { return stopping; });
      if (stopping) return;
    }
  }

  void send_loop() {
    std::mt19937_64 random(std::random_device{}());
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake_senders.wait(lock, [&] { return stopping || wakes != seen; });
        if (stopping) return;
        seen = wakes;
      }
      // Take webhooks while there are due ones; each one found wakes another sender, so the
      // senders spread over the webhooks with work.
      for (;;) {
        std::vector<store::SendingWebhook> claimed;
        try {
          claimed = store.claim(owner, options.lease, 1);
        } catch (const std::exception& e) {
          log::debug("claiming a webhook failed", {{"error", e.what()}});  // the fan-out logs it
        }
        if (claimed.empty() || stopped()) break;
        wake(false);
        deliver(claimed.front(), random);
      }
    }
  }

  // Sends the webhook's due deliveries in order until one fails or none is left.
  void deliver(const store::SendingWebhook& hook, std::mt19937_64& random) {
    try {
      for (bool more = true; more && !stopped();) {
        const auto fetched = Clock::now();
        auto batch = store.next_deliveries(hook.id, options.batch);
        std::vector<store::AttemptOutcome> outcomes;
        for (const auto& d : batch) {
          if (!d.due || stopped()) break;
          if (d.attempts == 0) {
            metrics.observe_webhook_latency(d.waited_seconds + ms_between(fetched, Clock::now()) / 1000.0);
          }
          outcomes.push_back(attempt(hook, d));
          if (!outcomes.back().delivered) break;
          // Record and renew the lease well before it can expire under a slow receiver.
          if (Clock::now() - fetched > options.lease / 3) break;
        }
        if (outcomes.empty()) break;
        store::FailurePlan plan{.deactivate_after = options.deactivate_after};
        const auto& last = outcomes.back();
        if (!last.delivered) {
          plan.final = last.attempt >= options.max_attempts;
          plan.retry_in = domain::retry_delay(last.attempt, options.retry_base,
                                              std::uniform_real_distribution<double>(0, 1)(random));
        }
        auto recorded = store.record(owner, hook.id, outcomes, plan, options.lease);
        count(outcomes, plan);
        if (!recorded.owned) {
          log::warn("webhook lease lost; its outcomes were not recorded", {{"webhook_id", hook.id}});
          return;
        }
        if (recorded.deactivated) {
          log::critical("error.critical: webhook deactivated", {{"webhook_id", hook.id},
                                                                {"failing_for_seconds", options.deactivate_after.count()},
                                                                {"last_error", last.error}});
          return;
        }
        more = last.delivered;  // the next batch (empty when none is left)
      }
      store.release(owner, hook.id);
    } catch (const std::exception& e) {
      // The lease expires and this webhook's deliveries are sent again (same delivery ids).
      log::warn("webhook delivery interrupted", {{"webhook_id", hook.id}, {"error", e.what()}});
    }
  }

  store::AttemptOutcome attempt(const store::SendingWebhook& hook, const store::PendingDelivery& d) {
    store::AttemptOutcome out{.delivery_id = d.id, .event = d.event, .seq = d.seq, .attempt = d.attempts + 1};
    json data = json::parse(d.data, nullptr, false);
    const std::string body = json{{"event", d.event},
                                  {"timestamp", d.event_at},
                                  {"data", data.is_discarded() ? json::object() : std::move(data)},
                                  {"webhook_id", hook.id},
                                  {"delivery_id", d.id},
                                  {"retry_count", d.attempts}}
                                 .dump();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    upstream::OutboundRequest request{
        .method = "POST",
        .url = hook.url,
        .headers = {{"Content-Type", "application/json"},
                    {"X-Webhook-Event", d.event},
                    {"X-Webhook-Delivery", d.id},
                    {"X-Webhook-Signature", domain::webhook_signature(hook.secret, body)},
                    {"webhook-id", d.id},
                    {"webhook-timestamp", std::to_string(now)},
                    {"webhook-signature", domain::standard_signature(hook.secret, d.id, now, body)}},
        .body = body,
        .request_id = d.id,
        .max_response_bytes = kMaxResponseBytes,
        .decode_content = false};
    const bool allow_private = options.allow_private;
    request.refuse_address = [allow_private](std::string_view ip) {
      return upstream::refused_address(ip, allow_private);
    };
    const auto started = Clock::now();
    auto result = client.send_sync(std::move(request));
    out.duration_ms = ms_between(started, Clock::now());
    if (result.ok()) {
      out.status_code = result.response().status;
      out.delivered = out.status_code >= 200 && out.status_code < 300;
      if (!out.delivered) out.error = "HTTP " + std::to_string(*out.status_code);
    } else {
      const auto& e = result.error();
      out.error = std::string(upstream::to_string(e.kind)) + ": " + e.message;
      if (e.kind == upstream::FailureKind::kRefusedAddress) out.error += " (" + e.detail + ")";
    }
    if (!out.delivered) {
      log::warn("webhook attempt failed", {{"webhook_id", hook.id},
                                           {"delivery_id", d.id},
                                           {"event", d.event},
                                           {"attempt", out.attempt},
                                           {"error", out.error},
                                           {"duration_ms", out.duration_ms}});
    }
    return out;
  }

  void count(const std::vector<store::AttemptOutcome>& outcomes, const store::FailurePlan& plan) {
    for (const auto& o : outcomes) {
      metrics.webhook_delivery(o.delivered ? "delivered" : plan.final ? "failed" : "retried");
    }
  }
};

WebhookDispatcher::WebhookDispatcher(store::WebhookStore& store, Metrics& metrics, WebhookDispatcherOptions options)
    : impl_(std::make_unique<Impl>(store, metrics, std::move(options))) {}

WebhookDispatcher::~WebhookDispatcher() { stop(); }

void WebhookDispatcher::start() {
  auto& im = *impl_;
  im.scheduler = std::thread([&im] { im.schedule_loop(); });
  for (size_t i = 0; i < std::max<size_t>(im.options.senders, 1); ++i) {
    im.senders.emplace_back([&im] { im.send_loop(); });
  }
}

void WebhookDispatcher::stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mutex);
    im.stopping = true;
  }
  im.wake_senders.notify_all();
  im.wake_scheduler.notify_all();
  if (im.scheduler.joinable()) im.scheduler.join();
  for (auto& t : im.senders) {
    if (t.joinable()) t.join();
  }
  im.senders.clear();
}

}  // namespace kargo::service
