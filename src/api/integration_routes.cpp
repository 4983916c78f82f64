// /api/integrations/* (contract section 6): the Amazon DSP connection status and sync, Kargo's
// campaigns and pushing a campaign to Kargo. The upstream clients (upstream/) do the talking; these handlers
// read the request, call them and the campaign store, and build the envelope.
#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
constexpr http::RouteOptions kEditor{.min_role = Role::kEditor};

// Kargo's campaign list is read in pages of this size and cached per page.
constexpr int kKargoPageSize = 100;
// Contract: "cached <= 60 s". Half of that, so an operator who just changed something at Kargo
// sees it soon; the cache is there to spare Kargo a call per UI page view.
constexpr std::chrono::seconds kKargoCacheTtl{30};

json campaign_json(const upstream::KargoCampaign& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"status", c.status},
          {"advertiser_id", c.advertiser_id},
          {"start_date", c.start_date.empty() ? json() : json(c.start_date)},
          {"end_date", c.end_date.empty() ? json() : json(c.end_date)},
          {"budget", c.budget ? json(*c.budget) : json()}};
}

// Kargo's campaigns in process memory, per Kargo page of 100, for kKargoCacheTtl. In process
// rather than in Redis: it is a read-through copy of someone else's data, a miss costs one Kargo
// call, and each instance holding its own copy for 30 s is within the contract's 60 s. One fill at
// a time (the mutex is held over the call), so a burst of requests makes one Kargo call, not one
// each. A push through this instance clears it.
class KargoCampaignCache {
 public:
  explicit KargoCampaignCache(upstream::KargoClient& kargo) : kargo_(kargo) {}

  struct Slice {
    json items = json::array();
    int64_t total = 0;
    std::chrono::system_clock::time_point fetched_at;
  };

  // Items [offset, offset + limit) of Kargo's list, in Kargo's order.
  Slice slice(size_t offset, size_t limit) {
    Slice out;
    size_t first = offset / kKargoPageSize + 1;
    size_t last = (offset + limit - 1) / kKargoPageSize + 1;
    bool have_time = false;
    for (size_t page = first; page <= last; ++page) {
      auto entry = get(page);
      if (!have_time || entry.fetched_at < out.fetched_at) out.fetched_at = entry.fetched_at;
      have_time = true;
      out.total = entry.page.total;
      size_t base = (page - 1) * kKargoPageSize;
      for (size_t i = 0; i < entry.page.campaigns.size(); ++i) {
        size_t at = base + i;
        if (at >= offset && at < offset + limit) out.items.push_back(campaign_json(entry.page.campaigns[i]));
      }
      if (entry.page.campaigns.size() < static_cast<size_t>(kKargoPageSize)) break;  // the last page
    }
    return out;
  }

  void clear() {
    std::lock_guard lock(mutex_);
    pages_.clear();
  }

 private:
  struct Entry {
    upstream::KargoCampaignPage page;
    std::chrono::system_clock::time_point fetched_at;
    Clock::time_point expires;
  };

  Entry get(size_t page) {
    std::lock_guard lock(mutex_);
    if (auto it = pages_.find(page); it != pages_.end() && Clock::now() < it->second.expires)
      return it->second;
    Entry e{kargo_.list_campaigns(static_cast<int>(page), kKargoPageSize), std::chrono::system_clock::now(),
            Clock::now() + kKargoCacheTtl};
    pages_[page] = e;
    return e;
  }

  upstream::KargoClient& kargo_;
  std::mutex mutex_;
  std::unordered_map<size_t, Entry> pages_;
};

// kargo_settings of a push: placement types (1-64 characters of [a-z0-9_-], at most 20) and the
// optimization goal (one of the campaign goal_kpi values). Both optional: the defaults are the
// formats of the campaign's creatives and its goal_kpi.
struct KargoSettings {
  std::optional<std::vector<std::string>> placement_types;
  std::optional<std::string> optimization_goal;
};

