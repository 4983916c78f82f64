#include "kargo/store/campaigns.hpp"

#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/store/audit.hpp"
#include "kargo/store/database.hpp"
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

constexpr const char* kInsertCampaign =
    "INSERT INTO campaigns (id, name, advertiser_id, phase, viewability_phase, viewability_config, goal_kpi, "
    "budget, currency, start_date, end_date, targeting, bidding, created_by) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::date, $11::date, $12::jsonb, $13::jsonb, $14)";

// A campaign without creatives in ONE statement (one round trip, atomic in autocommit): the row,
// its `create` audit entry and, when the request claimed an Idempotency-Key, the answer kept for
// replays ($17 || resource || $18, status $16; no row matches when $19 is NULL). The resource is
// built from the inserted row; a new campaign has no creatives and no performance rows yet.
constexpr const char* kCreateAlone =
    "WITH c AS (INSERT INTO campaigns (id, name, advertiser_id, phase, viewability_phase, viewability_config, "
    "goal_kpi, budget, currency, start_date, end_date, targeting, bidding, created_by) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::date, $11::date, $12::jsonb, $13::jsonb, $14) "
    "RETURNING *), "
    "audit AS (INSERT INTO audit_log (entity_type, entity_id, action, actor, changes) "
    "SELECT 'campaign', c.id, 'create', $14, $15::jsonb FROM c), "
    "resource AS (SELECT json_build_object(" KARGO_CAMPAIGN_FIELDS ", 'creatives', '[]'::json)::text AS doc FROM c), "
    "replay AS (UPDATE idempotency_keys k SET status = $16, response_body = $17 || r.doc || $18 FROM resource r "
    "WHERE k.actor = $19 AND k.key = $20) "
    "SELECT doc FROM resource";

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

constexpr const char* kActiveIds =
    "SELECT id FROM campaigns WHERE status = 'active' ORDER BY created_at, id LIMIT 10000";

constexpr const char* kLockRow =
    "SELECT status, version, spent::float8, name, coalesce((bidding->>'max_bid')::float8, 1.0) "
    "FROM campaigns WHERE id = $1 FOR UPDATE";

constexpr const char* kUpdateCampaign =
    "UPDATE campaigns SET "
    "name = coalesce($2::jsonb->>'name', name), "
    "budget = coalesce(($2::jsonb->>'budget')::numeric, budget), "
    "goal_kpi = coalesce($2::jsonb->>'goal_kpi', goal_kpi), "
    "start_date = coalesce(($2::jsonb->>'start_date')::date, start_date), "
    "end_date = coalesce(($2::jsonb->>'end_date')::date, end_date), "
    "targeting = coalesce($2::jsonb->'targeting', targeting), "
    "bidding = coalesce($2::jsonb->'bidding', bidding), "
    "status = coalesce($2::jsonb->>'status', status), "
    "version = version + 1, updated_at = clock_timestamp() WHERE id = $1";

constexpr const char* kLockLineItem =
    "SELECT budget::float8, status FROM campaign_creatives WHERE campaign_id = $1 AND creative_id = $2 "
    "FOR UPDATE";

constexpr const char* kUpdateLineItem =
    "UPDATE campaign_creatives SET budget = coalesce($3::numeric, budget), status = coalesce($4, status) "
    "WHERE campaign_id = $1 AND creative_id = $2";

constexpr const char* kCompleteEnded =
    "UPDATE campaigns c SET status = $2, version = version + 1, updated_at = clock_timestamp() "
    "FROM (SELECT id, status FROM campaigns WHERE end_date < (now() AT TIME ZONE 'UTC')::date "
    "AND status IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR UPDATE SKIP LOCKED LIMIT 500) old "
    "WHERE c.id = old.id RETURNING c.id, old.status";

}  // namespace

constexpr const char* kCreateStatement = "campaign_create";

CampaignStore::CampaignStore(Database& db) : db_(db) {
  // Filters are bound parameters; a NULL parameter switches its condition off.
  prepare_resource_reads(
      db, "campaign", kDetail, "campaigns", "c",
      "WHERE ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.phase = $2) "
      "AND ($3::text IS NULL OR c.viewability_phase = $3) AND ($4::text IS NULL OR c.advertiser_id = $4) "
      "AND ($5::text IS NULL OR lower(c.name) LIKE '%' || lower($5) || '%') ",
      kSummary, 6);
  db.prepare(kCreateStatement, kCreateAlone);
}

