// /api/webhooks (admin only): subscriptions, their delivery log, ping and redelivery. The use
// cases are service/webhooks; deliveries are sent by service/webhook_dispatcher
// (docs/WEBHOOKS.md).
#include "kargo/api/routes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/webhooks.hpp"
#include "route_options.hpp"

namespace kargo::api {

void WebhookRoutes::add_to(http::Router& router) {
  auto& hooks = hooks_;
  auto id_of = [](const http::Request& req) { return std::string(req.param("id")); };

  router.add("POST", "/api/webhooks", kAdminCreate, [&hooks](http::Request& req) {
    return http::ok_serialized(req, hooks.create(http::json_body(req), req.principal->subject), 201,
                               "webhook created");
  });

  router.add("GET", "/api/webhooks", kAdmin, [&hooks](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    return http::ok_serialized(req, hooks.list(page.limit, page.offset));
  });

  router.add("GET", "/api/webhooks/{id}", kAdmin,
             [&hooks, id_of](http::Request& req) { return http::ok_serialized(req, hooks.get(id_of(req))); });

  router.add("PUT", "/api/webhooks/{id}", kAdmin, [&hooks, id_of](http::Request& req) {
    return http::ok_serialized(req, hooks.update(id_of(req), http::json_body(req)), 200, "webhook updated");
  });

  router.add("DELETE", "/api/webhooks/{id}", kAdmin, [&hooks, id_of](http::Request& req) {
    auto id = id_of(req);
    hooks.remove(id);
    return http::ok(req, {{"id", id}, {"deleted", true}}, 200, "webhook deleted");
  });

  router.add("GET", "/api/webhooks/{id}/deliveries", kAdmin, [&hooks, id_of](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    return http::ok_serialized(req, hooks.deliveries(id_of(req), page.limit, page.offset));
  });

  router.add("POST", "/api/webhooks/{id}/ping", kAdmin, [&hooks, id_of](http::Request& req) {
    return http::ok(req, hooks.ping(id_of(req)), 202, "ping queued");
  });

  router.add("POST", "/api/webhooks/{id}/deliveries/{delivery_id}/redeliver", kAdmin,
             [&hooks, id_of](http::Request& req) {
               return http::ok(req, hooks.redeliver(id_of(req), std::string(req.param("delivery_id"))), 202,
                               "delivery queued again");
             });
}

}  // namespace kargo::api
