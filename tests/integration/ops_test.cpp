// Operational read-outs (issue 4 item 8): /api/performance/summary, /api/errors/statistics,
// /api/errors/recent. Each test has a fresh server, so the counts are exactly the test's own.
#include <gtest/gtest.h>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

class OpsTest : public ServerTest {
 protected:
  nlohmann::json data_of(const std::string& target) {
    auto res = http().get(target, bearer(admin_token()));
    if (res.status != 200) {
      ADD_FAILURE() << target << ": " << res.describe();
      return nlohmann::json::object();
    }
    return res.json()["data"];
  }
};

TEST_F(OpsTest, PerformanceSummaryShowsCountAndPercentilesPerRoute) {
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http().get("/api/performance/summary", bearer(admin_token())).status, 200);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(http().get("/health/live").status, 200);
  http().get("/api/nope/" + unique_name("id"), bearer(admin_token()));

  auto data = data_of("/api/performance/summary");
  ASSERT_TRUE(data["routes"].is_array()) << data;
  EXPECT_TRUE(data["total_requests"].is_number_integer()) << data;
  bool found_summary = false, found_live = false;
  for (const auto& r : data["routes"]) {
    ASSERT_TRUE(r["route"].is_string()) << r;
    std::string route = r["route"];
    EXPECT_EQ(route.find("/api/nope/"), std::string::npos) << "raw paths never become routes: " << route;
    ASSERT_TRUE(r["count"].is_number_integer()) << r;
    for (const char* p : {"p50_ms", "p95_ms", "p99_ms"}) {
      ASSERT_TRUE(r[p].is_number()) << p << " in " << r;
      EXPECT_GE(r[p].get<double>(), 0.0);
    }
    EXPECT_LE(r["p50_ms"].get<double>(), r["p95_ms"].get<double>()) << r;
    EXPECT_LE(r["p95_ms"].get<double>(), r["p99_ms"].get<double>()) << r;
    if (route == "/api/performance/summary" && r["method"] == "GET") {
      found_summary = true;
      EXPECT_GE(r["count"].get<int>(), 5) << r;
      EXPECT_GT(r["p99_ms"].get<double>(), 0.0) << r;
    }
    if (route == "/health/live") {
      found_live = true;
      EXPECT_GE(r["count"].get<int>(), 3) << r;
    }
  }
  EXPECT_TRUE(found_summary) << data;
  EXPECT_TRUE(found_live) << data;
}

TEST_F(OpsTest, ErrorStatisticsCountByCodeAndRoute) {
  admin_token();  // log in before counting
  for (int i = 0; i < 2; ++i) http().get("/api/nope");
  for (int i = 0; i < 3; ++i) http().get("/api/performance/summary");
  http().post_json("/api/auth/token", nlohmann::json::object());

  auto data = data_of("/api/errors/statistics");
  EXPECT_EQ(data["by_code"]["RESOURCE_NOT_FOUND"], 2) << data;
  EXPECT_EQ(data["by_code"]["AUTHENTICATION_ERROR"], 3) << data;
  EXPECT_EQ(data["by_code"]["VALIDATION_ERROR"], 1) << data;
  EXPECT_EQ(data["total_errors"], 6) << data;
  EXPECT_EQ(data["by_route"]["/api/performance/summary"]["AUTHENTICATION_ERROR"], 3) << data;
  EXPECT_EQ(data["by_route"]["/api/auth/token"]["VALIDATION_ERROR"], 1) << data;
  for (const auto& [route, _] : data["by_route"].items()) {
    EXPECT_EQ(route.find("nope"), std::string::npos) << "raw paths never become routes: " << route;
  }
}

TEST_F(OpsTest, RecentErrorsAreNewestFirstWithRequestId) {
  for (int i = 1; i <= 7; ++i) {
    ASSERT_EQ(http().get("/api/nope", {{"X-Request-ID", "err-" + std::to_string(i)}}).status, 404);
  }
  auto data = data_of("/api/errors/recent?limit=5");
  ASSERT_TRUE(data["errors"].is_array()) << data;
  ASSERT_EQ(data["errors"].size(), 5u) << data;
  for (int i = 0; i < 5; ++i) {
    const auto& e = data["errors"][static_cast<size_t>(i)];
    EXPECT_EQ(e["request_id"], "err-" + std::to_string(7 - i)) << data;
    EXPECT_EQ(e["code"], "RESOURCE_NOT_FOUND") << e;
    EXPECT_TRUE(e["message"].is_string()) << e;
    EXPECT_TRUE(e["route"].is_string()) << e;
    EXPECT_TRUE(e["at"].is_string() && is_iso8601_utc(e["at"])) << e;
  }
}

TEST_F(OpsTest, RecentErrorsDefaultsToTwentyItems) {
  for (int i = 0; i < 25; ++i) ASSERT_EQ(http().get("/api/nope").status, 404);
  auto data = data_of("/api/errors/recent");
  EXPECT_EQ(data["limit"], 20) << data;
  EXPECT_EQ(data["errors"].size(), 20u) << data;
}

// Contract section 2 "Lists": limit and offset, and data {"<items>", total, limit, offset}.
TEST_F(OpsTest, RecentErrorsIsAListWithTotalLimitAndOffset) {
  for (int i = 1; i <= 7; ++i) {
    ASSERT_EQ(http().get("/api/nope", {{"X-Request-ID", "err-" + std::to_string(i)}}).status, 404);
  }
  auto data = data_of("/api/errors/recent?limit=3&offset=2");
  EXPECT_EQ(data["total"], 7) << data;
  EXPECT_EQ(data["limit"], 3) << data;
  EXPECT_EQ(data["offset"], 2) << data;
  ASSERT_TRUE(data["errors"].is_array()) << data;
  std::vector<std::string> ids;
  for (const auto& e : data["errors"]) ids.push_back(json_string(e, "request_id"));
  EXPECT_EQ(ids, (std::vector<std::string>{"err-5", "err-4", "err-3"}));
  auto bad = http().get("/api/errors/recent?offset=-1", bearer(admin_token()));
  EXPECT_EQ(bad.status, 422) << bad.describe();
}

TEST_F(OpsTest, RecentErrorsRejectsBadLimit) {
  for (const char* limit : {"0", "abc", "101", "-1", "1.5", ""}) {
    SCOPED_TRACE(limit);
    auto res = http().get(std::string("/api/errors/recent?limit=") + limit, bearer(admin_token()));
    ASSERT_EQ(res.status, 422) << res.describe();
    auto body = res.json();
    EXPECT_EQ(body["error"]["code"], "VALIDATION_ERROR");
    EXPECT_EQ(body["error"]["details"][0]["field"], "limit") << body;
  }
  EXPECT_EQ(http().get("/api/errors/recent?limit=100", bearer(admin_token())).status, 200);
  EXPECT_EQ(http().get("/api/errors/recent?limit=1", bearer(admin_token())).status, 200);
}

TEST_F(OpsTest, OpsRoutesNeedAToken) {
  for (const char* path : {"/api/performance/summary", "/api/errors/statistics", "/api/errors/recent"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(http().get(path).status, 401);
  }
}

}  // namespace
}  // namespace kargo::itest
