#pragma once
// Kargo (contract section 6): Kargo's own campaigns (read through a short in-process cache) and
// pushing one of ours to Kargo (create or update, the Kargo id stored with an audit entry).
// Asynchronous: Kargo is called on the Kargo client's own I/O within the request's deadline, and
// only the database steps go to the database pool.
//
//   kargo.campaigns(offset, limit, call, [](Result<nlohmann::json> page) { ... });
//   kargo.push(body, call, [](Result<nlohmann::json> r) { ... });   // {campaign_id, action, ...}

#include <memory>
#include <nlohmann/json.hpp>

#include "kargo/core/result.hpp"
#include "kargo/service/call.hpp"

namespace kargo::store {
class KargoPushStore;
}
namespace kargo::upstream {
class KargoClient;
}

namespace kargo::service {

class CampaignService;

class KargoService {
 public:
  KargoService(upstream::KargoClient& kargo, store::KargoPushStore& pushes, CampaignService& campaigns,
               BlockingPool& pool);
  ~KargoService();

  bool configured() const;
  // Items [offset, offset + limit) of Kargo's campaign list: {"campaigns", total, limit, offset,
  // fetched_at}. 503 when KARGO_API_KEY is not set.
  void campaigns(size_t offset, size_t limit, const Call& call, Completion<nlohmann::json> done);
  // POST /api/integrations/kargo/push-campaign: {campaign_id, kargo_campaign_id, action
  // (created | updated | recreated), campaign}. Validation errors throw before anything starts.
  void push(const nlohmann::json& body, const Call& call, Completion<nlohmann::json> done);

 private:
  struct Cache;
  upstream::KargoClient& kargo_;
  store::KargoPushStore& pushes_;
  CampaignService& campaigns_;
  BlockingPool& pool_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace kargo::service
