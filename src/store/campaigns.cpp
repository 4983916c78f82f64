#include "kargo/store/campaigns.hpp"

#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/store/audit.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// The resource as JSON text, built by PostgreSQL: the API passes it through without parsing.
// `creatives` is added for the detail view only (kDetail).
#define KARGO_CAMPAIGN_FIELDS \
  "'id', c.id, 'name', c.name, 'advertiser_id', c.advertiser_id, 'status', c.status, 'phase', c.phase, "       \
  "'viewability_phase', c.viewability_phase, 'viewability_config', c.viewability_config, "                     \
  "'goal_kpi', c.goal_kpi, 'budget', c.budget::float8, 'spent', c.spent::float8, "                            \
  "'remaining_budget', (c.budget - c.spent)::float8, 'currency', c.currency, "                                 \
  "'start_date', to_char(c.start_date, 'YYYY-MM-DD'), 'end_date', to_char(c.end_date, 'YYYY-MM-DD'), "         \
  "'targeting', c.targeting, 'bidding', c.bidding, "                                                           \
  "'creative_count', (SELECT count(*) FROM campaign_creatives cc WHERE cc.campaign_id = c.id), "              \
  "'performance', (SELECT campaign_performance(coalesce(sum(d.impressions), 0)::bigint, "                     \
  "coalesce(sum(d.clicks), 0)::bigint, coalesce(sum(d.conversions), 0)::bigint, coalesce(sum(d.spend), 0)) "  \
  "FROM campaign_performance_daily d WHERE d.campaign_id = c.id), "                                            \
  "'amazon_campaign_id', c.amazon_campaign_id, 'kargo_campaign_id', c.kargo_campaign_id, "                     \
  "'sync_status', c.sync_status, 'last_synced_at', " KARGO_TS("c.last_synced_at") ", "                         \
  "'version', c.version, 'created_at', " KARGO_TS("c.created_at") ", 'updated_at', " KARGO_TS("c.updated_at")

constexpr const char* kSummary = "json_build_object(" KARGO_CAMPAIGN_FIELDS ")";

constexpr const char* kDetail =
    "SELECT json_build_object(" KARGO_CAMPAIGN_FIELDS
    ", 'creatives', (SELECT coalesce(json_agg(json_build_object("
    "'id', cr.id, 'name', cr.name, 'format', cr.format, 'status', cr.status, "
    "'amazon_dsp_ready', cr.amazon_dsp_ready, "
    "'performance', (SELECT json_build_object('impressions', p->'impressions', 'clicks', p->'clicks', "
    "'ctr', p->'ctr') FROM (SELECT campaign_performance(coalesce(sum(d.impressions), 0)::bigint, "
    "coalesce(sum(d.clicks), 0)::bigint, 0, 0) AS p FROM creative_performance_daily d "
    "WHERE d.campaign_id = c.id AND d.creative_id = cr.id) s), "
    "'ad_group', json_build_object('name', cc.ad_group_name, 'type', cc.ad_group_type, "
    "'budget', cc.budget::float8, 'bid', cc.bid::float8, 'status', cc.status, "
    "'amazon_ad_group_id', cc.amazon_ad_group_id)) ORDER BY cc.created_at, cr.id), '[]') "
    "FROM campaign_creatives cc JOIN creatives cr ON cr.id = cc.creative_id WHERE cc.campaign_id = c.id)"
    ")::text FROM campaigns c WHERE c.id = $1";

constexpr const char* kLock = "SELECT status, version, spent::float8 FROM campaigns WHERE id = $1 FOR UPDATE";

constexpr const char* kInsert =
    "INSERT INTO campaigns (id, name, advertiser_id, phase, viewability_phase, viewability_config, goal_kpi, "
    "budget, currency, start_date, end_date, targeting, bidding, created_by) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::date, $11::date, $12::jsonb, $13::jsonb, $14)";

constexpr const char* kSetStatus =
    "UPDATE campaigns SET status = $2, version = version + 1, updated_at = clock_timestamp() WHERE id = $1";

constexpr const char* kDelete = "DELETE FROM campaigns WHERE id = $1";

constexpr const char* kCreativeForAssociation =
    "SELECT id, name, media_type, device_type, status, processed_code IS NOT NULL, amazon_dsp_ready "
    "FROM creatives WHERE id = $1 FOR SHARE";

