#pragma once
// Campaigns in PostgreSQL (migrations/0002): every write checks the rules of
// kargo/domain/campaign.hpp under a row lock and writes its audit entry in the same transaction.
// Resources come back as JSON text with the contract's field names, built by PostgreSQL, so reads
// pass them through without parsing. Blocking: blocking pool only.
//
//   CampaignStore store(db);
//   auto created = store.create(fields, creative_ids, actor, claim, render);
//   auto doc = store.get(id);                 // nullopt when unknown
//   store.update(id, body, expected_version, actor);   // 409 on a stale version

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "kargo/store/page.hpp"

#include "kargo/domain/campaign.hpp"
#include "kargo/store/idempotency.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

struct CampaignFilter {
  std::optional<std::string> status, phase, viewability_phase, advertiser_id, q;
};

// What POST /api/integrations/kargo/push-campaign sends to Kargo about a campaign.
struct KargoPushSource {
  std::string name, advertiser_id, start_date, end_date, goal_kpi;
  double budget = 0;
  std::vector<std::string> formats;  // of the associated creatives, for the default placement types
  std::optional<std::string> kargo_campaign_id;
};

// What the amazon_sync job sends to Amazon DSP about a campaign: its fields, the Amazon ids stored
// so far and one entry per association (each becomes one ad group).
struct SyncAssociation {
  std::string creative_id, ad_group_name, ad_group_type, status;  // status: active | paused
  std::optional<double> budget, bid;
  std::optional<std::string> amazon_ad_group_id, amazon_creative_id;
  bool amazon_associated = false;
};

struct SyncSource {
  std::string id, name, advertiser_id, status, start_date, end_date, goal_kpi;
  double budget = 0, max_bid = 1.0;
  std::optional<std::string> amazon_campaign_id;
  std::vector<SyncAssociation> associations;
};

// How a sync of one campaign ended (CampaignStore::finish_sync).
struct SyncOutcome {
  bool ok = true;
  std::optional<std::string> mirrored_status;         // Amazon's state, when it overrides ours
  bool budget_spent = false;                          // Amazon says OUT_OF_BUDGET: spent = budget
  std::string reason;                                 // why it failed, or what was mirrored
  nlohmann::json details = nlohmann::json::object();  // for the audit entry
};

using CampaignPage = JsonPage;

class CampaignStore {
 public:
  explicit CampaignStore(Database& db) : db_(db) {}

