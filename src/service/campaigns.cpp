#include "kargo/service/campaigns.hpp"

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/list_json.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/idempotency.hpp"
#include "kargo/store/resource_cache.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using store::CampaignStore;

Error transition_refused(const std::string& from, std::string_view to) {
  return Error(codes::kConflict, "campaign status " + domain::status_change_refused(from, to));
}

store::LockedCampaign lock(pqxx::transaction_base& tx, const std::string& id) {
  auto row = CampaignStore::lock(tx, id);
  if (!row) throw Error::not_found("campaign", id);
  return *row;
}

std::string load(pqxx::transaction_base& tx, const std::string& id) {
  auto doc = CampaignStore::load(tx, id);
  if (!doc) throw Error::not_found("campaign", id);
  return *doc;
}

void set_status(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                const std::string& to, domain::Trigger trigger, const std::string& actor) {
  CampaignStore::set_status(tx, id, from, to, domain::trigger_name(trigger), actor);
}

// `creative_ids` of a body: an optional array of 1-64 character strings, at most 100.
std::vector<std::string> read_creative_ids(Validator& v, bool required) {
  auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = required});
  if (ids && ids->size() > 100) v.add("creative_ids", "must hold at most 100 ids");
  if (ids && required && ids->empty()) v.add("creative_ids", "must not be empty");
  return ids.value_or(std::vector<std::string>{});
}

// Associates each creative (in order; the first problem stops the transaction).
void add_creatives(pqxx::transaction_base& tx, const std::string& id, const std::string& campaign_name,
                   double max_bid, const std::vector<std::string>& creative_ids, const std::string& actor) {
  json added = json::array();
  for (size_t i = 0; i < creative_ids.size(); ++i) {
    const auto& cid = creative_ids[i];
    auto creative = CampaignStore::creative_for_association(tx, cid);
    if (!creative) throw Error::not_found("creative", cid);
    if (creative->status == "failed" || !creative->processed) {
      throw Error::validation({{"creative_ids[" + std::to_string(i) + "]",
                                "creative " + cid + " is not processed (status " + creative->status + ")"}});
    }
    std::string name = campaign_name + " - " + creative->name;
    if (name.size() > 255) name.resize(255);
    if (CampaignStore::add_association(tx, id, cid, name,
                                       domain::ad_group_type(creative->media_type, creative->device_type),
                                       max_bid)) {
      added.push_back(cid);
    }
  }
  if (!added.empty()) CampaignStore::record_associations(tx, id, added, actor);
}

}  // namespace

void require_campaign_id(const std::string& id) {
  if (!is_resource_id(id, "camp_")) throw Error::not_found("campaign", id);
}

std::string cache_key(const CampaignQuery& q) {
  const auto& f = q.filter;
  return page_key(q.limit, q.offset, {&f.status, &f.phase, &f.viewability_phase, &f.advertiser_id, &f.q});
}

CampaignService::CampaignService(store::Database& db, store::CampaignStore& store, store::ResourceCache& cache,
                                 std::vector<store::ResourceCache*> dependent_pages)
    : db_(db), store_(store), cache_(cache), dependent_pages_(std::move(dependent_pages)) {}

void CampaignService::retire(const std::string& id) {
  cache_.invalidate(id);
  for (auto* pages : dependent_pages_) pages->invalidate_pages();
}

std::string CampaignService::create_in(pqxx::transaction_base& tx, const json& fields,
                                       const std::vector<std::string>& creative_ids, const std::string& actor) {
  std::string id = CampaignStore::insert(tx, fields, actor);
  if (!creative_ids.empty()) {
    add_creatives(tx, id, fields["name"].get<std::string>(), fields["bidding"].value("max_bid", 1.0),
                  creative_ids, actor);
    settle_readiness(tx, id, actor);
  }
  return id;
}

