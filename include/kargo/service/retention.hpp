#pragma once
// Retention (docs/RUNBOOK.md, "Retention"): nothing the service writes grows without bound. A
// periodic tick, elected like the sync tick (one instance per tick), enqueues a `retention` job;
// the job walks store::RetentionStore's rules, each in batches until a batch comes back short,
// and reports what it deleted.
//
//   RetentionService retention(store, jobs, {.interval_seconds = 3600, .batch = 1000, ...});
//   retention.tick();                       // every instance, a few times per interval
//   json result = retention.run(progress);  // the job: {"deleted": {"jobs": 12, ...}, ...}

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kargo/store/retention.hpp"

namespace kargo::service {

class JobService;

class RetentionService {
 public:
  struct Options {
    int64_t interval_seconds = 3600;            // RETENTION_INTERVAL_SECONDS (0: never)
    unsigned batch = 1000;                      // RETENTION_BATCH_SIZE rows per statement
    std::chrono::seconds files{30 * 86400};     // RETENTION_FILES_DAYS after a file expired
    std::chrono::seconds jobs{30 * 86400};      // RETENTION_JOBS_DAYS after a job finished
    std::chrono::seconds uploads{7 * 86400};    // RETENTION_UPLOADS_DAYS after an upload arrived
    std::chrono::seconds ticks{7 * 86400};      // RETENTION_TICKS_DAYS
    std::chrono::seconds webhooks{30 * 86400};  // RETENTION_WEBHOOKS_DAYS after a delivery finished
  };
  // Idempotency-Key answers are replayed for 24 hours (store/idempotency.cpp); older ones go.
  static constexpr std::chrono::seconds kIdempotencyWindow{24 * 3600};
  // Attempts of a retention job: a retry runs again over what is left, so it loses nothing.
  static constexpr int kMaxAttempts = 3;

  RetentionService(store::RetentionStore& store, JobService& jobs, Options options)
      : store_(store), jobs_(jobs), options_(options) {}

  // The periodic tick: the job id when this instance won the tick.
  std::optional<std::string> tick();
  // The job's work; `progress(rules done, rules)`.
  nlohmann::json run(const std::function<void(int, int)>& progress);

 private:
  std::chrono::seconds age(store::RetentionAge age) const;

  store::RetentionStore& store_;
  JobService& jobs_;
  Options options_;
};

}  // namespace kargo::service
