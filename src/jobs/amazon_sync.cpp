// Job `amazon_sync` (contract section 6, POST /api/integrations/amazon-dsp/sync and the periodic
// tick): pushes each campaign to Amazon DSP and mirrors Amazon's delivery state back.
//
// Per campaign: `processing` while it runs (store::CampaignStore::begin_sync); read the Amazon
// campaign back first (pull: ENDED -> completed, OUT_OF_BUDGET -> paused with the budget spent,
// ACTIVE but NOT_DELIVERING -> paused), then create the campaign the first time or patch it (name,
// flight budget, state ACTIVE/PAUSED per the local status), one ad group per association (created
// once, then patched), upload the creatives not uploaded yet (the amazon_upload step) and associate
// them. Every Amazon id is stored the moment it comes back, and every create looks the object up by
// its stored id or externalId first (AmazonDspClient), so an attempt that dies halfway is repeated
// by the next one without creating anything twice. The pull runs before the push because pushing
// `state` makes Amazon recompute its delivery status.
//
// An Amazon call that fails (5xx after the client's retries, circuit open) fails the attempt; the
// campaign keeps showing `processing` until the job's last attempt fails, when on_failed() moves it
// to `error` with the reason in its history. A refusal of the campaign itself (a 207 item error)
// is final at once: retrying would be refused again.
#include <chrono>
#include <nlohmann/json.hpp>

#include "job_kinds.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"

namespace kargo::jobs {
namespace {

using nlohmann::json;

constexpr const char* kActor = "system:amazon_sync";

struct SyncOptions {
  bool creatives = true;  // upload missing creatives and associate them with their ad groups
  bool targeting = true;  // patch the ad groups (name, inventory dates, state)
  bool budgets = true;    // send the flight budget and the ad groups' budget and bid
};

SyncOptions read_options(const json& payload) {
  SyncOptions o;
  if (auto it = payload.find("sync_options"); it != payload.end() && it->is_object()) {
    o.creatives = it->value("creatives", true);
    o.targeting = it->value("targeting", true);
    o.budgets = it->value("budgets", true);
  }
  return o;
}

// goal_kpi -> optimization.goalSetting.kpi (docs/UPSTREAMS.md section 4).
std::string amazon_kpi(const std::string& goal_kpi) {
  if (goal_kpi == "ctr") return "CLICK_THROUGH_RATE";
  if (goal_kpi == "video_completion") return "VIDEO_COMPLETION_RATE";
  if (goal_kpi == "conversions") return "COST_PER_ACTION";
  return "REACH";  // viewability, reach
}

std::string first_error(const std::vector<upstream::DspItemError>& errors) {
  return errors.empty() ? "refused" : errors[0].code + ": " + errors[0].message;
}

// Today (UTC) as YYYY-MM-DD, comparable with the stored dates as text.
std::string today() {
  return format_date(
      std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())));
}

std::string start_time(const std::string& date) { return date + "T00:00:00Z"; }
std::string end_time(const std::string& date) { return date + "T23:59:59Z"; }

// What Amazon's delivery state means for the local status (nothing when it agrees with ours).
void mirror(const upstream::DspCampaignInfo& info, const std::string& before, bool flight_started,
            store::SyncOutcome& outcome) {
  if (info.delivery_status == "ENDED") {
    outcome.mirrored_status = "completed";
    outcome.reason = "Amazon DSP reports the campaign ended";
  } else if (info.delivery_status == "OUT_OF_BUDGET") {
    outcome.mirrored_status = before == "active" ? "paused" : before;
    outcome.budget_spent = true;
    outcome.reason = "Amazon DSP reports the budget spent";
  } else if (before == "active" && info.state == "ACTIVE" && info.delivery_status == "NOT_DELIVERING" &&
             flight_started) {
    // Before its start date an ACTIVE campaign does not deliver yet: that is not a stop.
    outcome.mirrored_status = "paused";
    outcome.reason = "Amazon DSP stopped delivery";
  }
}

class CampaignSync {
 public:
  CampaignSync(AppContext& ctx, JobContext& job, const SyncOptions& options)
      : ctx_(ctx), job_(job), options_(options) {}

