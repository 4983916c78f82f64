// Job `bulk_import`: an uploaded sheet applied by a worker (service::SheetService::apply_stored).
//
// Safe to run again after a crash: the sheet is applied in one transaction that also stores the
// report on the upload, so an attempt either wrote everything and the report, or nothing; a later
// attempt that finds the report answers it.
#include <chrono>
#include <nlohmann/json.hpp>

#include "kargo/core/job_kinds.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/service/sheets.hpp"

namespace kargo::jobs {
namespace {

// A sheet that cannot be applied now (database down) is tried again; a bad sheet never gets this
// far (the route reads it before queueing).
constexpr int kMaxAttempts = 3;
// Progress is saved (and the lease renewed) at most this often, and at the end.
constexpr std::chrono::seconds kProgressInterval{1};

}  // namespace

JobKind BulkImportJob::definition() {
  return {.name = kinds::kBulkImport, .max_attempts = kMaxAttempts, .run = [this](JobContext& job) {
            auto last = std::chrono::steady_clock::now() - kProgressInterval;
            return sheets_.apply_stored(job.payload().value("upload_id", ""), [&](int done, int total) {
              auto now = std::chrono::steady_clock::now();
              if (done != total && done != 0 && now - last < kProgressInterval) return;
              last = now;
              job.checkpoint(done, total);
            });
          }};
}

}  // namespace kargo::jobs
