#pragma once
// Creatives in PostgreSQL (migrations/0002): the processed code and its metadata, the Amazon
// upload and moderation state, and the campaigns each one is associated with. Resources come back
// as JSON text built by PostgreSQL. Blocking: blocking pool or job threads only.
//
// SQL only: service::CreativeService opens the transactions that change creatives and applies the
// rules (associations, readiness of campaigns, the 409 for active campaigns).
//
//   CreativeStore creatives(db);
//   auto preview = creatives.preview(id);              // {processed_code, media_type}
//   db.transact([&](pqxx::transaction_base& tx) { auto id = CreativeStore::insert(tx, fields, actor); });

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include "kargo/store/page.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

struct CreativeFilter {
  std::optional<std::string> campaign_id, format, media_type, status;
};

using CreativePage = JsonPage;

struct CreativeCampaign {
  std::string campaign_id, status;
};

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
  // Registers the store's prepared statements with `db`.
  explicit CreativeStore(Database& db);

  std::optional<std::string> get(const std::string& id);
  // The stored config of a creative (the columns a re-process needs, and original_snippet for
  // uploaded ones, which cannot be fetched again) or nullopt.
  std::optional<nlohmann::json> config_of(const std::string& id);
  CreativePage list(const CreativeFilter& filter, size_t limit, size_t offset);
  std::optional<CreativePreview> preview(const std::string& id);
  // --- in the caller's transaction (service::CreativeService holds the rules) ---
  // Inserts a processed creative with its `create` audit entry; returns the id. `fields` holds
  // name, format, media_type, dimensions, width, height, device_type, snippet_url, duration,
  // vast_version, branded_canvas, cache_buster, amazon_macros, click_tracking, viewability_config,
  // creative_type, amazon_dsp_ready, original_snippet, processed_code, processing_metadata and
  // optionally advertiser_id.
  static std::string insert(pqxx::transaction_base& tx, const nlohmann::json& fields, const std::string& actor);
  static std::optional<std::string> load(pqxx::transaction_base& tx, const std::string& id);
  // FOR UPDATE; false when unknown.
  static bool lock(pqxx::transaction_base& tx, const std::string& id);
  // The campaigns it is associated with, and their status (locked).
  static std::vector<CreativeCampaign> campaigns_of(pqxx::transaction_base& tx, const std::string& id);
  // Replaces the processing result (re-processing), with a `reprocess` entry; false when unknown.
  static bool replace_processing(pqxx::transaction_base& tx, const std::string& id,
                                 const nlohmann::json& fields, const std::string& actor);
  // status `failed`, not amazon_dsp_ready, processing_metadata.error = reason (the processed code
  // of the last success stays for the preview), with a `processing_failed` entry.
  static bool mark_failed(pqxx::transaction_base& tx, const std::string& id, const std::string& reason,
                          const std::string& actor);
  // Deletes the row (with a `delete` entry); its associations must be gone already.
  static void remove(pqxx::transaction_base& tx, const std::string& id, const std::string& actor);

  // Upload job steps.
  std::optional<CreativeUpload> for_upload(const std::string& id);
  void set_upload_status(const std::string& id, const std::string& status);
  void set_amazon_creative_id(const std::string& id, const std::string& amazon_creative_id);
  void set_approval(const std::string& id, const std::string& approval_status, const nlohmann::json& reasons);

 private:
  Database& db_;
};

}  // namespace kargo::store
