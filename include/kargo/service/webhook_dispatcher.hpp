#pragma once
// The webhook delivery worker (docs/WEBHOOKS.md), run by every `serve` and `worker` process.
//
// One thread moves committed outbox events to deliveries (store::WebhookStore::fan_out, one
// process at a time, commit order) every `poll` and wakes the senders. Each sender thread takes
// the lease of one webhook whose next delivery is due and sends its pending deliveries in order
// over the dispatcher's own HTTP client: POST, signed twice (X-Webhook-Signature and Standard
// Webhooks), no redirects followed, `timeout` per attempt, and only to addresses the address
// rules accept (checked on the addresses the host resolves to now; the connection goes to the
// address checked). A non-2xx answer or no answer is retried with domain::retry_delay (the
// webhook's later deliveries wait: order per webhook) until `max_attempts`, then the delivery
// has failed for good and the next one goes. A webhook whose deliveries have all failed for
// `deactivate_after` is switched off. A delivery is marked delivered only after its 2xx: a
// process killed in between sends it again later, with the same delivery id.
//
//   WebhookDispatcher dispatcher(store, metrics, {.allow_private = cfg.webhook_allow_private});
//   dispatcher.start();
//   ...
//   dispatcher.stop();   // lets the attempts in flight end (at most `timeout`), then joins

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace kargo {
class Metrics;
}
namespace kargo::store {
class WebhookStore;
}

namespace kargo::service {

struct WebhookDispatcherOptions {
  bool allow_private = false;                   // WEBHOOK_ALLOW_PRIVATE
  std::chrono::seconds timeout{10};             // WEBHOOK_TIMEOUT_SECONDS, per attempt
  std::chrono::milliseconds retry_base{5000};   // WEBHOOK_RETRY_BASE_MS (see domain::retry_delay)
  int max_attempts = 10;                        // WEBHOOK_MAX_ATTEMPTS
  std::chrono::seconds deactivate_after{259200};  // WEBHOOK_DEACTIVATE_AFTER_SECONDS (3 days)
  size_t senders = 8;                           // WEBHOOK_CONCURRENCY: webhooks sent to at once
  std::chrono::milliseconds poll{50};           // WEBHOOK_POLL_MS: outbox and due checks
  std::chrono::seconds lease{30};               // a sender's hold on a webhook (renewed per batch)
  size_t batch = 50;                            // deliveries of one webhook read at once
  std::string owner_prefix = "webhooks";        // lease owner ids: <prefix>-<random>
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(store::WebhookStore& store, Metrics& metrics, WebhookDispatcherOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::service
