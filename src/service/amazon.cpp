// Amazon DSP use cases (kargo/service/amazon.hpp).
//
// Sync, per campaign: `processing` while it runs (begin_sync); read the Amazon campaign back first
// (pull: ENDED -> completed, OUT_OF_BUDGET -> paused with the budget spent, ACTIVE but
// NOT_DELIVERING -> paused), then create the campaign the first time or patch it (name, flight
// budget, state ACTIVE/PAUSED per the local status), one ad group per association (created once,
// then patched), upload the creatives not uploaded yet and associate them. Every Amazon id is
// stored the moment it comes back, and every create looks the object up by its stored id or
// externalId first (AmazonDspClient), so an attempt that dies halfway is repeated by the next one
// without creating anything twice. The pull runs before the push because pushing `state` makes
// Amazon recompute its delivery status.
//
// An Amazon call that fails (5xx after the client's retries, circuit open) fails the attempt; the
// campaign keeps showing `processing` until the job's last attempt fails, when fail_sync() moves
// it to `error` with the reason in its history. A refusal of the campaign itself (a 207 item
// error) is final at once: retrying would be refused again.
#include "kargo/service/amazon.hpp"

#include <algorithm>
#include <chrono>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/job_kinds.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/campaign.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/campaign_sync.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using store::CampaignSyncStore;

constexpr const char* kActor = "system:amazon_sync";
constexpr const char* kSyncTickName = "amazon_sync_tick";

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
std::string today() { return format_date(today_utc()); }

std::string start_time(const std::string& date) { return date + "T00:00:00Z"; }
std::string end_time(const std::string& date) { return date + "T23:59:59Z"; }

}  // namespace

// How a sync of one campaign ended.
struct AmazonService::Outcome {
  bool ok = true;
  std::optional<std::string> mirrored_status;  // Amazon's state, when it overrides ours
  bool budget_spent = false;                   // Amazon says OUT_OF_BUDGET: spent = budget
  std::string reason;                          // why it failed, or what was mirrored
  json details = json::object();               // for the audit entry
};