constexpr const char* kAssociate =
    "INSERT INTO campaign_creatives (campaign_id, creative_id, ad_group_name, ad_group_type, bid) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id, creative_id) DO NOTHING RETURNING 1";

constexpr const char* kDissociate =
    "DELETE FROM campaign_creatives WHERE campaign_id = $1 AND creative_id = $2 RETURNING 1";

constexpr const char* kHasReadyCreative =
    "SELECT EXISTS (SELECT 1 FROM campaign_creatives cc JOIN creatives cr ON cr.id = cc.creative_id "
    "WHERE cc.campaign_id = $1 AND cr.amazon_dsp_ready)";

constexpr const char* kTouch =
    "UPDATE campaigns SET version = version + 1, updated_at = clock_timestamp() WHERE id = $1";

constexpr const char* kHistory =
    "SELECT (SELECT coalesce(json_agg(json_build_object('action', a.action, 'actor', a.actor, "
    "'changes', a.changes, 'at', " KARGO_TS("a.at") ") ORDER BY a.at DESC, a.id DESC), '[]')::text "
    "FROM (SELECT * FROM audit_log WHERE entity_type = 'campaign' AND entity_id = $1 "
    "ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3) a), "
    "(SELECT count(*) FROM audit_log WHERE entity_type = 'campaign' AND entity_id = $1)";

constexpr const char* kExists = "SELECT 1 FROM campaigns WHERE id = $1";

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

constexpr const char* kSyncSucceeded =
    "UPDATE campaigns SET status = $2, status_before_sync = NULL, sync_status = 'synced', "
    "last_synced_at = clock_timestamp(), spent = CASE WHEN $3 THEN budget ELSE spent END, "
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

constexpr const char* kActiveIds =
    "SELECT id FROM campaigns WHERE status = 'active' ORDER BY created_at, id LIMIT 10000";

constexpr const char* kClaimTick =
    "INSERT INTO periodic_ticks (name, bucket) "
    "VALUES ($1, floor(extract(epoch FROM clock_timestamp()) / $2)::bigint) "
    "ON CONFLICT DO NOTHING RETURNING bucket";

constexpr const char* kTickJobBusy =
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND created_by = $2 AND status IN ('queued', "
    "'running'))";

Error not_found(const std::string& id) { return Error(codes::kNotFound, "campaign " + id + " not found"); }

std::string load(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kDetail, id);
  if (rows.empty()) throw not_found(id);
  return rows[0][0].as<std::string>();
}

struct Locked {
  std::string status;
  int64_t version;
  double spent;
};

Locked lock(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kLock, id);
  if (rows.empty()) throw not_found(id);
  return {rows[0][0].as<std::string>(), rows[0][1].as<int64_t>(), rows[0][2].as<double>()};
}

Error transition_refused(const std::string& from, std::string_view to) {
  return Error(codes::kConflict,
               "campaign status cannot change from '" + from + "' to '" + std::string(to) + "'");
}

void set_status(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                std::string_view to, domain::Trigger trigger, const std::string& actor) {
  tx.exec_params(kSetStatus, id, std::string(to));
  write_audit(tx, "campaign", id, "status_change", actor,
              {{"status", {{"from", from}, {"to", to}}}, {"trigger", domain::trigger_name(trigger)}});
}

// draft -> ready once a ready creative is associated; ready -> draft when none is left.
void settle(pqxx::transaction_base& tx, const std::string& id, const std::string& actor) {
  auto current = lock(tx, id);
  bool ready = tx.exec_params1(kHasReadyCreative, id)[0].as<bool>();
  if (current.status == "draft" && ready) {
    set_status(tx, id, "draft", "ready", domain::Trigger::kAutomatic, actor);
  } else if (current.status == "ready" && !ready) {
    set_status(tx, id, "ready", "draft", domain::Trigger::kAutomatic, actor);
  }
}

std::string ad_group_type(const std::string& media_type, const std::string& device_type) {
  if (media_type == "video") return device_type == "ctv" ? "STREAMING_TV" : "ONLINE_VIDEO";
  if (media_type == "audio") return "AUDIO";
  return "DISPLAY";
}

