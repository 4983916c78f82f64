// Contract section 2, "Rate limiting": a token bucket per client in Redis, shared by every
// instance, with X-RateLimit-* headers on every /api/* response; /health/* is exempt.
// Each test has its own redis-server: buckets in the shared Redis would be touched by the
// servers of tests running in parallel.
#include <gtest/gtest.h>

#include <future>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

class RateLimitTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start_server(unsigned per_minute, unsigned burst) {
    return std::make_unique<ServerProcess>(
        ServerOptions{.env = {{"REDIS_URL", redis_.url()},
                              {"RATE_LIMIT_PER_MINUTE", std::to_string(per_minute)},
                              {"RATE_LIMIT_BURST", std::to_string(burst)}},
                      .admin = admin_});
  }

  static int64_t header_int(const HttpResponse& res, const char* name) {
    auto v = res.header(name);
    if (!v) {
      ADD_FAILURE() << name << " missing on " << res.describe();
      return -1;
    }
    try {
      return std::stoll(*v);
    } catch (const std::exception&) {
      ADD_FAILURE() << name << " is not an integer: " << *v;
      return -1;
    }
  }

  static void expect_rate_headers(const HttpResponse& res, int64_t limit) {
    SCOPED_TRACE(res.describe());
    std::string missing;
    for (const char* name : {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}) {
      if (!res.has_header(name)) missing += std::string(missing.empty() ? "" : ", ") + name;
    }
    if (!missing.empty()) {
      ADD_FAILURE() << "missing " << missing;
      return;
    }
    EXPECT_EQ(header_int(res, "x-ratelimit-limit"), limit);
    auto remaining = header_int(res, "x-ratelimit-remaining");
    EXPECT_GE(remaining, 0);
    EXPECT_LE(remaining, limit);
    auto reset = header_int(res, "x-ratelimit-reset");
    EXPECT_GE(reset, now_epoch() - 1) << "X-RateLimit-Reset is epoch seconds";
    EXPECT_LE(reset, now_epoch() + 3600);
  }

  RedisServer redis_;
  Credentials admin_ = Credentials::unique("admin");
};

TEST_F(RateLimitTest, SixthRequestInABurstIs429WithRetryAfterAndRateLimitHeaders) {
  auto server = start_server(5, 0);
  HttpClient http(server->port());
  auto token = login(http, admin_);
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    auto res = http.get("/api/performance/summary", bearer(token));
    ASSERT_EQ(res.status, 200) << res.describe();
    expect_rate_headers(res, 5);
    EXPECT_EQ(header_int(res, "x-ratelimit-remaining"), 4 - i);
  }
  auto limited = http.get("/api/performance/summary", bearer(token));
  ASSERT_EQ(limited.status, 429) << limited.describe();
  auto body = limited.json();
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
  auto retry_after = header_int(limited, "retry-after");
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 12) << "one token comes back every 12 s at 5 per minute";
  expect_rate_headers(limited, 5);
  EXPECT_EQ(header_int(limited, "x-ratelimit-remaining"), 0);

  auto metrics = parse_prometheus(http.get("/health/metrics").body);
  EXPECT_GE(metric_sum(metrics, "rate_limited_requests_total"), 1.0);
  EXPECT_GE(
      metric_sum(metrics, "http_requests_total", {{"route", "/api/performance/summary"}, {"status", "429"}}),
      1.0);
}

TEST_F(RateLimitTest, HealthRoutesAreNeverLimited) {
  auto server = start_server(5, 0);
  HttpClient http(server->port());
  auto token = login(http, admin_);
  int allowed = 0;
  for (int i = 0; i < 8; ++i) allowed += http.get("/api/performance/summary", bearer(token)).status == 200;
  ASSERT_EQ(allowed, 5);
  for (int i = 0; i < 30; ++i) {
    for (const char* path : {"/health/live", "/health/ready", "/health/metrics", "/"}) {
      auto res = http.get(path, bearer(token));
      ASSERT_EQ(res.status, 200) << path << " " << res.describe();
      EXPECT_FALSE(res.has_header("x-ratelimit-limit")) << path;
    }
  }
}

TEST_F(RateLimitTest, RateLimitHeadersOnEveryApiResponseIncludingErrors) {
  auto server = start_server(60, 10);
  HttpClient http(server->port());
  auto token = login(http, admin_);
  std::vector<std::pair<std::string, HttpResponse>> responses = {
      {"200", http.get("/api/performance/summary", bearer(token))},
      {"401", http.get("/api/performance/summary")},
      {"404", http.get("/api/nope")},
      {"404 with token", http.get("/api/nope", bearer(token))},
      {"405", http.get("/api/auth/token")},
      {"400", http.request("POST", "/api/auth/token", "nope", {{"Content-Type", "application/json"}})},
      {"422", http.post_json("/api/auth/token", nlohmann::json::object())},
      {"401 login", http.post_json("/api/auth/token", {{"username", "x"}, {"password", "y"}})},
  };
  for (const auto& [what, res] : responses) {
    SCOPED_TRACE(what);
    expect_rate_headers(res, 70);  // capacity = per minute + burst
  }
}