std::string CampaignStore::create(const json& fields, const std::string& actor,
                                  const std::optional<AnswerTemplate>& answer) {
  std::string id = random_id("camp_");
  std::optional<std::string> claim_actor, claim_key, prefix, suffix;
  std::optional<int> status;
  if (answer) {
    claim_actor = answer->claim.actor;
    claim_key = answer->claim.key;
    prefix = answer->prefix;
    suffix = answer->suffix;
    status = answer->status;
  }
  std::string out;
  // Not retried once sent: a write whose answer was lost may have committed.
  db_.once(
      [&](pqxx::transaction_base& tx) {
        out = tx.exec_prepared1(kCreateStatement, id, fields["name"].get<std::string>(),
                                fields["advertiser_id"].get<std::string>(), fields["phase"].get<std::string>(),
                                fields["viewability_phase"].get<std::string>(), fields["viewability_config"].dump(),
                                fields["goal_kpi"].get<std::string>(), fields["budget"].get<double>(),
                                fields["currency"].get<std::string>(), fields["start_date"].get<std::string>(),
                                fields["end_date"].get<std::string>(), fields["targeting"].dump(),
                                fields["bidding"].dump(), actor, fields.dump(), status, prefix, suffix,
                                claim_actor, claim_key)[0]
                  .as<std::string>();
      },
      std::nullopt, Database::Retry::kNever);
  return out;
}

std::optional<std::string> CampaignStore::get(const std::string& id) { return fetch_text(db_, "campaign_get", id); }

CampaignPage CampaignStore::list(const CampaignFilter& f, size_t limit, size_t offset) {
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
  return read_page_prepared(db_, "campaign_list", f.status, f.phase, f.viewability_phase, f.advertiser_id, q,
                            limit, offset);
}

std::optional<CampaignPage> CampaignStore::history(const std::string& id, size_t limit, size_t offset) {
  std::optional<CampaignPage> page;
  db_.transact([&](pqxx::transaction_base& tx) {
    page.reset();
    if (tx.exec_params(kExists, id).empty()) return;
    page = read_page(tx.exec_params1(kHistory, id, limit, offset));
  });
  return page;
}

std::optional<std::string> CampaignStore::last_synced_at() {
  std::optional<std::string> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = tx.exec1("SELECT " KARGO_TS("max(last_synced_at)") " FROM campaigns");
    out = row[0].is_null() ? std::nullopt : std::optional<std::string>(row[0].as<std::string>());
  });
  return out;
}

std::vector<std::string> CampaignStore::active_ids() {
  std::vector<std::string> ids;
  db_.transact([&](pqxx::transaction_base& tx) { ids = active_ids(tx); });
  return ids;
}

std::vector<std::string> CampaignStore::active_ids(pqxx::transaction_base& tx) {
  std::vector<std::string> ids;
  for (const auto& row : tx.exec(kActiveIds)) ids.push_back(row[0].as<std::string>());
  return ids;
}

std::optional<LockedCampaign> CampaignStore::lock(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kLockRow, id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return LockedCampaign{r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<double>(), r[3].as<std::string>(),
                        r[4].as<double>()};
}

