#pragma once
// Background jobs as the API and the other services see them (contract section 7): enqueue one
// (and wake this process's runner), read one, list them, count them.
//
//   JobService jobs(store, [&runner] { runner.wake(); });
//   auto id = jobs.enqueue(kinds::kAmazonUpload, payload, actor, 5);
//   auto doc = jobs.get(id);                     // 404 when unknown

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kargo/store/jobs.hpp"

namespace kargo::service {

class JobService {
 public:
  // `wake` tells this process's job runner that work is waiting (it polls anyway).
  JobService(store::JobStore& store, std::function<void()> wake);

  std::string enqueue(const std::string& kind, const nlohmann::json& payload, const std::string& actor,
                      int max_attempts);
  // The resource; 404 when unknown.
  std::string get(const std::string& id);
  // The list document {"jobs": [...], total, limit, offset}; `status` one of the job statuses (422).
  std::string list(const std::optional<std::string>& kind, const std::optional<std::string>& status,
                   size_t limit, size_t offset);
  std::vector<store::JobCounts> counts();
  // Queued + running jobs of the kinds whose names start with `prefix` ("amazon_").
  int64_t pending(std::string_view prefix);
  void wake() { wake_(); }
  store::JobStore& store() { return store_; }

 private:
  store::JobStore& store_;
  std::function<void()> wake_;
};

}  // namespace kargo::service
