// Job `amazon_upload` (contract section 4, POST /api/creatives/upload/amazon-dsp): uploads each
// creative as an Amazon DSP third-party creative (service::AmazonService::upload_creative), then
// polls and stores its moderation status.
//
// Safe to run again after a crash at any point: a creative that already has an amazon_creative_id
// is not sent again, and one whose create reached Amazon but whose id was never stored is found
// by its externalId (our creative id) before anything is created (AmazonDspClient does that look-up).
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "kargo/core/job_kinds.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/service/amazon.hpp"

namespace kargo::jobs {
namespace {

using nlohmann::json;

// Moderation takes Amazon minutes to days; the job polls for a short while and stores what it
// saw (PENDING included), so the resource shows progress without holding a worker for long.
constexpr int kModerationPolls = 6;
constexpr std::chrono::milliseconds kFirstPollDelay{500};

json upload(service::AmazonService& amazon, JobContext& job) {
  const auto ids = job.payload().value("creative_ids", std::vector<std::string>{});
  const std::string account = job.payload().value("advertiser_id", "");
  json& state = job.state();
  if (!state.contains("items")) state["items"] = json::object();
  json& items = state["items"];
  int total = static_cast<int>(ids.size()) * 2;  // upload, then moderation
  int done = 0;

  for (const auto& id : ids) {
    if (items.contains(id) && items[id].contains("amazon_creative_id")) {
      ++done;
      continue;
    }
    items[id] = amazon.upload_creative(account, id);
    job.checkpoint(++done, total);
  }

  // Moderation of everything uploaded. A job worker thread may sleep: it is the job's own.
  auto delay = kFirstPollDelay;
  for (int poll = 0; poll < kModerationPolls; ++poll) {
    bool pending = false;
    for (const auto& id : ids) {
      json& item = items[id];
      if (!item.contains("amazon_creative_id")) continue;
      if (item.value("moderation", "PENDING") != "PENDING") continue;
      auto status = amazon.moderation(account, id, item["amazon_creative_id"]);
      item["moderation"] = status;
      if (status == "PENDING") pending = true;
    }
    job.checkpoint(done, total);
    if (!pending) break;
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }

  json uploaded = json::array(), failed = json::array();
  for (const auto& id : ids) {
    const json& item = items[id];
    if (item.value("status", "") == "uploaded") {
      uploaded.push_back({{"creative_id", id},
                          {"amazon_creative_id", item["amazon_creative_id"]},
                          {"moderation", item.value("moderation", "PENDING")}});
    } else {
      failed.push_back({{"creative_id", id}, {"error", item.value("error", "failed")}});
    }
  }
  return {{"uploaded", uploaded}, {"failed", failed}};
}

}  // namespace

JobKind AmazonUploadJob::definition() {
  return {.name = kinds::kAmazonUpload,
          .max_attempts = 5,
          .base_backoff = std::chrono::seconds(5),
          .run = [this](JobContext& job) { return upload(amazon_, job); }};
}

}  // namespace kargo::jobs
