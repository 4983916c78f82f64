#pragma once
// Creatives (contract section 4): a snippet (uploaded, or fetched from Kargo) turned into code
// Amazon DSP accepts by domain/creative, stored with store/creatives, associated with campaigns
// through CampaignService's rules, and queued for upload to Amazon DSP.
//
// Fetching from Kargo never holds a database pool thread: the fetch runs on the Kargo client's own
// I/O (its callback API, within the request's deadline and the upstream's concurrency bound), and
// only the transform + store step goes to the database pool (on_database). Those methods answer
// through a Completion; the others are blocking and run on the pool.
//
//   creatives.process(body, call, claim, render, [](Result<std::string> r) { ... });   // 201
//   creatives.reprocess(body, call, [](Result<nlohmann::json> r) { ... });   // {results, failed}
//   auto doc = creatives.create_uploaded(config, file, campaign_id, actor, claim, render);

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kargo/core/ports.hpp"
#include "kargo/core/result.hpp"
#include "kargo/service/call.hpp"
#include "kargo/service/list_pages.hpp"
#include "kargo/store/creatives.hpp"

namespace kargo {
class Metrics;
namespace domain {
class MacroTable;
struct CreativeConfig;
}  // namespace domain
namespace store {
class Database;
class ResourceCache;
}  // namespace store
namespace upstream {
class KargoClient;
}
}  // namespace kargo

namespace kargo::service {

class CampaignService;
class JobService;

struct CreativeOptions {
  std::vector<std::string> snippet_hosts;  // KARGO_SNIPPET_HOSTS
  bool amazon_configured = false;          // uploads to Amazon DSP can be queued
  size_t max_parallel_fetches = 8;         // per bulk request (the upstream bound is the channel's)
};

// GET /api/creatives: the filter and the page.
using CreativeQuery = ListQuery<store::CreativeFilter>;
std::string cache_key(const CreativeQuery& query);

// An uploaded snippet file.
struct UploadedFile {
  std::optional<std::string> filename;
  std::string body;
};

class CreativeService {
 public:
  // `pages`: the cached list pages (one collection generation, retired by every creative write and
  // every association change).
  CreativeService(store::Database& db, store::CreativeStore& store, store::ResourceCache& pages,
                  CampaignService& campaigns, JobService& jobs, upstream::KargoClient& kargo, BlockingPool& pool,
                  const domain::MacroTable& macros, Metrics& metrics, CreativeOptions options);

  // POST /api/creatives (multipart): `config` is the form as a creative_config; snippet_url
  // becomes upload://<file name>. With `campaign_id`, associated in the same transaction. Blocking.
  std::string create_uploaded(const nlohmann::json& config, const std::optional<UploadedFile>& file,
                              const std::optional<std::string>& campaign_id, const std::string& actor,
                              const std::optional<IdempotencyClaim>& claim = std::nullopt,
                              const RenderAnswer& render = nullptr);
  // POST /api/creatives/process {"creative_config"}: fetch from Kargo, transform, store -> the
  // resource. Validation errors throw before anything starts.
  void process(const nlohmann::json& body, const Call& call, const std::optional<IdempotencyClaim>& claim,
               RenderAnswer render, Completion<std::string> done);
  // POST /api/creatives/process {"creative_ids"}: re-fetch (uploaded ones: the stored original)
  // and re-process each -> {results: [resource], failed: [{creative_id, error, code, details?}]}.
  // A creative whose re-processing fails for good (the snippet is gone, the transform refuses it)
  // is marked `failed` with the reason; an upstream outage leaves it as it was.
  void reprocess(const nlohmann::json& body, const Call& call, Completion<nlohmann::json> done);
  // POST /api/creatives/process/bulk -> {total_processed, successful, failed, results,
  // failed_items[, upload_job_id | upload_error]}; one bad item never fails the others.
  void process_bulk(const nlohmann::json& body, const Call& call, Completion<nlohmann::json> done);
  // POST /api/creatives/upload/amazon-dsp -> the amazon_upload job's id. Blocking.
  std::string enqueue_upload(const nlohmann::json& body, const std::string& actor);

  // Non-blocking, one Redis round trip: the cached page document of `query` (when there is one)
  // and the generation to store a fresh one under. `done` runs on the Redis thread.
  void cached_page(const CreativeQuery& query, std::function<void(Cached)> done);
  // The page document {"creatives": [...], total, limit, offset} from PostgreSQL, stored under
  // `generation`.
  std::string page(const CreativeQuery& query, const std::optional<std::string>& generation);
  std::string get(const std::string& id);  // 404 when unknown
  store::CreativePreview preview(const std::string& id);
  // 409 while in an active campaign; campaigns left without a ready creative go back to draft.
  void remove(const std::string& id, const std::string& actor);

 private:
  struct Fetched;
  // The stored fields of a processed snippet (timed, counted in creative_processing_*). A 422 on
  // the snippet names `snippet_field`.
  nlohmann::json process_snippet(std::string_view snippet, const domain::CreativeConfig& config,
                                 const std::string& snippet_url, std::string_view snippet_field);
  // Fetches every URL with at most options_.max_parallel_fetches in flight; `done` gets the
  // results in order.
  void fetch_all(std::vector<std::string> urls, const Call& call,
                 std::function<void(std::vector<Result<std::string>>)> done);

  store::Database& db_;
  // After a committed creative write: the cached pages are retired before the answer.
  void changed();
  // A change of creative `id` in one transaction (`write` returns false when there is no such
  // creative), with the readiness of its campaigns settled in it; after the commit the creative
  // pages and its campaigns' cached copies are retired. The resource after the change, or
  // nullopt when there was no such creative.
  std::optional<std::string> change(const std::string& id, const std::string& actor,
                                    const std::function<bool(pqxx::transaction_base&)>& write);

  store::CreativeStore& store_;
  store::ResourceCache& pages_;
  CampaignService& campaigns_;
  JobService& jobs_;
  upstream::KargoClient& kargo_;
  BlockingPool& pool_;
  const domain::MacroTable& macros_;
  Metrics& metrics_;
  CreativeOptions options_;
};

// The {id} of a creative route: a malformed id is an unknown creative (404).
void require_creative_id(const std::string& id);

}  // namespace kargo::service
