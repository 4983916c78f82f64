#include <gtest/gtest.h>

#include <algorithm>

#include "kargo/upstream/retry_policy.hpp"

using namespace kargo::upstream;
using std::chrono::milliseconds;

namespace {

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));  // 2026-01-01

HttpResult answer(int status, HeaderList headers = {}) {
  return HttpResponse{status, std::move(headers), "", ""};
}
HttpResult failed(FailureKind kind, bool sent) { return TransportError{kind, sent, "x", ""}; }

RetryPolicy fixed(double r, RetryOptions o = {}) {
  return RetryPolicy(o, [r] { return r; });
}

}  // namespace

TEST(RetryPolicy, BackoffCeilingDoublesFromBaseUpToTheCap) {
  auto top = fixed(0.999999);
  EXPECT_LE(top.backoff(0), milliseconds(200));
  EXPECT_GE(top.backoff(0), milliseconds(199));
  EXPECT_GE(top.backoff(1), milliseconds(399));
  EXPECT_LE(top.backoff(1), milliseconds(400));
  EXPECT_GE(top.backoff(3), milliseconds(1599));
  EXPECT_LE(top.backoff(3), milliseconds(1600));
  EXPECT_LE(top.backoff(7), milliseconds(20000));  // 200 * 128 = 25.6 s, capped at 20 s
  EXPECT_GE(top.backoff(7), milliseconds(19999));
  EXPECT_LE(top.backoff(1000), milliseconds(20000));  // no overflow for absurd retry numbers
  EXPECT_EQ(fixed(0.0).backoff(5), milliseconds(0));
}

TEST(RetryPolicy, FullJitterSpreadsOverTheWholeRange) {
  RetryPolicy policy;  // the real random source
  milliseconds lo = milliseconds::max(), hi = milliseconds::min();
  for (int i = 0; i < 2000; ++i) {
    auto d = policy.backoff(3);  // [0, 1600]
    ASSERT_GE(d, milliseconds(0));
    ASSERT_LE(d, milliseconds(1600));
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, milliseconds(200));
  EXPECT_GT(hi, milliseconds(1400));
}

TEST(RetryPolicy, ShrunkOptionsAreUsed) {
  auto policy =
      fixed(0.999999, {.max_retries = 2, .base_delay = milliseconds(10), .max_delay = milliseconds(25)});
  EXPECT_LE(policy.backoff(0), milliseconds(10));
  EXPECT_LE(policy.backoff(5), milliseconds(25));
}

TEST(RetryPolicy, RetriesConnectFailuresTimeoutsLostConnections429And5xx) {
  auto policy = fixed(0.5);
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kConnect, false), true));
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kTimeout, true), true));
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kConnectionLost, true), true));
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kMalformed, true), true));
  for (int status : {429, 500, 502, 503, 504}) {
    EXPECT_TRUE(policy.next_delay(0, answer(status), true)) << status;
  }
}

TEST(RetryPolicy, NeverRetriesOther4xxOrSuccess) {
  auto policy = fixed(0.5);
  for (int status : {200, 201, 207, 301, 400, 401, 403, 404, 409, 415, 422, 425}) {
    EXPECT_FALSE(policy.next_delay(0, answer(status), true)) << status;
  }
}

TEST(RetryPolicy, NeverRetriesFailuresThatWouldRepeat) {
  auto policy = fixed(0.5);
  for (auto kind : {FailureKind::kTls, FailureKind::kTooLarge, FailureKind::kDecode, FailureKind::kRedirect,
                    FailureKind::kInvalidRequest, FailureKind::kCancelled, FailureKind::kRefusedAddress}) {
    EXPECT_FALSE(policy.next_delay(0, failed(kind, false), true)) << to_string(kind);
  }
}

TEST(RetryPolicy, StopsAfterMaxRetries) {
  auto policy = fixed(0.5, {.max_retries = 4});
  EXPECT_TRUE(policy.next_delay(3, answer(503), true));
  EXPECT_FALSE(policy.next_delay(4, answer(503), true));
  auto none = fixed(0.5, {.max_retries = 0});
  EXPECT_FALSE(none.next_delay(0, answer(503), true));
}

TEST(RetryPolicy, UnsafeWriteIsRetriedOnlyWhenItNeverReachedTheServer) {
  auto policy = fixed(0.5);
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kConnect, false), false));
  EXPECT_TRUE(policy.next_delay(0, failed(FailureKind::kTimeout, false), false));  // timed out connecting
  EXPECT_FALSE(policy.next_delay(0, failed(FailureKind::kTimeout, true), false));
  EXPECT_FALSE(policy.next_delay(0, failed(FailureKind::kConnectionLost, true), false));
  EXPECT_FALSE(policy.next_delay(0, failed(FailureKind::kMalformed, true), false));
  EXPECT_FALSE(policy.next_delay(0, answer(503), false));
  EXPECT_FALSE(policy.next_delay(0, answer(429), false));
}

TEST(RetryPolicy, HonoursRetryAfterSeconds) {
  auto policy = fixed(0.0);
  EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", "3"}}), true, kNow), milliseconds(3000));
  EXPECT_EQ(policy.next_delay(0, answer(503, {{"Retry-After", " 0 "}}), true, kNow), milliseconds(0));
}

TEST(RetryPolicy, HonoursRetryAfterHttpDateInAllThreeForms) {
  auto policy = fixed(0.0);
  // kNow is Thu, 01 Jan 2026 00:00:00 GMT.
  EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", "Thu, 01 Jan 2026 00:00:05 GMT"}}), true, kNow),
            milliseconds(5000));
  EXPECT_EQ(parse_retry_after("Thursday, 01-Jan-26 00:00:07 GMT", kNow), milliseconds(7000));
  EXPECT_EQ(parse_retry_after("Thu Jan  1 00:00:09 2026", kNow), milliseconds(9000));
  EXPECT_EQ(parse_retry_after("Wed, 31 Dec 2025 23:59:00 GMT", kNow), milliseconds(0));  // past
}

TEST(RetryPolicy, CapsRetryAfter) {
  auto policy = fixed(0.0, {.max_retry_after = milliseconds(60000)});
  EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", "86400"}}), true, kNow), milliseconds(60000));
  EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", "99999999999999999999999"}}), true, kNow),
            milliseconds(60000));
  EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", "Fri, 01 Jan 2027 00:00:00 GMT"}}), true, kNow),
            milliseconds(60000));
}

TEST(RetryPolicy, UnparsableRetryAfterFallsBackToBackoff) {
  auto policy = fixed(0.5);
  for (const char* value : {"soon", "-5", "1.5", "", "Thu, 32 Jan 2026 00:00:00 GMT"}) {
    EXPECT_EQ(policy.next_delay(0, answer(429, {{"retry-after", value}}), true, kNow), milliseconds(100))
        << value;
  }
  EXPECT_FALSE(parse_retry_after("soon", kNow));
  EXPECT_FALSE(parse_retry_after("12abc", kNow));
}

TEST(RetryPolicy, IdempotentMethodsFollowRfc9110) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
    EXPECT_TRUE(idempotent_method(m)) << m;
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) EXPECT_FALSE(idempotent_method(m)) << m;
}
