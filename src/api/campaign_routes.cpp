// /api/campaigns (contract section 3). Rules live in domain/campaign, SQL in store/campaigns; the
// handlers read the request, call the store, keep the shared cache right and build the envelope.
#include <charconv>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/campaign.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/resource_cache.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
constexpr http::RouteOptions kEditor{.min_role = Role::kEditor};
constexpr http::RouteOptions kEditorCreate{.min_role = Role::kEditor, .idempotent_create = true};

// The {id} path parameter; a malformed id is unknown (404), not a 422.
std::string campaign_id(const http::Request& req) {
  std::string id(req.param("id"));
  if (!is_resource_id(id, "camp_")) throw Error(codes::kNotFound, "campaign " + id + " not found");
  return id;
}

// `creative_ids` of a body: an optional array of 1-64 character strings, at most 100.
std::vector<std::string> creative_ids(Validator& v, bool required) {
  auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = required});
  if (ids && ids->size() > 100) v.add("creative_ids", "must hold at most 100 ids");
  if (ids && required && ids->empty()) v.add("creative_ids", "must not be empty");
  return ids.value_or(std::vector<std::string>{});
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

// GET /api/campaigns's query: the filter, the page and the page's cache key.
struct ListQuery {
  store::CampaignFilter filter;
  http::Page page;
  std::string key;  // every value that decides the page's content, each length-prefixed
};

ListQuery list_query(const http::Request& req) {
  Validator v;
  ListQuery out;
  out.page = http::pagination(req, v);
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
  out.key = std::to_string(out.page.limit) + ":" + std::to_string(out.page.offset);
  for (const auto* value : {&f.status, &f.phase, &f.viewability_phase, &f.advertiser_id, &f.q}) {
    if (!value->has_value()) {
      out.key.append(":-");
      continue;
    }
    out.key.append(":").append(std::to_string((*value)->size())).append("=").append(**value);
  }
  return out;
}

}  // namespace

void register_campaign_routes(http::Router& router, AppContext& ctx) {
  auto& store = ctx.campaigns;
  auto& cache = ctx.campaign_cache;

  router.add("POST", "/api/campaigns", kEditorCreate, [&](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    auto ids = creative_ids(v, false);
    json fields;
    try {
      fields = domain::validate_new_campaign(body);
    } catch (const Error& e) {
      // One 422 with the campaign's fields and the creative_ids problems together.
      for (const auto& d : e.details()) v.add(d.field, d.message);
    }
    v.check();
    auto render = [&req](const std::string& resource) {
      auto res = http::ok_serialized(req, resource, 201, "campaign created");
      return std::make_pair(res.status, res.body);
    };
    auto created = store.create(fields, ids, req.principal->subject, req.idempotency, render);
    cache.invalidate_pages();
    return http::ok_serialized(req, created, 201, "campaign created");
  });

  // Pages are cached like single campaigns (one async Redis round trip on a hit, on the I/O
  // thread); every campaign write retires them (ResourceCache: the collection generation).
  router.add_async(
      "GET", "/api/campaigns", kViewer, [&](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
        auto q = list_query(req);
        cache.get_page_async(q.key, [&req, &store, &cache, reply, q](store::ResourceCache::PageLookup hit) {
          if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
          reply->blocking([&req, &store, &cache, q, generation = std::move(hit.generation)] {
            auto result = store.list(q.filter, q.page.limit, q.page.offset);
            auto data = http::list_data_serialized("campaigns", result.items_json, result.total, q.page);
            cache.put_page(q.key, generation, data);
            return http::ok_serialized(req, data);
          });
        });
      });

  // The hottest read: answered from the shared cache without leaving the I/O thread (one async
  // Redis GET); a miss reads PostgreSQL on the blocking pool and fills the cache.
  router.add_async("GET", "/api/campaigns/{id}", kViewer,
                   [&](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     auto id = campaign_id(req);
                     cache.get_async(id, [&req, &store, &cache, reply, id](std::optional<std::string> hit) {
                       if (hit) return reply->respond(http::ok_serialized(req, *hit));
                       reply->blocking([&req, &store, &cache, id] {
                         auto generation = cache.generation(id);
                         auto doc = store.get(id);
                         if (!doc) throw Error(codes::kNotFound, "campaign " + id + " not found");
                         cache.put(id, generation, *doc);
                         return http::ok_serialized(req, *doc);
                       });
                     });
                   });

  router.add("PUT", "/api/campaigns/{id}", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    auto body = http::json_body(req);
    Validator v(body);
    auto version = expected_version(req, v);
    v.check();
    auto updated = store.update(id, body, version, req.principal->subject);
    cache.invalidate(id);
    return http::ok_serialized(req, updated, 200, "campaign updated");
  });

  router.add("DELETE", "/api/campaigns/{id}", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    store.remove(id, req.principal->subject);
    cache.invalidate(id);
    return http::ok(req, {{"id", id}, {"deleted", true}}, 200, "campaign deleted");
  });

  router.add("POST", "/api/campaigns/{id}/activate", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    auto doc = store.transition(id, "active", domain::Trigger::kActivate, req.principal->subject);
    cache.invalidate(id);
    return http::ok_serialized(req, doc, 200, "campaign activated");
  });

  router.add("POST", "/api/campaigns/{id}/pause", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    auto doc = store.transition(id, "paused", domain::Trigger::kPause, req.principal->subject);
    cache.invalidate(id);
    return http::ok_serialized(req, doc, 200, "campaign paused");
  });

  router.add("POST", "/api/campaigns/{id}/creatives", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    auto body = http::json_body(req);
    Validator v(body);
    auto ids = creative_ids(v, true);
    v.check();
    auto doc = store.associate(id, ids, req.principal->subject);
    cache.invalidate(id);
    return http::ok_serialized(req, doc, 200, "creatives associated");
  });

  router.add("DELETE", "/api/campaigns/{id}/creatives/{creative_id}", kEditor, [&](http::Request& req) {
    auto id = campaign_id(req);
    auto doc = store.dissociate(id, std::string(req.param("creative_id")), req.principal->subject);
    cache.invalidate(id);
    return http::ok_serialized(req, doc, 200, "creative removed from the campaign");
  });

  router.add("GET", "/api/campaigns/{id}/history", kViewer, [&](http::Request& req) {
    auto id = campaign_id(req);
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    auto result = store.history(id, page.limit, page.offset);
    return http::ok_serialized(req,
                               http::list_data_serialized("history", result.items_json, result.total, page));
  });
}

}  // namespace kargo::api
