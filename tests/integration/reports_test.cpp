// Reports (contract section 6) end to end: the real service pulls reports from the real sandbox
// over HTTP (report_refresh), stores them, and serves the report documents, the campaign's
// performance and exports from them. Faults of the sandbox exercise the retries: a duplicate
// report (425), a FAILED report, download errors, a gzip bomb, a truncated file, a token that
// expires while a report is polled, and a worker killed mid-refresh. Each test has a database of
// its own. The expected figures are read from the sandbox's own reports, fetched independently.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "kargo/bulk/sheet.hpp"
#include "kargo/bulk/sheet_reader.hpp"
#include "support/amazon.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAccount = "adv-1001";

struct Figures {
  int64_t impressions = 0, clicks = 0, conversions = 0, cents = 0;
  bool operator==(const Figures&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Figures& f) {
  return out << "{" << f.impressions << " imp, " << f.clicks << " clk, " << f.conversions << " conv, " << f.cents
             << " c}";
}

int64_t cents_of(const json& amount) { return std::llround(amount.get<double>() * 100.0); }

// One sandbox, a fresh database, a `serve` pointed at both with fast report polling, and a
// campaign synced to Amazon with two creatives (so reports have campaign and creative rows).
struct ReportWorld {
  explicit ReportWorld(EnvOverrides extra = {}, std::vector<std::string> sandbox_args = {})
      : sandbox(std::move(sandbox_args)), sb(sandbox.port()) {
    db.migrate();
    extra["DATABASE_URL"] = db.url();
    if (!extra.count("REPORT_POLL_INITIAL_MS")) extra["REPORT_POLL_INITIAL_MS"] = "50";
    extra["REPORT_POLL_MAX_MS"] = extra.count("REPORT_POLL_MAX_MS") ? extra["REPORT_POLL_MAX_MS"] : "400";
    extra["REPORT_RETRY_BACKOFF_SECONDS"] = "1";
    env = amazon_env(sandbox, extra);
    server = std::make_unique<ServerProcess>(ServerOptions{.env = env, .admin = admin});
    http = std::make_unique<HttpClient>(server->port());
    token = login(*http, admin);
  }

  // A campaign with a runway and a pre-roll creative, synced to the sandbox.
  std::string synced_campaign(const std::string& name = "Reported") {
    auto runway = create_creative(*http, token, "runway", "runway_81298.html", dimensions("320x50"));
    auto video = create_creative(*http, token, "enhanced_preroll", "preroll_81172.xml",
                                 dimensions("640x360") + duration("15"));
    json body{{"name", name},          {"advertiser_id", kAccount}, {"budget", 500000},
              {"start_date", "2030-01-01"}, {"end_date", "2030-03-31"}, {"creative_ids", {runway, video}}};
    auto res = http->post_json("/api/campaigns", body, bearer(token));
    if (res.status != 201) throw std::runtime_error("campaign create failed: " + res.describe());
    std::string id = res.json()["data"]["id"];
    auto sync = http->post_json("/api/integrations/amazon-dsp/sync", {{"campaign_ids", {id}}}, bearer(token));
    if (sync.status != 202) throw std::runtime_error("sync refused: " + sync.describe());
    auto job = wait_job(*http, token, sync.json()["data"]["job_id"], 120s);
    if (job["status"] != "succeeded") throw std::runtime_error("sync failed: " + job.dump());
    return id;
  }
  json campaign(const std::string& id) { return http->get("/api/campaigns/" + id, bearer(token)).json()["data"]; }

  HttpResponse request_refresh(const json& body, const std::string& as = "") {
    return http->post_json("/api/reports/refresh", body, bearer(as.empty() ? token : as));
  }
  json refresh(const std::vector<std::string>& ids, const std::string& from, const std::string& to) {
    auto res = request_refresh({{"campaign_ids", ids}, {"start_date", from}, {"end_date", to}});
    if (res.status != 202) throw std::runtime_error("refresh refused: " + res.describe());
    return wait_job(*http, token, res.json()["data"]["job_id"], 120s);
  }
  json performance(const std::string& id, const std::string& from, const std::string& to,
                   const std::string& granularity = "daily") {
    auto res = http->get("/api/reports/campaign-performance?campaign_id=" + id + "&start_date=" + from +
                             "&end_date=" + to + "&granularity=" + granularity,
                         bearer(token));
    if (res.status != 200) throw std::runtime_error("performance failed: " + res.describe());
    return res.json()["data"];
  }
  json viewability(const std::string& id, const std::string& from, const std::string& to,
                   const std::string& vendor) {
    auto res = http->get("/api/reports/viewability?campaign_id=" + id + "&vendor=" + vendor +
                             "&start_date=" + from + "&end_date=" + to,
                         bearer(token));
    if (res.status != 200) throw std::runtime_error("viewability failed: " + res.describe());
    return res.json()["data"];
  }
  int64_t count(const std::string& sql) { return std::stoll(db.sql(sql)); }

