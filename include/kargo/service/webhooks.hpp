#pragma once
// Webhooks (docs/WEBHOOKS.md): the admin routes' use cases. Subscriptions are validated here (the
// URL's scheme and, for an address literal, the address rules; the events; the secret), stored by
// store::WebhookStore and never shown with their secret. Events reach the outbox by the database
// triggers of migrations/0010 and are sent by service::WebhookDispatcher.
//
//   WebhookService hooks(store, {.allow_private = cfg.webhook_allow_private});
//   auto doc = hooks.create(body, actor);             // 422 unknown event, bad URL or secret
//   auto queued = hooks.ping(id);                     // {delivery_id, event: "ping"}

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace kargo::store {
class WebhookStore;
}

namespace kargo::service {

struct WebhookOptions {
  bool allow_private = false;  // WEBHOOK_ALLOW_PRIVATE: loopback and private targets allowed
};

class WebhookService {
 public:
  WebhookService(store::WebhookStore& store, WebhookOptions options) : store_(store), options_(options) {}

  // Blocking (database pool). Resources as JSON text; 404 unknown id, 422 invalid body.
  std::string create(const nlohmann::json& body, const std::string& actor);
  std::string list(size_t limit, size_t offset);
  std::string get(const std::string& id);
  std::string update(const std::string& id, const nlohmann::json& body);
  void remove(const std::string& id);
  std::string deliveries(const std::string& id, size_t limit, size_t offset);
  // Queue a `ping` for this webhook now: {delivery_id, event}. 409 when the webhook is inactive.
  nlohmann::json ping(const std::string& id);
  // Queue a finished delivery again with its delivery id: {delivery_id, status}. 409 when the
  // webhook is inactive or the delivery is still pending.
  nlohmann::json redeliver(const std::string& id, const std::string& delivery_id);

 private:
  store::WebhookStore& store_;
  WebhookOptions options_;
};

}  // namespace kargo::service
