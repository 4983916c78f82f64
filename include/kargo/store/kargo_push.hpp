#pragma once
// A campaign's Kargo side (POST /api/integrations/kargo/push-campaign): what is pushed, and the
// Kargo campaign id it got. SQL only; service::KargoService decides create vs update. Blocking.
//
//   KargoPushStore pushes(db);
//   auto source = pushes.source(id);                          // nullopt: unknown campaign
//   auto doc = pushes.record(id, kargo_id, "created", actor);  // the campaign resource after it

#include <optional>
#include <string>
#include <vector>

namespace kargo::store {

class Database;

// What is sent to Kargo about a campaign.
struct KargoPushSource {
  std::string name, advertiser_id, start_date, end_date, goal_kpi;
  double budget = 0;
  std::vector<std::string> formats;  // of the associated creatives, for the default placement types
  std::optional<std::string> kargo_campaign_id;
};

class KargoPushStore {
 public:
  explicit KargoPushStore(Database& db) : db_(db) {}

  // A plain read: the push calls Kargo between this read and record(), and no transaction stays
  // open over a network call.
  std::optional<KargoPushSource> source(const std::string& id);
  // Stores `kargo_campaign_id` (a new one bumps the version) and writes the `kargo_push` audit
  // entry in the same transaction, under the row lock. Returns the resource; nullopt when the
  // campaign was deleted meanwhile. A Kargo id another campaign holds is a unique violation (409).
  std::optional<std::string> record(const std::string& id, const std::string& kargo_campaign_id,
                                    const std::string& action, const std::string& actor);

 private:
  Database& db_;
};

}  // namespace kargo::store
