#include "kargo/store/creatives.hpp"

#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/store/audit.hpp"
#include "kargo/store/database.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// The resource of contract section 4, built by PostgreSQL.
#define KARGO_CREATIVE_JSON                                                                                  \
  "json_build_object('id', c.id, 'name', c.name, 'format', c.format, 'media_type', c.media_type, "           \
  "'dimensions', c.dimensions, 'width', c.width, 'height', c.height, 'device_type', c.device_type, "         \
  "'snippet_url', c.snippet_url, 'duration', c.duration::float8, 'vast_version', c.vast_version, "           \
  "'branded_canvas', c.branded_canvas, 'cache_buster', c.cache_buster, 'amazon_macros', c.amazon_macros, "   \
  "'click_tracking', c.click_tracking, 'viewability_config', c.viewability_config, 'status', c.status, "     \
  "'creative_type', c.creative_type, 'amazon_dsp_ready', c.amazon_dsp_ready, "                               \
  "'processed_code', c.processed_code, 'amazon_creative_id', c.amazon_creative_id, "                         \
  "'upload_status', c.upload_status, 'approval_status', c.approval_status, "                                 \
  "'approval_reasons', c.approval_reasons, 'processing_metadata', c.processing_metadata, "                   \
  "'advertiser_id', c.advertiser_id, "                                                                       \
  "'campaign_ids', (SELECT coalesce(json_agg(cc.campaign_id ORDER BY cc.created_at, cc.campaign_id), '[]') " \
  "FROM campaign_creatives cc WHERE cc.creative_id = c.id), "                                                \
  "'created_at', " KARGO_TS("c.created_at") ", 'updated_at', " KARGO_TS("c.updated_at") ")"

constexpr const char* kGetCreative = "SELECT " KARGO_CREATIVE_JSON "::text FROM creatives c WHERE c.id = $1";

// Columns written from a JSON document of fields, so one statement serves create and re-process.
constexpr const char* kInsertCreative =
    "INSERT INTO creatives (id, name, format, media_type, dimensions, width, height, device_type, "
    "snippet_url, "
    "duration, vast_version, branded_canvas, cache_buster, amazon_macros, click_tracking, "
    "viewability_config, "
    "status, creative_type, amazon_dsp_ready, original_snippet, processed_code, processing_metadata, "
    "advertiser_id, "
    "created_by) "
    "SELECT $1, f->>'name', f->>'format', f->>'media_type', f->>'dimensions', (f->>'width')::int, "
    "(f->>'height')::int, coalesce(f->>'device_type', 'mobile'), f->>'snippet_url', "
    "(f->>'duration')::numeric, "
    "f->>'vast_version', coalesce((f->>'branded_canvas')::bool, false), coalesce((f->>'cache_buster')::bool, "
    "true), "
    "coalesce((f->>'amazon_macros')::bool, true), coalesce((f->>'click_tracking')::bool, true), "
    "f->'viewability_config', 'processed', f->>'creative_type', coalesce((f->>'amazon_dsp_ready')::bool, "
    "false), "
    "f->>'original_snippet', f->>'processed_code', coalesce(f->'processing_metadata', '{}'::jsonb), "
    "f->>'advertiser_id', $3 FROM (SELECT $2::jsonb AS f) AS input";

