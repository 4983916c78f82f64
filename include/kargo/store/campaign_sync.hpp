#pragma once
// A campaign's Amazon DSP side (job amazon_sync): what is sent, the Amazon ids stored as they come
// back, and the `processing` state around a sync. SQL only: service::AmazonService applies the
// status machine and calls the `tx` functions inside its transaction. Blocking.
//
//   CampaignSyncStore sync(db);
//   auto src = sync.source(id);                        // nullopt: unknown campaign
//   sync.store_amazon_campaign_id(id, "581...");       // its own short transaction

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

// One association as the sync sends it (each becomes one ad group).
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

// A campaign's status and the status it shows again after a sync (locked FOR UPDATE).
struct SyncRow {
  std::string status;
  std::optional<std::string> status_before_sync;
};

class CampaignSyncStore {
 public:
  explicit CampaignSyncStore(Database& db) : db_(db) {}

  std::optional<SyncSource> source(const std::string& id);
  // Each Amazon id is stored the moment Amazon returns it, in its own transaction.
  void store_amazon_campaign_id(const std::string& id, const std::string& amazon_campaign_id);
  void store_amazon_ad_group_id(const std::string& id, const std::string& creative_id,
                                const std::string& amazon_ad_group_id);
  void mark_amazon_associated(const std::string& id, const std::string& creative_id);

  // --- in the caller's transaction ---
  static std::optional<SyncRow> lock(pqxx::transaction_base& tx, const std::string& id);
  // status `processing`, sync_status `syncing`, remembering `back`; a `status_change` entry.
  static void begin(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                    const std::string& back, std::string_view trigger, const std::string& actor);
  // status `to`, sync_status `synced`, last_synced_at now (spent = budget when `budget_spent`);
  // a `sync` entry of `changes`.
  static void succeeded(pqxx::transaction_base& tx, const std::string& id, const std::string& to,
                        bool budget_spent, const nlohmann::json& changes, const std::string& actor);
  // status `error`, sync_status `error`; a `sync_failed` entry of `changes`.
  static void failed(pqxx::transaction_base& tx, const std::string& id, const nlohmann::json& changes,
                     const std::string& actor);

 private:
  Database& db_;
};

}  // namespace kargo::store
