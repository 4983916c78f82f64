#pragma once
// Bulk sheet uploads in PostgreSQL (contract section 5, docs/BULK.md "Uploading"): what an upload
// is checked against (the campaigns and creatives it names, locked), its stored report, and the
// uploads waiting for a bulk_import job (migrations/0006). SQL only: service::SheetService plans
// the upload (bulk/upload) and writes it, all in one transaction it opens. Blocking.
//
//   db.transact([&](pqxx::transaction_base& tx) {
//     auto campaigns = BulkUploadStore::lock_campaigns(tx, refs.campaign_ids);
//     auto creatives = BulkUploadStore::creative_states(tx, refs.creative_ids);
//     ...
//   });
//   auto job_id = uploads.enqueue(bytes, filename, validate_only, actor, kind, attempts);

#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/bulk/upload.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

struct StoredUpload {
  std::string bytes;
  std::string filename;
  bool validate_only = false;
  std::string created_by;
  std::optional<nlohmann::json> report;  // set once a job applied (or refused) it
};

class BulkUploadStore {
 public:
  explicit BulkUploadStore(Database& db) : db_(db) {}

  // --- in the caller's transaction ---
  // The report an earlier attempt of the upload's job stored (the upload row is locked).
  static std::optional<nlohmann::json> lock_report(pqxx::transaction_base& tx, const std::string& upload_id);
  // The named campaigns that exist, locked in id order (two uploads naming the same campaigns lock
  // them in the same order), as resources.
  static std::map<std::string, nlohmann::json> lock_campaigns(pqxx::transaction_base& tx,
                                                              const std::set<std::string>& ids);
  static std::map<std::string, bulk::CreativeState> creative_states(pqxx::transaction_base& tx,
                                                                    const std::set<std::string>& ids);
  // Keeps the report with the upload and drops its bytes.
  static void record_report(pqxx::transaction_base& tx, const std::string& upload_id,
                            const nlohmann::json& report);

  // Stores the bytes and enqueues the `kind` job for them in one transaction; returns the job id.
  std::string enqueue(std::string_view bytes, const std::string& filename, bool validate_only,
                      const std::string& actor, const std::string& kind, int max_attempts);
  std::optional<StoredUpload> fetch(const std::string& upload_id);

 private:
  Database& db_;
};

}  // namespace kargo::store
