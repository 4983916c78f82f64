// Job `report_refresh` (contract section 6, POST /api/reports/refresh and the periodic tick):
// service::ReportService::refresh pulls every window of the payload's campaigns. The job's state
// keeps the windows written, so a retried attempt (a FAILED report, a 5xx, a bad download, a
// worker killed) starts with the first window not yet written; each window is written in one
// transaction that replaces what was there, so nothing is counted twice.
#include "kargo/core/job_kinds.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/service/reports.hpp"

namespace kargo::jobs {

JobKind ReportRefreshJob::definition() {
  return {.name = kinds::kReportRefresh,
          .max_attempts = options_.max_attempts,
          .base_backoff = options_.backoff,
          .run = [this](JobContext& job) {
            return reports_.refresh(job.payload(), job.state(), job.attempt(),
                                    [&job](int done, int total) { job.checkpoint(done, total); });
          }};
}

}  // namespace kargo::jobs