  // Inserts a validated campaign (domain::validate_new_campaign) and associates `creative_ids`.
  // With a claim, `render` turns the new resource into the (status, body) stored for
  // Idempotency-Key replays, in the same transaction: a crash after the commit cannot make a
  // retried request create a second campaign.
  using Render = std::function<std::pair<int, std::string>(const std::string& resource_json)>;
  std::string create(const nlohmann::json& fields, const std::vector<std::string>& creative_ids,
                     const std::string& actor, const std::optional<IdempotencyClaim>& claim = std::nullopt,
                     const Render& render = nullptr);
  // The full resource (with `creatives`), or nullopt.
  std::optional<std::string> get(const std::string& id);
  CampaignPage list(const CampaignFilter& filter, size_t limit, size_t offset);
  // Partial update (domain::validate_campaign_update); `expected_version` from the body or
  // If-Match: 409 when it is not the current version. Returns the updated resource.
  std::string update(const std::string& id, const nlohmann::json& body,
                     std::optional<int64_t> expected_version, const std::string& actor);
  // 409 while active.
  void remove(const std::string& id, const std::string& actor);
  // activate / pause: 409 with the current and requested status when the table forbids it.
  std::string transition(const std::string& id, std::string_view to, domain::Trigger trigger,
                         const std::string& actor);
  // Unknown creative 404, unprocessed creative 422; draft -> ready when one is ready.
  std::string associate(const std::string& id, const std::vector<std::string>& creative_ids,
                        const std::string& actor);
  std::string dissociate(const std::string& id, const std::string& creative_id, const std::string& actor);
  // Moves campaigns whose end date has passed (UTC) from ready/active/paused to completed, with an
  // audit entry each; returns their ids. Safe to run on every instance at once (row locks).
  std::vector<std::string> complete_ended();
  // Inside another store's transaction (a creative uploaded with a campaign_id, a creative that
  // became ready or was deleted): associate creatives, or re-check draft <-> ready.
  // create / update / get inside another store's transaction (the bulk sheet upload writes many
  // campaigns in one). create_in returns the new id; update_in whether anything changed.
  static std::string create_in(pqxx::transaction_base& tx, const nlohmann::json& fields,
                               const std::vector<std::string>& creative_ids, const std::string& actor);
  static bool update_in(pqxx::transaction_base& tx, const std::string& id, const nlohmann::json& body,
                        std::optional<int64_t> expected_version, const std::string& actor);
  static std::optional<std::string> load_in(pqxx::transaction_base& tx, const std::string& id);
  // A line item (one association) of the bulk sheet: its own budget and/or its status, with an
  // audit entry `update_line_item` on the campaign.
  static void update_line_item_in(pqxx::transaction_base& tx, const std::string& id,
                                  const std::string& creative_id, std::optional<double> budget,
                                  const std::optional<std::string>& status, const std::string& actor);
  static void associate_in(pqxx::transaction_base& tx, const std::string& id,
                           const std::vector<std::string>& creative_ids, const std::string& actor);
  static void settle_readiness(pqxx::transaction_base& tx, const std::string& id, const std::string& actor);
  // A change that is not a column of the campaign (its creatives): version + 1, updated_at now.
  static void touch(pqxx::transaction_base& tx, const std::string& id);
  // The fields pushed to Kargo; nullopt for an unknown campaign. A plain read: the push calls
  // Kargo between this read and record_kargo_push(), and no transaction stays open over a network
  // call.
  std::optional<KargoPushSource> kargo_push_source(const std::string& id);
  // After a push: stores `kargo_campaign_id` (a new one bumps the version) and writes the audit
  // entry (action "created" or "updated") in the same transaction, under the row lock. Returns the
  // resource; 404 when the campaign was deleted meanwhile, 409 when another campaign already holds
  // that Kargo id.
  std::string record_kargo_push(const std::string& id, const std::string& kargo_campaign_id,
                                const std::string& action, const std::string& actor);
  // --- amazon_sync (contract section 6) ---
  // The campaign as the sync sends it, or nullopt when it does not exist.
  std::optional<SyncSource> sync_source(const std::string& id);
  // Shows `processing` (Trigger::kSyncStart, audit entry, sync_status `syncing`) and remembers the
  // status to return to. A campaign already `processing` (a retried job) keeps its remembered
  // status. nullopt when the campaign is gone or `completed` (nothing to sync).
  std::optional<std::string> begin_sync(const std::string& id, const std::string& actor);
  // Each Amazon id is stored the moment Amazon returns it, in its own transaction.
  void store_amazon_campaign_id(const std::string& id, const std::string& amazon_campaign_id);
  void store_amazon_ad_group_id(const std::string& id, const std::string& creative_id,
                                const std::string& amazon_ad_group_id);
  void mark_amazon_associated(const std::string& id, const std::string& creative_id);
  // Leaves `processing` (Trigger::kSyncEnd): on success to the mirrored or remembered status with
  // sync_status `synced` and last_synced_at now; on failure to `error` with sync_status `error`.
  // One audit entry (with the reason) in the same transaction. No-op when the campaign is gone
  // or not `processing`.
  void finish_sync(const std::string& id, const SyncOutcome& outcome, const std::string& actor);
  // Ids of the active campaigns, oldest first (POST .../sync without campaign_ids).
  std::vector<std::string> active_ids();
  // The periodic tick: in one transaction, claims tick number `bucket` (now / interval) of
  // `name` (INSERT ... ON CONFLICT DO NOTHING on sync_ticks), and enqueues `kind` for the active
  // campaigns unless one from an earlier tick is still queued or running. Returns the job id;
  // nullopt when another instance had the tick, nothing is active, or the last is not done.
  std::optional<std::string> enqueue_tick(const std::string& name, int64_t interval_seconds,
                                          const std::string& kind, int max_attempts);

  // The latest last_synced_at of any campaign (ISO 8601 UTC), nullopt before the first sync.
  std::optional<std::string> last_synced_at();
  // Audit entries {action, actor, changes, at}, newest first; 404 for an unknown campaign.
  CampaignPage history(const std::string& id, size_t limit, size_t offset);

 private:
  Database& db_;
};

}  // namespace kargo::store
