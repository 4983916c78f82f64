#pragma once
// Webhooks in PostgreSQL (migrations/0010, docs/WEBHOOKS.md): the subscriptions, the outbox the
// triggers write, the deliveries and their attempts. SQL only; the rules (validation, the retry
// schedule, the address check) are service::WebhookService's and service::WebhookDispatcher's.
// Resources come back as JSON text built by PostgreSQL and never contain the secret. Blocking:
// database pool or dispatcher threads only.
//
//   WebhookStore store(db);
//   auto doc = store.create({.url = url, .events = {"campaign.created"}, .secret = s}, actor);
//   store.fan_out(500);                                   // outbox -> deliveries, commit order
//   for (auto& hook : store.claim(owner, 60s, 8)) {        // one sender per webhook (a lease)
//     auto batch = store.next_deliveries(hook.id, 50);     // its pending deliveries, in order
//     ... send ..., store.record(owner, hook.id, outcomes, retry);
//     store.release(owner, hook.id);
//   }

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kargo/store/page.hpp"

namespace kargo::store {

class Database;

struct NewWebhook {
  std::string url;
  std::vector<std::string> events;
  std::string secret;
  std::string description;
  bool active = true;
};

// PUT: the fields given change, the others stay.
struct WebhookChange {
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> events;
  std::optional<std::string> secret;
  std::optional<std::string> description;
  std::optional<bool> active;
};

// A webhook whose deliveries this worker sends now (it holds the lease).
struct SendingWebhook {
  std::string id, url, secret;
};

// A pending delivery, as the sender needs it.
struct PendingDelivery {
  std::string id;
  std::string event;
  std::string data;      // JSON text
  std::string event_at;  // ISO 8601 UTC with milliseconds: the body's timestamp
  int attempts = 0;      // made so far: the body's retry_count
  bool due = true;       // next_attempt_at has come
  double waited_seconds = 0;  // since the change committed (the latency of a first attempt)
  int64_t seq = 0;            // its place in the webhook's order
};

// One attempt, as the sender saw it.
struct AttemptOutcome {
  std::string delivery_id;
  std::string event;
  int64_t seq = 0;                  // PendingDelivery::seq
  int attempt = 1;                  // 1-based
  std::optional<int> status_code;   // the receiver's answer, if any
  std::string error;                // why there is no 2xx ("" when delivered)
  double duration_ms = 0;
  bool delivered = false;
};

// What record() does after the last outcome when it is a failure.
struct FailurePlan {
  bool final = false;                          // no attempts left: the delivery failed for good
  std::chrono::milliseconds retry_in{0};       // else: when to try again
  std::chrono::seconds deactivate_after{259200};  // failing this long switches the webhook off
};

struct RecordResult {
  bool owned = true;         // false: the lease was lost (or the webhook deleted); nothing stored
  bool deactivated = false;  // this failure switched the webhook off
};

enum class RequeueResult { kQueued, kUnknownWebhook, kUnknownDelivery, kInactive, kAlreadyPending };

class WebhookStore {
 public:
  // Registers the store's prepared statements with `db`.
  explicit WebhookStore(Database& db);

  // --- the resource {id, url, events, description, active, created_by, created_at, updated_at,
  //     deactivated_reason} (never the secret) ---
  std::string create(const NewWebhook& hook, const std::string& actor);
  std::optional<std::string> get(const std::string& id);
  JsonPage list(size_t limit, size_t offset);
  // nullopt for an unknown webhook. Switching it off cancels its pending deliveries.
  std::optional<std::string> update(const std::string& id, const WebhookChange& change);
  bool remove(const std::string& id);
  // Its attempts {delivery_id, event, attempt, retry_count, status_code, error, duration_ms,
  // outcome, at}, newest first; nullopt for an unknown webhook.
  std::optional<JsonPage> attempts(const std::string& id, size_t limit, size_t offset);
  // Queues `event` with `data_json` for this webhook alone (ping): its delivery id.
  RequeueResult enqueue_direct(const std::string& webhook_id, const std::string& event, const std::string& data_json,
                               std::string* delivery_id);
  // Queues a finished delivery again (same delivery id, after the webhook's other pending ones).
  RequeueResult redeliver(const std::string& webhook_id, const std::string& delivery_id);

  // --- the dispatcher ---
  // Moves up to `max_events` outbox events, oldest first, to deliveries of the active webhooks
  // subscribed to them, in one transaction. One process at a time (an advisory lock; the others
  // get 0), so deliveries are numbered in commit order. Returns the events moved.
  size_t fan_out(size_t max_events);
  // Takes the lease of up to `max` active webhooks whose next delivery is due.
  std::vector<SendingWebhook> claim(const std::string& owner, std::chrono::seconds lease, size_t max);
  // Its first `max` pending deliveries in order (the first may not be due yet).
  std::vector<PendingDelivery> next_deliveries(const std::string& webhook_id, size_t max);
  // Stores a batch of attempts made in order: the delivered ones are done; a failure (only ever
  // the last) is scheduled again or failed for good per `failure`. Extends the lease.
  RecordResult record(const std::string& owner, const std::string& webhook_id,
                      const std::vector<AttemptOutcome>& outcomes, const FailurePlan& failure,
                      std::chrono::seconds lease);
  // Gives the lease back and sets when the webhook's next delivery is due.
  void release(const std::string& owner, const std::string& webhook_id);
  // Gives a due time to active webhooks that have pending deliveries but none (a fan-out that
  // raced with the sender's release). Returns how many. Cheap; the dispatcher calls it every second.
  size_t repair_due();
  // Outbox events not fanned out plus deliveries pending (the outbox depth gauge).
  int64_t depth();

 private:
  Database& db_;
};

}  // namespace kargo::store