  // --- the sandbox's own rows, fetched with a report of our own (at most 31 days) ---
  json sandbox_rows(const std::string& type, const std::string& amazon_id, const std::string& from,
                    const std::string& to, bool by_creative = false) {
    json configuration{{"adProduct", "DEMAND_SIDE_PLATFORM"},
                       {"reportTypeId", type},
                       {"timeUnit", "DAILY"},
                       {"format", "GZIP_JSON"},
                       {"groupBy", by_creative ? json{"campaign", "creative"} : json{"campaign"}},
                       {"filters", {{{"field", "campaignId"}, {"values", {amazon_id}}}}}};
    json body{{"name", "independent check " + unique_name("check")},
              {"startDate", from},
              {"endDate", to},
              {"configuration", configuration}};
    auto headers = amazon_headers(sandbox_token(sb), kAccount);
    for (auto& [k, v] : headers) {
      if (k == "Content-Type") v = kReportContentType;
    }
    auto created = send_json(sb, "POST", "/reporting/reports", body, headers);
    if (created.status != 200) throw std::runtime_error("report create failed: " + created.describe());
    std::string id = created.json()["reportId"];
    return download(id);
  }
  std::string create_report_like_the_service(const std::string& amazon_id, const std::string& from,
                                             const std::string& to) {
    json body{{"name", "made by the test " + unique_name("check")},
              {"startDate", from},
              {"endDate", to},
              {"configuration",
               {{"adProduct", "DEMAND_SIDE_PLATFORM"},
                {"reportTypeId", "dspCampaign"},
                {"groupBy", {"campaign"}},
                {"timeUnit", "DAILY"},
                {"format", "GZIP_JSON"},
                {"filters", {{{"field", "campaignId"}, {"values", {amazon_id}}}}}}}};
    auto headers = amazon_headers(sandbox_token(sb), kAccount);
    for (auto& [k, v] : headers) {
      if (k == "Content-Type") v = kReportContentType;
    }
    auto created = send_json(sb, "POST", "/reporting/reports", body, headers);
    if (created.status != 200) throw std::runtime_error("report create failed: " + created.describe());
    return created.json()["reportId"];
  }
  json download(const std::string& report_id) {
    auto headers = amazon_headers(sandbox_token(sb), kAccount);
    for (int i = 0; i < 20; ++i) {
      auto r = sb.get("/reporting/reports/" + report_id, headers).json();
      if (r["status"] == "COMPLETED") {
        std::string url = r["url"];
        auto file = sb.get(url.substr(url.find("/_sandbox/")));
        return json::parse(gunzip(file.body));
      }
    }
    throw std::runtime_error("report " + report_id + " never completed");
  }

  FreshDatabase db;
  SandboxProcess sandbox;
  HttpClient sb;
  Credentials admin = Credentials::unique("admin");
  EnvOverrides env;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> http;
  std::string token;
};

// Daily figures of the sandbox's rows (campaign report), keyed by date.
std::map<std::string, Figures> by_date(const json& rows) {
  std::map<std::string, Figures> out;
  for (const auto& r : rows) {
    auto& f = out[r["date"].get<std::string>()];
    f.impressions += r["impressions"].get<int64_t>();
    f.clicks += r["clicks"].get<int64_t>();
    f.conversions += r["purchases"].get<int64_t>();
    f.cents += cents_of(r["totalCost"]);
  }
  return out;
}

// An error answer: the status, the code, and for a 422 the field it names.
void expect_refused(const HttpResponse& res, int status, const std::string& code, const std::string& field = "") {
  EXPECT_EQ(res.status, status) << res.describe();
  if (res.status != status) return;
  EXPECT_EQ(res.json()["error"]["code"], code) << res.describe();
  if (!field.empty()) {
    EXPECT_TRUE(invalid_fields(res).count(field)) << field << ": " << res.describe();
  }
}

Figures figures_of(const json& doc) {
  return {doc["impressions"].get<int64_t>(), doc["clicks"].get<int64_t>(), doc["conversions"].get<int64_t>(),
          cents_of(doc["spend"])};
}

TEST(Reports, AFortyFiveDayRefreshPullsTwoWindowsAndStoresWhatAmazonReports) {
  ReportWorld w;
  auto id = w.synced_campaign();
  auto c = w.campaign(id);
  std::string amazon_id = c["amazon_campaign_id"];

  auto job = w.refresh({id}, "2026-01-01", "2026-02-14");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["kind"], "report_refresh");
  EXPECT_EQ(job["progress"]["done"], 2) << job;
  EXPECT_EQ(job["progress"]["total"], 2) << job;
  EXPECT_EQ(job["result"]["windows"], 2);
  EXPECT_EQ(job["result"]["rows"]["campaign"], 45);
  EXPECT_EQ(job["result"]["rows"]["creative"], 90) << "two creatives a day";
  EXPECT_EQ(job["result"]["rows"]["viewability"], 90) << "two vendors a day";

