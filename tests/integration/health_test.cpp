// Contract section 8: the health routes and the Prometheus scrape.
#include <gtest/gtest.h>

#include <set>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

constexpr const char* kServiceName = "kargo-amazon-dsp-integration";

class HealthTest : public ServerTest {};

TEST_F(HealthTest, RootNamesTheServiceAndLinksDocsAndHealth) {
  auto res = http().get("/");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_TRUE(body["name"].is_string() && !body["name"].get<std::string>().empty()) << body;
  EXPECT_TRUE(body["version"].is_string() && !body["version"].get<std::string>().empty()) << body;
  EXPECT_EQ(body["docs"], "/docs");
  EXPECT_EQ(body["health"], "/health");
}

TEST_F(HealthTest, HealthReportsStatusServiceVersionAndTimestamp) {
  auto res = http().get("/health");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_TRUE(body["status"].is_string()) << body;
  EXPECT_EQ(body["service"], kServiceName);
  EXPECT_TRUE(body["version"].is_string()) << body;
  EXPECT_TRUE(body["timestamp"].is_string() && is_iso8601_utc(body["timestamp"])) << body;
}

TEST_F(HealthTest, LiveAnswersHealthyWithUptime) {
  auto res = http().get("/health/live");
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.header("content-type").value_or("").rfind("application/json", 0), 0u);
  auto body = res.json();
  EXPECT_EQ(body["status"], "healthy");
  EXPECT_TRUE(body["timestamp"].is_string() && is_iso8601_utc(body["timestamp"])) << body;
  EXPECT_EQ(body["service"], kServiceName);
  EXPECT_TRUE(body["version"].is_string()) << body;
  ASSERT_TRUE(body["uptime_seconds"].is_number()) << body;
  EXPECT_GE(body["uptime_seconds"].get<double>(), 0.0);
}

// /health/live touches no dependency: it answers even when PostgreSQL and Redis are
// unreachable, while /health/ready reports not_ready.
TEST(Health, LiveTouchesNoDependencyAndReadyIs503WithoutDatabase) {
  ServerProcess server({.env = {{"DATABASE_URL", "postgresql://kargo:kargo@127.0.0.1:" +
                                                     std::to_string(free_port()) + "/kargo_dsp"},
                                {"REDIS_URL", "redis://127.0.0.1:" + std::to_string(free_port()) + "/0"}}});
  HttpClient http(server.port());
  auto live = http.get("/health/live");
  EXPECT_EQ(live.status, 200) << live.describe();
  EXPECT_EQ(live.json()["status"], "healthy");

  auto ready = http.get("/health/ready");
  EXPECT_EQ(ready.status, 503) << ready.describe();
  auto body = ready.json();
  EXPECT_EQ(body["status"], "not_ready");
  EXPECT_TRUE(body["checks"]["database"]["status"].is_string()) << body;
  EXPECT_NE(body["checks"]["database"]["status"], "healthy") << body;
  EXPECT_TRUE(body["checks"].contains("redis")) << body;
}

TEST_F(HealthTest, ReadyIsReadyWhenDatabaseAndRedisAnswer) {
  auto res = http().get("/health/ready");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["status"], "ready");
  for (const char* check : {"database", "redis"}) {
    SCOPED_TRACE(check);
    const auto& c = body["checks"][check];
    ASSERT_TRUE(c.is_object()) << body;
    EXPECT_EQ(c["status"], "healthy") << c;
    ASSERT_TRUE(c["latency_ms"].is_number()) << c;
    EXPECT_GE(c["latency_ms"].get<double>(), 0.0);
  }
}

