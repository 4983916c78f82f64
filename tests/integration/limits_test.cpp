// Resource limits of the HTTP layer: a saturated blocking pool answers 503 while the I/O
// threads stay responsive (issue 4 item 3), and idle keep-alive connections are closed after
// 60 s (contract section 2).
#include <gtest/gtest.h>

#include <future>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Limits, SaturatedBlockingPoolAnswers503WhileIoThreadsStayResponsive) {
  // One blocking thread, a 1 s queue deadline (DATABASE_ACQUIRE_TIMEOUT_MS), and far more
  // slow logins at once than it can hash in that time. The thread hashes for about the
  // deadline, then answers the expired rest with 503, so the CPU cost stays bounded.
  auto admin = Credentials::unique("admin");
  ServerProcess server(
      {.env = {{"DATABASE_POOL_SIZE", "1"}, {"DATABASE_ACQUIRE_TIMEOUT_MS", "1000"}}, .admin = admin});
  HttpClient http(server.port(), seconds(30));
  constexpr int kLogins = 30;
  std::vector<std::future<HttpResponse>> logins;
  for (int i = 0; i < kLogins; ++i) {
    logins.push_back(std::async(std::launch::async, [&] {
      return http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
    }));
  }
  // /health/live runs on the I/O threads: it does not wait behind the second-long queue.
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(http.get("/health/live").status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(400));
  }
  int ok = 0, busy = 0;
  for (auto& f : logins) {
    auto res = f.get();
    if (res.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(res.status, 503) << res.describe();
      if (res.status != 503) continue;
      ++busy;
      EXPECT_EQ(res.json()["error"]["code"], "SERVICE_UNAVAILABLE") << res.describe();
      EXPECT_TRUE(res.has_header("retry-after")) << res.describe();
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1) << "thirty password hashes cannot all start within 1 s on one thread";
  EXPECT_EQ(
      http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}}).status,
      200)
      << "the pool recovers once the burst is over";
}

TEST(Limits, IdleKeepAliveConnectionsAreClosedAfterSixtySeconds) {
  ServerProcess server;
  auto start = std::chrono::steady_clock::now();
  RawConnection used(server.port());
  ASSERT_TRUE(used.send("GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(used.read_response(seconds(5)).has_value());
  RawConnection never_used(server.port());

  EXPECT_FALSE(used.wait_closed(seconds(50))) << "closed before 50 s";
  EXPECT_TRUE(used.wait_closed(seconds(15))) << "keep-alive connection still open after 65 s";
  EXPECT_TRUE(never_used.wait_closed(seconds(5))) << "silent connection still open after 70 s";
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(71));
}

}  // namespace
}  // namespace kargo::itest
