#pragma once
// Bulk sheets (contract section 5, docs/BULK.md): generating one for campaigns (bulk/bulk_sheet
// lays it out, bulk/sheet writes xlsx or a csv zip), keeping it 24 h in PostgreSQL for any
// instance to serve, and applying an uploaded one (bulk/sheet_reader reads it, bulk/upload plans
// it, CampaignService's rules write it) in one transaction, now or as a bulk_import job.
//
//   auto data = sheets.generate(ids, options, actor);       // {sheet_id, download_url, ...}
//   auto file = sheets.download(sheet_id);                  // 404 unknown, 410 expired
//   auto upload = sheets.upload(bytes, name, validate_only, async, actor);

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/upload.hpp"
#include "kargo/store/bulk_uploads.hpp"
#include "kargo/store/generated_files.hpp"

namespace kargo::store {
class Database;
class BulkSheetReader;
}  // namespace kargo::store

namespace kargo::service {

class CampaignService;
class JobService;

struct SheetOptions {
  bulk::SheetContents contents;
  bool csv = false;  // "csv" -> a zip of csv files; "xlsx" and "excel" -> xlsx
};

// The outcome of applying a sheet.
struct UploadResult {
  nlohmann::json report;  // bulk::UploadPlan::report(): the contract's data object
  bool valid = false;
};

// A sheet upload's answer: applied (or checked), or queued as a job.
struct UploadAnswer {
  std::optional<UploadResult> result;
  std::optional<std::string> job_id;
};

class SheetService {
 public:
  SheetService(store::Database& db, store::BulkSheetReader& sources, store::GeneratedFileStore& files,
               store::BulkUploadStore& uploads, CampaignService& campaigns, JobService& jobs);

  // Unknown campaign -> 404 naming it. {sheet_id, download_url, expires_at, file_size,
  // record_count, sheets, format}.
  nlohmann::json generate(const std::vector<std::string>& campaign_ids, const SheetOptions& options,
                          const std::string& actor);
  // 404 unknown (or malformed id), 410 expired.
  store::GeneratedFile download(const std::string& sheet_id);

  // Reads the workbook first (so a file that is no workbook is refused at once, 422 on "file"),
  // then applies it in one transaction, or with `async` stores it for a bulk_import job.
  UploadAnswer upload(std::string_view bytes, const std::string& filename, bool validate_only, bool async,
                      const std::string& actor);
  // The bulk_import job's step: applies a stored upload (once: a later attempt finds the report).
  // `progress` gets (done, total) rows.
  nlohmann::json apply_stored(const std::string& upload_id, const std::function<void(int, int)>& progress);

 private:
  UploadResult apply(const bulk::ParsedUpload& upload, bool validate_only, const std::string& actor,
                     const std::optional<std::string>& upload_id, const std::function<void(int, int)>& progress);

  store::Database& db_;
  store::BulkSheetReader& sources_;
  store::GeneratedFileStore& files_;
  store::BulkUploadStore& uploads_;
  CampaignService& campaigns_;
  JobService& jobs_;
};

// The workbook's sheets. Throws Error 422 (field "file") when the bytes are not an xlsx workbook
// or csv zip, inflate past 200 MiB, hold more than 50 000 data rows, or lack the Orders sheet or a
// column of a read sheet; 503 with Retry-After when no large-read slot freed within `slot_wait`.
bulk::ParsedUpload read_upload(std::string_view bytes, std::chrono::milliseconds slot_wait);

}  // namespace kargo::service
