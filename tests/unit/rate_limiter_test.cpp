#include "kargo/store/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>

using kargo::store::TokenBucket;

TEST(TokenBucket, StartsFullAndGrantsUpToCapacity) {
  TokenBucket b{70, 60.0 / 60000.0, 70, 0};
  EXPECT_EQ(b.take(0, 100), 70u);
  EXPECT_EQ(b.take(0, 1), 0u);
}

TEST(TokenBucket, RefillsAtPerMinuteRate) {
  TokenBucket b{10, 60.0 / 60000.0, 0, 0};  // one token per second
  EXPECT_EQ(b.take(999, 1), 0u);
  EXPECT_EQ(b.take(1000, 1), 1u);
  EXPECT_EQ(b.take(5000, 10), 4u);
}

TEST(TokenBucket, NeverExceedsCapacity) {
  TokenBucket b{5, 1.0, 0, 0};
  EXPECT_EQ(b.take(1'000'000, 100), 5u);
}

TEST(TokenBucket, RetryAfterIsAtLeastOneSecond) {
  TokenBucket b{10, 60.0 / 60000.0, 0.5, 0};
  EXPECT_EQ(b.retry_after_seconds(), 1);
  TokenBucket slow{10, 1.0 / 60000.0, 0, 0};  // one per minute
  EXPECT_EQ(slow.retry_after_seconds(), 60);
}

TEST(TokenBucket, FullAtIsWhenTheBucketRefills) {
  TokenBucket b{60, 60.0 / 60000.0, 0, 0};
  EXPECT_EQ(b.full_at_epoch(0), 60);
}

TEST(TokenBucket, ClockGoingBackwardsGrantsNothingExtra) {
  TokenBucket b{10, 1.0, 0, 10'000};
  EXPECT_EQ(b.take(5'000, 5), 0u);
}

TEST(LocalRateLimiter, WithoutRedisLimitsPerKey) {
  kargo::store::RateLimiter limiter(nullptr, 3, 0);
  int allowed = 0;
  kargo::RateDecision last;
  for (int i = 0; i < 5; ++i) {
    limiter.acquire("user:a", [&](kargo::RateDecision d) {
      allowed += d.allowed;
      last = d;
    });
  }
  EXPECT_EQ(allowed, 3);
  EXPECT_FALSE(last.allowed);
  EXPECT_EQ(last.limit, 3u);
  EXPECT_GE(last.retry_after_seconds, 1);
  bool other = false;
  limiter.acquire("user:b", [&](kargo::RateDecision d) { other = d.allowed; });
  EXPECT_TRUE(other);
}
