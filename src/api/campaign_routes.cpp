// /api/campaigns (contract section 3). The rules and the cache live in service/campaigns, the SQL
// in store/campaigns; the handlers read the request, call the service and build the envelope.
#include <charconv>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/campaigns.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

// The {id} path parameter; a malformed id is unknown (404), not a 422.
std::string campaign_id(const http::Request& req) {
  std::string id(req.param("id"));
  service::require_campaign_id(id);
  return id;
}

// `creative_ids` of an association body: 1-100 ids of 1-64 characters.
std::vector<std::string> creative_ids(const json& body) {
  Validator v(body);
  auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = true});
  if (ids && ids->size() > 100) v.add("creative_ids", "must hold at most 100 ids");
  if (ids && ids->empty()) v.add("creative_ids", "must not be empty");
  v.check();
  return *ids;
}

// The expected version: `version` in the body or `If-Match` (a bare or quoted number).
std::optional<int64_t> expected_version(const http::Request& req, Validator& v) {
  auto from_body = v.integer("version", {.min = 1});
  if (auto header = req.header("if-match")) {
    std::string_view text = *header;
    if (text.starts_with("W/")) text.remove_prefix(2);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < 1) {
      v.add("If-Match", "must be the campaign's version number");
      return std::nullopt;
    }
    if (from_body && *from_body != value) v.add("version", "differs from If-Match");
    return value;
  }
  return from_body;
}

// GET /api/campaigns's query.
service::CampaignQuery list_query(const http::Request& req) {
  Validator v;
  service::CampaignQuery out;
  auto page = http::pagination(req, v);
  out.limit = page.limit;
  out.offset = page.offset;
  auto& f = out.filter;
  auto one_of = [&](std::string_view name, std::initializer_list<std::string_view> allowed) {
    auto value = req.query_param(name);
    if (!value) return std::optional<std::string>();
    for (auto a : allowed) {
      if (*value == a) return std::optional<std::string>(std::string(*value));
    }
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    v.add(std::string(name), "must be one of: " + list);
    return std::optional<std::string>();
  };
  f.status = one_of("status", {"draft", "ready", "active", "paused", "completed", "processing", "error"});
  f.phase = one_of("phase", {"awareness", "consideration", "conversion"});
  f.viewability_phase = one_of("viewability_phase", {"phase_1", "phase_2"});
  if (auto adv = req.query_param("advertiser_id")) {
    if (adv->empty() || adv->size() > 64) v.add("advertiser_id", "must be 1-64 characters");
    f.advertiser_id = std::string(*adv);
  }
  if (auto q = req.query_param("q")) {
    if (q->size() > 255) v.add("q", "must be at most 255 characters");
    if (!q->empty()) f.q = std::string(*q);
  }
  v.check();
  return out;
}

}  // namespace

void CampaignRoutes::add_to(http::Router& router) {
  auto& campaigns = campaigns_;

  router.add("POST", "/api/campaigns", kEditorCreate, [&campaigns](http::Request& req) {
    auto render = [&req](const std::string& resource) {
      req.idempotency_recorded = true;
      auto res = http::ok_serialized(req, resource, 201, "campaign created");
      return StoredAnswer{res.status, res.body};
    };
    auto created = campaigns.create(http::json_body(req), req.principal->subject, req.idempotency, render);
    return http::ok_serialized(req, created, 201, "campaign created");
  });

  // Pages are cached like single campaigns (one async Redis round trip on a hit, on the I/O
  // thread); a miss reads PostgreSQL on the database pool.
  router.add_async("GET", "/api/campaigns", kViewer,
                   [&campaigns](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     auto q = list_query(req);
                     campaigns.cached_page(q, [&req, &campaigns, reply, q](service::Cached hit) {
                       if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
                       reply->blocking([&req, &campaigns, q, generation = std::move(hit.generation)] {
                         return http::ok_serialized(req, campaigns.page(q, generation));
                       });
                     });
                   });

  // The hottest read: answered from the shared cache without leaving the I/O thread (one async
  // Redis GET); a miss reads PostgreSQL on the database pool and fills the cache.
  router.add_async("GET", "/api/campaigns/{id}", kViewer,
                   [&campaigns](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     auto id = campaign_id(req);
                     campaigns.cached(id, [&req, &campaigns, reply, id](service::Cached hit) {
                       if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
                       reply->blocking([&req, &campaigns, id, generation = std::move(hit.generation)] {
                         return http::ok_serialized(req, campaigns.get(id, generation));
                       });
                     });
                   });

  router.add("PUT", "/api/campaigns/{id}", kEditor, [&campaigns](http::Request& req) {
    auto id = campaign_id(req);
    auto body = http::json_body(req);
    Validator v(body);
    auto version = expected_version(req, v);
    v.check();
    return http::ok_serialized(req, campaigns.update(id, body, version, req.principal->subject), 200,
                               "campaign updated");
  });

  router.add("DELETE", "/api/campaigns/{id}", kEditor, [&campaigns](http::Request& req) {
    auto id = campaign_id(req);
    campaigns.remove(id, req.principal->subject);
    return http::ok(req, {{"id", id}, {"deleted", true}}, 200, "campaign deleted");
  });

  router.add("POST", "/api/campaigns/{id}/activate", kEditor, [&campaigns](http::Request& req) {
    return http::ok_serialized(req, campaigns.activate(campaign_id(req), req.principal->subject), 200,
                               "campaign activated");
  });

  router.add("POST", "/api/campaigns/{id}/pause", kEditor, [&campaigns](http::Request& req) {
    return http::ok_serialized(req, campaigns.pause(campaign_id(req), req.principal->subject), 200,
                               "campaign paused");
  });

  router.add("POST", "/api/campaigns/{id}/creatives", kEditor, [&campaigns](http::Request& req) {
    auto id = campaign_id(req);
    auto ids = creative_ids(http::json_body(req));
    return http::ok_serialized(req, campaigns.associate(id, ids, req.principal->subject), 200,
                               "creatives associated");
  });

  router.add("DELETE", "/api/campaigns/{id}/creatives/{creative_id}", kEditor, [&campaigns](http::Request& req) {
    auto id = campaign_id(req);
    auto doc = campaigns.dissociate(id, std::string(req.param("creative_id")), req.principal->subject);
    return http::ok_serialized(req, doc, 200, "creative removed from the campaign");
  });

  router.add("GET", "/api/campaigns/{id}/history", kViewer, [&campaigns](http::Request& req) {
    auto id = campaign_id(req);
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    return http::ok_serialized(req, campaigns.history(id, page.limit, page.offset));
  });
}

}  // namespace kargo::api
