#pragma once
// Bulk sheet uploads in PostgreSQL (contract section 5, docs/BULK.md "Uploading"): the check
// against the current campaigns and the writes of one sheet in ONE transaction (any invalid row,
// or validate_only: nothing written), and the uploads waiting for a job (migrations/0006).
// Blocking: blocking pool or job worker threads only.
//
//   BulkUploadStore store(db);
//   auto result = store.apply(bulk::parse_upload(book), validate_only, actor);
//   for (const auto& id : result.written) cache.invalidate(id);   // after the commit
//
//   auto job_id = store.enqueue(bytes, filename, validate_only, actor);   // async: a bulk_import job

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/bulk/upload.hpp"

namespace kargo::store {

class Database;

struct UploadResult {
  nlohmann::json report;  // bulk::UploadPlan::report()
  bool valid = false;
  std::vector<std::string> written;  // campaigns created or changed (to invalidate after the commit)
  bool created = false;              // a campaign was created (list pages change)
};

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

  // (done, total) writes; may throw to abandon the transaction (a job that lost its lease).
  using Progress = std::function<void(int done, int total)>;
  // Locks the campaigns the sheet names, plans the upload against them and, when every row is
  // valid and not `validate_only`, writes it (each campaign with its audit entries), all in one
  // transaction. With `upload_id` (a job), the report is stored with the upload in the same
  // transaction, and an upload that already has one answers it without writing again.
  UploadResult apply(const bulk::ParsedUpload& upload, bool validate_only, const std::string& actor,
                     const std::optional<std::string>& upload_id = std::nullopt,
                     const Progress& progress = nullptr);
  // Stores the bytes and enqueues the `kind` job for them in one transaction; returns the job id.
  std::string enqueue(std::string_view bytes, const std::string& filename, bool validate_only,
                      const std::string& actor, const std::string& kind, int max_attempts);
  std::optional<StoredUpload> fetch(const std::string& upload_id);

 private:
  Database& db_;
};

}  // namespace kargo::store
