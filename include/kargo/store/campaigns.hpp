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

struct CampaignPage {
  std::string items_json = "[]";  // a JSON array, serialised by PostgreSQL
  size_t total = 0;
};

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
  // The latest last_synced_at of any campaign (ISO 8601 UTC), nullopt before the first sync.
  std::optional<std::string> last_synced_at();
  // Audit entries {action, actor, changes, at}, newest first; 404 for an unknown campaign.
  CampaignPage history(const std::string& id, size_t limit, size_t offset);

 private:
  Database& db_;
};

}  // namespace kargo::store
