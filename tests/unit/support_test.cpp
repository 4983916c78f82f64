#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/error_stats.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/http/pipeline.hpp"

using namespace kargo;

TEST(RequestId, GeneratedIdsHaveTheContractShape) {
  auto id = http::new_request_id();
  ASSERT_EQ(id.size(), 20u);
  EXPECT_EQ(id.substr(0, 4), "req_");
  EXPECT_TRUE(http::valid_request_id(id));
  EXPECT_NE(id, http::new_request_id());
}

TEST(RequestId, CallerIdsAreCheckedAgainstThePattern) {
  EXPECT_TRUE(http::valid_request_id("abc-DEF_1.2"));
  EXPECT_FALSE(http::valid_request_id(""));
  EXPECT_FALSE(http::valid_request_id("has space"));
  EXPECT_FALSE(http::valid_request_id("semi;colon"));
  EXPECT_TRUE(http::valid_request_id(std::string(128, 'a')));
  EXPECT_FALSE(http::valid_request_id(std::string(129, 'a')));
}

TEST(Time, FormatsUtcWithZ) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));  // 2026-01-01
  EXPECT_EQ(format_timestamp(t), "2026-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp_millis(t + std::chrono::milliseconds(7)), "2026-01-01T00:00:00.007Z");
}

TEST(Time, ParsesOnlyValidCalendarDates) {
  EXPECT_TRUE(parse_date("2024-02-29"));
  EXPECT_FALSE(parse_date("2023-02-29"));
  EXPECT_FALSE(parse_date("2026-13-01"));
  EXPECT_FALSE(parse_date("2026-1-01"));
  EXPECT_FALSE(parse_date("01/02/2026"));
  EXPECT_EQ(format_date(*parse_date("2026-02-01")), "2026-02-01");
}

TEST(BlockingPool, RunsTasksOffTheCallerThread) {
  BlockingPool pool(2, std::chrono::seconds(5));
  std::atomic<int> ran{0};
  auto caller = std::this_thread::get_id();
  std::atomic<bool> other_thread{false};
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(pool.submit(
        [&] {
          other_thread = std::this_thread::get_id() != caller;
          ++ran;
        },
        nullptr));
  }
  pool.stop();
  EXPECT_EQ(ran, 10);
  EXPECT_TRUE(other_thread);
}

TEST(BlockingPool, ExpiredTasksRunTheirExpiryCallbackInstead) {
  BlockingPool pool(1, std::chrono::milliseconds(0));
  std::atomic<int> ran{0}, expired{0};
  // The first task occupies the only thread long enough for the queued ones to expire.
  pool.submit([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }, nullptr);
  for (int i = 0; i < 3; ++i) pool.submit([&] { ++ran; }, [&] { ++expired; });
  pool.stop();
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(expired, 3);
}

TEST(BlockingPool, RefusesWhenTheQueueIsFull) {
  BlockingPool pool(1, std::chrono::seconds(5), 1);
  std::atomic<bool> release{false};
  pool.submit(
      [&] {
        while (!release) std::this_thread::yield();
      },
      nullptr);
  // Wait until the worker took the first task, so the queue is empty again.
  while (pool.busy() == 0) std::this_thread::yield();
  EXPECT_TRUE(pool.submit([] {}, nullptr));
  EXPECT_FALSE(pool.submit([] {}, nullptr));
  release = true;
  pool.stop();
}

TEST(ErrorStats, CountsByCodeAndRouteNewestFirst) {
  ErrorStats stats(2);
  stats.record("r1", "VALIDATION_ERROR", "bad", "/api/a");
  stats.record("r2", "RESOURCE_NOT_FOUND", "nope", "/api/b");
  stats.record("r3", "VALIDATION_ERROR", "bad", "/api/a");
  auto s = stats.snapshot();
  EXPECT_EQ(s.total, 3u);
  EXPECT_EQ(s.by_code["VALIDATION_ERROR"], 2u);
  EXPECT_EQ(s.by_route_and_code["/api/a"]["VALIDATION_ERROR"], 2u);
  auto [recent, total] = stats.recent(10);
  EXPECT_EQ(total, 2u);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].request_id, "r3");
  EXPECT_EQ(recent[1].request_id, "r2");
}

TEST(Metrics, RouteSummaryPercentilesComeFromTheHistogram) {
  Metrics m;
  for (int i = 0; i < 100; ++i) m.observe_http("GET", "/api/x", i < 2 ? 500 : 200, 0.002);
  m.observe_http("GET", "/api/x", 404, 0.002);
  auto rows = m.route_summaries();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 101u);
  EXPECT_EQ(rows[0].errors, 2u);
  EXPECT_EQ(rows[0].client_errors, 1u);
  // All samples are in the (1 ms, 2.5 ms] bucket.
  EXPECT_GT(rows[0].p50_ms, 1.0);
  EXPECT_LE(rows[0].p99_ms, 2.5);
  auto text = m.serialize();
  EXPECT_NE(text.find("http_requests_total{method=\"GET\",route=\"/api/x\",status=\"200\"} 98"),
            std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes"), std::string::npos);
}

TEST(Metrics, EmptyRegistryHasNoRouteSummaries) {
  Metrics m;
  EXPECT_TRUE(m.route_summaries().empty());
}
