#include "kargo/service/webhooks.hpp"

#include <algorithm>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/list_json.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/webhook.hpp"
#include "kargo/store/webhooks.hpp"
#include "kargo/upstream/address_policy.hpp"
#include "kargo/upstream/url.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;

constexpr size_t kMaxUrl = 2048;
constexpr size_t kMinSecret = 16, kMaxSecret = 512;
constexpr size_t kMaxDescription = 500;

void check_webhook_id(const std::string& id) {
  if (!is_resource_id(id, "wh_")) throw Error::not_found("webhook", id);
}

std::string event_choices() {
  std::string out;
  for (const auto& e : domain::webhook_events()) out.append(out.empty() ? "" : ", ").append(e);
  return out;
}

// The fields of a create (all = true: url, events and secret required) or of an update (any).
struct Fields {
  std::optional<std::string> url, secret, description;
  std::optional<std::vector<std::string>> events;
  std::optional<bool> active;
};

Fields read_fields(const json& body, bool create, bool allow_private) {
  Validator v(body);
  Fields f;
  f.url = v.string("url", {.required = create, .min_length = 1, .max_length = kMaxUrl});
  if (f.url) {
    auto url = upstream::parse_url(*f.url);
    if (!url) {
      v.add("url", "must be an http or https URL without user info (e.g. https://hooks.example.com/kargo)");
    } else if (url->host == "localhost" || (url->host.size() > 10 && url->host.ends_with(".localhost"))) {
      if (!allow_private) v.add("url", "must not point at localhost (loopback targets need WEBHOOK_ALLOW_PRIVATE=true)");
    } else if (!upstream::classify_address(url->host)) {
      // A name: its addresses are checked at every delivery, where they are resolved.
    } else if (auto refused = upstream::refused_address(url->host, allow_private)) {
      v.add("url", "must not point at " + *refused +
                       (upstream::refused_address(url->host, true) ? " (never allowed)"
                                                                   : " (allowed only with WEBHOOK_ALLOW_PRIVATE=true)"));
    }
  }
  f.events = v.string_array("events", {.min_length = 1, .max_length = 64}, {.required = create});
  if (f.events) {
    if (f.events->empty()) v.add("events", "must name at least one event: " + event_choices());
    std::vector<std::string> distinct;
    for (size_t i = 0; i < f.events->size(); ++i) {
      const auto& e = (*f.events)[i];
      if (!domain::is_webhook_event(e)) {
        v.add("events[" + std::to_string(i) + "]", "unknown event '" + e + "'; one of: " + event_choices());
      } else if (std::find(distinct.begin(), distinct.end(), e) == distinct.end()) {
        distinct.push_back(e);
      }
    }
    f.events = std::move(distinct);
  }
  f.secret = v.string("secret", {.required = create, .min_length = kMinSecret, .max_length = kMaxSecret});
  if (f.secret && f.secret->rfind("whsec_", 0) == 0 && !domain::standard_signing_key(*f.secret)) {
    v.add("secret", "starts with whsec_ but the rest is not base64 (Standard Webhooks secrets are whsec_<base64>)");
  }
  f.description = v.string("description", {.max_length = kMaxDescription});
  f.active = v.boolean("active");
  if (!create && body.is_object() && !f.url && !f.events && !f.secret && !f.description && !f.active && v.ok()) {
    v.add("body", "must change at least one of: url, events, secret, description, active");
  }
  v.check();
  return f;
}

Error requeue_refused(store::RequeueResult result, const std::string& id, const std::string& delivery_id) {
  switch (result) {
    case store::RequeueResult::kUnknownWebhook: return Error::not_found("webhook", id);
    case store::RequeueResult::kUnknownDelivery:
      return Error(codes::kNotFound, "delivery " + delivery_id + " of webhook " + id + " not found");
    case store::RequeueResult::kInactive:
      return Error(codes::kConflict, "webhook " + id + " is inactive; set \"active\": true first");
    case store::RequeueResult::kAlreadyPending:
      return Error(codes::kConflict, "delivery " + delivery_id + " is still pending; it will be retried");
    case store::RequeueResult::kQueued: break;
  }
  return Error(codes::kInternal, "internal error", "requeue_refused called for a queued delivery");
}

}  // namespace

std::string WebhookService::create(const json& body, const std::string& actor) {
  auto f = read_fields(body, true, options_.allow_private);
  return store_.create({.url = *f.url,
                        .events = *f.events,
                        .secret = *f.secret,
                        .description = f.description.value_or(""),
                        .active = f.active.value_or(true)},
                       actor);
}

std::string WebhookService::list(size_t limit, size_t offset) {
  auto page = store_.list(limit, offset);
  return list_json("webhooks", page.items_json, page.total, limit, offset);
}

std::string WebhookService::get(const std::string& id) {
  check_webhook_id(id);
  auto doc = store_.get(id);
  if (!doc) throw Error::not_found("webhook", id);
  return *doc;
}

std::string WebhookService::update(const std::string& id, const json& body) {
  check_webhook_id(id);
  auto f = read_fields(body, false, options_.allow_private);
  auto doc = store_.update(id, {.url = f.url,
                                .events = f.events,
                                .secret = f.secret,
                                .description = f.description,
                                .active = f.active});
  if (!doc) throw Error::not_found("webhook", id);
  return *doc;
}

void WebhookService::remove(const std::string& id) {
  check_webhook_id(id);
  if (!store_.remove(id)) throw Error::not_found("webhook", id);
}

std::string WebhookService::deliveries(const std::string& id, size_t limit, size_t offset) {
  check_webhook_id(id);
  auto page = store_.attempts(id, limit, offset);
  if (!page) throw Error::not_found("webhook", id);
  return list_json("deliveries", page->items_json, page->total, limit, offset);
}

json WebhookService::ping(const std::string& id) {
  check_webhook_id(id);
  std::string delivery_id;
  json data{{"webhook_id", id}, {"message", "ping from kargo-dsp"}};
  auto result = store_.enqueue_direct(id, "ping", data.dump(), &delivery_id);
  if (result != store::RequeueResult::kQueued) throw requeue_refused(result, id, "");
  return {{"webhook_id", id}, {"delivery_id", delivery_id}, {"event", "ping"}, {"status", "pending"}};
}

json WebhookService::redeliver(const std::string& id, const std::string& delivery_id) {
  check_webhook_id(id);
  if (!is_resource_id(delivery_id, "dlv_", 16)) {
    throw requeue_refused(store::RequeueResult::kUnknownDelivery, id, delivery_id);
  }
  auto result = store_.redeliver(id, delivery_id);
  if (result != store::RequeueResult::kQueued) throw requeue_refused(result, id, delivery_id);
  return {{"webhook_id", id}, {"delivery_id", delivery_id}, {"status", "pending"}};
}

}  // namespace kargo::service
