// The monitoring files against the real service. Every metric that an alert of
// deploy/prometheus/alerts.yaml or a query of deploy/grafana/kargo-dsp.json names is exported by a
// running kargo-dsp after some work (the names come from tests/observability/promql_names.py); a
// real Prometheus scraping it evaluates every rule and answers every dashboard query; and the
// series added for the alerts behave: health_ready follows PostgreSQL and counts its changes,
// process_start_time_seconds is the start, db_pool_max_connections is DATABASE_POOL_SIZE.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
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

// promql_names.py with these arguments: its "FIRST<Tab>SECOND" lines.
std::vector<std::pair<std::string, std::string>> promql_names(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   std::string(KARGO_SOURCE_DIR) + "/tests/observability/promql_names.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = run_command(argv);
  if (run.exit_code != 0) throw std::runtime_error("promql_names.py failed: " + run.err);
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(run.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

// The metric names the files query (rule files and dashboards).
std::vector<UsedMetric> metrics_used(const std::vector<std::string>& files) {
  std::vector<UsedMetric> used;
  for (auto& [name, where] : promql_names(files)) used.push_back({name, where});
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

// A real Prometheus (Debian's package) scraping one kargo-dsp every second under job="kargo-dsp",
// with a rule file loaded; its HTTP API answers queries.
class PrometheusProcess {
 public:
  PrometheusProcess(uint16_t target_port, const std::string& rule_file) : port_(free_port()), http_(port_) {
    std::ofstream(dir_.file("prometheus.yml"))
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        << "rule_files: ['" << rule_file << "']\n"
        << "scrape_configs:\n"
        << "  - job_name: kargo-dsp\n"
        << "    metrics_path: /health/metrics\n"
        << "    static_configs: [{targets: ['127.0.0.1:" << target_port << "']}]\n";
    auto which = run_command({"sh", "-c", "command -v prometheus"});
    std::string binary = which.out.substr(0, which.out.find('\n'));
    if (which.exit_code != 0 || binary.empty()) {
      throw std::runtime_error("prometheus is not installed (Debian package prometheus, scripts/lib.sh)");
    }
    child_ = std::make_unique<ChildProcess>(ChildProcess::Spec{
        .argv = {binary, "--config.file=" + dir_.file("prometheus.yml"),
                 "--storage.tsdb.path=" + dir_.file("data"),
                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
        .env = {},
        .workdir = dir_.path(),
        .stdout_path = dir_.file("stdout.log"),
        .stderr_path = dir_.file("stderr.log")});
  }
  // GET /api/v1/<what> (a test failure's text as {"status": "error", ...} when it cannot be reached).
  json api(const std::string& what) const {
    try {
      auto res = http_.get("/api/v1/" + what);
      return json::parse(res.body);
    } catch (const std::exception& e) {
      return {{"status", "error"}, {"error", e.what()}};
    }
  }
  json query(const std::string& promql) const { return api("query?query=" + percent_encoded(promql)); }
  std::string log() const { return read_file(dir_.file("stderr.log")); }

 private:
  static std::string percent_encoded(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", c);
        out += hex;
      }
    }
    return out;
  }

  TempDir dir_;
  uint16_t port_;
  HttpClient http_;
  std::unique_ptr<ChildProcess> child_;
};

// (where, PromQL) of the dashboard's panel queries as Grafana sends them for these variables.
std::vector<std::pair<std::string, std::string>> dashboard_queries(const std::vector<std::string>& values) {
  std::vector<std::string> args = {"--queries",
                                   std::string(KARGO_SOURCE_DIR) + "/deploy/grafana/kargo-dsp.json"};
  args.insert(args.end(), values.begin(), values.end());
  return promql_names(args);
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

  // A real Prometheus scraping this server evaluates every rule without error, and answers every
  // dashboard query (variables as Grafana sets them for "All"). Only queries of 5xx answers may
  // be empty here; any other empty answer is a query that matches nothing.
  PrometheusProcess prometheus(server.port(), source("deploy/prometheus/alerts.yaml"));
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = prometheus.query("count(rate(http_requests_total{job=\"kargo-dsp\"}[1m]) > 0)");
        return r["status"] == "success" && !r["data"]["result"].empty();
      },
      60s, 500ms))
      << prometheus.log();
  auto all_rules_ok = [&](std::string* report) {
    auto r = prometheus.api("rules");
    if (r["status"] != "success") return false;
    int rules = 0;
    bool ok = true;
    for (const auto& group : r["data"]["groups"]) {
      for (const auto& rule : group["rules"]) {
        ++rules;
        if (rule["health"] != "ok") {
          ok = false;
          if (report) *report += rule["name"].get<std::string>() + ": " + rule.dump() + "\n";
        }
      }
    }
    return ok && rules >= 15;
  };
  EXPECT_TRUE(wait_until([&] { return all_rules_ok(nullptr); }, 20s, 500ms)) << [&] {
    std::string report;
    all_rules_ok(&report);
    return report;
  }();
  auto queries = dashboard_queries({"job=kargo-dsp", "instance=.*", "route=.*"});
  EXPECT_GE(queries.size(), 40u);
  for (const auto& [where, promql] : queries) {
    auto r = prometheus.query(promql);
    EXPECT_EQ(r["status"], "success") << where << ": " << promql << "\n" << r.dump();
    if (promql.find("status=~\"5..\"") == std::string::npos) {
      EXPECT_FALSE(r["data"]["result"].empty()) << where << " has no data: " << promql;
    }
  }

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
