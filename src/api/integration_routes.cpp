// /api/integrations/* (contract section 6): the Amazon DSP connection status and sync
// (service/amazon), Kargo's campaigns and pushing a campaign to Kargo (service/kargo). Amazon and
// Kargo are called asynchronously: no thread waits for them.
#include <nlohmann/json.hpp>

#include "async.hpp"
#include "kargo/api/routes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/amazon.hpp"
#include "kargo/service/kargo.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

}  // namespace

void IntegrationRoutes::add_to(http::Router& router) {
  auto& amazon = amazon_;
  auto& kargo = kargo_;

  router.add_async("GET", "/api/integrations/amazon-dsp/status", kViewerAsync,
                   [&amazon](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     amazon.status(call_of(req),
                                   answer_with<json>(reply, [&req](const json& data) { return http::ok(req, data); }));
                   });

  router.add("POST", "/api/integrations/amazon-dsp/sync", kEditor, [&amazon](http::Request& req) {
    // No body at all means "every active campaign, every option" (a bare POST from a button).
    auto queued = amazon.enqueue_sync(req.body.empty() ? json::object() : http::json_body(req),
                                      req.principal->subject);
    return http::ok(req, queued, 202, "sync queued");
  });

  router.add_async("GET", "/api/integrations/kargo/campaigns", kViewerAsync,
                   [&kargo](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     Validator v;
                     auto page = http::pagination(req, v);
                     v.check();
                     kargo.campaigns(page.offset, page.limit, call_of(req),
                                     answer_with<json>(reply, [&req](const json& data) { return http::ok(req, data); }));
                   });

  router.add_async("POST", "/api/integrations/kargo/push-campaign", kEditorAsync,
                   [&kargo](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     kargo.push(http::json_body(req), call_of(req), answer_with<json>(reply, [&req](const json& r) {
                                  bool updated = r.value("action", "") == "updated";
                                  return http::ok(req, r, 200,
                                                  updated ? "campaign updated at Kargo" : "campaign created at Kargo");
                                }));
                   });
}

}  // namespace kargo::api