TEST_F(HealthTest, DetailedReportsEveryCheckPoolJobsAndSystem) {
  auto res = http().get("/health/detailed");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  for (const char* check : {"database", "redis", "amazon_dsp", "kargo"}) {
    SCOPED_TRACE(check);
    const auto& c = body["checks"][check];
    ASSERT_TRUE(c.is_object()) << body;
    EXPECT_TRUE(c["status"].is_string()) << c;
    EXPECT_TRUE(c.contains("latency_ms")) << c;
  }
  EXPECT_EQ(body["checks"]["database"]["status"], "healthy");
  EXPECT_EQ(body["checks"]["redis"]["status"], "healthy");
  for (const char* upstream : {"amazon_dsp", "kargo"}) {
    SCOPED_TRACE(upstream);
    EXPECT_TRUE(body["checks"][upstream]["circuit_state"].is_string() ||
                body["checks"][upstream]["circuit_state"].is_number())
        << body["checks"][upstream];
  }
  ASSERT_TRUE(body["pool"]["size"].is_number_integer()) << body;
  EXPECT_EQ(body["pool"]["size"], 4);  // DATABASE_POOL_SIZE of the test server
  EXPECT_TRUE(body["pool"]["in_use"].is_number_integer()) << body;
  EXPECT_TRUE(body["jobs"]["queued"].is_number_integer()) << body;
  EXPECT_TRUE(body["jobs"]["running"].is_number_integer()) << body;
  const auto& sys = body["system"];
  ASSERT_TRUE(sys.is_object()) << body;
  EXPECT_GT(sys.value("rss_bytes", 0.0), 0.0) << sys;
  EXPECT_GT(sys.value("threads", 0.0), 0.0) << sys;
  EXPECT_GT(sys.value("open_fds", 0.0), 0.0) << sys;
  ASSERT_TRUE(sys["uptime_seconds"].is_number()) << sys;
}

class HealthStatusTest : public ServerTest {
 protected:
  EnvOverrides server_env() override {
    auto redis = required_env("REDIS_URL");
    return {{"AMAZON_CLIENT_SECRET", amazon_secret_},
            {"KARGO_API_KEY", kargo_key_},
            // The shared Redis has no password: AUTH fails and the server runs degraded,
            // which does not matter here; the password must simply never be shown.
            {"REDIS_URL", "redis://:" + redis_password_ + "@" + redis.substr(redis.find("//") + 2)}};
  }
  std::string redis_password_ = unique_name("redispw");
  std::string amazon_secret_ = unique_name("amazon-secret");
  std::string kargo_key_ = unique_name("kargo-key");
};

TEST_F(HealthStatusTest, StatusShowsVersionBuildStartEnvironmentAndConfigWithoutSecrets) {
  auto res = http().get("/health/status");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_TRUE(body["version"].is_string()) << body;
  EXPECT_TRUE(body.contains("build")) << body;
  EXPECT_EQ(body["environment"], "production");
  EXPECT_TRUE(body["config"].is_object()) << body;
  bool has_start_time = false;
  for (const auto& [key, value] : body.items()) {
    if (key.find("start") != std::string::npos && value.is_string() && is_iso8601_utc(value))
      has_start_time = true;
  }
  EXPECT_TRUE(has_start_time) << "no start time in " << body;

  for (const std::string& secret :
       {secret_key(), admin().password, amazon_secret_, kargo_key_, redis_password_}) {
    EXPECT_EQ(res.body.find(secret), std::string::npos) << "secret '" << secret << "' leaked: " << res.body;
    EXPECT_EQ(server().stdout_text().find(secret), std::string::npos) << "secret '" << secret << "' logged";
  }
  // Credentials inside URLs (postgresql://kargo:kargo@...) are masked.
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  EXPECT_EQ(res.body.find(":" + db.password + "@"), std::string::npos) << res.body;
}