  // Syncs one campaign whose status is already `processing`; `before` is the status to return to.
  json run(const std::string& id, const std::string& before) {
    auto src = ctx_.campaigns.sync_source(id);
    if (!src) return {{"campaign_id", id}, {"status", "skipped"}, {"reason", "campaign not found"}};
    store::SyncOutcome outcome;
    json item{{"campaign_id", id}, {"warnings", json::array()}};
    const std::string& account = src->advertiser_id;

    std::optional<upstream::DspCampaignInfo> existing;
    if (src->amazon_campaign_id) {
      auto listed = ctx_.amazon.list_campaigns(account, {.campaign_ids = {*src->amazon_campaign_id}});
      if (!listed.empty()) existing = listed[0];
    }
    if (existing) mirror(*existing, before, src->start_date <= today(), outcome);
    const std::string target = outcome.mirrored_status.value_or(before);

    std::string campaign_id;
    if (existing) {
      campaign_id = existing->campaign_id;
    } else {
      upstream::DspCampaign create{
          .name = src->name,
          .external_id = id,
          .flights = {{start_time(src->start_date), end_time(src->end_date), src->budget}},
          .kpi = amazon_kpi(src->goal_kpi)};
      auto r = ctx_.amazon.create_campaigns(account, {create}).at(0);
      if (!r.ok()) return fail(id, item, "Amazon DSP refused the campaign: " + first_error(r.errors));
      campaign_id = r.id;
      ctx_.campaigns.store_amazon_campaign_id(id, campaign_id);
      item["campaign_created"] = !r.existing;
    }
    item["amazon_campaign_id"] = campaign_id;
    checkpoint();

    upstream::DspCampaignUpdate patch{.campaign_id = campaign_id};
    if (target == "active") patch.state = "ACTIVE";
    if (target == "paused") patch.state = "PAUSED";
    if (existing) {
      patch.name = src->name;
      patch.kpi = amazon_kpi(src->goal_kpi);
      if (options_.budgets) {
        upstream::DspFlight flight{start_time(src->start_date), end_time(src->end_date), src->budget, ""};
        if (!existing->flights.empty()) flight.flight_id = existing->flights[0].flight_id;
        patch.flights = std::vector<upstream::DspFlight>{flight};
      }
    }
    if (patch.state || patch.name) {
      auto r = ctx_.amazon.update_campaigns(account, {patch}).at(0);
      if (!r.ok()) return fail(id, item, "Amazon DSP refused the campaign update: " + first_error(r.errors));
    }
    checkpoint();

    sync_ad_groups(*src, campaign_id, item);
    if (options_.creatives) {
      upload_creatives(*src, item);
      associate(*src, item);
    }
    outcome.details = {{"amazon_campaign_id", campaign_id}};
    if (outcome.mirrored_status) outcome.details["mirrored_from_amazon"] = *outcome.mirrored_status;
    ctx_.campaigns.finish_sync(id, outcome, kActor);
    ctx_.campaign_cache.invalidate(id);
    item["status"] = "synced";
    item["campaign_status"] = target;
    if (outcome.mirrored_status) item["mirrored"] = outcome.reason;
    return item;
  }

 private:
  void checkpoint() { job_.checkpoint(job_.state().value("done", 0), job_.state().value("total", 0)); }

  json fail(const std::string& id, json& item, const std::string& reason) {
    ctx_.campaigns.finish_sync(id, {.ok = false, .reason = reason}, kActor);
    ctx_.campaign_cache.invalidate(id);
    item["status"] = "failed";
    item["error"] = reason;
    return item;
  }

  // Creates the missing ad groups (one per association, externalId "<campaign>:<creative>") and
  // then patches all of them, so a second sync only patches.
  void sync_ad_groups(store::SyncSource& src, const std::string& campaign_id, json& item) {
    std::vector<upstream::DspAdGroup> creates;
    std::vector<store::SyncAssociation*> created_for;
    for (auto& a : src.associations) {
      if (a.ad_group_type == "AUDIO") {
        item["warnings"].push_back(a.creative_id + ": Amazon DSP has no ad groups for audio creatives");
        continue;
      }
      if (a.amazon_ad_group_id || !options_.creatives) continue;
      upstream::DspAdGroup g{.campaign_id = campaign_id,
                             .name = a.ad_group_name,
                             .external_id = src.id + ":" + a.creative_id,
                             .inventory_type = a.ad_group_type,
                             .start = start_time(src.start_date),
                             .end = end_time(src.end_date)};
      if (options_.budgets) {
        g.budget = a.budget;
        g.base_bid = a.bid.value_or(src.max_bid);
      }
      creates.push_back(std::move(g));
      created_for.push_back(&a);
    }
    int created = 0;
    if (!creates.empty()) {
      auto results = ctx_.amazon.create_ad_groups(src.advertiser_id, creates);
      for (size_t i = 0; i < results.size() && i < created_for.size(); ++i) {
        auto& a = *created_for[results[i].index < created_for.size() ? results[i].index : i];
        if (!results[i].ok()) {
          item["warnings"].push_back(a.creative_id + ": ad group refused: " + first_error(results[i].errors));
          continue;
        }
        a.amazon_ad_group_id = results[i].id;
        ctx_.campaigns.store_amazon_ad_group_id(src.id, a.creative_id, results[i].id);
        if (!results[i].existing) ++created;
      }
      checkpoint();
    }
    item["ad_groups_created"] = created;
    if (!options_.targeting && !options_.budgets) return;
    std::vector<upstream::DspAdGroupUpdate> patches;
    for (const auto& a : src.associations) {
      if (!a.amazon_ad_group_id) continue;
      upstream::DspAdGroupUpdate u{.ad_group_id = *a.amazon_ad_group_id};
      if (options_.targeting) {
        u.name = a.ad_group_name;
        u.state = a.status == "active" ? "ACTIVE" : "PAUSED";
        u.start = start_time(src.start_date);
        u.end = end_time(src.end_date);
      }
      if (options_.budgets) {
        u.budget = a.budget;
        u.base_bid = a.bid.value_or(src.max_bid);
      }
      patches.push_back(std::move(u));
    }
    if (patches.empty()) return;
    for (const auto& r : ctx_.amazon.update_ad_groups(src.advertiser_id, patches)) {
      if (!r.ok()) item["warnings"].push_back("ad group update refused: " + first_error(r.errors));
    }
    item["ad_groups_patched"] = patches.size();
    checkpoint();
  }

