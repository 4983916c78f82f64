#include "kargo/store/kargo_push.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "kargo/store/audit.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

constexpr const char* kKargoPushSource =
    "SELECT c.name, c.advertiser_id, to_char(c.start_date, 'YYYY-MM-DD'), to_char(c.end_date, 'YYYY-MM-DD'), "
    "c.goal_kpi, c.budget::float8, c.kargo_campaign_id, "
    "(SELECT coalesce(string_agg(DISTINCT cr.format, ',' ORDER BY cr.format), '') FROM campaign_creatives cc "
    "JOIN creatives cr ON cr.id = cc.creative_id WHERE cc.campaign_id = c.id) "
    "FROM campaigns c WHERE c.id = $1";

constexpr const char* kLockKargo = "SELECT kargo_campaign_id FROM campaigns WHERE id = $1 FOR UPDATE";

constexpr const char* kSetKargoId =
    "UPDATE campaigns SET kargo_campaign_id = $2, version = version + 1, updated_at = clock_timestamp() "
    "WHERE id = $1";

}  // namespace

std::optional<KargoPushSource> KargoPushStore::source(const std::string& id) {
  std::optional<KargoPushSource> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kKargoPushSource, id);
    if (rows.empty()) return;
    const auto& r = rows[0];
    KargoPushSource s{r[0].as<std::string>(),
                      r[1].as<std::string>(),
                      r[2].as<std::string>(),
                      r[3].as<std::string>(),
                      r[4].as<std::string>(),
                      r[5].as<double>(),
                      {},
                      std::nullopt};
    if (!r[6].is_null()) s.kargo_campaign_id = r[6].as<std::string>();
    std::string formats = r[7].as<std::string>();
    for (size_t start = 0; start < formats.size();) {
      auto comma = formats.find(',', start);
      if (comma == std::string::npos) comma = formats.size();
      s.formats.push_back(formats.substr(start, comma - start));
      start = comma + 1;
    }
    out = std::move(s);
  });
  return out;
}

std::optional<std::string> KargoPushStore::record(const std::string& id, const std::string& kargo_campaign_id,
                                                  const std::string& action, const std::string& actor) {
  std::optional<std::string> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kLockKargo, id);
    if (rows.empty()) return;
    std::optional<std::string> before;
    if (!rows[0][0].is_null()) before = rows[0][0].as<std::string>();
    json changes{{"action", action}, {"kargo_campaign_id", kargo_campaign_id}};
    if (before != kargo_campaign_id) {
      tx.exec_params(kSetKargoId, id, kargo_campaign_id);
      changes["kargo_campaign_id"] = {{"from", before ? json(*before) : json()}, {"to", kargo_campaign_id}};
    }
    write_audit(tx, "campaign", id, "kargo_push", actor, changes);
    out = CampaignStore::load(tx, id);
  });
  return out;
}

}  // namespace kargo::store
