#include "kargo/service/jobs.hpp"

#include "kargo/core/error_codes.hpp"
#include "kargo/core/list_json.hpp"

namespace kargo::service {

JobService::JobService(store::JobStore& store, std::function<void()> wake)
    : store_(store), wake_(std::move(wake)) {}

std::string JobService::enqueue(const std::string& kind, const nlohmann::json& payload, const std::string& actor,
                                int max_attempts) {
  auto id = store_.enqueue(kind, payload, actor, max_attempts);
  wake_();
  return id;
}

std::string JobService::get(const std::string& id) {
  auto job = store_.get(id);
  if (!job) throw Error::not_found("job", id);
  return *job;
}

std::string JobService::list(const std::optional<std::string>& kind, const std::optional<std::string>& status,
                             size_t limit, size_t offset) {
  auto page = store_.list(kind, status, limit, offset);
  return list_json("jobs", page.items_json, page.total, limit, offset);
}

std::vector<store::JobCounts> JobService::counts() { return store_.counts(); }

int64_t JobService::pending(std::string_view prefix) {
  int64_t n = 0;
  for (const auto& c : store_.counts()) {
    if (c.kind.starts_with(prefix)) n += c.queued + c.running;
  }
  return n;
}

}  // namespace kargo::service