  // Amazon was asked for three reports per window, each at most 31 days, the creative one
  // grouped by campaign and creative.
  int creative_reports = 0;
  std::set<std::pair<std::string, std::string>> ranges;
  for (const auto& r : sandbox_requests(w.sb, "/reporting/reports")) {
    if (r["method"] != "POST") continue;
    auto body = json::parse(r["body"].get<std::string>());
    if (body["name"].get<std::string>().rfind("kargo ", 0) != 0) continue;
    ranges.insert({body["startDate"].get<std::string>(), body["endDate"].get<std::string>()});
    if (body["configuration"]["groupBy"] == json{"campaign", "creative"}) ++creative_reports;
  }
  EXPECT_EQ(ranges, (std::set<std::pair<std::string, std::string>>{{"2026-01-01", "2026-01-31"},
                                                                   {"2026-02-01", "2026-02-14"}}));
  EXPECT_EQ(creative_reports, 2);

  // The stored figures are the sandbox's own, day by day and in total.
  auto expected = by_date(w.sandbox_rows("dspCampaign", amazon_id, "2026-01-01", "2026-01-31"));
  auto february = by_date(w.sandbox_rows("dspCampaign", amazon_id, "2026-02-01", "2026-02-14"));
  expected.insert(february.begin(), february.end());
  ASSERT_EQ(expected.size(), 45u);
  auto doc = w.performance(id, "2026-01-01", "2026-02-14");
  ASSERT_EQ(doc["rows"].size(), 45u);
  Figures total;
  for (const auto& row : doc["rows"]) {
    EXPECT_EQ(figures_of(row), expected[row["period_start"]]) << row;
    auto f = expected[row["period_start"]];
    total.impressions += f.impressions;
    total.clicks += f.clicks;
    total.conversions += f.conversions;
    total.cents += f.cents;
  }
  EXPECT_EQ(figures_of(doc["totals"]), total);

  // The campaign resource reads the same rows: performance and spent are the report totals, and
  // each creative's figures are its rows; the creatives add up to the campaign.
  c = w.campaign(id);
  EXPECT_EQ(figures_of(c["performance"]), total) << c["performance"];
  EXPECT_EQ(cents_of(c["spent"]), total.cents);
  int64_t creative_impressions = 0;
  for (const auto& cr : c["creatives"]) {
    EXPECT_GT(cr["performance"]["impressions"].get<int64_t>(), 0) << cr;
    creative_impressions += cr["performance"]["impressions"].get<int64_t>();
  }
  EXPECT_EQ(creative_impressions, total.impressions);

  // Viewability: the sandbox's DoubleVerify rows, with the rates computed from them.
  auto dv = w.viewability(id, "2026-01-01", "2026-01-31", "double_verify");
  auto rows = w.sandbox_rows("dspViewability", amazon_id, "2026-01-01", "2026-01-31");
  int64_t impressions = 0, measurable = 0, viewable = 0;
  for (const auto& r : rows) {
    if (r["vendor"] != "DOUBLE_VERIFY") continue;
    impressions += r["impressions"].get<int64_t>();
    measurable += r["measurableImpressions"].get<int64_t>();
    viewable += r["viewableImpressions"].get<int64_t>();
  }
  ASSERT_EQ(dv["rows"].size(), 31u);
  EXPECT_EQ(dv["rows"][0]["vendor"], "double_verify");
  EXPECT_EQ(dv["totals"]["impressions"], impressions);
  EXPECT_EQ(dv["totals"]["measurable_impressions"], measurable);
  EXPECT_EQ(dv["totals"]["viewable_impressions"], viewable);
  EXPECT_NEAR(dv["totals"]["viewability_rate"].get<double>(), viewable * 100.0 / measurable, 1e-4);
  EXPECT_NEAR(dv["totals"]["measurable_rate"].get<double>(), measurable * 100.0 / impressions, 1e-4);

