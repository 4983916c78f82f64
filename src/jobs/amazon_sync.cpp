// Job `amazon_sync` (contract section 6, POST /api/integrations/amazon-dsp/sync and the periodic
// tick): for each campaign of the payload, service::AmazonService::begin_sync shows `processing`,
// sync_campaign pushes it and mirrors Amazon's state back (see service/amazon.cpp for the steps
// and why a retried attempt never creates anything twice). The job keeps each campaign's result
// in its state, so a retried attempt skips what is done; when the last attempt fails, every
// campaign not done shows `error` (AmazonService::fail_sync).
#include <nlohmann/json.hpp>

#include "kargo/core/job_kinds.hpp"
#include "kargo/core/log.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/service/amazon.hpp"

namespace kargo::jobs {
namespace {

using nlohmann::json;

constexpr const char* kActor = "system:amazon_sync";

json sync(service::AmazonService& amazon, JobContext& job) {
  const auto ids = job.payload().value("campaign_ids", std::vector<std::string>{});
  const auto options = service::SyncOptions::from_json(job.payload());
  json& state = job.state();
  if (!state.contains("campaigns")) state["campaigns"] = json::object();
  state["total"] = static_cast<int>(ids.size());
  auto checkpoint = [&job] { job.checkpoint(job.state().value("done", 0), job.state().value("total", 0)); };
  int done = 0;
  for (const auto& id : ids) {
    json& results = state["campaigns"];
    if (!results.contains(id)) {
      auto before = amazon.begin_sync(id, kActor);
      if (!before) {
        results[id] = {{"campaign_id", id}, {"status", "skipped"}, {"reason", "campaign not found or completed"}};
      } else {
        json outcome = amazon.sync_campaign(id, *before, options, checkpoint);  // the entry exists once done
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
void give_up(service::AmazonService& amazon, JobContext& job, const std::string& error) {
  const auto ids = job.payload().value("campaign_ids", std::vector<std::string>{});
  const json& done = job.state().contains("campaigns") ? job.state()["campaigns"] : json::object();
  for (const auto& id : ids) {
    if (done.contains(id)) continue;
    amazon.fail_sync(id, "sync failed after retries: " + error);
    log::warn("amazon sync failed for good", {{"campaign_id", id}, {"error", error}});
  }
}

}  // namespace

JobKind AmazonSyncJob::definition() {
  return {.name = kinds::kAmazonSync,
          .max_attempts = options_.max_attempts,
          .base_backoff = options_.backoff,
          .run = [this](JobContext& job) { return sync(amazon_, job); },
          .on_failed = [this](JobContext& job, const std::string& error) { give_up(amazon_, job, error); }};
}

}  // namespace kargo::jobs