KargoSettings read_kargo_settings(Validator& v) {
  KargoSettings out;
  const json* settings = v.object("kargo_settings");
  if (!settings) return out;
  Validator s = v.nested(*settings, "kargo_settings");
  auto slug = [](std::string_view text) {
    return text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string_view::npos;
  };
  out.placement_types =
      s.string_array("placement_types", {.min_length = 1,
                                         .max_length = 64,
                                         .accept = slug,
                                         .accept_message = "must be lower-case letters, digits, _ or -"});
  if (out.placement_types && out.placement_types->size() > 20) {
    s.add(s.field_name("placement_types"), "must hold at most 20 placement types");
  }
  out.optimization_goal =
      s.enumeration("optimization_goal", {"viewability", "ctr", "conversions", "reach", "video_completion"});
  return out;
}

// POST /api/integrations/amazon-dsp/sync body: campaign_ids (optional: absent = every active
// campaign; when given 1-500 ids) and sync_options (each flag optional, default true).
struct SyncRequest {
  std::optional<std::vector<std::string>> campaign_ids;
  json options = {{"creatives", true}, {"targeting", true}, {"budgets", true}};
};

SyncRequest read_sync_request(const json& body) {
  Validator v(body);
  SyncRequest out;
  out.campaign_ids = v.string_array("campaign_ids", {.min_length = 1, .max_length = 64});
  if (out.campaign_ids && (out.campaign_ids->empty() || out.campaign_ids->size() > 500)) {
    v.add("campaign_ids", "must hold 1-500 campaign ids (leave it out to sync every active campaign)");
  }
  if (const json* options = v.object("sync_options")) {
    Validator o = v.nested(*options, "sync_options");
    for (const char* flag : {"creatives", "targeting", "budgets"}) {
      if (auto value = o.boolean(flag)) out.options[flag] = *value;
    }
  }
  v.check();
  return out;
}

}  // namespace