  // Metrics: the job kind and the rows ingested.
  auto metrics = w.http->get("/health/metrics").body;
  EXPECT_NE(metrics.find("jobs_processed_total{kind=\"report_refresh\",status=\"succeeded\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("report_rows_ingested_total{report=\"creative\"} 90"), std::string::npos);
}

TEST(Reports, PullingTheSameWindowTwiceChangesNothing) {
  ReportWorld w;
  auto id = w.synced_campaign();
  ASSERT_EQ(w.refresh({id}, "2026-03-01", "2026-03-20")["status"], "succeeded");
  auto first = w.performance(id, "2026-03-01", "2026-03-20");
  auto spent = w.campaign(id)["spent"];
  auto rows = w.count("SELECT count(*) FROM campaign_performance_daily") +
              w.count("SELECT count(*) FROM creative_performance_daily") +
              w.count("SELECT count(*) FROM campaign_viewability_daily");
  ASSERT_EQ(w.refresh({id}, "2026-03-01", "2026-03-20")["status"], "succeeded");
  EXPECT_EQ(w.performance(id, "2026-03-01", "2026-03-20"), first);
  EXPECT_EQ(w.campaign(id)["spent"], spent);
  EXPECT_EQ(w.count("SELECT count(*) FROM campaign_performance_daily") +
                w.count("SELECT count(*) FROM creative_performance_daily") +
                w.count("SELECT count(*) FROM campaign_viewability_daily"),
            rows);
}

// Report documents are cached (in Redis and, for the reading process, in memory): a read on
// another instance after a pull, or after a rename, never shows the state before it.
TEST(Reports, CachedDocumentsOnAnotherInstanceShowEveryPullAndRename) {
  ReportWorld w;
  auto id = w.synced_campaign("Before");
  ServerProcess other({.env = w.env, .admin = w.admin});
  HttpClient b(other.port());
  auto token = login(b, w.admin);
  const std::string target = "/api/reports/campaign-performance?campaign_id=" + id +
                             "&start_date=2026-10-01&end_date=2026-10-03";
  auto read = [&] {
    auto res = b.get(target, bearer(token));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json()["data"];
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(read()["totals"]["impressions"], 0);  // cached after the first
  ASSERT_EQ(w.refresh({id}, "2026-10-01", "2026-10-03")["status"], "succeeded");
  auto after = read();
  EXPECT_GT(after["totals"]["impressions"].get<int64_t>(), 0) << after;
  EXPECT_EQ(after, w.performance(id, "2026-10-01", "2026-10-03"));
  auto renamed = send_json(*w.http, "PUT", "/api/campaigns/" + id, {{"name", "After"}},
                           bearer(w.token, {{"Content-Type", "application/json"}}));
  ASSERT_EQ(renamed.status, 200) << renamed.describe();
  EXPECT_EQ(read()["campaign_name"], "After");
}

// Amazon answers 425 with the id of a report that already exists: the service polls that one.
TEST(Reports, ADuplicateRequestPollsTheExistingReport) {
  ReportWorld w;
  auto id = w.synced_campaign();
  std::string amazon_id = w.campaign(id)["amazon_campaign_id"];
  auto existing = w.create_report_like_the_service(amazon_id, "2026-04-01", "2026-04-10");
  add_fault(w.sb, {{"path_prefix", "/reporting/reports"},
                   {"method", "POST"},
                   {"status", 425},
                   {"count", 1},
                   {"body", json{{"code", "TOO_EARLY"},
                                 {"details", "The Request is a duplicate of : " + existing},
                                 {"reportId", existing}}
                                .dump()}});
  auto job = w.refresh({id}, "2026-04-01", "2026-04-10");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_GE(count_requests(w.sb, "GET", "/reporting/reports/" + existing), 2u) << "the existing report was polled";
  auto expected = by_date(w.sandbox_rows("dspCampaign", amazon_id, "2026-04-01", "2026-04-10"));
  auto doc = w.performance(id, "2026-04-01", "2026-04-10");
  for (const auto& row : doc["rows"]) EXPECT_EQ(figures_of(row), expected[row["period_start"]]);
}

// A report that ends FAILED fails the attempt; the retry asks Amazon for a new report.
TEST(Reports, AFailedReportRetriesTheJobWithANewReport) {
  ReportWorld w;
  auto id = w.synced_campaign();
  add_fault(w.sb, {{"path_prefix", "/reporting/reports"}, {"method", "POST"}, {"fail_report", true}, {"count", 1}});
  auto job = w.refresh({id}, "2026-05-01", "2026-05-05");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["attempts"], 2) << job;
  EXPECT_EQ(job["result"]["rows"]["campaign"], 5);
  EXPECT_EQ(w.performance(id, "2026-05-01", "2026-05-05")["rows"].size(), 5u);
}

// Download faults: a 503 and a file cut short once are retried by the client within the attempt;
// a gzip bomb, and a file cut short on every try of the client, fail the attempt (nothing is
// written) and the job's retry pulls the window.
TEST(Reports, DownloadFaultsAreRetriedAndNothingHalfIsWritten) {
  ReportWorld w;
  auto id = w.synced_campaign();
  add_fault(w.sb, {{"path_prefix", "/_sandbox/downloads/"}, {"status", 503}, {"count", 1}});
  auto job = w.refresh({id}, "2026-06-01", "2026-06-03");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["attempts"], 1) << "the client retried the 503";