std::string CampaignService::create(const json& body, const std::string& actor,
                                    const std::optional<IdempotencyClaim>& claim, const RenderAnswer& render) {
  Validator v(body);
  auto ids = read_creative_ids(v, false);
  json fields;
  try {
    fields = domain::validate_new_campaign(body, today_utc());
  } catch (const Error& e) {
    // One 422 with the campaign's fields and the creative_ids problems together.
    for (const auto& d : e.details()) v.add(d.field, d.message);
  }
  v.check();
  std::string out;
  if (ids.empty()) {
    // The common case, in one round trip: the row, its audit entry and the Idempotency-Key answer
    // in one statement. The answer is rendered around a marker and split, so the store puts the
    // resource between the halves without building an envelope of its own.
    std::optional<store::CampaignStore::AnswerTemplate> answer;
    bool plain = !claim || !render;
    if (!plain) {
      constexpr std::string_view kMarker = "\x1e\x1e";
      auto around = render(std::string(kMarker));
      if (auto at = around.body.find(kMarker); at != std::string::npos) {
        answer = store::CampaignStore::AnswerTemplate{*claim, around.status, around.body.substr(0, at),
                                                      around.body.substr(at + kMarker.size())};
      }
    }
    if (plain || answer) {
      out = store_.create(fields, actor, answer);
      cache_.invalidate_pages();  // no creative changed: the creative pages stay
      return out;
    }
  }
  db_.transact([&](pqxx::transaction_base& tx) {
    out = load(tx, create_in(tx, fields, ids, actor));
    if (claim && render) {
      auto answer = render(out);
      store::record_idempotent_response(tx, *claim, answer.status, answer.body);
    }
  });
  cache_.invalidate_pages();
  for (auto* pages : dependent_pages_) pages->invalidate_pages();  // e.g. creatives gained a campaign
  return out;
}

void CampaignService::cached(const std::string& id, std::function<void(Cached)> done) {
  cache_.get_async(id, [done = std::move(done)](store::ResourceCache::Lookup hit) {
    done({std::move(hit.value), std::move(hit.generation)});
  });
}

std::string CampaignService::get(const std::string& id) { return get(id, cache_.generation(id)); }

std::string CampaignService::get(const std::string& id, const std::optional<std::string>& generation) {
  auto doc = store_.get(id);
  if (!doc) throw Error::not_found("campaign", id);
  cache_.put(id, generation, *doc);
  return *doc;
}

void CampaignService::cached_page(const CampaignQuery& query, std::function<void(Cached)> done) {
  lookup_page(cache_, cache_key(query), std::move(done));
}

std::string CampaignService::page(const CampaignQuery& query, const std::optional<std::string>& generation) {
  return keep_page(cache_, cache_key(query), generation, "campaigns",
                   store_.list(query.filter, query.limit, query.offset), query.limit, query.offset);
}

bool CampaignService::update_in(pqxx::transaction_base& tx, const std::string& id, const json& body,
                                std::optional<int64_t> expected_version, const std::string& actor) {
  auto locked = lock(tx, id);
  if (expected_version && *expected_version != locked.version) {
    throw Error(codes::kConflict, "campaign " + id + " is at version " + std::to_string(locked.version) +
                                      ", not " + std::to_string(*expected_version) + "; reload and retry");
  }
  json current = json::parse(load(tx, id));
  json change = domain::validate_campaign_update(body, current, today_utc());
  if (change.contains("status")) {
    std::string to = change["status"];
    if (!domain::transition_allowed(locked.status, to, domain::Trigger::kUpdate)) {
      throw transition_refused(locked.status, to);
    }
  }
  if (change.empty()) return false;
  json audit = json::object();
  for (auto& [key, value] : change.items()) audit[key] = {{"from", current[key]}, {"to", value}};
  CampaignStore::update(tx, id, change, audit, actor);
  return true;
}

std::string CampaignService::update(const std::string& id, const json& body,
                                    std::optional<int64_t> expected_version, const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    update_in(tx, id, body, expected_version, actor);
    out = load(tx, id);
  });
  retire(id);
  return out;
}

void CampaignService::update_line_item_in(pqxx::transaction_base& tx, const std::string& id,
                                          const std::string& creative_id, std::optional<double> budget,
                                          const std::optional<std::string>& status, const std::string& actor) {
  lock(tx, id);
  auto before = CampaignStore::lock_line_item(tx, id, creative_id);
  if (!before) {
    throw Error(codes::kNotFound, "creative " + creative_id + " is not associated with campaign " + id);
  }
  json changes = {{"creative_id", creative_id}};
  if (budget) changes["budget"] = {{"from", before->budget ? json(*before->budget) : json()}, {"to", *budget}};
  if (status) changes["status"] = {{"from", before->status}, {"to", *status}};
  CampaignStore::update_line_item(tx, id, creative_id, budget, status, changes, actor);
}