void register_integration_routes(http::Router& router, AppContext& ctx) {
  auto kargo_cache = std::make_shared<KargoCampaignCache>(ctx.kargo);

  // "connected" is a token check: the cached Login with Amazon token when it is still good (no
  // call at all), else the one shared refresh. Waiting for it does not hold a thread: the route is
  // asynchronous, and only the database read that follows runs on the blocking pool.
  router.add_async(
      "GET", "/api/integrations/amazon-dsp/status", kViewer,
      [&ctx](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
        auto answer = [&req, &ctx, reply](bool connected, std::string error) {
          reply->blocking([&req, &ctx, connected, error] {
            auto expires = ctx.amazon.tokens().token_expires_at();
            std::optional<std::string> last_sync;
            int64_t pending = 0;
            try {
              last_sync = ctx.campaigns.last_synced_at();
              // Amazon work waiting or running: every job kind that talks to Amazon DSP.
              for (const auto& c : ctx.jobs.counts()) {
                if (c.kind.starts_with("amazon_")) pending += c.queued + c.running;
              }
            } catch (const Error&) {
              // The connection status is still worth answering while PostgreSQL is unavailable.
            }
            json data{{"configured", ctx.amazon.configured()},
                      {"connected", connected},
                      {"token_expires_at", connected && expires ? json(format_timestamp(*expires)) : json()},
                      {"circuit_state", upstream::to_string(ctx.amazon.circuit_state())},
                      {"last_sync_at", last_sync ? json(*last_sync) : json()},
                      {"pending_jobs", pending}};
            if (!error.empty()) data["error"] = error;
            return http::ok(req, data);
          });
        };
        if (!ctx.amazon.configured()) return answer(false, "");
        ctx.amazon.tokens().token([answer](upstream::TokenResult r) {
          if (auto* e = std::get_if<Error>(&r)) return answer(false, e->external_message());
          answer(true, "");
        });
      });

  router.add("POST", "/api/integrations/amazon-dsp/sync", kEditor, [&ctx](http::Request& req) {
    // No body at all means "every active campaign, every option" (a bare POST from a button).
    auto request = read_sync_request(req.body.empty() ? json::object() : http::json_body(req));
    if (!ctx.config.amazon_configured()) {
      throw Error(codes::kExternalApi, "Amazon DSP is not configured").with_status(503);
    }
    std::vector<std::string> ids;
    if (request.campaign_ids) {
      for (const auto& id : *request.campaign_ids) {
        if (!is_resource_id(id, "camp_") || !ctx.campaigns.get(id)) {
          throw Error(codes::kNotFound, "campaign " + id + " not found");
        }
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      }
    } else {
      ids = ctx.campaigns.active_ids();
    }
    auto job_id =
        ctx.jobs.enqueue(jobs::kAmazonSync, {{"campaign_ids", ids}, {"sync_options", request.options}},
                         req.principal->subject, static_cast<int>(ctx.config.sync_max_attempts));
    ctx.job_runner.wake();
    return http::ok(req, {{"job_id", job_id}, {"campaign_ids", ids}}, 202, "sync queued");
  });

  router.add("GET", "/api/integrations/kargo/campaigns", kViewer, [&ctx, kargo_cache](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    if (!ctx.kargo.configured()) throw upstream::kargo_not_configured();
    auto slice = kargo_cache->slice(page.offset, page.limit);
    json data = http::list_data("campaigns", std::move(slice.items), static_cast<size_t>(slice.total), page);
    data["fetched_at"] = format_timestamp(slice.fetched_at);
    return http::ok(req, data);
  });

  router.add(
      "POST", "/api/integrations/kargo/push-campaign", kEditor, [&ctx, kargo_cache](http::Request& req) {
        auto body = http::json_body(req);
        Validator v(body);
        auto id = v.string("campaign_id", {.required = true, .min_length = 1, .max_length = 64});
        auto settings = read_kargo_settings(v);
        v.check();
        if (!is_resource_id(*id, "camp_")) throw Error(codes::kNotFound, "campaign " + *id + " not found");
        if (!ctx.kargo.configured()) throw upstream::kargo_not_configured();
        auto source = ctx.campaigns.kargo_push_source(*id);
        if (!source) throw Error(codes::kNotFound, "campaign " + *id + " not found");

        upstream::KargoCampaignFields fields{
            .name = source->name,
            .advertiser_id = source->advertiser_id,
            .start_date = source->start_date,
            .end_date = source->end_date,
            .budget = source->budget,
            .placement_types = settings.placement_types.value_or(source->formats),
            .optimization_goal = settings.optimization_goal.value_or(source->goal_kpi),
            .external_id = *id};
        // The stored kargo_campaign_id decides create vs update; when it is missing but Kargo already
        // has the campaign (an earlier push whose answer was lost), Kargo's 409 names it: adopt it and
        // update it, so a retried push never creates a second Kargo campaign. A stored id that Kargo
        // no longer knows (deleted in Kargo's UI) is pushed again as a new campaign: the user asked
        // for the campaign to be at Kargo, and no Kargo campaign carries its external id any more.
        std::string kargo_id, action;
        if (source->kargo_campaign_id && ctx.kargo.update_campaign(*source->kargo_campaign_id, fields)) {
          kargo_id = *source->kargo_campaign_id;
          action = "updated";
        } else {
          auto created = ctx.kargo.create_campaign(fields);
          kargo_id = created.id;
          action = source->kargo_campaign_id ? "recreated" : "created";
          if (created.adopted) {
            if (!ctx.kargo.update_campaign(kargo_id, fields)) {
              throw Error(codes::kExternalApi,
                          "kargo named campaign " + kargo_id + " and then did not find it");
            }
            action = "updated";
          }
        }
        auto doc = ctx.campaigns.record_kargo_push(*id, kargo_id, action, req.principal->subject);
        ctx.campaign_cache.invalidate(*id);
        kargo_cache->clear();
        return http::ok(req,
                        {{"campaign_id", *id},
                         {"kargo_campaign_id", kargo_id},
                         {"action", action},
                         {"campaign", json::parse(doc)}},
                        200, action == "updated" ? "campaign updated at Kargo" : "campaign created at Kargo");
      });
}

}  // namespace kargo::api