  add_fault(w.sb, {{"path_prefix", "/_sandbox/downloads/"}, {"truncate", true}, {"count", 1}});
  job = w.refresh({id}, "2026-06-05", "2026-06-06");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["attempts"], 1) << "the client fetched the cut file again";

  // UPSTREAM_MAX_RETRIES=1: two cut files in a row are the client's last try.
  for (auto [fault, count] : {std::pair{"gzip_bomb", 1}, std::pair{"truncate", 2}}) {
    add_fault(w.sb, {{"path_prefix", "/_sandbox/downloads/"}, {fault, true}, {"count", count}});
    job = w.refresh({id}, "2026-06-10", "2026-06-12");
    ASSERT_EQ(job["status"], "succeeded") << fault << ": " << job;
    EXPECT_EQ(job["attempts"], 2) << fault << ": " << job;
    EXPECT_EQ(w.count("SELECT count(*) FROM campaign_performance_daily WHERE day BETWEEN '2026-06-10' AND "
                      "'2026-06-12'"),
              3)
        << fault;
  }

  // Every attempt fails: the job ends failed with the reason, and nothing of the window exists.
  add_fault(w.sb, {{"path_prefix", "/_sandbox/downloads/"}, {"gzip_bomb", true}, {"count", 100}});
  auto res = w.request_refresh({{"campaign_ids", {id}}, {"start_date", "2026-07-01"}, {"end_date", "2026-07-02"}});
  ASSERT_EQ(res.status, 202);
  job = wait_job(*w.http, w.token, res.json()["data"]["job_id"], 180s);
  EXPECT_EQ(job["status"], "failed") << job;
  EXPECT_NE(job["error"].dump().find("report"), std::string::npos) << job;
  EXPECT_EQ(w.count("SELECT count(*) FROM campaign_performance_daily WHERE day >= '2026-07-01'"), 0);
}

// Tokens live one second and a report is polled for longer: the client refreshes the token.
TEST(Reports, ATokenExpiringWhileAReportIsPolledIsRefreshed) {
  ReportWorld w(EnvOverrides{{"REPORT_POLL_INITIAL_MS", "1200"}, {"REPORT_POLL_MAX_MS", "1500"}},
                std::vector<std::string>{"--token-ttl", "1"});
  auto id = w.synced_campaign();
  auto job = w.refresh({id}, "2026-08-01", "2026-08-02");
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_GE(count_requests(w.sb, "POST", "/auth/o2/token"), 2u) << "the token was refreshed while polling";
}

