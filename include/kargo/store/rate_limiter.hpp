#pragma once
// The token-bucket rate limiter of contract section 2.
//
// Buckets live in Redis (one hash per client, updated atomically by a Lua script) so every
// instance shares them. Requests for the same client that arrive while a Redis call for that
// client is in flight are coalesced into the next call, which asks for N tokens at once: under
// load one Redis round trip serves many requests and the I/O threads never wait.
// When Redis fails, the same bucket math runs in process memory (per instance), so the API
// neither stops limiting nor refuses everyone.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kargo/core/ports.hpp"

namespace kargo::store {

class Redis;

// Bucket math shared by the local fallback and mirrored by the Lua script; pure, unit-tested.
struct TokenBucket {
  double capacity;       // per_minute + burst
  double refill_per_ms;  // per_minute / 60000
  double tokens;
  int64_t updated_ms;

  // Refills to `now_ms`, then grants up to `requested` whole tokens; returns how many.
  uint64_t take(int64_t now_ms, uint64_t requested);
  // Seconds until one token is available (>= 1).
  int64_t retry_after_seconds() const;
  // Epoch seconds when the bucket is full again.
  int64_t full_at_epoch(int64_t now_ms) const;
};

class RateLimiter final : public kargo::RateLimiter {
 public:
  RateLimiter(Redis* redis, unsigned per_minute, unsigned burst);
  ~RateLimiter() override;
  void acquire(const std::string& key, std::function<void(RateDecision)> done) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kargo::store