// Associates each creative (in order; the first problem stops the transaction).
void add_creatives(pqxx::transaction_base& tx, const std::string& id, const std::string& campaign_name,
                   double max_bid, const std::vector<std::string>& creative_ids, const std::string& actor) {
  json added = json::array();
  for (size_t i = 0; i < creative_ids.size(); ++i) {
    const auto& cid = creative_ids[i];
    auto rows = tx.exec_params(kCreativeForAssociation, cid);
    if (rows.empty()) throw Error(codes::kNotFound, "creative " + cid + " not found");
    const auto& r = rows[0];
    auto status = r[4].as<std::string>();
    if (status == "failed" || !r[5].as<bool>()) {
      throw Error::validation({{"creative_ids[" + std::to_string(i) + "]",
                                "creative " + cid + " is not processed (status " + status + ")"}});
    }
    std::string name = campaign_name + " - " + r[1].as<std::string>();
    if (name.size() > 255) name.resize(255);
    auto inserted = tx.exec_params(kAssociate, id, cid, name,
                                   ad_group_type(r[2].as<std::string>(), r[3].as<std::string>()), max_bid);
    if (!inserted.empty()) added.push_back(cid);
  }
  if (!added.empty()) {
    tx.exec_params(kTouch, id);
    write_audit(tx, "campaign", id, "associate_creatives", actor, {{"creative_ids", added}});
  }
}

}  // namespace

std::string CampaignStore::create_in(pqxx::transaction_base& tx, const json& fields,
                                     const std::vector<std::string>& creative_ids, const std::string& actor) {
  std::string id = random_id("camp_");
  tx.exec_params(kInsert, id, fields["name"].get<std::string>(), fields["advertiser_id"].get<std::string>(),
                 fields["phase"].get<std::string>(), fields["viewability_phase"].get<std::string>(),
                 fields["viewability_config"].dump(), fields["goal_kpi"].get<std::string>(),
                 fields["budget"].get<double>(), fields["currency"].get<std::string>(),
                 fields["start_date"].get<std::string>(), fields["end_date"].get<std::string>(),
                 fields["targeting"].dump(), fields["bidding"].dump(), actor);
  write_audit(tx, "campaign", id, "create", actor, fields);
  if (!creative_ids.empty()) {
    add_creatives(tx, id, fields["name"].get<std::string>(), fields["bidding"].value("max_bid", 1.0),
                  creative_ids, actor);
    settle(tx, id, actor);
  }
  return id;
}

std::string CampaignStore::create(const json& fields, const std::vector<std::string>& creative_ids,
                                  const std::string& actor, const std::optional<IdempotencyClaim>& claim,
                                  const Render& render) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out = load(tx, create_in(tx, fields, creative_ids, actor));
    if (claim && render) {
      auto [status, body] = render(out);
      record_idempotent_response(tx, *claim, status, body);
    }
  });
  return out;
}

std::optional<std::string> CampaignStore::load_in(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kDetail, id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

std::optional<std::string> CampaignStore::get(const std::string& id) { return fetch_text(db_, kDetail, id); }

CampaignPage CampaignStore::list(const CampaignFilter& f, size_t limit, size_t offset) {
  // Filters are bound parameters; a NULL parameter switches its condition off.
  const std::string where =
      "WHERE ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.phase = $2) "
      "AND ($3::text IS NULL OR c.viewability_phase = $3) AND ($4::text IS NULL OR c.advertiser_id = $4) "
      "AND ($5::text IS NULL OR lower(c.name) LIKE '%' || lower($5) || '%') ";
  // LIKE wildcards typed by the user are matched literally.
  std::optional<std::string> q;
  if (f.q) {
    std::string escaped;
    for (char ch : *f.q) {
      if (ch == '%' || ch == '_' || ch == '\\') escaped += '\\';
      escaped += ch;
    }
    q = escaped;
  }
  const std::string sql = newest_first_page_sql("campaigns", "c", where, kSummary, 6);
  CampaignPage page;
  db_.transact([&](pqxx::transaction_base& tx) {
    page = read_page(
        tx.exec_params1(sql, f.status, f.phase, f.viewability_phase, f.advertiser_id, q, limit, offset));
  });
  return page;
}

bool CampaignStore::update_in(pqxx::transaction_base& tx, const std::string& id, const json& body,
                              std::optional<int64_t> expected_version, const std::string& actor) {
  auto locked = lock(tx, id);
  if (expected_version && *expected_version != locked.version) {
    throw Error(codes::kConflict, "campaign " + id + " is at version " + std::to_string(locked.version) +
                                      ", not " + std::to_string(*expected_version) + "; reload and retry");
  }
  json current = json::parse(load(tx, id));
  json change = domain::validate_campaign_update(body, current);
  if (change.contains("status")) {
    std::string to = change["status"];
    if (!domain::transition_allowed(locked.status, to, domain::Trigger::kUpdate)) {
      throw transition_refused(locked.status, to);
    }
  }
  if (change.empty()) return false;
  // Each changed column is set from the JSON document of changes, so the statement is fixed.
  tx.exec_params(
      "UPDATE campaigns SET "
      "name = coalesce($2::jsonb->>'name', name), "
      "budget = coalesce(($2::jsonb->>'budget')::numeric, budget), "
      "goal_kpi = coalesce($2::jsonb->>'goal_kpi', goal_kpi), "
      "start_date = coalesce(($2::jsonb->>'start_date')::date, start_date), "
      "end_date = coalesce(($2::jsonb->>'end_date')::date, end_date), "
      "targeting = coalesce($2::jsonb->'targeting', targeting), "
      "bidding = coalesce($2::jsonb->'bidding', bidding), "
      "status = coalesce($2::jsonb->>'status', status), "
      "version = version + 1, updated_at = clock_timestamp() WHERE id = $1",
      id, change.dump());
  json audit = json::object();
  for (auto& [key, value] : change.items()) audit[key] = {{"from", current[key]}, {"to", value}};
  write_audit(tx, "campaign", id, "update", actor, audit);
  return true;
}

std::string CampaignStore::update(const std::string& id, const json& body,
                                  std::optional<int64_t> expected_version, const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    update_in(tx, id, body, expected_version, actor);
    out = load(tx, id);
  });
  return out;
}