// The process running the refresh is killed with SIGKILL while Amazon prepares a report: after
// the lease expires a worker pulls it again; the stored rows are those of one pull.
TEST(Reports, AWorkerKilledMidRefreshLeavesNoHalfWindowAndNoDoubleCount) {
  ReportWorld w(EnvOverrides{{"JOB_LEASE_SECONDS", "3"}});
  auto id = w.synced_campaign();
  ASSERT_EQ(w.refresh({id}, "2026-09-01", "2026-09-30")["status"], "succeeded");
  auto before = w.performance(id, "2026-09-01", "2026-10-31");
  auto spent = w.campaign(id)["spent"];
  auto polls = [&] {
    size_t n = 0;
    for (const auto& r : sandbox_requests(w.sb, "/reporting/reports/")) n += r["method"] == "GET" ? 1 : 0;
    return n;
  };
  const size_t polls_before = polls();
  add_fault(w.sb, {{"path_prefix", "/reporting/reports/"}, {"method", "GET"}, {"delay_ms", 6000}, {"count", 1}});
  auto res = w.request_refresh({{"campaign_ids", {id}}, {"start_date", "2026-09-01"}, {"end_date", "2026-10-31"}});
  ASSERT_EQ(res.status, 202) << res.describe();
  std::string job_id = res.json()["data"]["job_id"];
  // The delayed poll is this job's first: kill the process while it waits for the answer.
  ASSERT_TRUE(wait_until([&] { return polls() > polls_before; }, 60s));
  w.server->kill();

  ServerProcess rescuer({.mode = "worker", .env = w.env});
  ServerProcess reader({.env = w.env, .admin = w.admin});
  HttpClient http(reader.port());
  auto token = login(http, w.admin);
  auto job = wait_job(http, token, job_id, 120s);
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_GE(job["attempts"].get<int>(), 2);
  auto after = http.get("/api/reports/campaign-performance?campaign_id=" + id +
                            "&start_date=2026-09-01&end_date=2026-10-31",
                        bearer(token))
                   .json()["data"];
  // September is what it was (replaced, not added to); October is there once.
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(after["rows"][i], before["rows"][i]) << i;
  EXPECT_EQ(w.count("SELECT count(*) FROM campaign_performance_daily WHERE campaign_id = '" + id + "'"), 61);
  EXPECT_GT(after["totals"]["impressions"].get<int64_t>(), before["totals"]["impressions"].get<int64_t>());
  auto c = http.get("/api/campaigns/" + id, bearer(token)).json()["data"];
  EXPECT_EQ(cents_of(c["spent"]), cents_of(after["totals"]["spend"]));
  EXPECT_GT(cents_of(c["spent"]), cents_of(spent));
}

TEST(Reports, ExportsParseBackInEveryFormat) {
  ReportWorld w;
  auto id = w.synced_campaign("Exported, \"quoted\"");
  ASSERT_EQ(w.refresh({id}, "2026-01-26", "2026-02-08")["status"], "succeeded");
  auto weekly = w.performance(id, "2026-01-26", "2026-02-08", "weekly");
  auto download = [&](const json& body) {
    auto res = w.http->post_json("/api/reports/export", body, bearer(w.token));
    if (res.status != 201) throw std::runtime_error("export failed: " + res.describe());
    auto data = res.json()["data"];
    EXPECT_TRUE(data["export_id"].get<std::string>().rfind("export_", 0) == 0) << data;
    auto file = w.http->get(data["download_url"].get<std::string>(), bearer(w.token));
    EXPECT_EQ(file.status, 200) << file.describe();
    return std::make_pair(data, file);
  };
  json base{{"report_type", "campaign_performance"},
            {"campaign_ids", {id}},
            {"date_range", {{"start_date", "2026-01-26"}, {"end_date", "2026-02-08"}}},
            {"granularity", "weekly"}};
  auto as = [&](const char* format) {
    json body = base;
    body["format"] = format;
    return body;
  };

  // csv: header and one line per week, numbers as written by the report.
  auto [csv_data, csv] = download(as("csv"));
  EXPECT_EQ(csv_data["record_count"], 2) << csv_data;
  EXPECT_EQ(csv_data["format"], "csv");
  auto sheet = bulk::parse_csv(csv.body);
  ASSERT_EQ(sheet.size(), 3u) << csv.body;
  EXPECT_EQ(sheet[0][0], "Campaign ID");
  EXPECT_EQ(sheet[1][1], "Exported, \"quoted\"");
  EXPECT_EQ(sheet[1][2], "2026-01-26");
  EXPECT_EQ(std::stoll(sheet[2][4]), weekly["rows"][1]["impressions"].get<int64_t>());

  // json: the same documents as the route.
  auto [json_data, json_file] = download(as("json"));
  auto exported = json::parse(json_file.body);
  ASSERT_EQ(exported["campaigns"].size(), 1u);
  EXPECT_EQ(exported["campaigns"][0]["rows"], weekly["rows"]);
  EXPECT_EQ(exported["campaigns"][0]["totals"], weekly["totals"]);

  // xlsx: read back by the project's reader; numbers and dates are typed cells.
  auto [xlsx_data, xlsx] = download(as("xlsx"));
  auto book = bulk::read_workbook(xlsx.body);
  EXPECT_TRUE(book.xlsx);
  ASSERT_GE(book.sheets.size(), 2u);
  const auto& rows = book.sheets[0];
  EXPECT_EQ(rows.name, "Campaign Performance");
  EXPECT_EQ(rows.header[4], "Impressions");
  ASSERT_EQ(rows.rows.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<bulk::Date>(rows.rows[0].cells[2])) << "period start is a date cell";
  ASSERT_TRUE(std::holds_alternative<bulk::Number>(rows.rows[1].cells[4])) << "impressions is a number cell";
  EXPECT_EQ(std::get<bulk::Number>(rows.rows[1].cells[4]).value, weekly["rows"][1]["impressions"].get<double>());
  EXPECT_EQ(book.sheets[1].name, "Totals");

  // Viewability as csv; an unknown id and an expired export.
  auto [v_data, v_csv] = download({{"report_type", "viewability"},
                                   {"campaign_ids", {id}},
                                   {"date_range", {{"start_date", "2026-01-26"}, {"end_date", "2026-01-27"}}},
                                   {"vendor", "ias"},
                                   {"format", "csv"}});
  auto v_sheet = bulk::parse_csv(v_csv.body);
  ASSERT_EQ(v_sheet.size(), 3u);
  EXPECT_EQ(v_sheet[1][3], "ias");
  EXPECT_EQ(w.http->get("/api/reports/download/export_00000000000000000000000000000000", bearer(w.token)).status,
            404);
  w.db.sql("UPDATE generated_files SET expires_at = now() - interval '1 minute' WHERE id = '" +
           v_data["export_id"].get<std::string>() + "'");
  EXPECT_EQ(w.http->get(v_data["download_url"].get<std::string>(), bearer(w.token)).status, 410);
}

