#include "kargo/core/error_stats.hpp"

namespace kargo {

void ErrorStats::record(std::string_view request_id, std::string_view code, std::string_view message,
                        std::string_view route) {
  std::lock_guard lock(mutex_);
  ++counts_.total;
  ++counts_.by_code[std::string(code)];
  ++counts_.by_route[std::string(route)];
  ++counts_.by_route_and_code[std::string(route)][std::string(code)];
  recent_.push_front({std::string(request_id), std::string(code), std::string(message), std::string(route),
                      std::chrono::system_clock::now()});
  if (recent_.size() > keep_) recent_.pop_back();
}

ErrorStats::Snapshot ErrorStats::snapshot() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::pair<std::vector<RecordedError>, size_t> ErrorStats::recent(size_t limit, size_t offset) const {
  std::lock_guard lock(mutex_);
  std::vector<RecordedError> out;
  for (size_t i = offset; i < recent_.size() && out.size() < limit; ++i) out.push_back(recent_[i]);
  return {std::move(out), recent_.size()};
}

}  // namespace kargo