void CampaignService::remove(const std::string& id, const std::string& actor) {
  db_.transact([&](pqxx::transaction_base& tx) {
    auto locked = lock(tx, id);
    if (locked.status == "active") {
      throw Error(codes::kConflict, "campaign " + id + " is active; pause it before deleting it");
    }
    if (locked.status == "processing") {
      throw Error(codes::kConflict, "campaign " + id + " is being synced; try again when the sync ends");
    }
    CampaignStore::remove(tx, id, locked.status, actor);
  });
  retire(id);
}

std::string CampaignService::transition(const std::string& id, const std::string& to, domain::Trigger trigger,
                                        const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto locked = lock(tx, id);
    if (!domain::transition_allowed(locked.status, to, trigger)) throw transition_refused(locked.status, to);
    set_status(tx, id, locked.status, to, trigger, actor);
    out = load(tx, id);
  });
  retire(id);
  return out;
}

std::string CampaignService::activate(const std::string& id, const std::string& actor) {
  return transition(id, "active", domain::Trigger::kActivate, actor);
}

std::string CampaignService::pause(const std::string& id, const std::string& actor) {
  return transition(id, "paused", domain::Trigger::kPause, actor);
}

void CampaignService::associate_in(pqxx::transaction_base& tx, const std::string& id,
                                   const std::vector<std::string>& creative_ids, const std::string& actor) {
  auto locked = lock(tx, id);
  add_creatives(tx, id, locked.name, locked.max_bid, creative_ids, actor);
  settle_readiness(tx, id, actor);
}

void CampaignService::settle_readiness(pqxx::transaction_base& tx, const std::string& id,
                                       const std::string& actor) {
  auto current = lock(tx, id);
  bool ready = CampaignStore::has_ready_creative(tx, id);
  if (current.status == "draft" && ready) {
    set_status(tx, id, "draft", "ready", domain::Trigger::kAutomatic, actor);
  } else if (current.status == "ready" && !ready) {
    set_status(tx, id, "ready", "draft", domain::Trigger::kAutomatic, actor);
  }
}

std::string CampaignService::associate(const std::string& id, const std::vector<std::string>& creative_ids,
                                       const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    associate_in(tx, id, creative_ids, actor);
    out = load(tx, id);
  });
  retire(id);
  return out;
}

std::string CampaignService::dissociate(const std::string& id, const std::string& creative_id,
                                        const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    lock(tx, id);
    if (!CampaignStore::remove_association(tx, id, creative_id, actor)) {
      throw Error(codes::kNotFound, "creative " + creative_id + " is not associated with campaign " + id);
    }
    settle_readiness(tx, id, actor);
    out = load(tx, id);
  });
  retire(id);
  return out;
}

std::string CampaignService::history(const std::string& id, size_t limit, size_t offset) {
  auto page = store_.history(id, limit, offset);
  if (!page) throw Error::not_found("campaign", id);
  return list_json("history", page->items_json, page->total, limit, offset);
}

std::vector<std::string> CampaignService::complete_ended() {
  std::vector<std::string> ids;
  db_.transact([&](pqxx::transaction_base& tx) {
    // Every status the end date may end (the status machine's end-date transitions).
    std::vector<std::string> from;
    for (const auto& t : domain::status_transitions()) {
      if (t.trigger == domain::Trigger::kEndDate && t.to == "completed") from.emplace_back(t.from);
    }
    ids = CampaignStore::complete_ended(tx, from, "completed", domain::trigger_name(domain::Trigger::kEndDate));
  });
  for (const auto& id : ids) retire(id);
  return ids;
}

void CampaignService::flush_cache() {
  cache_.flush_pending();
  for (auto* pages : dependent_pages_) pages->flush_pending();
}
void CampaignService::invalidate(const std::string& id) { retire(id); }
void CampaignService::invalidate(const std::vector<std::string>& ids) {
  cache_.invalidate(ids);
  for (auto* pages : dependent_pages_) pages->invalidate_pages();
}
void CampaignService::invalidate_pages() { cache_.invalidate_pages(); }

}  // namespace kargo::service