TEST(Reports, RequestsAreValidatedAndRolesApply) {
  ReportWorld w;
  auto id = w.synced_campaign();
  auto viewer = login(*w.http, create_user(*w.http, w.token, "viewer"));
  // Viewers read and export; only editors pull.
  EXPECT_EQ(w.request_refresh({{"start_date", "2026-01-01"}, {"end_date", "2026-01-02"}}, viewer).status, 403);
  EXPECT_EQ(w.http->get("/api/reports/campaign-performance?campaign_id=" + id +
                            "&start_date=2026-01-01&end_date=2026-01-02",
                        bearer(viewer))
                .status,
            200);

  auto refresh_error = [&](const json& body) { return w.request_refresh(body); };
  expect_refused(refresh_error({{"start_date", "2026-02-01"}, {"end_date", "2026-01-01"}}), 422, "VALIDATION_ERROR",
               "end_date");
  expect_refused(refresh_error({{"start_date", "2025-01-01"}, {"end_date", "2026-01-02"}}), 422, "VALIDATION_ERROR",
               "end_date");
  expect_refused(refresh_error({{"start_date", "2099-01-01"}, {"end_date", "2099-01-02"}}), 422, "VALIDATION_ERROR",
               "start_date");
  expect_refused(refresh_error({{"end_date", "2026-01-02"}}), 422, "VALIDATION_ERROR", "start_date");
  expect_refused(refresh_error({{"campaign_ids", {"camp_000000000000"}}, {"start_date", "2026-01-01"},
                              {"end_date", "2026-01-02"}}),
               404, "RESOURCE_NOT_FOUND");
  // A campaign never synced has nothing at Amazon to report.
  json draft{{"name", "Never synced"},
             {"advertiser_id", kAccount},
             {"budget", 100},
             {"start_date", "2030-01-01"},
             {"end_date", "2030-02-01"}};
  std::string unsynced = w.http->post_json("/api/campaigns", draft, bearer(w.token)).json()["data"]["id"];
  expect_refused(refresh_error({{"campaign_ids", {unsynced}}, {"start_date", "2026-01-01"},
                              {"end_date", "2026-01-02"}}),
               422, "VALIDATION_ERROR", "campaign_ids");

  auto get = [&](const std::string& query) { return w.http->get("/api/reports/" + query, bearer(w.token)); };
  expect_refused(get("viewability?campaign_id=" + id + "&vendor=moat&start_date=2026-01-01&end_date=2026-01-02"),
               422, "VALIDATION_ERROR", "vendor");
  expect_refused(get("campaign-performance?campaign_id=" + id +
                   "&granularity=hourly&start_date=2026-01-01&end_date=2026-01-02"),
               422, "VALIDATION_ERROR", "granularity");
  expect_refused(get("campaign-performance?campaign_id=" + id + "&start_date=2026-01-03&end_date=2026-01-02"), 422,
               "VALIDATION_ERROR", "end_date");
  expect_refused(get("campaign-performance?campaign_id=" + id + "&start_date=2026-01-01&end_date=2027-01-02"), 422,
               "VALIDATION_ERROR", "end_date");
  expect_refused(get("campaign-performance?start_date=2026-01-01&end_date=2026-01-02"), 422, "VALIDATION_ERROR",
               "campaign_id");
  expect_refused(get("campaign-performance?campaign_id=camp_000000000000&start_date=2026-01-01&end_date=2026-01-02"),
               404, "RESOURCE_NOT_FOUND");
  expect_refused(get("viewability?campaign_id=nope&start_date=2026-01-01&end_date=2026-01-02"), 404, "RESOURCE_NOT_FOUND");

  auto export_error = [&](const json& body) { return w.http->post_json("/api/reports/export", body, bearer(w.token)); };
  expect_refused(export_error({{"report_type", "spend"},
                             {"campaign_ids", {id}},
                             {"date_range", {{"start_date", "2026-01-01"}, {"end_date", "2026-01-02"}}}}),
               422, "VALIDATION_ERROR", "report_type");
  expect_refused(export_error({{"report_type", "viewability"},
                             {"campaign_ids", {id}},
                             {"date_range", {{"start_date", "2026-01-05"}, {"end_date", "2026-01-02"}}},
                             {"format", "pdf"}}),
               422, "VALIDATION_ERROR", "format");
  expect_refused(export_error({{"report_type", "viewability"},
                             {"campaign_ids", {"camp_000000000000"}},
                             {"date_range", {{"start_date", "2026-01-01"}, {"end_date", "2026-01-02"}}}}),
               404, "RESOURCE_NOT_FOUND");
}

