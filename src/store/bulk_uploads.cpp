#include "kargo/store/bulk_uploads.hpp"

#include <map>
#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

constexpr size_t kUploadIdBytes = 16;

// In id order, so two uploads naming the same campaigns lock them in the same order.
constexpr const char* kLockUploadCampaigns =
    "SELECT id FROM campaigns WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) ORDER BY id FOR "
    "UPDATE";
constexpr const char* kCreatives =
    "SELECT id, status, processed_code IS NOT NULL FROM creatives "
    "WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR SHARE";
constexpr const char* kLockUpload = "SELECT report::text FROM bulk_uploads WHERE id = $1 FOR UPDATE";
constexpr const char* kRecordReport =
    "UPDATE bulk_uploads SET report = $2::jsonb, bytes = NULL, finished_at = clock_timestamp() WHERE id = $1";
constexpr const char* kInsertUpload =
    "INSERT INTO bulk_uploads (id, filename, bytes, size, validate_only, created_by) VALUES ($1, $2, $3, $4, "
    "$5, $6)";
constexpr const char* kFetchUpload =
    "SELECT bytes, filename, validate_only, created_by, report::text FROM bulk_uploads WHERE id = $1";

json id_list(const std::set<std::string>& ids) {
  return json(std::vector<std::string>(ids.begin(), ids.end()));
}

}  // namespace

std::optional<json> BulkUploadStore::lock_report(pqxx::transaction_base& tx, const std::string& upload_id) {
  auto row = tx.exec_params(kLockUpload, upload_id);
  if (row.empty() || row[0][0].is_null()) return std::nullopt;
  return json::parse(row[0][0].as<std::string>());
}

std::map<std::string, json> BulkUploadStore::lock_campaigns(pqxx::transaction_base& tx,
                                                            const std::set<std::string>& ids) {
  std::map<std::string, json> out;
  for (const auto& row : tx.exec_params(kLockUploadCampaigns, id_list(ids).dump())) {
    auto id = row[0].as<std::string>();
    if (auto doc = CampaignStore::load(tx, id)) out[id] = json::parse(*doc);
  }
  return out;
}

std::map<std::string, bulk::CreativeState> BulkUploadStore::creative_states(pqxx::transaction_base& tx,
                                                                          const std::set<std::string>& ids) {
  std::map<std::string, bulk::CreativeState> out;
  for (const auto& row : tx.exec_params(kCreatives, id_list(ids).dump())) {
    out[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<bool>()};
  }
  return out;
}

void BulkUploadStore::record_report(pqxx::transaction_base& tx, const std::string& upload_id,
                                    const json& report) {
  tx.exec_params(kRecordReport, upload_id, report.dump());
}

std::string BulkUploadStore::enqueue(std::string_view bytes, const std::string& filename, bool validate_only,
                                     const std::string& actor, const std::string& kind, int max_attempts) {
  std::string job_id;
  db_.transact([&](pqxx::transaction_base& tx) {
    std::string id = random_id("upload_", kUploadIdBytes);
    tx.exec_params(kInsertUpload, id, filename.substr(0, 255), pqxx::binarystring(bytes.data(), bytes.size()),
                   static_cast<int64_t>(bytes.size()), validate_only, actor);
    job_id = JobStore::enqueue(tx, kind, {{"upload_id", id}}, actor, max_attempts);
  });
  return job_id;
}

std::optional<StoredUpload> BulkUploadStore::fetch(const std::string& upload_id) {
  std::optional<StoredUpload> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kFetchUpload, upload_id);
    if (rows.empty()) return;
    const auto& r = rows[0];
    StoredUpload u;
    if (!r[0].is_null()) u.bytes = pqxx::binarystring(r[0]).str();
    u.filename = r[1].as<std::string>();
    u.validate_only = r[2].as<bool>();
    u.created_by = r[3].as<std::string>();
    if (!r[4].is_null()) u.report = json::parse(r[4].as<std::string>());
    out = std::move(u);
  });
  return out;
}

}  // namespace kargo::store
