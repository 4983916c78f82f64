// Job `bulk_import`: an uploaded sheet applied by a worker (kargo/jobs/bulk_import.hpp).
//
// Safe to run again after a crash: the sheet is applied in one transaction that also stores the
// report on the upload (store::BulkUploadStore::apply), so an attempt either wrote everything and
// the report, or nothing; a later attempt that finds the report answers it.
#include "kargo/jobs/bulk_import.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "kargo/app/bulk_upload.hpp"
#include "kargo/app/context.hpp"
#include "kargo/jobs/runner.hpp"

namespace kargo::jobs {
namespace {

using nlohmann::json;

// A sheet that cannot be applied now (database down) is tried again; a bad sheet never gets this
// far (the route reads it before queueing).
constexpr int kMaxAttempts = 3;
// Progress is saved (and the lease renewed) at most this often, and at the end.
constexpr std::chrono::seconds kProgressInterval{1};

json run(AppContext& ctx, JobContext& job) {
  std::string upload_id = job.payload().value("upload_id", "");
  store::BulkUploadStore store(ctx.db);
  auto upload = store.fetch(upload_id);
  if (!upload) throw std::runtime_error("upload " + upload_id + " not found");
  if (upload->report) return *upload->report;
  auto parsed = app::read_bulk_upload(upload->bytes);
  int rows = static_cast<int>(parsed.rows_processed());
  job.checkpoint(0, rows);
  auto last = std::chrono::steady_clock::now();
  // Progress counts rows: the check of every row first (half of the total), then the writes.
  auto progress = [&](int done, int total) {
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last < kProgressInterval) return;
    last = now;
    int scaled =
        total == 0 ? rows : rows / 2 + static_cast<int>(static_cast<int64_t>(rows - rows / 2) * done / total);
    job.checkpoint(scaled, rows);
  };
  auto result =
      app::apply_bulk_upload(ctx, parsed, upload->validate_only, upload->created_by, upload_id, progress);
  job.checkpoint(rows, rows);
  return result.report;
}

}  // namespace

void register_bulk_import(JobRunner& runner, AppContext& ctx) {
  runner.add_kind({.name = app::kBulkImportJob, .max_attempts = kMaxAttempts, .run = [&ctx](JobContext& job) {
                     return run(ctx, job);
                   }});
}

}  // namespace kargo::jobs