namespace {

// What Amazon's delivery state means for the local status (nothing when it agrees with ours).
template <class Outcome>
void mirror(const upstream::DspCampaignInfo& info, const std::string& before, bool flight_started,
            Outcome& outcome) {
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

}  // namespace

SyncOptions SyncOptions::from_json(const json& payload) {
  SyncOptions o;
  if (auto it = payload.find("sync_options"); it != payload.end() && it->is_object()) {
    o.creatives = it->value("creatives", true);
    o.targeting = it->value("targeting", true);
    o.budgets = it->value("budgets", true);
  }
  return o;
}

AmazonService::AmazonService(store::Database& db, store::CampaignSyncStore& sync, store::CampaignStore& campaigns,
                             store::CreativeStore& creatives, store::ResourceCache& creative_pages,
                             CampaignService& campaign_service, JobService& jobs, upstream::AmazonDspClient& amazon,
                             BlockingPool& pool, AmazonOptions options)
    : db_(db),
      sync_(sync),
      campaigns_(campaigns),
      creatives_(creatives),
      creative_pages_(creative_pages),
      campaign_service_(campaign_service),
      jobs_(jobs),
      amazon_(amazon),
      pool_(pool),
      options_(options) {}

void AmazonService::status(const Call& call, Completion<json> done) {
  // "connected" is a token check: the cached Login with Amazon token when it is still good (no
  // call at all), else the one shared refresh. Then the database read, on the pool.
  auto answer = [this, call, done](bool connected, std::string error) {
    on_database<json>(
        pool_, call,
        [this, connected, error] {
          auto expires = amazon_.tokens().token_expires_at();
          std::optional<std::string> last_sync;
          int64_t pending = 0;
          try {
            last_sync = campaigns_.last_synced_at();
            pending = jobs_.pending("amazon_");  // every job kind that talks to Amazon DSP
          } catch (const Error&) {
            // The connection status is still worth answering while PostgreSQL is unavailable.
          }
          json data{{"configured", amazon_.configured()},
                    {"connected", connected},
                    {"token_expires_at", connected && expires ? json(format_timestamp(*expires)) : json()},
                    {"circuit_state", upstream::to_string(amazon_.circuit_state())},
                    {"last_sync_at", last_sync ? json(*last_sync) : json()},
                    {"pending_jobs", pending}};
          if (!error.empty()) data["error"] = error;
          return data;
        },
        done);
  };
  if (!amazon_.configured()) return answer(false, "");
  amazon_.tokens().token([answer](upstream::TokenResult r) {
    if (auto* e = std::get_if<Error>(&r)) return answer(false, e->external_message());
    answer(true, "");
  });
}

json AmazonService::enqueue_sync(const json& body, const std::string& actor) {
  // campaign_ids: optional (absent = every active campaign; when given 1-500 ids); sync_options:
  // each flag optional, default true.
  Validator v(body);
  auto campaign_ids = v.string_array("campaign_ids", {.min_length = 1, .max_length = 64});
  if (campaign_ids && (campaign_ids->empty() || campaign_ids->size() > 500)) {
    v.add("campaign_ids", "must hold 1-500 campaign ids (leave it out to sync every active campaign)");
  }
  json options = {{"creatives", true}, {"targeting", true}, {"budgets", true}};
  if (const json* given = v.object("sync_options")) {
    Validator o = v.nested(*given, "sync_options");
    for (const char* flag : {"creatives", "targeting", "budgets"}) {
      if (auto value = o.boolean(flag)) options[flag] = *value;
    }
  }
  v.check();
  if (!options_.configured) throw upstream::amazon_not_configured();
  std::vector<std::string> ids;
  if (campaign_ids) {
    for (const auto& id : *campaign_ids) {
      if (!is_resource_id(id, "camp_") || !campaigns_.get(id)) {
        throw Error::not_found("campaign", id);
      }
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
  } else {
    ids = campaigns_.active_ids();
  }
  auto job_id = jobs_.enqueue(kinds::kAmazonSync, {{"campaign_ids", ids}, {"sync_options", options}}, actor,
                              options_.sync_max_attempts);
  return {{"job_id", job_id}, {"campaign_ids", ids}};
}

std::optional<std::string> AmazonService::tick() {
  auto job = jobs_.store().enqueue_tick(kSyncTickName, options_.sync_interval_seconds, kinds::kAmazonSync,
                                        options_.sync_max_attempts,
                                        [](pqxx::transaction_base& tx) -> std::optional<json> {
                                          auto ids = store::CampaignStore::active_ids(tx);
                                          if (ids.empty()) return std::nullopt;
                                          return json{{"campaign_ids", ids}};
                                        });
  if (job) jobs_.wake();
  return job;
}

std::optional<std::string> AmazonService::begin_sync(const std::string& id, const std::string& actor) {
  std::optional<std::string> before;
  db_.transact([&](pqxx::transaction_base& tx) {
    before.reset();
    auto row = CampaignSyncStore::lock(tx, id);
    if (!row) return;
    if (row->status == "processing") {  // a retried job: the first attempt already switched it
      before = row->status_before_sync.value_or("draft");
      return;
    }
    if (!domain::transition_allowed(row->status, "processing", domain::Trigger::kSyncStart)) return;
    // From `error` the campaign goes back to what it was before the failed sync, not to `error`.
    std::string back = row->status;
    if (row->status == "error") {
      back = row->status_before_sync.value_or(store::CampaignStore::has_ready_creative(tx, id) ? "ready"
                                                                                               : "draft");
    }
    CampaignSyncStore::begin(tx, id, row->status, back, domain::trigger_name(domain::Trigger::kSyncStart), actor);
    before = back;
  });
  campaign_service_.invalidate(id);
  return before;
}

void AmazonService::finish_sync(const std::string& id, const Outcome& outcome) {
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = CampaignSyncStore::lock(tx, id);
    if (!row || row->status != "processing") return;
    std::string back = row->status_before_sync.value_or("draft");
    std::string to = outcome.ok ? outcome.mirrored_status.value_or(back) : "error";
    if (!domain::transition_allowed("processing", to, domain::Trigger::kSyncEnd)) to = back;
    json changes{{"status", {{"from", "processing"}, {"to", to}}},
                 {"trigger", domain::trigger_name(domain::Trigger::kSyncEnd)},
                 {"sync_status", outcome.ok ? "synced" : "error"}};
    if (!outcome.reason.empty()) changes["reason"] = outcome.reason;
    if (outcome.budget_spent) changes["spent"] = "budget spent at Amazon DSP";
    for (auto& [key, value] : outcome.details.items()) changes[key] = value;
    if (outcome.ok) {
      CampaignSyncStore::succeeded(tx, id, to, outcome.budget_spent, changes, kActor);
    } else {
      CampaignSyncStore::failed(tx, id, changes, kActor);
    }
  });
  campaign_service_.invalidate(id);
}

