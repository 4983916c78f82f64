#include "kargo/store/campaign_sync.hpp"

#include <pqxx/pqxx>

#include "kargo/store/audit.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

constexpr const char* kSyncCampaign =
    "SELECT c.name, c.advertiser_id, c.status, to_char(c.start_date, 'YYYY-MM-DD'), "
    "to_char(c.end_date, 'YYYY-MM-DD'), c.goal_kpi, c.budget::float8, "
    "coalesce((c.bidding->>'max_bid')::float8, 1.0), c.amazon_campaign_id FROM campaigns c WHERE c.id = $1";

constexpr const char* kSyncAssociations =
    "SELECT cc.creative_id, cc.ad_group_name, cc.ad_group_type, cc.status, cc.budget::float8, "
    "cc.bid::float8, "
    "cc.amazon_ad_group_id, cr.amazon_creative_id, cc.amazon_associated FROM campaign_creatives cc "
    "JOIN creatives cr ON cr.id = cc.creative_id WHERE cc.campaign_id = $1 ORDER BY cc.created_at, cr.id";

constexpr const char* kLockForSync =
    "SELECT status, status_before_sync FROM campaigns WHERE id = $1 FOR UPDATE";

constexpr const char* kBeginSync =
    "UPDATE campaigns SET status = 'processing', status_before_sync = $2, sync_status = 'syncing', "
    "version = version + 1, updated_at = clock_timestamp() WHERE id = $1";

// Amazon's OUT_OF_BUDGET stands for `spent` only until a report was pulled: from then on `spent`
// is the sum of the reported spend, written by the pulls alone (docs/REPORTS.md).
constexpr const char* kSyncSucceeded =
    "UPDATE campaigns SET status = $2, status_before_sync = NULL, sync_status = 'synced', "
    "last_synced_at = clock_timestamp(), "
    "spent = CASE WHEN $3 AND report_pulled_at IS NULL THEN budget ELSE spent END, "
    "version = version + 1, updated_at = clock_timestamp() WHERE id = $1";

constexpr const char* kSyncFailed =
    "UPDATE campaigns SET status = 'error', sync_status = 'error', version = version + 1, "
    "updated_at = clock_timestamp() WHERE id = $1";

// Amazon ids are not resource changes a reader must see versioned: they are written while the
// campaign shows `processing`, and finish_sync() bumps the version once at the end.
constexpr const char* kStoreAmazonCampaignId =
    "UPDATE campaigns SET amazon_campaign_id = $2 WHERE id = $1 AND amazon_campaign_id IS DISTINCT FROM $2";

constexpr const char* kStoreAdGroupId =
    "UPDATE campaign_creatives SET amazon_ad_group_id = $3 WHERE campaign_id = $1 AND creative_id = $2";

constexpr const char* kMarkAssociated =
    "UPDATE campaign_creatives SET amazon_associated = true WHERE campaign_id = $1 AND creative_id = $2";

}  // namespace

std::optional<SyncSource> CampaignSyncStore::source(const std::string& id) {
  std::optional<SyncSource> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kSyncCampaign, id);
    if (rows.empty()) return;
    const auto& r = rows[0];
    SyncSource s;
    s.id = id;
    s.name = r[0].as<std::string>();
    s.advertiser_id = r[1].as<std::string>();
    s.status = r[2].as<std::string>();
    s.start_date = r[3].as<std::string>();
    s.end_date = r[4].as<std::string>();
    s.goal_kpi = r[5].as<std::string>();
    s.budget = r[6].as<double>();
    s.max_bid = r[7].as<double>();
    if (!r[8].is_null()) s.amazon_campaign_id = r[8].as<std::string>();
    for (const auto& a : tx.exec_params(kSyncAssociations, id)) {
      SyncAssociation item;
      item.creative_id = a[0].as<std::string>();
      item.ad_group_name = a[1].as<std::string>();
      item.ad_group_type = a[2].as<std::string>();
      item.status = a[3].as<std::string>();
      if (!a[4].is_null()) item.budget = a[4].as<double>();
      if (!a[5].is_null()) item.bid = a[5].as<double>();
      if (!a[6].is_null()) item.amazon_ad_group_id = a[6].as<std::string>();
      if (!a[7].is_null()) item.amazon_creative_id = a[7].as<std::string>();
      item.amazon_associated = a[8].as<bool>();
      s.associations.push_back(std::move(item));
    }
    out = std::move(s);
  });
  return out;
}

void CampaignSyncStore::store_amazon_campaign_id(const std::string& id, const std::string& amazon_campaign_id) {
  db_.transact(
      [&](pqxx::transaction_base& tx) { tx.exec_params(kStoreAmazonCampaignId, id, amazon_campaign_id); });
}

void CampaignSyncStore::store_amazon_ad_group_id(const std::string& id, const std::string& creative_id,
                                                 const std::string& amazon_ad_group_id) {
  db_.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params(kStoreAdGroupId, id, creative_id, amazon_ad_group_id);
  });
}

void CampaignSyncStore::mark_amazon_associated(const std::string& id, const std::string& creative_id) {
  db_.transact([&](pqxx::transaction_base& tx) { tx.exec_params(kMarkAssociated, id, creative_id); });
}

std::optional<SyncRow> CampaignSyncStore::lock(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kLockForSync, id);
  if (rows.empty()) return std::nullopt;
  SyncRow row{rows[0][0].as<std::string>(), std::nullopt};
  if (!rows[0][1].is_null()) row.status_before_sync = rows[0][1].as<std::string>();
  return row;
}

void CampaignSyncStore::begin(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                              const std::string& back, std::string_view trigger, const std::string& actor) {
  tx.exec_params(kBeginSync, id, back);
  write_audit(tx, "campaign", id, "status_change", actor,
              {{"status", {{"from", from}, {"to", "processing"}}}, {"trigger", trigger}});
}

void CampaignSyncStore::succeeded(pqxx::transaction_base& tx, const std::string& id, const std::string& to,
                                  bool budget_spent, const json& changes, const std::string& actor) {
  tx.exec_params(kSyncSucceeded, id, to, budget_spent);
  write_audit(tx, "campaign", id, "sync", actor, changes);
}

void CampaignSyncStore::failed(pqxx::transaction_base& tx, const std::string& id, const json& changes,
                               const std::string& actor) {
  tx.exec_params(kSyncFailed, id);
  write_audit(tx, "campaign", id, "sync_failed", actor, changes);
}

}  // namespace kargo::store