TEST_F(HealthTest, MetricsExposeContractSeriesLabelledWithRouteTemplates) {
  const std::string raw_id = unique_name("rawid");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(http().get("/api/performance/summary", bearer(admin_token())).status, 200);
  }
  EXPECT_EQ(http().get("/api/nope/" + raw_id, bearer(admin_token())).status, 404);
  EXPECT_EQ(http().get("/health/nope/" + raw_id).status, 404);

  auto res = http().get("/health/metrics");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto type = res.header("content-type").value_or("");
  EXPECT_EQ(type.rfind("text/plain", 0), 0u) << type;
  EXPECT_NE(type.find("version=0.0.4"), std::string::npos) << type;

  auto samples = parse_prometheus(res.body);
  EXPECT_GE(metric_sum(samples, "http_requests_total",
                       {{"method", "GET"}, {"route", "/api/performance/summary"}, {"status", "200"}}),
            2.0)
      << res.body;
  EXPECT_GE(metric_sum(samples, "http_request_duration_seconds_count",
                       {{"method", "GET"}, {"route", "/api/performance/summary"}}),
            2.0)
      << res.body;
  EXPECT_GE(metric_sum(samples, "http_request_duration_seconds_bucket",
                       {{"route", "/api/performance/summary"}, {"le", "+Inf"}}),
            2.0);
  EXPECT_GE(metric_sum(samples, "http_requests_total", {{"status", "404"}}), 2.0) << res.body;
  // Route labels are templates: the raw path (and its id) never becomes a label value.
  EXPECT_EQ(res.body.find(raw_id), std::string::npos) << res.body;
  for (const auto& s : samples) {
    auto it = s.labels.find("route");
    if (it != s.labels.end()) {
      EXPECT_EQ(it->second.find("nope"), std::string::npos) << it->second;
    }
  }

  for (const char* name :
       {"http_requests_in_flight", "process_resident_memory_bytes", "rate_limited_requests_total",
        "redis_errors_total", "process_cpu_seconds_total", "process_open_fds"}) {
    EXPECT_TRUE(has_metric(samples, name)) << name << " missing";
  }
  EXPECT_GT(metric_sum(samples, "process_resident_memory_bytes"), 0.0);
  EXPECT_GE(metric_sum(samples, "http_requests_in_flight"), 1.0) << "the scrape itself is in flight";
  std::set<std::string> pool_states;
  for (const auto& s : samples) {
    if (s.name == "db_pool_connections")
      pool_states.insert(s.labels.count("state") ? s.labels.at("state") : "");
  }
  EXPECT_EQ(pool_states, (std::set<std::string>{"idle", "in_use"}));
}

TEST_F(HealthTest, DocsServesAnHtmlPageAndTheOpenApiDocument) {
  auto page = http().get("/docs");
  ASSERT_EQ(page.status, 200) << page.describe();
  EXPECT_EQ(page.header("content-type").value_or("").rfind("text/html", 0), 0u);
  auto yaml = http().get("/docs/openapi.yaml");
  ASSERT_EQ(yaml.status, 200) << yaml.describe();
  EXPECT_NE(yaml.body.find("openapi: 3"), std::string::npos) << yaml.body.substr(0, 200);
}

// "Keep openapi.yaml in step with every route": every route the service answers is
// documented, and every documented operation exists (answers neither 404 nor 405).
TEST_F(HealthTest, OpenApiDocumentsEveryRouteAndEveryDocumentedRouteExists) {
  auto res = http().get("/docs/openapi.json");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto spec = res.json();
  ASSERT_TRUE(spec["openapi"].is_string()) << spec.dump().substr(0, 300);
  EXPECT_EQ(spec["openapi"].get<std::string>().rfind("3.", 0), 0u);
  const auto& paths = spec["paths"];
  ASSERT_TRUE(paths.is_object());
  for (const char* path : {"/",
                           "/health",
                           "/health/live",
                           "/health/ready",
                           "/health/detailed",
                           "/health/status",
                           "/health/metrics",
                           "/docs",
                           "/docs/reference",
                           "/api/auth/token",
                           "/api/auth/users",
                           "/api/errors/statistics",
                           "/api/errors/recent",
                           "/api/performance/summary",
                           "/api/campaigns",
                           "/api/campaigns/{id}",
                           "/api/campaigns/{id}/activate",
                           "/api/campaigns/{id}/pause",
                           "/api/campaigns/{id}/creatives",
                           "/api/campaigns/{id}/creatives/{creative_id}",
                           "/api/campaigns/{id}/history",
                           "/api/integrations/amazon-dsp/status",
                           "/api/integrations/kargo/campaigns",
                           "/api/integrations/kargo/push-campaign",
                           "/api/creatives",
                           "/api/creatives/{id}",
                           "/api/creatives/{id}/preview",
                           "/api/jobs",
                           "/api/jobs/{id}",
                           "/api/creatives/process",
                           "/api/creatives/process/bulk",
                           "/api/creatives/upload/amazon-dsp"}) {
    EXPECT_TRUE(paths.contains(path)) << path << " is not documented";
  }
  for (const auto& [path, operations] : paths.items()) {
    if (path.find('{') != std::string::npos) continue;  // needs a real id
    for (const auto& [method, _] : operations.items()) {
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (m != "GET" && m != "POST" && m != "PUT" && m != "DELETE" && m != "PATCH") continue;
      SCOPED_TRACE(m + " " + path);
      Headers headers = bearer(admin_token());
      std::string body;
      if (m != "GET" && m != "DELETE") {
        headers.emplace_back("Content-Type", "application/json");
        body = "{}";
      }
      auto answer = http().request(m, path, body, headers);
      EXPECT_NE(answer.status, 404) << answer.describe();
      EXPECT_NE(answer.status, 405) << answer.describe();
    }
  }
}

