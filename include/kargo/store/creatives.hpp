#pragma once
// Creatives in PostgreSQL (migrations/0002): the processed code and its metadata, the Amazon
// upload and moderation state, and the campaigns each one is associated with. Resources come back
// as JSON text built by PostgreSQL. Blocking: blocking pool or job threads only.
//
//   CreativeStore creatives(db);
//   auto doc = creatives.create(fields, actor);        // fields: the columns, as the API names them
//   auto preview = creatives.preview(id);              // {processed_code, media_type}
//   creatives.remove(id, actor);                       // 409 while in an active campaign

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include "kargo/store/page.hpp"

namespace kargo::store {

class Database;

struct CreativeFilter {
  std::optional<std::string> campaign_id, format, media_type, status;
};

using CreativePage = JsonPage;

struct CreativePreview {
  std::string processed_code;
  std::string media_type;  // display | video | audio
};

// What a job needs to upload a creative to Amazon DSP.
struct CreativeUpload {
  std::string id, name, format, media_type, processed_code;
  std::optional<std::string> dimensions, amazon_creative_id, advertiser_id;
  std::optional<double> duration;
  bool amazon_dsp_ready = false;
};

class CreativeStore {
 public:
  explicit CreativeStore(Database& db) : db_(db) {}

  // Inserts a processed creative. `fields` holds name, format, media_type, dimensions, width,
  // height, device_type, snippet_url, duration, vast_version, branded_canvas, cache_buster,
  // amazon_macros, click_tracking, viewability_config, creative_type, amazon_dsp_ready,
  // original_snippet, processed_code, processing_metadata and optionally advertiser_id.
  // With `campaign_id`, associates it in the same transaction (404 unknown campaign).
  std::string create(const nlohmann::json& fields, const std::string& actor,
                     const std::optional<std::string>& campaign_id = std::nullopt);
  // Replaces the processing result of an existing creative (re-processing); campaigns that now
  // have a ready creative become ready. Returns the resource; 404 when unknown.
  std::string reprocessed(const std::string& id, const nlohmann::json& fields, const std::string& actor);
  std::optional<std::string> get(const std::string& id);
  // The stored config of a creative (the columns a re-process needs, and original_snippet for
  // uploaded ones, which cannot be fetched again) or nullopt.
  std::optional<nlohmann::json> config_of(const std::string& id);
  CreativePage list(const CreativeFilter& filter, size_t limit, size_t offset);
  std::optional<CreativePreview> preview(const std::string& id);
  // 409 while associated with an active campaign; otherwise removes its associations (campaigns
  // left without a ready creative go back to draft) and returns those campaign ids.
  std::vector<std::string> remove(const std::string& id, const std::string& actor);

  // Upload job steps.
  std::optional<CreativeUpload> for_upload(const std::string& id);
  void set_upload_status(const std::string& id, const std::string& status);
  void set_amazon_creative_id(const std::string& id, const std::string& amazon_creative_id);
  void set_approval(const std::string& id, const std::string& approval_status, const nlohmann::json& reasons);

 private:
  Database& db_;
};

}  // namespace kargo::store
