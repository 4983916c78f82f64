#pragma once
// In-memory record of the errors this process answered since start, for
// /api/errors/statistics and /api/errors/recent.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kargo {

struct RecordedError {
  std::string request_id;
  std::string code;
  std::string message;
  std::string route;
  std::chrono::system_clock::time_point at;
};

class ErrorStats {
 public:
  explicit ErrorStats(size_t keep_recent = 200) : keep_(keep_recent) {}
  void record(std::string_view request_id, std::string_view code, std::string_view message,
              std::string_view route);

  struct Snapshot {
    uint64_t total = 0;
    std::map<std::string, uint64_t> by_code;
    std::map<std::string, uint64_t> by_route;
    std::map<std::string, std::map<std::string, uint64_t>> by_route_and_code;
    std::chrono::system_clock::time_point since;
  };
  Snapshot snapshot() const;
  // Newest first, skipping `offset`; also how many are kept in all.
  std::pair<std::vector<RecordedError>, size_t> recent(size_t limit, size_t offset = 0) const;

 private:
  size_t keep_;
  mutable std::mutex mutex_;
  Snapshot counts_{0, {}, {}, {}, std::chrono::system_clock::now()};
  std::deque<RecordedError> recent_;
};

}  // namespace kargo