// `kargo-dsp worker` serves only /health/* (on WORKER_PORT): no API.
TEST(Worker, ServesHealthOnWorkerPortButNoApi) {
  ServerProcess worker({.mode = "worker"});
  HttpClient http(worker.port());
  EXPECT_EQ(http.get("/health/live").status, 200);
  auto ready = http.get("/health/ready");
  EXPECT_EQ(ready.status, 200) << ready.describe();
  auto token = http.post_json("/api/auth/token", {{"username", "x"}, {"password", "y"}});
  EXPECT_EQ(token.status, 404) << token.describe();
  EXPECT_EQ(http.get("/api/performance/summary").status, 404);
  EXPECT_EQ(http.get("/docs").status, 404) << "no HTTP except /health/*";
  EXPECT_EQ(worker.stop(), 0);
}

}  // namespace
}  // namespace kargo::itest

namespace kargo::itest {
namespace {

// Alerts on absent() or rate() must behave on a fresh process: every family of contract section 8
// is in the very first scrape, with zero series where nothing happened yet.
TEST(FirstScrape, EveryContractMetricFamilyIsExportedBeforeAnythingHappened) {
  ServerProcess server({.env = {{"KARGO_API_KEY", "test-key"}}});
  HttpClient http(server.port());
  auto res = http.get("/health/metrics");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto samples = parse_prometheus(res.body);
  for (const char* family :
       {"http_requests_total", "http_request_duration_seconds_count", "http_requests_in_flight",
        "external_api_requests_total", "external_api_request_duration_seconds_count", "external_api_circuit_state",
        "db_pool_connections", "db_query_duration_seconds_count", "redis_errors_total",
        "creative_processing_total", "creative_processing_duration_seconds_count", "jobs_queue_depth",
        "jobs_processed_total", "webhook_deliveries_total", "rate_limited_requests_total",
        "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"}) {
    EXPECT_TRUE(has_metric(samples, family)) << family << " missing from the first scrape";
  }
  // Zero series carry real label values: the routes, upstreams, job kinds and formats.
  EXPECT_TRUE(has_metric(samples, "http_requests_total"));
  EXPECT_EQ(metric_sum(samples, "external_api_requests_total", {{"service", "kargo"}, {"endpoint", "/snippet"}}),
            0.0);
  EXPECT_EQ(metric_sum(samples, "jobs_processed_total", {{"kind", "bulk_import"}, {"status", "failed"}}), 0.0);
  EXPECT_EQ(metric_sum(samples, "creative_processing_total", {{"format", "runway"}, {"phase", "phase_1"}}), 0.0);
  bool kargo_endpoint = false;
  for (const auto& s : samples) {
    if (s.name == "external_api_requests_total" && s.labels.count("service") && s.labels.at("service") == "kargo")
      kargo_endpoint = true;
  }
  EXPECT_TRUE(kargo_endpoint) << res.body;
}

}  // namespace
}  // namespace kargo::itest