void CampaignStore::update_line_item_in(pqxx::transaction_base& tx, const std::string& id,
                                        const std::string& creative_id, std::optional<double> budget,
                                        const std::optional<std::string>& status, const std::string& actor) {
  lock(tx, id);
  auto before = tx.exec_params(
      "SELECT budget::float8, status FROM campaign_creatives WHERE campaign_id = $1 AND creative_id = $2 "
      "FOR UPDATE",
      id, creative_id);
  if (before.empty()) {
    throw Error(codes::kNotFound, "creative " + creative_id + " is not associated with campaign " + id);
  }
  tx.exec_params(
      "UPDATE campaign_creatives SET budget = coalesce($3::numeric, budget), status = coalesce($4, status) "
      "WHERE campaign_id = $1 AND creative_id = $2",
      id, creative_id, budget, status);
  json changes = {{"creative_id", creative_id}};
  if (budget) {
    json from = before[0][0].is_null() ? json(nullptr) : json(before[0][0].as<double>());
    changes["budget"] = {{"from", from}, {"to", *budget}};
  }
  if (status) changes["status"] = {{"from", before[0][1].as<std::string>()}, {"to", *status}};
  tx.exec_params(kTouch, id);
  write_audit(tx, "campaign", id, "update_line_item", actor, changes);
}

void CampaignStore::remove(const std::string& id, const std::string& actor) {
  db_.transact([&](pqxx::transaction_base& tx) {
    auto locked = lock(tx, id);
    if (locked.status == "active") {
      throw Error(codes::kConflict, "campaign " + id + " is active; pause it before deleting it");
    }
    if (locked.status == "processing") {
      throw Error(codes::kConflict, "campaign " + id + " is being synced; try again when the sync ends");
    }
    tx.exec_params(kDelete, id);
    write_audit(tx, "campaign", id, "delete", actor, {{"status", locked.status}});
  });
}

std::string CampaignStore::transition(const std::string& id, std::string_view to, domain::Trigger trigger,
                                      const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto locked = lock(tx, id);
    if (!domain::transition_allowed(locked.status, to, trigger)) throw transition_refused(locked.status, to);
    set_status(tx, id, locked.status, to, trigger, actor);
    out = load(tx, id);
  });
  return out;
}

void CampaignStore::associate_in(pqxx::transaction_base& tx, const std::string& id,
                                 const std::vector<std::string>& creative_ids, const std::string& actor) {
  lock(tx, id);
  auto row = tx.exec_params1("SELECT name, (bidding->>'max_bid')::float8 FROM campaigns WHERE id = $1", id);
  add_creatives(tx, id, row[0].as<std::string>(), row[1].is_null() ? 1.0 : row[1].as<double>(), creative_ids,
                actor);
  settle(tx, id, actor);
}

