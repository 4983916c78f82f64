#pragma once
// A request's deadline, carried to everything done for it (userver's deadline propagation): the
// database pool does not start a task whose deadline passed, a transaction gets the time that is
// left as its statement deadline, an upstream call gets it as its budget. So a request never
// outlives its caller's patience, and no thread works for an answer nobody waits for.
//
//   Deadline d = Deadline::after(std::chrono::seconds(30));
//   d.remaining();                         // what is left (0 once passed)
//   d.cap(std::chrono::seconds(10));       // the shorter of 10 s and what is left
//   {
//     DeadlineScope scope(d);              // work on this thread (a pool task) runs under it
//     current_deadline().passed();
//   }

#include <chrono>
#include <optional>

namespace kargo {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline() = default;  // none: unbounded
  static Deadline at(Clock::time_point when) { return Deadline(when); }
  static Deadline after(std::chrono::milliseconds from_now) { return Deadline(Clock::now() + from_now); }

  bool is_set() const { return when_.has_value(); }
  std::optional<Clock::time_point> when() const { return when_; }
  bool passed() const { return when_ && Clock::now() >= *when_; }
  // What is left, 0 once passed; `none` when there is no deadline.
  std::chrono::milliseconds remaining(std::chrono::milliseconds none = std::chrono::hours(24)) const;
  // The shorter of `limit` and what is left (at least 1 ms, so it can still be used as a timeout).
  std::chrono::milliseconds cap(std::chrono::milliseconds limit) const;
  // The earlier of the two.
  Deadline earliest(const Deadline& other) const;

 private:
  explicit Deadline(Clock::time_point when) : when_(when) {}
  std::optional<Clock::time_point> when_;
};

// The deadline of the work running on this thread (none outside any DeadlineScope).
Deadline current_deadline();

class DeadlineScope {
 public:
  explicit DeadlineScope(const Deadline& deadline);
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  Deadline previous_;
};

}  // namespace kargo