std::optional<std::string> CampaignStore::load(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kDetail, id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

std::string CampaignStore::insert(pqxx::transaction_base& tx, const json& fields, const std::string& actor) {
  std::string id = random_id("camp_");
  tx.exec_params(kInsertCampaign, id, fields["name"].get<std::string>(), fields["advertiser_id"].get<std::string>(),
                 fields["phase"].get<std::string>(), fields["viewability_phase"].get<std::string>(),
                 fields["viewability_config"].dump(), fields["goal_kpi"].get<std::string>(),
                 fields["budget"].get<double>(), fields["currency"].get<std::string>(),
                 fields["start_date"].get<std::string>(), fields["end_date"].get<std::string>(),
                 fields["targeting"].dump(), fields["bidding"].dump(), actor);
  write_audit(tx, "campaign", id, "create", actor, fields);
  return id;
}

void CampaignStore::update(pqxx::transaction_base& tx, const std::string& id, const json& change,
                           const json& audit, const std::string& actor) {
  // Each changed column is set from the JSON document of changes, so the statement is fixed.
  tx.exec_params(kUpdateCampaign, id, change.dump());
  write_audit(tx, "campaign", id, "update", actor, audit);
}

void CampaignStore::set_status(pqxx::transaction_base& tx, const std::string& id, const std::string& from,
                               const std::string& to, std::string_view trigger, const std::string& actor) {
  tx.exec_params(kSetStatus, id, to);
  write_audit(tx, "campaign", id, "status_change", actor,
              {{"status", {{"from", from}, {"to", to}}}, {"trigger", trigger}});
}

void CampaignStore::remove(pqxx::transaction_base& tx, const std::string& id, const std::string& status,
                           const std::string& actor) {
  tx.exec_params(kDelete, id);
  write_audit(tx, "campaign", id, "delete", actor, {{"status", status}});
}

std::optional<AssociationCreative> CampaignStore::creative_for_association(pqxx::transaction_base& tx,
                                                                           const std::string& creative_id) {
  auto rows = tx.exec_params(kCreativeForAssociation, creative_id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return AssociationCreative{r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                             r[4].as<std::string>(), r[5].as<bool>(), r[6].as<bool>()};
}

bool CampaignStore::add_association(pqxx::transaction_base& tx, const std::string& id,
                                    const std::string& creative_id, const std::string& ad_group_name,
                                    const std::string& ad_group_type, double bid) {
  return !tx.exec_params(kAssociate, id, creative_id, ad_group_name, ad_group_type, bid).empty();
}

void CampaignStore::record_associations(pqxx::transaction_base& tx, const std::string& id, const json& added,
                                        const std::string& actor) {
  tx.exec_params(kTouch, id);
  write_audit(tx, "campaign", id, "associate_creatives", actor, {{"creative_ids", added}});
}

bool CampaignStore::remove_association(pqxx::transaction_base& tx, const std::string& id,
                                       const std::string& creative_id, const std::string& actor,
                                       const std::string& reason) {
  if (tx.exec_params(kDissociate, id, creative_id).empty()) return false;
  tx.exec_params(kTouch, id);
  json audit = {{"creative_id", creative_id}};
  if (!reason.empty()) audit["reason"] = reason;
  write_audit(tx, "campaign", id, "dissociate_creative", actor, audit);
  return true;
}

bool CampaignStore::has_ready_creative(pqxx::transaction_base& tx, const std::string& id) {
  return tx.exec_params1(kHasReadyCreative, id)[0].as<bool>();
}

std::optional<LineItemRow> CampaignStore::lock_line_item(pqxx::transaction_base& tx, const std::string& id,
                                                         const std::string& creative_id) {
  auto rows = tx.exec_params(kLockLineItem, id, creative_id);
  if (rows.empty()) return std::nullopt;
  LineItemRow row;
  if (!rows[0][0].is_null()) row.budget = rows[0][0].as<double>();
  row.status = rows[0][1].as<std::string>();
  return row;
}

void CampaignStore::update_line_item(pqxx::transaction_base& tx, const std::string& id,
                                     const std::string& creative_id, std::optional<double> budget,
                                     const std::optional<std::string>& status, const json& audit,
                                     const std::string& actor) {
  tx.exec_params(kUpdateLineItem, id, creative_id, budget, status);
  tx.exec_params(kTouch, id);
  write_audit(tx, "campaign", id, "update_line_item", actor, audit);
}

std::vector<std::string> CampaignStore::complete_ended(pqxx::transaction_base& tx,
                                                       const std::vector<std::string>& statuses,
                                                       const std::string& to, std::string_view trigger) {
  std::vector<std::string> ids;
  for (const auto& row : tx.exec_params(kCompleteEnded, json(statuses).dump(), to)) {
    auto id = row[0].as<std::string>();
    write_audit(tx, "campaign", id, "status_change", "system",
                {{"status", {{"from", row[1].as<std::string>()}, {"to", to}}}, {"trigger", trigger}});
    ids.push_back(std::move(id));
  }
  return ids;
}

}  // namespace kargo::store
