#include "kargo/core/deadline.hpp"

#include <algorithm>

namespace kargo {
namespace {
thread_local Deadline t_deadline;
}

std::chrono::milliseconds Deadline::remaining(std::chrono::milliseconds none) const {
  if (!when_) return none;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*when_ - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

std::chrono::milliseconds Deadline::cap(std::chrono::milliseconds limit) const {
  if (!when_) return limit;
  return std::max(std::chrono::milliseconds(1), std::min(limit, remaining()));
}

Deadline Deadline::earliest(const Deadline& other) const {
  if (!when_) return other;
  if (!other.when_) return *this;
  return *when_ <= *other.when_ ? *this : other;
}

Deadline current_deadline() { return t_deadline; }

DeadlineScope::DeadlineScope(const Deadline& deadline) : previous_(t_deadline) { t_deadline = deadline; }
DeadlineScope::~DeadlineScope() { t_deadline = previous_; }

}  // namespace kargo
