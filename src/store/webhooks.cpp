#include "kargo/store/webhooks.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/store/database.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// The resource, built by PostgreSQL. The secret is never part of it.
#define KARGO_WEBHOOK_JSON                                                                          \
  "json_build_object('id', w.id, 'url', w.url, 'events', to_json(w.events), "                      \
  "'description', w.description, 'active', w.active, 'deactivated_reason', w.deactivated_reason, " \
  "'created_by', w.created_by, 'created_at', " KARGO_TS("w.created_at") ", 'updated_at', " KARGO_TS( \
      "w.updated_at") ")"

#define KARGO_ATTEMPT_JSON                                                                          \
  "json_build_object('delivery_id', a.delivery_id, 'event', a.event, 'attempt', a.attempt, "       \
  "'retry_count', a.attempt - 1, 'status_code', a.status_code, 'error', a.error, "                 \
  "'duration_ms', round(a.duration_ms::numeric, 3), "                                               \
  "'outcome', CASE WHEN a.error IS NULL THEN 'delivered' ELSE 'failed' END, 'at', " KARGO_TS_MS("a.created_at") ")"

// The advisory lock (key "kwhookfa") under which deliveries are inserted or queued again.
constexpr int64_t kFanOutLock = 0x6b77686f6f6b6661;

constexpr const char* kGetWebhook = "SELECT " KARGO_WEBHOOK_JSON "::text FROM webhooks w WHERE w.id = $1";

constexpr const char* kInsertWebhook =
    "INSERT INTO webhooks AS w (id, url, events, secret, description, active, created_by) "
    "VALUES ($1, $2, $3::text[], $4, $5, $6, $7) RETURNING " KARGO_WEBHOOK_JSON "::text";

// Fields not given keep their value. Switching a webhook off (by hand) clears the worker's state.
constexpr const char* kUpdateWebhook =
    "UPDATE webhooks w SET url = coalesce($2, w.url), events = coalesce($3::text[], w.events), "
    "secret = coalesce($4, w.secret), description = coalesce($5, w.description), "
    "active = coalesce($6, w.active), updated_at = clock_timestamp(), "
    "deactivated_reason = CASE WHEN coalesce($6, w.active) THEN NULL ELSE w.deactivated_reason END, "
    "failing_since = CASE WHEN $6 IS NULL THEN w.failing_since ELSE NULL END, "
    "due_at = CASE WHEN coalesce($6, w.active) THEN w.due_at ELSE NULL END "
    "WHERE w.id = $1 RETURNING " KARGO_WEBHOOK_JSON "::text, w.active";

// The pending deliveries of a webhook that was switched off: it receives nothing.
constexpr const char* kCancelPending =
    "UPDATE webhook_deliveries SET status = 'cancelled', finished_at = clock_timestamp() "
    "WHERE webhook_id = $1 AND status = 'pending'";

constexpr const char* kMakeDue =
    "UPDATE webhooks SET due_at = coalesce(due_at, clock_timestamp()) WHERE id = $1";

constexpr const char* kEnqueueDirect =
    "INSERT INTO webhook_deliveries (id, webhook_id, event, data, event_at) "
    "SELECT $2, w.id, $3, $4::jsonb, clock_timestamp() FROM webhooks w WHERE w.id = $1 AND w.active "
    "RETURNING id";

constexpr const char* kRedeliver =
    "UPDATE webhook_deliveries SET status = 'pending', finished_at = NULL, next_attempt_at = clock_timestamp(), "
    "seq = nextval(pg_get_serial_sequence('webhook_deliveries', 'seq')) "
    "WHERE id = $2 AND webhook_id = $1 AND status <> 'pending' RETURNING id";

// Outbox -> deliveries, oldest events first, each event's deliveries numbered in event order. A
// webhook created after the event was written does not get it. A webhook with a due time keeps it
// (its head may be waiting for a retry; and its row is not locked away from its sender); one
// whose sender is releasing it right now may end up without a due time: kRepairDue finds it.
constexpr const char* kFanOut =
    "WITH ev AS (DELETE FROM webhook_events WHERE seq IN "
    " (SELECT seq FROM webhook_events ORDER BY seq LIMIT $1) RETURNING seq, event, data, created_at), "
    "ins AS (INSERT INTO webhook_deliveries (id, webhook_id, event, data, event_at) "
    " SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), w.id, ev.event, ev.data, ev.created_at "
    " FROM ev JOIN webhooks w ON w.active AND ev.event = ANY (w.events) AND w.created_at <= ev.created_at "
    " ORDER BY ev.seq, w.id RETURNING webhook_id), "
    "due AS (UPDATE webhooks SET due_at = clock_timestamp() "
    " WHERE id IN (SELECT DISTINCT webhook_id FROM ins) AND due_at IS NULL RETURNING 1) "
    "SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM due)";