constexpr const char* kReprocess =
    "UPDATE creatives c SET name = f->>'name', format = f->>'format', media_type = f->>'media_type', "
    "dimensions = f->>'dimensions', width = (f->>'width')::int, height = (f->>'height')::int, "
    "device_type = coalesce(f->>'device_type', 'mobile'), snippet_url = f->>'snippet_url', "
    "duration = (f->>'duration')::numeric, vast_version = f->>'vast_version', "
    "branded_canvas = coalesce((f->>'branded_canvas')::bool, false), "
    "cache_buster = coalesce((f->>'cache_buster')::bool, true), "
    "amazon_macros = coalesce((f->>'amazon_macros')::bool, true), "
    "click_tracking = coalesce((f->>'click_tracking')::bool, true), viewability_config = "
    "f->'viewability_config', "
    "status = CASE WHEN c.status IN ('uploaded', 'approved', 'rejected') AND c.processed_code = "
    "f->>'processed_code' "
    "THEN c.status ELSE 'processed' END, "
    "creative_type = f->>'creative_type', amazon_dsp_ready = coalesce((f->>'amazon_dsp_ready')::bool, "
    "false), "
    "original_snippet = f->>'original_snippet', processed_code = f->>'processed_code', "
    "processing_metadata = coalesce(f->'processing_metadata', '{}'::jsonb), updated_at = clock_timestamp() "
    "FROM (SELECT $2::jsonb AS f) AS input WHERE c.id = $1 RETURNING 1";

constexpr const char* kCampaignsOf =
    "SELECT cc.campaign_id, ca.status FROM campaign_creatives cc JOIN campaigns ca ON ca.id = cc.campaign_id "
    "WHERE cc.creative_id = $1 ORDER BY cc.campaign_id FOR UPDATE OF ca";

constexpr const char* kMarkFailed =
    "UPDATE creatives SET status = 'failed', amazon_dsp_ready = false, "
    "processing_metadata = processing_metadata || jsonb_build_object('error', $2::text, 'failed_at', "
    KARGO_TS("clock_timestamp()") "), updated_at = clock_timestamp() WHERE id = $1 RETURNING 1";

}  // namespace

std::string CreativeStore::insert(pqxx::transaction_base& tx, const json& fields, const std::string& actor) {
  std::string id = random_id("crv_");
  tx.exec_params(kInsertCreative, id, fields.dump(), actor);
  json audit = {{"name", fields.value("name", "")},
                {"format", fields.value("format", "")},
                {"snippet_url", fields.value("snippet_url", "")}};
  write_audit(tx, "creative", id, "create", actor, audit);
  return id;
}

std::optional<std::string> CreativeStore::load(pqxx::transaction_base& tx, const std::string& id) {
  auto rows = tx.exec_params(kGetCreative, id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

bool CreativeStore::lock(pqxx::transaction_base& tx, const std::string& id) {
  return !tx.exec_params("SELECT 1 FROM creatives WHERE id = $1 FOR UPDATE", id).empty();
}

std::vector<CreativeCampaign> CreativeStore::campaigns_of(pqxx::transaction_base& tx, const std::string& id) {
  std::vector<CreativeCampaign> out;
  for (const auto& row : tx.exec_params(kCampaignsOf, id)) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  }
  return out;
}

bool CreativeStore::replace_processing(pqxx::transaction_base& tx, const std::string& id, const json& fields,
                                       const std::string& actor) {
  if (tx.exec_params(kReprocess, id, fields.dump()).empty()) return false;
  write_audit(tx, "creative", id, "reprocess", actor, {{"creative_type", fields.value("creative_type", "")}});
  return true;
}

bool CreativeStore::mark_failed(pqxx::transaction_base& tx, const std::string& id, const std::string& reason,
                                const std::string& actor) {
  if (tx.exec_params(kMarkFailed, id, reason).empty()) return false;
  write_audit(tx, "creative", id, "processing_failed", actor, {{"error", reason}});
  return true;
}

void CreativeStore::remove(pqxx::transaction_base& tx, const std::string& id, const std::string& actor) {
  tx.exec_params("DELETE FROM creatives WHERE id = $1", id);
  write_audit(tx, "creative", id, "delete", actor, json::object());
}

CreativeStore::CreativeStore(Database& db) : db_(db) {
  prepare_resource_reads(
      db, "creative", kGetCreative, "creatives", "c",
      "WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM campaign_creatives cc WHERE cc.creative_id = c.id "
      "AND cc.campaign_id = $1)) AND ($2::text IS NULL OR c.format = $2) AND ($3::text IS NULL OR "
      "c.media_type = $3) AND ($4::text IS NULL OR c.status = $4) ",
      KARGO_CREATIVE_JSON, 5);
}

std::optional<std::string> CreativeStore::get(const std::string& id) { return fetch_text(db_, "creative_get", id); }

std::optional<json> CreativeStore::config_of(const std::string& id) {
  std::optional<json> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(
        "SELECT json_build_object('name', name, 'format', format, 'dimensions', dimensions, "
        "'device_type', device_type, 'snippet_url', snippet_url, 'duration', duration::float8, "
        "'vast_version', vast_version, 'branded_canvas', branded_canvas, 'cache_buster', cache_buster, "
        "'amazon_macros', amazon_macros, 'click_tracking', click_tracking, "
        "'viewability_config', viewability_config, 'original_snippet', original_snippet)::text "
        "FROM creatives WHERE id = $1",
        id);
    if (!rows.empty()) out = json::parse(rows[0][0].as<std::string>());
  });
  return out;
}

