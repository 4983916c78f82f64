// The monitoring files against the real service. Every metric that an alert of
// deploy/prometheus/alerts.yaml or a query of deploy/grafana/kargo-dsp.json names is exported by a
// running kargo-dsp after some work (the names come from tests/observability/promql_names.py), and
// the series added for the alerts behave: health_ready follows PostgreSQL and counts its changes,
// process_start_time_seconds is the start, db_pool_max_connections is DATABASE_POOL_SIZE.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "support/amazon.hpp"
#include "support/helpers.hpp"
#include "support/tcp_proxy.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Series Prometheus makes itself for every target, not the service: the scrape's outcome.
const std::set<std::string> kMadeByPrometheus = {"up"};

struct UsedMetric {
  std::string name;
  std::string where;  // file: alert, or panel and query
};

// The metric names the files query (rule files and dashboards), through promql_names.py.
std::vector<UsedMetric> metrics_used(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   std::string(KARGO_SOURCE_DIR) + "/tests/observability/promql_names.py"};
  argv.insert(argv.end(), files.begin(), files.end());
  auto run = run_command(argv);
  if (run.exit_code != 0) throw std::runtime_error("promql_names.py failed: " + run.err);
  std::vector<UsedMetric> used;
  std::istringstream lines(run.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) used.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return used;
}

// "name (where)" of every used metric that has no sample in the scrape. Histogram families are
// named by their series (_bucket, _sum, _count), so a bare family name counts as missing.
std::vector<std::string> missing(const std::vector<UsedMetric>& used, const std::vector<Sample>& scrape) {
  std::set<std::string> exported;
  for (const auto& s : scrape) exported.insert(s.name);
  std::vector<std::string> out;
  for (const auto& u : used) {
    if (!exported.count(u.name) && !kMadeByPrometheus.count(u.name))
      out.push_back(u.name + " (" + u.where + ")");
  }
  return out;
}

std::string source(const std::string& relative) { return std::string(KARGO_SOURCE_DIR) + "/" + relative; }

double now_epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<Sample> scrape(const HttpClient& http) {
  auto res = http.get("/health/metrics");
  if (res.status != 200) throw std::runtime_error("metrics: " + res.describe());
  return parse_prometheus(res.body);
}

TEST(ObservabilityTest, EveryMetricOfTheAlertsAndTheDashboardIsExportedByARunningServer) {
  SandboxProcess sandbox;
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = amazon_env(sandbox), .admin = admin});
  HttpClient http(server.port());
  auto token = login(http, admin);

  // Some work: a creative, a campaign, a list, a 404, an Amazon sync job and a report pull job.
  auto creative = create_creative(http, token, "runway", "runway_81298.html", dimensions("320x50"));
  json body{{"name", unique_name("Observed")}, {"advertiser_id", "adv-1001"}, {"budget", 5000},
            {"start_date", "2030-01-01"},      {"end_date", "2030-01-31"},    {"creative_ids", {creative}}};
  auto created = http.post_json("/api/campaigns", body, bearer(token));
  ASSERT_EQ(created.status, 201) << created.describe();
  std::string id = created.json()["data"]["id"];
  EXPECT_EQ(http.get("/api/campaigns?limit=5", bearer(token)).status, 200);
  EXPECT_EQ(http.get("/api/campaigns/camp_000000000000", bearer(token)).status, 404);
  auto sync = http.post_json("/api/integrations/amazon-dsp/sync", {{"campaign_ids", {id}}}, bearer(token));
  ASSERT_EQ(sync.status, 202) << sync.describe();
  EXPECT_EQ(wait_job(http, token, sync.json()["data"]["job_id"], 90s)["status"], "succeeded");
  auto pull = http.post_json(
      "/api/reports/refresh",
      {{"campaign_ids", {id}}, {"start_date", "2026-01-01"}, {"end_date", "2026-01-03"}}, bearer(token));
  ASSERT_EQ(pull.status, 202) << pull.describe();
  EXPECT_EQ(wait_job(http, token, pull.json()["data"]["job_id"], 90s)["status"], "succeeded");
  // The readiness check runs every 5 s; the first one sets health_ready.
  ASSERT_TRUE(wait_until([&] { return metric_sum(scrape(http), "health_ready") == 1.0; }, 20s));

  auto samples = scrape(http);
  auto used =
      metrics_used({source("deploy/prometheus/alerts.yaml"), source("deploy/grafana/kargo-dsp.json")});
  std::set<std::string> names;
  for (const auto& u : used) names.insert(u.name);
  EXPECT_GE(names.size(), 25u) << "the extraction found too few names to be right";
  for (const char* expected :
       {"http_requests_total", "http_request_duration_seconds_bucket", "health_ready",
        "external_api_circuit_state", "report_pull_age_seconds", "process_start_time_seconds"}) {
    EXPECT_TRUE(names.count(expected)) << expected << " is not among the names found";
  }
  auto absent = missing(used, samples);
  EXPECT_TRUE(absent.empty()) << "queried but not exported:\n" << testing::PrintToString(absent);

  // The same check reports a metric the service does not have.
  TempDir dir;
  std::ofstream(dir.file("broken.yaml")) << "groups:\n  - name: g\n    rules:\n      - alert: Broken\n"
                                            "        expr: rate(kargo_no_such_metric_total[5m]) > 0\n";
  EXPECT_EQ(missing(metrics_used({dir.file("broken.yaml")}), samples),
            std::vector<std::string>{"kargo_no_such_metric_total (broken.yaml: alert Broken)"});
}

TEST(ObservabilityTest, ReadinessGaugeFollowsPostgresAndCountsItsChanges) {
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  TcpProxy proxy(db.host, db.port);
  PgUrl via = db;
  via.port = proxy.port();
  const double before = now_epoch_seconds();
  ServerProcess server(
      {.env = {{"DATABASE_URL", via.with_database(db.database)}, {"DATABASE_POOL_SIZE", "3"}}});
  const double after = now_epoch_seconds();
  HttpClient http(server.port(), 20s);

  auto start = metric_sum(scrape(http), "process_start_time_seconds");
  EXPECT_GE(start, before - 1.0);
  EXPECT_LE(start, after + 1.0);
  EXPECT_EQ(metric_sum(scrape(http), "db_pool_max_connections"), 3.0);

  ASSERT_TRUE(wait_until([&] { return metric_sum(scrape(http), "health_ready") == 1.0; }, 20s));
  EXPECT_EQ(metric_sum(scrape(http), "health_ready_transitions_total"), 0.0)
      << "the first check is no change";

  proxy.freeze();  // PostgreSQL stops answering: the check gives up after 2 s
  EXPECT_TRUE(wait_until([&] { return metric_sum(scrape(http), "health_ready") == 0.0; }, 30s, 200ms));
  EXPECT_EQ(metric_sum(scrape(http), "health_ready_transitions_total"), 1.0);
  EXPECT_EQ(http.get("/health/ready").status, 503) << "the gauge and the route agree";

  proxy.thaw();
  EXPECT_TRUE(wait_until([&] { return metric_sum(scrape(http), "health_ready") == 1.0; }, 45s, 200ms));
  EXPECT_EQ(metric_sum(scrape(http), "health_ready_transitions_total"), 2.0);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace kargo::itest
