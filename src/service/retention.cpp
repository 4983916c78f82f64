#include "kargo/service/retention.hpp"

#include "kargo/core/job_kinds.hpp"
#include "kargo/core/log.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/jobs.hpp"

namespace kargo::service {

using json = nlohmann::json;

namespace {
constexpr const char* kRetentionTickName = "retention_tick";
}  // namespace

std::optional<std::string> RetentionService::tick() {
  auto job = jobs_.store().enqueue_tick(kRetentionTickName, options_.interval_seconds, kinds::kRetention, kMaxAttempts,
                                        [](pqxx::transaction_base&) -> std::optional<json> { return json::object(); });
  if (job) jobs_.wake();
  return job;
}

std::chrono::seconds RetentionService::age(store::RetentionAge age) const {
  switch (age) {
    case store::RetentionAge::kExpiry: return std::chrono::seconds(0);
    case store::RetentionAge::kFiles: return options_.files;
    case store::RetentionAge::kIdempotency: return kIdempotencyWindow;
    case store::RetentionAge::kTicks: return options_.ticks;
    case store::RetentionAge::kUploads: return options_.uploads;
    case store::RetentionAge::kJobs: return options_.jobs;
    case store::RetentionAge::kWebhooks: return options_.webhooks;
  }
  return options_.jobs;
}

json RetentionService::run(const std::function<void(int, int)>& progress) {
  auto rules = store::RetentionStore::rules();
  const int total = static_cast<int>(rules.size());
  json deleted = json::object();
  uint64_t sum = 0;
  int done = 0;
  for (const auto& rule : rules) {
    const auto rule_age = age(rule.age);
    uint64_t n = 0, batch = 0;
    do {
      batch = store_.delete_batch(rule, rule_age, options_.batch);
      n += batch;
    } while (batch == options_.batch);
    deleted[std::string(rule.name)] = n;
    sum += n;
    progress(++done, total);
  }
  log::info("retention: old rows deleted", {{"rows", sum}, {"deleted", deleted.dump()}});
  return {{"deleted", deleted}, {"batch_size", options_.batch}};
}

}  // namespace kargo::service