CreativePage CreativeStore::list(const CreativeFilter& f, size_t limit, size_t offset) {
  return read_page_prepared(db_, "creative_list", f.campaign_id, f.format, f.media_type, f.status, limit, offset);
}

std::optional<CreativePreview> CreativeStore::preview(const std::string& id) {
  std::optional<CreativePreview> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows =
        tx.exec_params("SELECT coalesce(processed_code, ''), media_type FROM creatives WHERE id = $1", id);
    if (!rows.empty()) out = CreativePreview{rows[0][0].as<std::string>(), rows[0][1].as<std::string>()};
  });
  return out;
}

std::optional<CreativeUpload> CreativeStore::for_upload(const std::string& id) {
  std::optional<CreativeUpload> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(
        "SELECT id, name, format, media_type, coalesce(processed_code, ''), dimensions, amazon_creative_id, "
        "advertiser_id, duration::float8, amazon_dsp_ready FROM creatives WHERE id = $1",
        id);
    if (rows.empty()) return;
    const auto& r = rows[0];
    CreativeUpload u;
    u.id = r[0].as<std::string>();
    u.name = r[1].as<std::string>();
    u.format = r[2].as<std::string>();
    u.media_type = r[3].as<std::string>();
    u.processed_code = r[4].as<std::string>();
    if (!r[5].is_null()) u.dimensions = r[5].as<std::string>();
    if (!r[6].is_null()) u.amazon_creative_id = r[6].as<std::string>();
    if (!r[7].is_null()) u.advertiser_id = r[7].as<std::string>();
    if (!r[8].is_null()) u.duration = r[8].as<double>();
    u.amazon_dsp_ready = r[9].as<bool>();
    out = std::move(u);
  });
  return out;
}

void CreativeStore::set_upload_status(const std::string& id, const std::string& status) {
  db_.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params("UPDATE creatives SET upload_status = $2, updated_at = clock_timestamp() WHERE id = $1",
                   id, status);
  });
}

void CreativeStore::set_amazon_creative_id(const std::string& id, const std::string& amazon_creative_id) {
  db_.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params(
        "UPDATE creatives SET amazon_creative_id = $2, upload_status = 'uploaded', "
        "status = CASE WHEN status = 'processed' THEN 'uploaded' ELSE status END, updated_at = "
        "clock_timestamp() "
        "WHERE id = $1",
        id, amazon_creative_id);
    write_audit(tx, "creative", id, "upload", "system", {{"amazon_creative_id", amazon_creative_id}});
  });
}

void CreativeStore::set_approval(const std::string& id, const std::string& approval_status,
                                 const json& reasons) {
  db_.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params(
        "UPDATE creatives SET approval_status = $2, approval_reasons = $3::jsonb, "
        "status = CASE $2 WHEN 'APPROVED' THEN 'approved' WHEN 'REJECTED' THEN 'rejected' ELSE status END, "
        "updated_at = clock_timestamp() WHERE id = $1",
        id, approval_status, reasons.dump());
  });
}

}  // namespace kargo::store