// Two instances tick every 2 s: each tick enqueues one report_refresh at most, for the last
// three days of campaigns in flight.
TEST(Reports, PeriodicPullWithTwoInstancesEnqueuesOneJobPerTick) {
  ReportWorld w;
  auto id = w.synced_campaign();
  // In flight: its flight covers today.
  w.db.sql("UPDATE campaigns SET start_date = current_date - 10, end_date = current_date + 10 WHERE id = '" + id +
           "'");
  auto env = w.env;
  env["REPORT_INTERVAL_SECONDS"] = "2";
  ServerProcess a({.env = env});
  ServerProcess b({.env = env});
  ASSERT_TRUE(wait_until(
      [&] {
        return w.count("SELECT count(*) FROM jobs WHERE kind = 'report_refresh' AND status = 'succeeded'") >= 2;
      },
      90s, 500ms));
  a.stop();
  b.stop();
  auto jobs = w.count("SELECT count(*) FROM jobs WHERE kind = 'report_refresh'");
  EXPECT_EQ(w.count("SELECT count(*) FROM periodic_ticks WHERE name = 'report_tick' AND job_id IS NOT NULL"), jobs);
  EXPECT_EQ(w.count("SELECT count(*) FROM (SELECT payload->>'tick' FROM jobs WHERE kind = 'report_refresh' "
                    "GROUP BY 1 HAVING count(*) > 1) dup"),
            0);
  EXPECT_EQ(w.db.sql("SELECT payload->>'end_date' = to_char(current_date, 'YYYY-MM-DD') AND "
                     "payload->>'start_date' = to_char(current_date - 2, 'YYYY-MM-DD') FROM jobs "
                     "WHERE kind = 'report_refresh' LIMIT 1"),
            "t\n");
  EXPECT_EQ(w.count("SELECT count(*) FROM campaign_performance_daily WHERE campaign_id = '" + id + "'"), 3);
  auto metrics = w.http->get("/health/metrics").body;
  EXPECT_NE(metrics.find("report_age_seconds "), std::string::npos);
}

}  // namespace
}  // namespace kargo::itest