void AmazonService::fail_sync(const std::string& id, const std::string& reason) {
  finish_sync(id, {.ok = false, .reason = reason});
}

class AmazonService::CampaignSync {
 public:
  CampaignSync(AmazonService& service, const SyncOptions& options, const std::function<void()>& checkpoint)
      : s_(service), options_(options), checkpoint_(checkpoint) {}

  json run(const std::string& id, const std::string& before) {
    auto src = s_.sync_.source(id);
    if (!src) return {{"campaign_id", id}, {"status", "skipped"}, {"reason", "campaign not found"}};
    Outcome outcome;
    json item{{"campaign_id", id}, {"warnings", json::array()}};
    const std::string& account = src->advertiser_id;
    auto& amazon = s_.amazon_;

    std::optional<upstream::DspCampaignInfo> existing;
    if (src->amazon_campaign_id) {
      auto listed = amazon.list_campaigns(account, {.campaign_ids = {*src->amazon_campaign_id}});
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
      auto r = amazon.create_campaigns(account, {create}).at(0);
      if (!r.ok()) return fail(id, item, "Amazon DSP refused the campaign: " + first_error(r.errors));
      campaign_id = r.id;
      s_.sync_.store_amazon_campaign_id(id, campaign_id);
      item["campaign_created"] = !r.existing;
    }
    item["amazon_campaign_id"] = campaign_id;
    checkpoint_();

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
      auto r = amazon.update_campaigns(account, {patch}).at(0);
      if (!r.ok()) return fail(id, item, "Amazon DSP refused the campaign update: " + first_error(r.errors));
    }
    checkpoint_();