constexpr const char* kClaimDelivery =
    "UPDATE webhooks w SET lease_owner = $1, lease_expires_at = clock_timestamp() + make_interval(secs => $2) "
    "FROM (SELECT id FROM webhooks WHERE active AND due_at <= clock_timestamp() "
    " AND (lease_expires_at IS NULL OR lease_expires_at < clock_timestamp()) "
    " ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) c "
    "WHERE w.id = c.id RETURNING w.id, w.url, w.secret";

// From the webhook's cursor on: the index range starts after the finished deliveries.
constexpr const char* kNext =
    "SELECT id, event, data::text, " KARGO_TS_MS("event_at") ", "
    "attempts, next_attempt_at <= clock_timestamp(), extract(epoch FROM clock_timestamp() - event_at), seq "
    "FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending' "
    "AND seq > (SELECT cursor_seq FROM webhooks WHERE id = $1) ORDER BY seq LIMIT $2";

constexpr const char* kLockLease =
    "SELECT failing_since IS NOT NULL AND failing_since < clock_timestamp() - make_interval(secs => $3) "
    "FROM webhooks WHERE id = $1 AND lease_owner = $2 FOR UPDATE";

constexpr const char* kInsertAttempts =
    "INSERT INTO webhook_attempts (delivery_id, webhook_id, event, attempt, status_code, error, duration_ms) "
    "SELECT x.delivery_id, $1, x.event, x.attempt, x.status_code, x.error, x.duration_ms "
    "FROM jsonb_to_recordset($2::jsonb) AS x(delivery_id text, event text, attempt int, status_code int, "
    "error text, duration_ms float8)";

// Found by primary key ("d.id = ANY"): the planner cannot estimate the recordset, and the pending
// index it would pick otherwise is full of entries of finished deliveries until a vacuum.
constexpr const char* kDelivered =
    "UPDATE webhook_deliveries d SET status = 'delivered', finished_at = clock_timestamp(), "
    "attempts = x.attempt, last_status_code = x.status_code, last_error = NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS x(delivery_id text, attempt int, status_code int) "
    "WHERE d.id = x.delivery_id AND d.id = ANY ($3::text[]) AND d.webhook_id = $1";

// $3 final, $4 retry delay (ms).
constexpr const char* kFailed =
    "UPDATE webhook_deliveries SET attempts = $5, last_status_code = $6, last_error = $7, "
    "status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END, "
    "finished_at = CASE WHEN $3 THEN clock_timestamp() END, "
    "next_attempt_at = clock_timestamp() + make_interval(secs => $4 / 1000.0) "
    "WHERE id = $2 AND webhook_id = $1 AND status = 'pending'";

constexpr const char* kSucceeded =
    "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL";

// Active webhooks with pending deliveries but no due time and no sender (see kFanOut).
constexpr const char* kRepairDue =
    "UPDATE webhooks w SET due_at = clock_timestamp() WHERE w.active AND w.due_at IS NULL "
    "AND (w.lease_expires_at IS NULL OR w.lease_expires_at < clock_timestamp()) "
    "AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')";
constexpr const char* kFailing =
    "UPDATE webhooks SET failing_since = coalesce(failing_since, clock_timestamp()) WHERE id = $1";

constexpr const char* kDeactivate =
    "UPDATE webhooks SET active = false, due_at = NULL, lease_owner = NULL, lease_expires_at = NULL, "
    "deactivated_reason = $2, updated_at = clock_timestamp() WHERE id = $1";

constexpr const char* kRenew =
    "UPDATE webhooks SET lease_expires_at = clock_timestamp() + make_interval(secs => $3), "
    "cursor_seq = greatest(cursor_seq, $4) WHERE id = $1 AND lease_owner = $2";

// Under the row lock taken first, so that deliveries fanned out meanwhile are seen (a new
// statement, a new snapshot) and never left without a due time.
constexpr const char* kLockOwned = "SELECT 1 FROM webhooks WHERE id = $1 AND lease_owner = $2 FOR UPDATE";
constexpr const char* kRelease =
    "UPDATE webhooks w SET lease_owner = NULL, lease_expires_at = NULL, due_at = CASE WHEN w.active THEN "
    "(SELECT d.next_attempt_at FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending' "
    "ORDER BY d.seq LIMIT 1) END WHERE w.id = $1";

constexpr const char* kDepth =
    "SELECT (SELECT count(*) FROM webhook_events) + "
    "(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')";

