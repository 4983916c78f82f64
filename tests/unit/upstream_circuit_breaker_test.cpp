#include <gtest/gtest.h>

#include "kargo/upstream/circuit_breaker.hpp"

using namespace kargo::upstream;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
  CircuitBreaker::Clock fn() {
    return [this] { return now; };
  }
};

class CircuitBreakerTest : public ::testing::Test {
 protected:
  void fail(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      ASSERT_TRUE(breaker.allow());
      breaker.record_failure();
    }
  }
  FakeClock clock;
  CircuitBreaker breaker{{.failure_threshold = 5, .open_duration = 30s}, clock.fn()};
};

}  // namespace

TEST_F(CircuitBreakerTest, StaysClosedBelowTheThreshold) {
  fail(4);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(breaker.allow());
  EXPECT_EQ(breaker.retry_after(), 0ms);
}

TEST_F(CircuitBreakerTest, ASuccessResetsTheConsecutiveCount) {
  fail(4);
  breaker.record_success();
  fail(4);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, OpensAfterFiveConsecutiveFailuresAndRefusesAtOnce) {
  fail(5);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.retry_after(), 30000ms);
  clock.now += 29s;
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.retry_after(), 1000ms);
}

TEST_F(CircuitBreakerTest, HalfOpenAfterThirtySecondsLetsExactlyOneProbeThrough) {
  fail(5);
  clock.now += 30s;
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);  // reads half-open before anyone asks
  EXPECT_TRUE(breaker.allow());                         // the probe
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_FALSE(breaker.allow());  // everyone else waits for the probe
  EXPECT_FALSE(breaker.allow());
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
  fail(5);
  clock.now += 30s;
  ASSERT_TRUE(breaker.allow());
  breaker.record_success();
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(breaker.allow());
  EXPECT_TRUE(breaker.allow());
  fail(4);  // the count started again from zero
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensForAnotherFullPeriod) {
  fail(5);
  clock.now += 30s;
  ASSERT_TRUE(breaker.allow());
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.retry_after(), 30000ms);
  clock.now += 30s;
  EXPECT_TRUE(breaker.allow());
}

TEST_F(CircuitBreakerTest, AProbeThatNeverReportsDoesNotBlockForEver) {
  fail(5);
  clock.now += 30s;
  ASSERT_TRUE(breaker.allow());  // this probe's caller vanishes
  clock.now += 29s;
  EXPECT_FALSE(breaker.allow());
  clock.now += 1s;
  EXPECT_TRUE(breaker.allow());  // a new probe
}

TEST_F(CircuitBreakerTest, LateOutcomesWhileOpenChangeNothing) {
  fail(5);
  clock.now += 10s;
  breaker.record_success();  // a call that started before the circuit opened
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  breaker.record_failure();
  EXPECT_EQ(breaker.retry_after(), 20000ms);  // the open period was not extended
}

TEST_F(CircuitBreakerTest, ThresholdAndDurationAreOptions) {
  CircuitBreaker small({.failure_threshold = 2, .open_duration = 50ms}, clock.fn());
  small.record_failure();
  EXPECT_EQ(small.state(), CircuitState::kClosed);
  small.record_failure();
  EXPECT_EQ(small.state(), CircuitState::kOpen);
  clock.now += 50ms;
  EXPECT_TRUE(small.allow());
}

TEST_F(CircuitBreakerTest, AnIgnoredProbeFreesTheSlotWithoutDeciding) {
  fail(5);
  clock.now += 30s;
  ASSERT_TRUE(breaker.allow());
  breaker.record_ignored();  // e.g. the probe's request was invalid and never left
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_TRUE(breaker.allow());  // the next caller probes
}

TEST(CircuitBreakerClassification, FourXxOtherThan429CountsAsSuccess) {
  auto answer = [](int s) { return circuit_outcome(HttpResult(HttpResponse{s, {}, "", ""})); };
  for (int s : {200, 204, 302, 400, 401, 403, 404, 409, 422})
    EXPECT_EQ(answer(s), CircuitOutcome::kSuccess) << s;
  for (int s : {429, 500, 502, 503, 504}) EXPECT_EQ(answer(s), CircuitOutcome::kFailure) << s;
}

TEST(CircuitBreakerClassification, NoAnswerIsAFailureContentProblemsAreNot) {
  auto failed = [](FailureKind k) { return circuit_outcome(HttpResult(TransportError{k, true, "", ""})); };
  for (auto k : {FailureKind::kConnect, FailureKind::kTimeout, FailureKind::kTls,
                 FailureKind::kConnectionLost, FailureKind::kMalformed}) {
    EXPECT_EQ(failed(k), CircuitOutcome::kFailure) << to_string(k);
  }
  for (auto k : {FailureKind::kTooLarge, FailureKind::kDecode, FailureKind::kRedirect}) {
    EXPECT_EQ(failed(k), CircuitOutcome::kSuccess) << to_string(k);
  }
  for (auto k : {FailureKind::kInvalidRequest, FailureKind::kCancelled, FailureKind::kRefusedAddress}) {
    EXPECT_EQ(failed(k), CircuitOutcome::kIgnored) << to_string(k);
  }
}

TEST(CircuitBreakerClassification, StateNamesMatchTheGaugeValues) {
  EXPECT_EQ(static_cast<int>(CircuitState::kClosed), 0);
  EXPECT_EQ(static_cast<int>(CircuitState::kHalfOpen), 1);
  EXPECT_EQ(static_cast<int>(CircuitState::kOpen), 2);
  EXPECT_EQ(to_string(CircuitState::kHalfOpen), "half_open");
}
