// Job `amazon_upload` (contract section 4, POST /api/creatives/upload/amazon-dsp): uploads each
// creative as an Amazon DSP third-party creative, stores its amazon_creative_id, then polls and
// stores its moderation status.
//
// Safe to run again after a crash at any point: a creative that already has an amazon_creative_id
// is not sent again, and one whose create reached Amazon but whose id was never stored is found
// by its externalId (our creative id) before anything is created (AmazonDspClient does that look-up).
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "job_kinds.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/log.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"

namespace kargo::jobs {
namespace {

using nlohmann::json;

// Moderation takes Amazon minutes to days; the job polls for a short while and stores what it
// saw (PENDING included), so the resource shows progress without holding a worker for long.
constexpr int kModerationPolls = 6;
constexpr std::chrono::milliseconds kFirstPollDelay{500};

json upload(AppContext& ctx, JobContext& job) {
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
    items[id] = upload_creative(ctx, account, id);
    job.checkpoint(++done, total);
  }

  // Moderation of everything uploaded.
  auto delay = kFirstPollDelay;
  for (int poll = 0; poll < kModerationPolls; ++poll) {
    bool pending = false;
    for (const auto& id : ids) {
      json& item = items[id];
      if (!item.contains("amazon_creative_id")) continue;
      if (item.value("moderation", "PENDING") != "PENDING") continue;
      auto m = ctx.amazon.get_moderation(account, item["amazon_creative_id"]);
      item["moderation"] = m.status;
      ctx.creatives.set_approval(id, m.status, m.reasons);
      if (m.status == "PENDING") pending = true;
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

json upload_creative(AppContext& ctx, const std::string& account, const std::string& id) {
  auto creative = ctx.creatives.for_upload(id);
  if (!creative) return {{"status", "failed"}, {"error", "creative not found"}};
  if (creative->media_type == "audio") {
    ctx.creatives.set_upload_status(id, "failed");
    return {{"status", "failed"}, {"error", "Amazon DSP has no upload endpoint for audio creatives"}};
  }
  if (!creative->amazon_dsp_ready) {
    return {{"status", "failed"}, {"error", "creative is not processed for Amazon DSP"}};
  }
  if (creative->amazon_creative_id) {
    return {
        {"status", "uploaded"}, {"amazon_creative_id", *creative->amazon_creative_id}, {"existing", true}};
  }
  ctx.creatives.set_upload_status(id, "uploading");
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
  auto results = ctx.amazon.create_ad_creatives(account, {dsp});
  const auto& r = results.at(0);
  if (!r.ok()) {
    std::string why = r.errors.empty() ? "refused" : r.errors[0].code + ": " + r.errors[0].message;
    ctx.creatives.set_upload_status(id, "failed");
    return {{"status", "failed"}, {"error", why}};
  }
  ctx.creatives.set_amazon_creative_id(id, r.id);
  return {{"status", "uploaded"}, {"amazon_creative_id", r.id}, {"existing", r.existing}};
}

JobKind amazon_upload_kind(AppContext& ctx) {
  return {.name = kAmazonUpload,
          .max_attempts = 5,
          .base_backoff = std::chrono::seconds(5),
          .run = [&ctx](JobContext& job) { return upload(ctx, job); }};
}

}  // namespace kargo::jobs
