#pragma once
// Amazon DSP (contract section 6 and 9): the connection status, queueing syncs (on request and on
// the periodic tick), and the steps the amazon_sync and amazon_upload jobs run: push a campaign
// with its ad groups, creatives and associations and mirror Amazon's delivery state back; upload
// one creative; read its moderation. The job steps call the Amazon client's blocking methods: they
// run on job worker threads, never on the database pool or an I/O thread.
//
//   amazon.status(call, [](Result<nlohmann::json> r) { ... });     // no thread waits for LWA
//   auto queued = amazon.enqueue_sync(body, actor);                // {job_id, campaign_ids}
//   auto before = amazon.begin_sync(id, actor);                    // job: campaign shows processing
//   auto item = amazon.sync_campaign(id, *before, options, checkpoint);

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kargo/core/result.hpp"
#include "kargo/service/call.hpp"

namespace kargo::store {
class Database;
class CampaignStore;
class CampaignSyncStore;
class CreativeStore;
class ResourceCache;
}  // namespace kargo::store
namespace kargo::upstream {
class AmazonDspClient;
}

namespace kargo::service {

class CampaignService;
class JobService;

struct AmazonOptions {
  bool configured = false;              // the four AMAZON_* credentials
  int sync_max_attempts = 3;            // SYNC_MAX_ATTEMPTS
  int64_t sync_interval_seconds = 300;  // SYNC_INTERVAL_SECONDS (the tick)
};

// What a sync sends (sync_options of POST /api/integrations/amazon-dsp/sync).
struct SyncOptions {
  bool creatives = true;  // upload missing creatives and associate them with their ad groups
  bool targeting = true;  // patch the ad groups (name, inventory dates, state)
  bool budgets = true;    // send the flight budget and the ad groups' budget and bid
  static SyncOptions from_json(const nlohmann::json& payload);
};

class AmazonService {
 public:
  // `creative_pages`: the cached creative list pages, retired when an upload or moderation
  // changes a creative.
  AmazonService(store::Database& db, store::CampaignSyncStore& sync, store::CampaignStore& campaigns,
                store::CreativeStore& creatives, store::ResourceCache& creative_pages,
                CampaignService& campaign_service, JobService& jobs, upstream::AmazonDspClient& amazon,
                BlockingPool& pool, AmazonOptions options);

  bool configured() const { return options_.configured; }
  // GET /api/integrations/amazon-dsp/status: {configured, connected, token_expires_at,
  // circuit_state, last_sync_at, pending_jobs[, error]}. The token check never holds a thread;
  // only the database read goes to the database pool.
  void status(const Call& call, Completion<nlohmann::json> done);
  // POST /api/integrations/amazon-dsp/sync -> {job_id, campaign_ids}. Blocking.
  nlohmann::json enqueue_sync(const nlohmann::json& body, const std::string& actor);
  // The periodic tick: the job id when this instance won the tick and something is active.
  std::optional<std::string> tick();

  // --- amazon_sync steps (job threads) ---
  // Shows `processing` and returns the status to return to; nullopt when the campaign is gone or
  // completed (nothing to sync). A campaign already `processing` (a retried job) keeps its
  // remembered status.
  std::optional<std::string> begin_sync(const std::string& id, const std::string& actor);
  // Syncs one campaign that shows `processing`; `checkpoint` saves the job's progress (it throws
  // when the job was taken over). Returns the item of the job's result.
  nlohmann::json sync_campaign(const std::string& id, const std::string& before, const SyncOptions& options,
                               const std::function<void()>& checkpoint);
  // After the job's last attempt failed: the campaign shows `error` with the reason.
  void fail_sync(const std::string& id, const std::string& reason);

  // --- amazon_upload steps (job threads) ---
  // Uploads one creative unless it already has an amazon_creative_id, and stores the id:
  // {"status": "uploaded", "amazon_creative_id", "existing"} or {"status": "failed", "error"}.
  // Errors of the call itself (circuit open, 5xx after retries) throw, so the job is retried.
  nlohmann::json upload_creative(const std::string& account, const std::string& creative_id);
  // Reads and stores the moderation status; returns it (APPROVED | PENDING | REJECTED).
  std::string moderation(const std::string& account, const std::string& creative_id,
                         const std::string& amazon_creative_id);

 private:
  struct Outcome;
  class CampaignSync;
  void finish_sync(const std::string& id, const Outcome& outcome);

  store::Database& db_;
  store::CampaignSyncStore& sync_;
  store::CampaignStore& campaigns_;
  store::CreativeStore& creatives_;
  store::ResourceCache& creative_pages_;
  CampaignService& campaign_service_;
  JobService& jobs_;
  upstream::AmazonDspClient& amazon_;
  BlockingPool& pool_;
  AmazonOptions options_;
};

}  // namespace kargo::service
