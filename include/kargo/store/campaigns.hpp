#pragma once
// Campaigns in PostgreSQL (migrations/0002): the rows, their creatives (associations) and their
// audit trail. SQL only: the rules (validation, the status machine, readiness) are applied by
// service::CampaignService, which opens the transaction and calls the `tx` functions below in it.
// Resources come back as JSON text with the contract's field names, built by PostgreSQL, so
// reads pass them through without parsing. Blocking: database pool or job threads only.
//
//   CampaignStore store(db);
//   auto doc = store.get(id);                                  // nullopt when unknown
//   db.transact([&](pqxx::transaction_base& tx) {
//     auto row = CampaignStore::lock(tx, id);                  // FOR UPDATE; nullopt when unknown
//     CampaignStore::set_status(tx, id, row->status, "active", "activate", actor);   // + audit entry
//   });
//
// The Amazon sync state is store/campaign_sync.hpp, the Kargo push state store/kargo_push.hpp.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kargo/core/ports.hpp"
#include "kargo/store/page.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

struct CampaignFilter {
  std::optional<std::string> status, phase, viewability_phase, advertiser_id, q;
};

using CampaignPage = JsonPage;

// A campaign row locked for a change.
struct LockedCampaign {
  std::string status;
  int64_t version = 0;
  double spent = 0;
  std::string name;
  double max_bid = 1.0;  // bidding.max_bid (1.0 when unset)
};

// What an association needs to know of a creative (read FOR SHARE).
struct AssociationCreative {
  std::string name, media_type, device_type, status;
  bool processed = false;         // has processed code
  bool amazon_dsp_ready = false;
};

// A line item (one association) before a change.
struct LineItemRow {
  std::optional<double> budget;
  std::string status;
};

class CampaignStore {
 public:
  // Registers the store's prepared statements with `db`.
  explicit CampaignStore(Database& db);

  // --- reads, each in its own transaction ---
  // The full resource (with `creatives`), or nullopt.
  std::optional<std::string> get(const std::string& id);
  CampaignPage list(const CampaignFilter& filter, size_t limit, size_t offset);
  // Audit entries {action, actor, changes, at}, newest first; nullopt for an unknown campaign.
  std::optional<CampaignPage> history(const std::string& id, size_t limit, size_t offset);
  // The latest last_synced_at of any campaign (ISO 8601 UTC), nullopt before the first sync.
  std::optional<std::string> last_synced_at();
  // Ids of the active campaigns, oldest first.
  std::vector<std::string> active_ids();
  static std::vector<std::string> active_ids(pqxx::transaction_base& tx);

  // The answer an Idempotency-Key replay gets, around the resource: prefix + resource + suffix.
  struct AnswerTemplate {
    IdempotencyClaim claim;
    int status = 201;
    std::string prefix, suffix;
  };
  // Inserts a validated campaign without creatives (domain::validate_new_campaign) with its
  // `create` audit entry and, with `answer`, the Idempotency-Key record: one statement, one round
  // trip. Returns the resource.
  std::string create(const nlohmann::json& fields, const std::string& actor,
                     const std::optional<AnswerTemplate>& answer);

  // --- in the caller's transaction ---
  static std::optional<LockedCampaign> lock(pqxx::transaction_base& tx, const std::string& id);
  // The full resource, or nullopt.
  static std::optional<std::string> load(pqxx::transaction_base& tx, const std::string& id);
  // Inserts a campaign from validated fields (domain::validate_new_campaign) with its `create`
  // audit entry; returns the new id.
  static std::string insert(pqxx::transaction_base& tx, const nlohmann::json& fields, const std::string& actor);
  // Sets the changed columns of `change` (name, budget, goal_kpi, dates, targeting, bidding,
  // status), version + 1, with an `update` audit entry of `audit`.
  static void update(pqxx::transaction_base& tx, const std::string& id, const nlohmann::json& change,
                     const nlohmann::json& audit, const std::string& actor);
  // status -> `to` (version + 1) with a `status_change` audit entry naming `trigger`.
  static void set_status(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                         const std::string& to, std::string_view trigger, const std::string& actor);
  // Deletes the row (its associations go with it) with a `delete` audit entry.
  static void remove(pqxx::transaction_base& tx, const std::string& id, const std::string& status,
                     const std::string& actor);
  static std::optional<AssociationCreative> creative_for_association(pqxx::transaction_base& tx,
                                                                     const std::string& creative_id);
  // Inserts one association; false when it already existed.
  static bool add_association(pqxx::transaction_base& tx, const std::string& id, const std::string& creative_id,
                              const std::string& ad_group_name, const std::string& ad_group_type, double bid);
  // After add_association()s that added `added`: version + 1 and an `associate_creatives` entry.
  static void record_associations(pqxx::transaction_base& tx, const std::string& id,
                                  const nlohmann::json& added, const std::string& actor);
  // Deletes one association (version + 1, `dissociate_creative` entry); false when there was none.
  static bool remove_association(pqxx::transaction_base& tx, const std::string& id,
                                 const std::string& creative_id, const std::string& actor,
                                 const std::string& reason = "");
  static bool has_ready_creative(pqxx::transaction_base& tx, const std::string& id);
  // The association's line item, locked; nullopt when not associated.
  static std::optional<LineItemRow> lock_line_item(pqxx::transaction_base& tx, const std::string& id,
                                                   const std::string& creative_id);
  // Sets the line item's budget and/or status (version + 1, `update_line_item` entry of `audit`).
  static void update_line_item(pqxx::transaction_base& tx, const std::string& id, const std::string& creative_id,
                               std::optional<double> budget, const std::optional<std::string>& status,
                               const nlohmann::json& audit, const std::string& actor);
  // Campaigns in one of `statuses` whose end date (UTC) has passed become `to`, with a
  // `status_change` entry each naming `trigger`; rows another transaction holds are skipped (SKIP
  // LOCKED, the next run takes them). Returns the ids. At most 500 per call.
  static std::vector<std::string> complete_ended(pqxx::transaction_base& tx,
                                                 const std::vector<std::string>& statuses, const std::string& to,
                                                 std::string_view trigger);

 private:
  Database& db_;
};

}  // namespace kargo::store