std::optional<std::string> optional_array(const std::optional<std::vector<std::string>>& items) {
  if (!items) return std::nullopt;
  return text_array(*items);
}

}  // namespace

WebhookStore::WebhookStore(Database& db) : db_(db) {
  prepare_resource_reads(db, "webhook", kGetWebhook, "webhooks", "w", "", KARGO_WEBHOOK_JSON, 1);
  db.prepare("webhook_attempts",
             newest_first_page_sql("webhook_attempts", "a", "WHERE a.webhook_id = $1", KARGO_ATTEMPT_JSON, 2));
  db.prepare("webhook_claim", kClaimDelivery);
  db.prepare("webhook_next", kNext);
}

std::string WebhookStore::create(const NewWebhook& hook, const std::string& actor) {
  const std::string id = random_id("wh_");
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out = tx.exec_params1(kInsertWebhook, id, hook.url, text_array(hook.events), hook.secret, hook.description,
                          hook.active, actor)[0]
              .as<std::string>();
  });
  return out;
}

std::optional<std::string> WebhookStore::get(const std::string& id) { return fetch_text(db_, "webhook_get", id); }

JsonPage WebhookStore::list(size_t limit, size_t offset) {
  return read_page_prepared(db_, "webhook_list", limit, offset);
}

std::optional<std::string> WebhookStore::update(const std::string& id, const WebhookChange& change) {
  std::optional<std::string> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kUpdateWebhook, id, change.url, optional_array(change.events), change.secret,
                               change.description, change.active);
    if (rows.empty()) return;
    out = rows[0][0].as<std::string>();
    if (!rows[0][1].as<bool>()) tx.exec_params(kCancelPending, id);
  });
  return out;
}

bool WebhookStore::remove(const std::string& id) {
  bool removed = false;
  db_.transact([&](pqxx::transaction_base& tx) {
    removed = !tx.exec_params("DELETE FROM webhooks WHERE id = $1 RETURNING 1", id).empty();
  });
  return removed;
}

std::optional<JsonPage> WebhookStore::attempts(const std::string& id, size_t limit, size_t offset) {
  std::optional<JsonPage> out;
  db_.once([&](pqxx::transaction_base& tx) {
    out.reset();
    if (tx.exec_params("SELECT 1 FROM webhooks WHERE id = $1", id).empty()) return;
    out = read_page(tx.exec_prepared1("webhook_attempts", id, limit, offset));
  });
  return out;
}

RequeueResult WebhookStore::enqueue_direct(const std::string& webhook_id, const std::string& event,
                                           const std::string& data_json, std::string* delivery_id) {
  RequeueResult result = RequeueResult::kQueued;
  const std::string id = random_id("dlv_", 16);
  db_.transact([&](pqxx::transaction_base& tx) {
    auto hook = tx.exec_params("SELECT active FROM webhooks WHERE id = $1", webhook_id);
    if (hook.empty()) {
      result = RequeueResult::kUnknownWebhook;
      return;
    }
    if (!hook[0][0].as<bool>()) {
      result = RequeueResult::kInactive;
      return;
    }
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kFanOutLock);  // seqs in commit order
    tx.exec_params(kEnqueueDirect, webhook_id, id, event, data_json);
    tx.exec_params(kMakeDue, webhook_id);
    result = RequeueResult::kQueued;
  });
  if (result == RequeueResult::kQueued && delivery_id) *delivery_id = id;
  return result;
}

RequeueResult WebhookStore::redeliver(const std::string& webhook_id, const std::string& delivery_id) {
  RequeueResult result = RequeueResult::kQueued;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto hook = tx.exec_params("SELECT active FROM webhooks WHERE id = $1", webhook_id);
    if (hook.empty()) {
      result = RequeueResult::kUnknownWebhook;
      return;
    }
    auto delivery = tx.exec_params("SELECT status FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2",
                                   delivery_id, webhook_id);
    if (delivery.empty()) {
      result = RequeueResult::kUnknownDelivery;
    } else if (!hook[0][0].as<bool>()) {
      result = RequeueResult::kInactive;
    } else if (delivery[0][0].as<std::string>() == "pending") {
      result = RequeueResult::kAlreadyPending;
    } else {
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kFanOutLock);  // seqs in commit order
      tx.exec_params(kRedeliver, webhook_id, delivery_id);
      tx.exec_params(kMakeDue, webhook_id);
      result = RequeueResult::kQueued;
    }
  });
  return result;
}

size_t WebhookStore::fan_out(size_t max_events) {
  size_t moved = 0;
  db_.transact([&](pqxx::transaction_base& tx) {
    moved = 0;
    if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kFanOutLock)[0].as<bool>()) return;
    moved = tx.exec_params1(kFanOut, max_events)[0].as<size_t>();
  });
  return moved;
}