void CampaignStore::touch(pqxx::transaction_base& tx, const std::string& id) { tx.exec_params(kTouch, id); }

void CampaignStore::settle_readiness(pqxx::transaction_base& tx, const std::string& id,
                                     const std::string& actor) {
  settle(tx, id, actor);
}

std::string CampaignStore::associate(const std::string& id, const std::vector<std::string>& creative_ids,
                                     const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    associate_in(tx, id, creative_ids, actor);
    out = load(tx, id);
  });
  return out;
}

std::string CampaignStore::dissociate(const std::string& id, const std::string& creative_id,
                                      const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    lock(tx, id);
    if (tx.exec_params(kDissociate, id, creative_id).empty()) {
      throw Error(codes::kNotFound, "creative " + creative_id + " is not associated with campaign " + id);
    }
    tx.exec_params(kTouch, id);
    write_audit(tx, "campaign", id, "dissociate_creative", actor, {{"creative_id", creative_id}});
    settle(tx, id, actor);
    out = load(tx, id);
  });
  return out;
}

std::vector<std::string> CampaignStore::complete_ended() {
  std::vector<std::string> ids;
  db_.transact([&](pqxx::transaction_base& tx) {
    ids.clear();
    // SKIP LOCKED: a campaign being changed right now is picked up by the next tick.
    auto rows = tx.exec(
        "UPDATE campaigns c SET status = 'completed', version = version + 1, updated_at = clock_timestamp() "
        "FROM (SELECT id, status FROM campaigns WHERE end_date < (now() AT TIME ZONE 'UTC')::date "
        "AND status IN ('ready', 'active', 'paused') FOR UPDATE SKIP LOCKED LIMIT 500) old "
        "WHERE c.id = old.id RETURNING c.id, old.status");
    for (const auto& row : rows) {
      auto id = row[0].as<std::string>();
      write_audit(tx, "campaign", id, "status_change", "system",
                  {{"status", {{"from", row[1].as<std::string>()}, {"to", "completed"}}},
                   {"trigger", domain::trigger_name(domain::Trigger::kEndDate)}});
      ids.push_back(std::move(id));
    }
  });
  return ids;
}

std::optional<KargoPushSource> CampaignStore::kargo_push_source(const std::string& id) {
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

std::string CampaignStore::record_kargo_push(const std::string& id, const std::string& kargo_campaign_id,
                                             const std::string& action, const std::string& actor) {
  std::string out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto rows = tx.exec_params(kLockKargo, id);
    if (rows.empty()) throw not_found(id);
    std::optional<std::string> before;
    if (!rows[0][0].is_null()) before = rows[0][0].as<std::string>();
    json changes{{"action", action}, {"kargo_campaign_id", kargo_campaign_id}};
    if (before != kargo_campaign_id) {
      tx.exec_params(kSetKargoId, id, kargo_campaign_id);
      changes["kargo_campaign_id"] = {{"from", before ? json(*before) : json()}, {"to", kargo_campaign_id}};
    }
    write_audit(tx, "campaign", id, "kargo_push", actor, changes);
    out = load(tx, id);
  });
  return out;
}

std::optional<SyncSource> CampaignStore::sync_source(const std::string& id) {
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

std::optional<std::string> CampaignStore::begin_sync(const std::string& id, const std::string& actor) {
  std::optional<std::string> before;
  db_.transact([&](pqxx::transaction_base& tx) {
    before.reset();
    auto rows = tx.exec_params(kLockForSync, id);
    if (rows.empty()) return;
    auto status = rows[0][0].as<std::string>();
    std::optional<std::string> remembered;
    if (!rows[0][1].is_null()) remembered = rows[0][1].as<std::string>();
    if (status == "processing") {  // a retried job: the first attempt already switched it
      before = remembered.value_or("draft");
      return;
    }
    if (!domain::transition_allowed(status, "processing", domain::Trigger::kSyncStart)) return;
    // From `error` the campaign goes back to what it was before the failed sync, not to `error`.
    std::string back = status;
    if (status == "error") {
      back = remembered.value_or(tx.exec_params1(kHasReadyCreative, id)[0].as<bool>() ? "ready" : "draft");
    }
    tx.exec_params(kBeginSync, id, back);
    write_audit(tx, "campaign", id, "status_change", actor,
                {{"status", {{"from", status}, {"to", "processing"}}},
                 {"trigger", domain::trigger_name(domain::Trigger::kSyncStart)}});
    before = back;
  });
  return before;
}

void CampaignStore::store_amazon_campaign_id(const std::string& id, const std::string& amazon_campaign_id) {
  db_.transact(
      [&](pqxx::transaction_base& tx) { tx.exec_params(kStoreAmazonCampaignId, id, amazon_campaign_id); });
}

void CampaignStore::store_amazon_ad_group_id(const std::string& id, const std::string& creative_id,
                                             const std::string& amazon_ad_group_id) {
  db_.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params(kStoreAdGroupId, id, creative_id, amazon_ad_group_id);
  });
}

