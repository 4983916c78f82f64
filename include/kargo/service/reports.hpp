#pragma once
// Reports (contract section 6, docs/REPORTS.md): delivery and viewability pulled back from Amazon
// DSP by the report_refresh job (on request and on the periodic tick), the report documents read
// from what was pulled, and exports of them as csv, xlsx or json files.
//
// A pull covers campaigns with an Amazon DSP campaign, per advertiser in groups of at most
// `campaigns_per_report`, in windows of at most 31 days; per group and window it requests three
// reports (delivery by campaign, by campaign and creative, viewability by vendor), waits for
// them together, and replaces the window's stored rows in one transaction. The job's state
// remembers the windows written, so a retried attempt goes on where the last one stopped, and a
// window pulled twice replaces itself: nothing is counted twice.
//
//   ReportService reports(store, files, campaigns, jobs, amazon, metrics, {.configured = true});
//   auto queued = reports.enqueue_refresh(body, actor);          // {job_id, campaign_ids, ...}
//   reports.cached_performance(query, [&](Cached hit) {          // one Redis round trip
//     if (hit.value) return answer(*hit.value);
//     answer(reports.campaign_performance(query, hit.generation));  // database pool
//   });

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kargo/service/list_pages.hpp"
#include "kargo/store/generated_files.hpp"
#include "kargo/store/reports.hpp"

namespace kargo {
class Metrics;
}
namespace kargo::store {
class ResourceCache;
}
namespace kargo::upstream {
class AmazonDspClient;
}

namespace kargo::service {

class CampaignService;
class JobService;

struct ReportOptions {
  bool configured = false;             // the four AMAZON_* credentials
  int max_attempts = 5;                // REPORT_MAX_ATTEMPTS
  int64_t interval_seconds = 3600;     // REPORT_INTERVAL_SECONDS (the tick)
  int restate_days = 3;                // the tick re-pulls this many days up to today
  size_t campaigns_per_report = 100;   // campaign ids in one report's filter
  // One job pulls up to parallel_pulls groups x windows at a time: their reports are requested
  // and awaited together (Amazon prepares them in parallel; waiting costs nothing), then
  // downloaded. Of those, at most parallel_writes write at once: a write is PostgreSQL's CPU, and
  // more of them than there are cores only makes each window's transaction (and its locks) longer.
  // Measured in docs/PERFORMANCE.md ("Reports").
  size_t parallel_pulls = 10;
  size_t parallel_writes = 2;
};

// POST /api/reports/export, validated.
struct ExportRequest {
  std::string report_type;  // campaign_performance | viewability
  std::vector<std::string> campaign_ids;
  std::string start_date, end_date;
  std::string format = "csv";          // csv | xlsx | json
  std::string granularity = "daily";   // campaign_performance
  std::optional<std::string> vendor;   // viewability
};

class ReportService {
 public:
  // `pages`: the cached report documents (any instance's), retired with every change of a
  // campaign (CampaignService::invalidate, which every pull calls for its campaigns).
  ReportService(store::ReportStore& store, store::ResourceCache& pages, store::GeneratedFileStore& files,
                CampaignService& campaigns, JobService& jobs, upstream::AmazonDspClient& amazon, Metrics& metrics,
                ReportOptions options);

  // POST /api/reports/refresh {campaign_ids?, start_date, end_date} -> {job_id, campaign_ids,
  // start_date, end_date}. Blocking. 422 for bad dates or a campaign without an Amazon DSP
  // campaign, 404 for an unknown campaign, 503 when Amazon DSP is not configured.
  nlohmann::json enqueue_refresh(const nlohmann::json& body, const std::string& actor);
  // The periodic pull: the job id when this instance won the tick and a campaign is in flight.
  std::optional<std::string> tick();

  // --- report_refresh (job threads) ---
  // Runs the pull of `payload`. `state` survives retries (the windows already written);
  // `progress(done, total)` saves it. `attempt` names the attempt's reports, so a retry after a
  // FAILED report asks Amazon for a new one.
  nlohmann::json refresh(const nlohmann::json& payload, nlohmann::json& state, int attempt,
                         const std::function<void(int, int)>& progress);

  // GET /api/reports/campaign-performance and /viewability. cached_*: non-blocking, one Redis
  // round trip (`done` runs on the Redis thread: keep it short); a malformed campaign id throws
  // 404 at once. The others read PostgreSQL (blocking) and store the document under the
  // generation the lookup saw; 404 unknown campaign.
  void cached_performance(const store::PerformanceQuery& query, std::function<void(Cached)> done);
  std::string campaign_performance(const store::PerformanceQuery& query, const std::optional<std::string>& generation);
  void cached_viewability(const store::ViewabilityQuery& query, std::function<void(Cached)> done);
  std::string viewability(const store::ViewabilityQuery& query, const std::optional<std::string>& generation);
  // POST /api/reports/export -> {export_id, download_url, expires_at, file_size, record_count,
  // format}; 404 when a campaign is unknown.
  nlohmann::json export_report(const ExportRequest& request, const std::string& actor);
  // GET /api/reports/download/{export_id}: 404 unknown, 410 expired.
  store::GeneratedFile download(const std::string& export_id);

  // Sets report_age_seconds and report_pull_age_seconds from the database (cheap; every few
  // seconds).
  void publish_age();

 private:
  struct Unit;
  // 404 naming the first id that is no campaign (malformed or unknown).
  void require_campaigns(const std::vector<std::string>& ids);
  class Gate;
  struct Gates;
  nlohmann::json pull(const Unit& unit, const std::string& job_tag, Gates& gates);

  store::ReportStore& store_;
  store::ResourceCache& pages_;
  store::GeneratedFileStore& files_;
  CampaignService& campaigns_;
  JobService& jobs_;
  upstream::AmazonDspClient& amazon_;
  Metrics& metrics_;
  ReportOptions options_;
};

}  // namespace kargo::service
