#pragma once
// Campaigns (contract section 3): the rules of domain/campaign applied to the rows of
// store/campaigns inside one transaction per change, the audit trail, the draft <-> ready
// readiness, and the shared cache (store/resource_cache) kept right after every commit.
// Blocking methods run on the database pool; the cached_* lookups never block.
//
//   CampaignService campaigns(db, store, cache);
//   auto doc = campaigns.create(body, actor);                 // 422 with every bad field
//   campaigns.cached(id, [](std::optional<std::string> hit) { ... });   // one Redis round trip
//   auto fresh = campaigns.get(id);                           // PostgreSQL, fills the cache; 404
//   campaigns.update(id, body, version, actor);               // 409 on a stale version
//
// The `_in` methods apply the same rules inside a caller's transaction (a bulk sheet upload writes
// many campaigns in one); the caller invalidates the cache after its commit.

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kargo/core/ports.hpp"
#include "kargo/domain/campaign.hpp"
#include "kargo/service/list_pages.hpp"
#include "kargo/store/campaigns.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {
class Database;
class ResourceCache;
}  // namespace kargo::store

namespace kargo::service {

// GET /api/campaigns: the filter and the page.
using CampaignQuery = ListQuery<store::CampaignFilter>;
// Every value that decides the page's content, each length-prefixed: the page's cache key.
std::string cache_key(const CampaignQuery& query);

class CampaignService {
 public:
  // `dependent_pages`: cached pages of other resources that show campaign data, retired with
  // every change of a campaign: the creative list pages (a creative carries its campaign_ids)
  // and the report documents (a campaign's name and figures). None in tests that do not cache
  // them.
  CampaignService(store::Database& db, store::CampaignStore& store, store::ResourceCache& cache,
                  std::vector<store::ResourceCache*> dependent_pages = {});

  // POST /api/campaigns: `body` checked whole (fields and creative_ids: one 422 with all), the
  // campaign inserted with its audit entry and creatives. With a claim, `render` makes the answer
  // stored for Idempotency-Key replays in the same transaction. Returns the resource.
  std::string create(const nlohmann::json& body, const std::string& actor,
                     const std::optional<IdempotencyClaim>& claim = std::nullopt,
                     const RenderAnswer& render = nullptr);

  // Non-blocking, one Redis round trip: the cached resource (when there is one) and the
  // generation to store a fresh copy under. `done` runs on the Redis thread: keep it short.
  void cached(const std::string& id, std::function<void(Cached)> done);
  // The resource from PostgreSQL, stored in the cache under `generation` (from cached(); the
  // copy is dropped when a write came first); 404 when unknown.
  std::string get(const std::string& id, const std::optional<std::string>& generation);
  // The same, looking the generation up first (blocking): for callers without a cached() lookup.
  std::string get(const std::string& id);
  // Non-blocking: the cached page document of `query`.
  void cached_page(const CampaignQuery& query, std::function<void(Cached)> done);
  // The page document {"campaigns": [...], total, limit, offset} from PostgreSQL, stored under
  // `generation` (from cached_page).
  std::string page(const CampaignQuery& query, const std::optional<std::string>& generation);

  // PUT: partial update (domain::validate_campaign_update); `expected_version` from the body or
  // If-Match: 409 when stale; a status change follows the status machine.
  std::string update(const std::string& id, const nlohmann::json& body, std::optional<int64_t> expected_version,
                     const std::string& actor);
  // 409 while active or being synced.
  void remove(const std::string& id, const std::string& actor);
  std::string activate(const std::string& id, const std::string& actor);
  std::string pause(const std::string& id, const std::string& actor);
  // Unknown creative 404, unprocessed creative 422 (on creative_ids[i]); draft -> ready when one is
  // ready.
  std::string associate(const std::string& id, const std::vector<std::string>& creative_ids,
                        const std::string& actor);
  std::string dissociate(const std::string& id, const std::string& creative_id, const std::string& actor);
  // Audit entries, newest first; 404 for an unknown campaign. The list document.
  std::string history(const std::string& id, size_t limit, size_t offset);
  // Campaigns whose end date passed become completed (the periodic check); returns their ids.
  std::vector<std::string> complete_ended();
  // Retries cache invalidations Redis missed (every second or so).
  void flush_cache();
  // After writes the service did not make itself (a sheet upload, a sync): drop cached copies.
  void invalidate(const std::string& id);
  // The same for many campaigns at once (a report pull): the dependent pages are retired once.
  void invalidate(const std::vector<std::string>& ids);
  void invalidate_pages();

  // --- the same rules inside a caller's transaction ---
  static std::string create_in(pqxx::transaction_base& tx, const nlohmann::json& fields,
                               const std::vector<std::string>& creative_ids, const std::string& actor);
  // Whether anything changed.
  static bool update_in(pqxx::transaction_base& tx, const std::string& id, const nlohmann::json& body,
                        std::optional<int64_t> expected_version, const std::string& actor);
  static void associate_in(pqxx::transaction_base& tx, const std::string& id,
                           const std::vector<std::string>& creative_ids, const std::string& actor);
  // A line item (one association): its own budget and/or status.
  static void update_line_item_in(pqxx::transaction_base& tx, const std::string& id,
                                  const std::string& creative_id, std::optional<double> budget,
                                  const std::optional<std::string>& status, const std::string& actor);
  // draft -> ready once a ready creative is associated; ready -> draft when none is left.
  static void settle_readiness(pqxx::transaction_base& tx, const std::string& id, const std::string& actor);

 private:
  std::string transition(const std::string& id, const std::string& to, domain::Trigger trigger,
                         const std::string& actor);

  store::Database& db_;
  store::CampaignStore& store_;
  // After a committed change of campaign `id`: its cached copy, the campaign pages and the
  // creative pages (its associations may have changed) are retired.
  void retire(const std::string& id);

  store::ResourceCache& cache_;
  std::vector<store::ResourceCache*> dependent_pages_;
};

// The {id} of a campaign route: a malformed id is an unknown campaign (404).
void require_campaign_id(const std::string& id);

}  // namespace kargo::service