void CampaignStore::mark_amazon_associated(const std::string& id, const std::string& creative_id) {
  db_.transact([&](pqxx::transaction_base& tx) { tx.exec_params(kMarkAssociated, id, creative_id); });
}

void CampaignStore::finish_sync(const std::string& id, const SyncOutcome& outcome, const std::string& actor) {
  db_.transact([&](pqxx::transaction_base& tx) {
    auto rows = tx.exec_params(kLockForSync, id);
    if (rows.empty() || rows[0][0].as<std::string>() != "processing") return;
    std::string back = rows[0][1].is_null() ? "draft" : rows[0][1].as<std::string>();
    std::string to = outcome.ok ? outcome.mirrored_status.value_or(back) : "error";
    if (!domain::transition_allowed("processing", to, domain::Trigger::kSyncEnd)) to = back;
    json changes{{"status", {{"from", "processing"}, {"to", to}}},
                 {"trigger", domain::trigger_name(domain::Trigger::kSyncEnd)},
                 {"sync_status", outcome.ok ? "synced" : "error"}};
    if (!outcome.reason.empty()) changes["reason"] = outcome.reason;
    if (outcome.budget_spent) changes["spent"] = "budget spent at Amazon DSP";
    for (auto& [key, value] : outcome.details.items()) changes[key] = value;
    if (outcome.ok) {
      tx.exec_params(kSyncSucceeded, id, to, outcome.budget_spent);
    } else {
      tx.exec_params(kSyncFailed, id);
    }
    write_audit(tx, "campaign", id, outcome.ok ? "sync" : "sync_failed", actor, changes);
  });
}

std::vector<std::string> CampaignStore::active_ids() {
  std::vector<std::string> ids;
  db_.transact([&](pqxx::transaction_base& tx) {
    ids.clear();
    for (const auto& row : tx.exec(kActiveIds)) ids.push_back(row[0].as<std::string>());
  });
  return ids;
}

std::optional<std::string> CampaignStore::enqueue_tick(const std::string& name, int64_t interval_seconds,
                                                       const std::string& kind, int max_attempts) {
  std::optional<std::string> job_id;
  db_.transact([&](pqxx::transaction_base& tx) {
    job_id.reset();
    auto claimed = tx.exec_params(kClaimTick, name, static_cast<double>(interval_seconds));
    if (claimed.empty()) return;  // another instance had this tick
    const std::string actor = "system:" + name;
    if (tx.exec_params1(kTickJobBusy, kind, actor)[0].as<bool>()) return;
    std::vector<std::string> ids;
    for (const auto& row : tx.exec(kActiveIds)) ids.push_back(row[0].as<std::string>());
    if (ids.empty()) return;
    auto bucket = claimed[0][0].as<int64_t>();
    job_id = JobStore::enqueue(tx, kind, {{"campaign_ids", ids}, {"trigger", name}, {"tick", bucket}}, actor,
                               max_attempts);
    tx.exec_params("UPDATE periodic_ticks SET job_id = $3 WHERE name = $1 AND bucket = $2", name, bucket,
                   *job_id);
  });
  return job_id;
}

std::optional<std::string> CampaignStore::last_synced_at() {
  std::optional<std::string> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = tx.exec1("SELECT " KARGO_TS("max(last_synced_at)") " FROM campaigns");
    out = row[0].is_null() ? std::nullopt : std::optional<std::string>(row[0].as<std::string>());
  });
  return out;
}

CampaignPage CampaignStore::history(const std::string& id, size_t limit, size_t offset) {
  CampaignPage page;
  db_.transact([&](pqxx::transaction_base& tx) {
    if (tx.exec_params(kExists, id).empty()) throw not_found(id);
    page = read_page(tx.exec_params1(kHistory, id, limit, offset));
  });
  return page;
}

}  // namespace kargo::store