    sync_ad_groups(*src, campaign_id, item);
    if (options_.creatives) {
      upload_creatives(*src, item);
      associate(*src, item);
    }
    outcome.details = {{"amazon_campaign_id", campaign_id}};
    if (outcome.mirrored_status) outcome.details["mirrored_from_amazon"] = *outcome.mirrored_status;
    s_.finish_sync(id, outcome);
    item["status"] = "synced";
    item["campaign_status"] = target;
    if (outcome.mirrored_status) item["mirrored"] = outcome.reason;
    return item;
  }

 private:
  json fail(const std::string& id, json& item, const std::string& reason) {
    s_.finish_sync(id, {.ok = false, .reason = reason});
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
      auto results = s_.amazon_.create_ad_groups(src.advertiser_id, creates);
      for (size_t i = 0; i < results.size() && i < created_for.size(); ++i) {
        auto& a = *created_for[results[i].index < created_for.size() ? results[i].index : i];
        if (!results[i].ok()) {
          item["warnings"].push_back(a.creative_id + ": ad group refused: " + first_error(results[i].errors));
          continue;
        }
        a.amazon_ad_group_id = results[i].id;
        s_.sync_.store_amazon_ad_group_id(src.id, a.creative_id, results[i].id);
        if (!results[i].existing) ++created;
      }
      checkpoint_();
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
    for (const auto& r : s_.amazon_.update_ad_groups(src.advertiser_id, patches)) {
      if (!r.ok()) item["warnings"].push_back("ad group update refused: " + first_error(r.errors));
    }
    item["ad_groups_patched"] = patches.size();
    checkpoint_();
  }

  void upload_creatives(store::SyncSource& src, json& item) {
    int uploaded = 0;
    for (auto& a : src.associations) {
      if (a.amazon_creative_id || !a.amazon_ad_group_id) continue;
      auto outcome = s_.upload_creative(src.advertiser_id, a.creative_id);
      if (outcome.value("status", "") == "uploaded") {
        a.amazon_creative_id = outcome["amazon_creative_id"].get<std::string>();
        if (!outcome.value("existing", false)) ++uploaded;
      } else {
        item["warnings"].push_back(a.creative_id + ": " + outcome.value("error", "upload failed"));
      }
      checkpoint_();
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
      for (const auto& r : s_.amazon_.associate(src.advertiser_id, pairs)) {
        if (r.index >= owners.size()) continue;
        if (!r.ok()) {
          item["warnings"].push_back(owners[r.index]->creative_id +
                                     ": association refused: " + first_error(r.errors));
          continue;
        }
        s_.sync_.mark_amazon_associated(src.id, owners[r.index]->creative_id);
        ++associated;
      }
      checkpoint_();
    }
    item["associations_created"] = associated;
  }

  AmazonService& s_;
  SyncOptions options_;
  const std::function<void()>& checkpoint_;
};

json AmazonService::sync_campaign(const std::string& id, const std::string& before, const SyncOptions& options,
                                  const std::function<void()>& checkpoint) {
  return CampaignSync(*this, options, checkpoint).run(id, before);
}

json AmazonService::upload_creative(const std::string& account, const std::string& id) {
  auto creative = creatives_.for_upload(id);
  if (!creative) return {{"status", "failed"}, {"error", "creative not found"}};
  if (creative->media_type == "audio") {
    creatives_.set_upload_status(id, "failed");
    creative_pages_.invalidate_pages();
    return {{"status", "failed"}, {"error", "Amazon DSP has no upload endpoint for audio creatives"}};
  }
  if (!creative->amazon_dsp_ready) {
    return {{"status", "failed"}, {"error", "creative is not processed for Amazon DSP"}};
  }
  if (creative->amazon_creative_id) {
    return {{"status", "uploaded"}, {"amazon_creative_id", *creative->amazon_creative_id}, {"existing", true}};
  }
  creatives_.set_upload_status(id, "uploading");
  creative_pages_.invalidate_pages();
  upstream::DspCreative dsp;
  dsp.name = creative->name;
  dsp.external_id = creative->id;
  dsp.tag_source = creative->processed_code;
  dsp.type = creative->media_type == "display" ? upstream::DspTagType::kDisplay : upstream::DspTagType::kVast;
  if (creative->dimensions) {
    if (auto d = domain::parse_dimensions(*creative->dimensions)) {
      dsp.width = d->width;
      dsp.height = d->height;
    }
  }
  auto results = amazon_.create_ad_creatives(account, {dsp});
  const auto& r = results.at(0);
  if (!r.ok()) {
    std::string why = r.errors.empty() ? "refused" : r.errors[0].code + ": " + r.errors[0].message;
    creatives_.set_upload_status(id, "failed");
    creative_pages_.invalidate_pages();
    return {{"status", "failed"}, {"error", why}};
  }
  creatives_.set_amazon_creative_id(id, r.id);
  creative_pages_.invalidate_pages();
  return {{"status", "uploaded"}, {"amazon_creative_id", r.id}, {"existing", r.existing}};
}

std::string AmazonService::moderation(const std::string& account, const std::string& creative_id,
                                      const std::string& amazon_creative_id) {
  auto m = amazon_.get_moderation(account, amazon_creative_id);
  creatives_.set_approval(creative_id, m.status, m.reasons);
  creative_pages_.invalidate_pages();
  return m.status;
}

}  // namespace kargo::service
