// Job `retention` (the periodic tick, RETENTION_INTERVAL_SECONDS): service::RetentionService::run
// deletes what is past its age, rule by rule, in batches. A retry simply runs again: what the
// failed attempt deleted is gone, what it did not is found again.
#include "kargo/core/job_kinds.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/service/retention.hpp"

namespace kargo::jobs {

JobKind RetentionJob::definition() {
  return {.name = kinds::kRetention,
          .max_attempts = service::RetentionService::kMaxAttempts,
          .base_backoff = std::chrono::seconds(60),
          .run = [this](JobContext& job) {
            return retention_.run([&job](int done, int total) { job.checkpoint(done, total); });
          }};
}

}  // namespace kargo::jobs