std::vector<SendingWebhook> WebhookStore::claim(const std::string& owner, std::chrono::seconds lease, size_t max) {
  std::vector<SendingWebhook> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.clear();
    for (const auto& row : tx.exec_prepared("webhook_claim", owner, static_cast<double>(lease.count()), max)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
  });
  return out;
}

std::vector<PendingDelivery> WebhookStore::next_deliveries(const std::string& webhook_id, size_t max) {
  std::vector<PendingDelivery> out;
  db_.once([&](pqxx::transaction_base& tx) {
    out.clear();
    for (const auto& row : tx.exec_prepared("webhook_next", webhook_id, max)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<int>(), row[5].as<bool>(), row[6].as<double>(),
                     row[7].as<int64_t>()});
    }
  });
  return out;
}

RecordResult WebhookStore::record(const std::string& owner, const std::string& webhook_id,
                                  const std::vector<AttemptOutcome>& outcomes, const FailurePlan& failure,
                                  std::chrono::seconds lease) {
  RecordResult result;
  json attempts = json::array(), delivered = json::array();
  std::vector<std::string> delivered_ids;
  const AttemptOutcome* failed = nullptr;
  int64_t finished_through = 0;  // the last seq of the batch that is finished (delivered or failed)
  for (const auto& o : outcomes) {
    if (o.delivered || failure.final) finished_through = std::max(finished_through, o.seq);
    json status = o.status_code ? json(*o.status_code) : json();
    attempts.push_back({{"delivery_id", o.delivery_id},
                        {"event", o.event},
                        {"attempt", o.attempt},
                        {"status_code", status},
                        {"error", o.delivered ? json() : json(o.error)},
                        {"duration_ms", o.duration_ms}});
    if (o.delivered) {
      delivered.push_back({{"delivery_id", o.delivery_id}, {"attempt", o.attempt}, {"status_code", status}});
      delivered_ids.push_back(o.delivery_id);
    } else {
      failed = &o;
    }
  }
  db_.transact([&](pqxx::transaction_base& tx) {
    result = {};
    auto lock = tx.exec_params(kLockLease, webhook_id, owner, static_cast<double>(failure.deactivate_after.count()));
    if (lock.empty()) {
      result.owned = false;
      return;
    }
    tx.exec_params(kInsertAttempts, webhook_id, attempts.dump());
    if (!delivered.empty()) tx.exec_params(kDelivered, webhook_id, delivered.dump(), text_array(delivered_ids));
    if (!failed) {
      tx.exec_params(kSucceeded, webhook_id);
    } else {
      tx.exec_params(kFailed, webhook_id, failed->delivery_id, failure.final,
                     static_cast<double>(failure.retry_in.count()), failed->attempt, failed->status_code,
                     failed->error);
      bool succeeded_before = failed != &outcomes.front();
      if (succeeded_before) tx.exec_params(kSucceeded, webhook_id);
      tx.exec_params(kFailing, webhook_id);
      // Failing for longer than allowed: switched off, its pending deliveries cancelled, and the
      // other subscribers of error.critical told.
      if (!succeeded_before && lock[0][0].as<bool>()) {
        const std::string reason = "every delivery failed for " +
                                   std::to_string(failure.deactivate_after.count()) +
                                   " s; last error: " + failed->error;
        tx.exec_params(kDeactivate, webhook_id, reason);
        tx.exec_params(kCancelPending, webhook_id);
        json data{{"source", "webhook"}, {"webhook_id", webhook_id}, {"error", reason}};
        tx.exec_params("SELECT webhook_publish('error.critical', $1::jsonb)", data.dump());
        result.deactivated = true;
        return;
      }
    }
    tx.exec_params(kRenew, webhook_id, owner, static_cast<double>(lease.count()), finished_through);
  });
  return result;
}

void WebhookStore::release(const std::string& owner, const std::string& webhook_id) {
  db_.transact([&](pqxx::transaction_base& tx) {
    if (tx.exec_params(kLockOwned, webhook_id, owner).empty()) return;
    tx.exec_params(kRelease, webhook_id);
  });
}

size_t WebhookStore::repair_due() {
  size_t repaired = 0;
  db_.transact([&](pqxx::transaction_base& tx) { repaired = tx.exec(kRepairDue).affected_rows(); });
  return repaired;
}

int64_t WebhookStore::depth() {
  int64_t out = 0;
  db_.once([&](pqxx::transaction_base& tx) { out = tx.exec(kDepth)[0][0].as<int64_t>(); });
  return out;
}

}  // namespace kargo::store