  void upload_creatives(store::SyncSource& src, json& item) {
    int uploaded = 0;
    for (auto& a : src.associations) {
      if (a.amazon_creative_id || !a.amazon_ad_group_id) continue;
      auto outcome = upload_creative(ctx_, src.advertiser_id, a.creative_id);
      if (outcome.value("status", "") == "uploaded") {
        a.amazon_creative_id = outcome["amazon_creative_id"].get<std::string>();
        if (!outcome.value("existing", false)) ++uploaded;
      } else {
        item["warnings"].push_back(a.creative_id + ": " + outcome.value("error", "upload failed"));
      }
      checkpoint();
    }
    item["creatives_uploaded"] = uploaded;
  }

  void associate(store::SyncSource& src, json& item) {
    std::vector<upstream::DspAssociation> pairs;
    std::vector<const store::SyncAssociation*> owners;
    for (const auto& a : src.associations) {
      if (a.amazon_associated || !a.amazon_ad_group_id || !a.amazon_creative_id) continue;
      pairs.push_back({.ad_creative_id = *a.amazon_creative_id, .ad_group_id = *a.amazon_ad_group_id});
      owners.push_back(&a);
    }
    int associated = 0;
    if (!pairs.empty()) {
      for (const auto& r : ctx_.amazon.associate(src.advertiser_id, pairs)) {
        if (r.index >= owners.size()) continue;
        if (!r.ok()) {
          item["warnings"].push_back(owners[r.index]->creative_id +
                                     ": association refused: " + first_error(r.errors));
          continue;
        }
        ctx_.campaigns.mark_amazon_associated(src.id, owners[r.index]->creative_id);
        ++associated;
      }
      checkpoint();
    }
    item["associations_created"] = associated;
  }

  AppContext& ctx_;
  JobContext& job_;
  SyncOptions options_;
};

json sync(AppContext& ctx, JobContext& job) {
  const auto ids = job.payload().value("campaign_ids", std::vector<std::string>{});
  const auto options = read_options(job.payload());
  json& state = job.state();
  if (!state.contains("campaigns")) state["campaigns"] = json::object();
  state["total"] = static_cast<int>(ids.size());
  CampaignSync campaign_sync(ctx, job, options);
  int done = 0;
  for (const auto& id : ids) {
    json& results = state["campaigns"];
    if (!results.contains(id)) {
      auto before = ctx.campaigns.begin_sync(id, kActor);
      ctx.campaign_cache.invalidate(id);
      if (!before) {
        results[id] = {
            {"campaign_id", id}, {"status", "skipped"}, {"reason", "campaign not found or completed"}};
      } else {
        json outcome = campaign_sync.run(id, *before);  // the entry exists only once it is done
        results[id] = std::move(outcome);
      }
    }
    state["done"] = ++done;
    job.checkpoint(done, static_cast<int>(ids.size()));
  }
  json out{{"campaigns", json::array()}, {"synced", 0}, {"failed", 0}, {"skipped", 0}};
  for (const auto& id : ids) {
    const json& r = state["campaigns"][id];
    out["campaigns"].push_back(r);
    std::string status = r.value("status", "failed");
    out[status] = out.value(status, 0) + 1;
  }
  return out;
}

// The last attempt failed: every campaign this job had not finished shows `error`.
void give_up(AppContext& ctx, JobContext& job, const std::string& error) {
  const auto ids = job.payload().value("campaign_ids", std::vector<std::string>{});
  const json& done = job.state().contains("campaigns") ? job.state()["campaigns"] : json::object();
  for (const auto& id : ids) {
    if (done.contains(id)) continue;
    ctx.campaigns.finish_sync(id, {.ok = false, .reason = "sync failed after retries: " + error}, kActor);
    ctx.campaign_cache.invalidate(id);
    log::warn("amazon sync failed for good", {{"campaign_id", id}, {"error", error}});
  }
}

}  // namespace

JobKind amazon_sync_kind(AppContext& ctx) {
  return {.name = kAmazonSync,
          .max_attempts = static_cast<int>(ctx.config.sync_max_attempts),
          .base_backoff = std::chrono::seconds(ctx.config.sync_retry_backoff_seconds),
          .run = [&ctx](JobContext& job) { return sync(ctx, job); },
          .on_failed = [&ctx](JobContext& job, const std::string& error) { give_up(ctx, job, error); }};
}

}  // namespace kargo::jobs