TEST_F(RateLimitTest, RemainingCountsDownPerClient) {
  auto server = start_server(60, 10);
  HttpClient http(server->port());
  auto token = login(http, admin_);
  auto first = http.get("/api/performance/summary", bearer(token));
  auto second = http.get("/api/performance/summary", bearer(token));
  EXPECT_EQ(header_int(first, "x-ratelimit-remaining"), 69);
  EXPECT_LT(header_int(second, "x-ratelimit-remaining"), header_int(first, "x-ratelimit-remaining"));
}

TEST_F(RateLimitTest, EachClientHasItsOwnBucket) {
  auto server = start_server(5, 0);
  HttpClient http(server->port());
  auto admin_token = login(http, admin_);
  // Made before the admin's bucket is empty; creating users is an /api call too.
  auto other_token = login(http, create_user(http, admin_token, "viewer"));
  int tries = 0;
  while (http.get("/api/performance/summary", bearer(admin_token)).status != 429 && ++tries < 10) {
  }
  ASSERT_LT(tries, 10) << "the admin was never limited";
  auto other = http.get("/api/performance/summary", bearer(other_token));
  EXPECT_EQ(other.status, 200) << "another user's requests do not drain this one's bucket: "
                               << other.describe();
}

TEST_F(RateLimitTest, ConcurrentBurstGetsExactlyTheCapacity) {
  auto server = start_server(5, 0);
  HttpClient http(server->port());
  auto token = login(http, admin_);
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 12; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return http.get("/api/performance/summary", bearer(token)).status; }));
  }
  int ok = 0, limited = 0;
  for (auto& c : calls) {
    int status = c.get();
    ok += status == 200;
    limited += status == 429;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(limited, 7);
}

TEST_F(RateLimitTest, InstancesSharingRedisShareOneBucket) {
  auto a = start_server(5, 0);
  auto b = start_server(5, 0);
  HttpClient http_a(a->port());
  HttpClient http_b(b->port());
  auto token = login(http_a, admin_);
  std::vector<int> statuses;
  for (int i = 0; i < 8; ++i) {
    const HttpClient& http = i % 2 == 0 ? http_a : http_b;
    statuses.push_back(http.get("/api/performance/summary", bearer(token)).status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 200, 200, 429, 429, 429}))
      << "two instances together allow the limit once, not twice";
}

// With a large bucket each Redis call leases a few spare tokens (1 % of the bucket) to the
// instance; two instances drawing on one bucket must still allow no more than its capacity.
TEST_F(RateLimitTest, LeasedTokensNeverExceedTheSharedBucket) {
  auto a = start_server(400, 0);  // lease of 4 tokens per Redis call
  auto b = start_server(400, 0);
  HttpClient http_a(a->port());
  HttpClient http_b(b->port());
  auto token = login(http_a, admin_);
  int allowed = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 460; ++i) {
    const HttpClient& http = i % 2 == 0 ? http_a : http_b;
    allowed += http.get("/api/errors/statistics", bearer(token)).status == 200;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Refill is 400/min: the burst may also use what refilled while it ran.
  int refill = static_cast<int>(seconds * 400.0 / 60.0) + 1;
  EXPECT_LE(allowed, 400 + refill) << "in " << seconds << " s";
  EXPECT_GE(allowed, 400 - 8) << "at most the leases of two instances go unused";
}

TEST_F(RateLimitTest, RejectedOversizedApiRequestsStillCarryRateLimitHeaders) {
  // "Headers on every /api/* response": also on a 413 answered before the body was read, both
  // above MAX_BODY_BYTES (1 MiB) and above MAX_UPLOAD_BYTES (20 MiB).
  auto server = start_server(60, 10);
  for (const char* length : {"2097152", "100000000"}) {
    SCOPED_TRACE(std::string("Content-Length: ") + length);
    RawConnection conn(server->port());
    conn.send(std::string("POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                          "Content-Length: ") +
              length + "\r\n\r\n");
    auto res = conn.read_response(std::chrono::seconds(5));
    ASSERT_TRUE(res.has_value()) << conn.received();
    EXPECT_EQ(res->status, 413) << res->describe();
    expect_rate_headers(*res, 70);
  }
}

}  // namespace
}  // namespace kargo::itest
