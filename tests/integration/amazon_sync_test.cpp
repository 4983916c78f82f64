// The amazon_sync job and POST /api/integrations/amazon-dsp/sync (contract sections 3 and 6) end to
// end: the real service against the real sandbox, each test on a database of its own (so no other
// test's server claims its jobs and its periodic ticks see only its campaigns).
#include <gtest/gtest.h>

#include <set>

#include "support/amazon.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAccount = "adv-1001";

// One sandbox, a fresh migrated database and a `serve` with the bootstrap admin.
struct SyncWorld {
  explicit SyncWorld(EnvOverrides extra = {}) {
    db.migrate();
    extra["DATABASE_URL"] = db.url();
    env = amazon_env(sandbox, extra);
    server = std::make_unique<ServerProcess>(ServerOptions{.env = env, .admin = admin});
    http = std::make_unique<HttpClient>(server->port());
    token = login(*http, admin);
  }

  // A campaign associated with the given creatives (ready once one is processed).
  // Dates in 2030 by default: the end-date tick leaves it alone and Amazon has nothing to deliver
  // yet; `start_date` in the past puts it in flight.
  std::string campaign(const std::vector<std::string>& creative_ids, const std::string& name = "Sync test",
                       const std::string& start_date = "2030-01-01") {
    json body{{"name", name},
              {"advertiser_id", kAccount},
              {"budget", 5000},
              {"start_date", start_date},
              {"end_date", "2030-03-31"},
              {"creative_ids", creative_ids}};
    auto res = http->post_json("/api/campaigns", body, bearer(token));
    if (res.status != 201) throw std::runtime_error("campaign create failed: " + res.describe());
    return res.json()["data"]["id"];
  }
  std::string runway() {
    return create_creative(*http, token, "runway", "runway_81298.html", dimensions("320x50"));
  }
  std::string preroll() {
    return create_creative(*http, token, "enhanced_preroll", "preroll_81172.xml",
                           dimensions("640x360") + duration("15"));
  }
  void transition(const std::string& id, const std::string& action) {
    auto res = http->post_json("/api/campaigns/" + id + "/" + action, json::object(), bearer(token));
    if (res.status != 200) throw std::runtime_error(action + " failed: " + res.describe());
  }
  HttpResponse request_sync(const json& body) {
    return http->post_json("/api/integrations/amazon-dsp/sync", body, bearer(token));
  }
  // Syncs these campaigns and waits for the job's end.
  json sync(const std::vector<std::string>& ids) {
    auto res = request_sync({{"campaign_ids", ids}});
    if (res.status != 202) throw std::runtime_error("sync refused: " + res.describe());
    return wait_job(*http, token, res.json()["data"]["job_id"], 120s);
  }
  json get(const std::string& id) { return http->get("/api/campaigns/" + id, bearer(token)).json()["data"]; }
  json history(const std::string& id) {
    return http->get("/api/campaigns/" + id + "/history?limit=100", bearer(token)).json()["data"]["history"];
  }

  // --- what the sandbox holds, through its own API ---
  json amazon_list(const std::string& path, const json& filter) {
    auto res = send_json(sb, "POST", path, filter, amazon_headers(sandbox_token(sb), kAccount));
    if (res.status != 200) throw std::runtime_error(path + " failed: " + res.describe());
    return res.json();
  }
  json amazon_campaigns(const std::string& external_id) {
    return amazon_list("/dsp/v1/campaigns/list", {{"externalIdFilter", {external_id}}})["campaigns"];
  }
  json amazon_ad_groups(const std::string& amazon_campaign_id) {
    return amazon_list("/dsp/v1/adGroups/list", {{"campaignIdFilter", {amazon_campaign_id}}})["adGroups"];
  }

  FreshDatabase db;
  SandboxProcess sandbox;
  HttpClient sb{sandbox.port()};
  Credentials admin = Credentials::unique("admin");
  EnvOverrides env;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> http;
  std::string token;
};

bool has_entry(const json& history, const std::string& action, const std::string& text = "") {
  for (const auto& e : history) {
    if (e["action"] == action && (text.empty() || e["changes"].dump().find(text) != std::string::npos))
      return true;
  }
  return false;
}

TEST(AmazonSync, CreatesCampaignAdGroupsCreativesAndAssociationsOnceThenOnlyPatches) {
  SyncWorld w;
  auto runway = w.runway();
  auto video = w.preroll();
  auto id = w.campaign({runway, video});
  w.transition(id, "activate");

  // A slow Amazon keeps the first sync running long enough to see `processing`.
  add_fault(w.sb, {{"path_prefix", "/dsp/v1/campaigns"}, {"delay_ms", 3000}, {"count", 1}});
  auto res = w.request_sync({{"campaign_ids", {id}}});
  ASSERT_EQ(res.status, 202) << res.describe();
  std::string job_id = res.json()["data"]["job_id"];
  EXPECT_TRUE(wait_until([&] { return w.get(id)["status"] == "processing"; }, 30s)) << w.get(id);
  auto status = w.http->get("/api/integrations/amazon-dsp/status", bearer(w.token)).json()["data"];
  EXPECT_GE(status["pending_jobs"].get<int>(), 1) << status;
  auto job = wait_job(*w.http, w.token, job_id, 120s);
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["kind"], "amazon_sync");
  EXPECT_EQ(job["result"]["synced"], 1) << job;

  auto c = w.get(id);
  EXPECT_EQ(c["status"], "active") << "back to the status before the sync";
  EXPECT_EQ(c["sync_status"], "synced");
  ASSERT_TRUE(c["amazon_campaign_id"].is_string()) << c;
  ASSERT_TRUE(c["last_synced_at"].is_string()) << c;
  EXPECT_TRUE(is_iso8601_utc(c["last_synced_at"]));
  std::string amazon_id = c["amazon_campaign_id"];
  std::set<std::string> ad_group_ids;
  for (const auto& cr : c["creatives"]) {
    ASSERT_TRUE(cr["ad_group"]["amazon_ad_group_id"].is_string()) << cr;
    ad_group_ids.insert(cr["ad_group"]["amazon_ad_group_id"].get<std::string>());
  }
  EXPECT_EQ(ad_group_ids.size(), 2u);
  for (const auto& crv : {runway, video}) {
    auto creative = w.http->get("/api/creatives/" + crv, bearer(w.token)).json()["data"];
    EXPECT_TRUE(creative["amazon_creative_id"].is_string()) << creative;
  }

  // At Amazon: one campaign (ACTIVE, our id as externalId), one ad group per association, both
  // creatives associated.
  auto campaigns = w.amazon_campaigns(id);
  ASSERT_EQ(campaigns.size(), 1u) << campaigns;
  EXPECT_EQ(campaigns[0]["campaignId"], amazon_id);
  EXPECT_EQ(campaigns[0]["state"], "ACTIVE");
  auto groups = w.amazon_ad_groups(amazon_id);
  ASSERT_EQ(groups.size(), 2u) << groups;
  std::set<std::string> external_ids;
  for (const auto& g : groups) {
    external_ids.insert(g["externalId"].get<std::string>());
    EXPECT_TRUE(ad_group_ids.count(g["adGroupId"].get<std::string>())) << g;
  }
  EXPECT_EQ(external_ids, (std::set<std::string>{id + ":" + runway, id + ":" + video}));
  json group_filter = json::array();
  for (const auto& g : ad_group_ids) group_filter.push_back(g);
  auto associations = w.amazon_list("/dsp/v1/adCreatives/associations/adGroups/list",
                                    {{"adGroupIdFilter", {{"include", group_filter}}}})["associations"];
  EXPECT_EQ(associations.size(), 2u) << associations;

  // The status route reports the sync.
  status = w.http->get("/api/integrations/amazon-dsp/status", bearer(w.token)).json()["data"];
  EXPECT_EQ(status["last_sync_at"], c["last_synced_at"]) << status;
  EXPECT_EQ(status["pending_jobs"], 0) << status;

  // A second sync after a local pause: patches (state PAUSED), creates nothing.
  size_t campaign_creates = count_requests(w.sb, "POST", "/dsp/v1/campaigns");
  size_t group_creates = count_requests(w.sb, "POST", "/dsp/v1/adGroups");
  size_t creative_creates = count_requests(w.sb, "POST", "/dsp/v1/adCreatives");
  size_t campaign_patches = count_requests(w.sb, "PATCH", "/dsp/v1/campaigns");
  size_t group_patches = count_requests(w.sb, "PATCH", "/dsp/v1/adGroups");
  w.transition(id, "pause");
  ASSERT_EQ(w.sync({id})["status"], "succeeded");
  EXPECT_EQ(count_requests(w.sb, "POST", "/dsp/v1/campaigns"), campaign_creates);
  EXPECT_EQ(count_requests(w.sb, "POST", "/dsp/v1/adGroups"), group_creates);
  EXPECT_EQ(count_requests(w.sb, "POST", "/dsp/v1/adCreatives"), creative_creates);
  EXPECT_GT(count_requests(w.sb, "PATCH", "/dsp/v1/campaigns"), campaign_patches);
  EXPECT_GT(count_requests(w.sb, "PATCH", "/dsp/v1/adGroups"), group_patches);
  EXPECT_EQ(w.amazon_campaigns(id)[0]["state"], "PAUSED");
  EXPECT_EQ(w.amazon_ad_groups(amazon_id).size(), 2u);
  EXPECT_EQ(w.get(id)["status"], "paused");

  // And activated again: Amazon follows.
  w.transition(id, "activate");
  ASSERT_EQ(w.sync({id})["status"], "succeeded");
  EXPECT_EQ(w.amazon_campaigns(id)[0]["state"], "ACTIVE");
  EXPECT_EQ(w.get(id)["status"], "active");

  auto h = w.history(id);
  EXPECT_TRUE(has_entry(h, "status_change", "processing")) << h;
  EXPECT_TRUE(has_entry(h, "sync", amazon_id)) << h;
}

TEST(AmazonSync, MirrorsAmazonDeliveryStateEndedStoppedAndBudgetSpent) {
  SyncWorld w;
  auto stopped = w.campaign({w.runway()}, "Stopped by Amazon", "2026-01-01");  // in flight
  auto spent = w.campaign({w.runway()}, "Out of budget");
  auto not_started = w.campaign({w.runway()}, "Not started yet");  // starts in 2030
  for (const auto& id : {stopped, spent, not_started}) w.transition(id, "activate");
  ASSERT_EQ(w.sync({stopped, spent, not_started})["status"], "succeeded");
  auto knob = [&](const std::string& id, const json& patch) {
    std::string amazon_id = w.get(id)["amazon_campaign_id"];
    auto res = send_json(w.sb, "PATCH", "/_sandbox/dsp/campaigns/" + amazon_id, patch, {});
    ASSERT_EQ(res.status, 200) << res.describe();
  };
  // Amazon stops delivering an ACTIVE campaign -> paused; budget spent -> paused and spent.
  knob(stopped, {{"deliveryStatus", "NOT_DELIVERING"}});
  knob(spent, {{"deliveryStatus", "OUT_OF_BUDGET"}});
  knob(not_started, {{"deliveryStatus", "NOT_DELIVERING"}});
  ASSERT_EQ(w.sync({stopped, spent, not_started})["status"], "succeeded");
  // An ACTIVE campaign that has not reached its start date does not deliver yet: it stays active.
  EXPECT_EQ(w.get(not_started)["status"], "active");
  auto s = w.get(stopped);
  EXPECT_EQ(s["status"], "paused") << s;
  EXPECT_EQ(s["sync_status"], "synced");
  EXPECT_TRUE(has_entry(w.history(stopped), "sync", "stopped delivery")) << w.history(stopped);
  auto b = w.get(spent);
  EXPECT_EQ(b["status"], "paused") << b;
  EXPECT_DOUBLE_EQ(b["spent"].get<double>(), 5000.0) << b;
  EXPECT_DOUBLE_EQ(b["remaining_budget"].get<double>(), 0.0);
  // Amazon ends it -> completed (terminal).
  knob(stopped, {{"deliveryStatus", "ENDED"}});
  ASSERT_EQ(w.sync({stopped})["status"], "succeeded");
  EXPECT_EQ(w.get(stopped)["status"], "completed");
  EXPECT_TRUE(has_entry(w.history(stopped), "sync", "ended")) << w.history(stopped);
}

TEST(AmazonSync, FailureAfterTheRetriesShowsErrorWithTheReasonAndALaterSyncClearsIt) {
  SyncWorld w(EnvOverrides{{"SYNC_MAX_ATTEMPTS", "2"}, {"SYNC_RETRY_BACKOFF_SECONDS", "1"}});
  auto id = w.campaign({w.runway()});
  add_fault(w.sb, {{"path_prefix", "/dsp/v1/campaigns"}, {"status", 503}, {"count", 1000}});
  auto job = w.sync({id});
  ASSERT_EQ(job["status"], "failed") << job;
  EXPECT_EQ(job["attempts"], 2);
  // The runner records the job failed, then moves the campaign to `error`.
  EXPECT_TRUE(wait_until([&] { return w.get(id)["status"] == "error"; }, 30s)) << w.get(id);
  auto c = w.get(id);
  EXPECT_EQ(c["sync_status"], "error");
  auto h = w.history(id);
  ASSERT_TRUE(has_entry(h, "sync_failed", "sync failed after retries")) << h;

  auto cleared = send_json(w.sb, "DELETE", "/_sandbox/faults", json::object(), {});
  ASSERT_EQ(cleared.status, 200);
  // The failures stayed under the circuit breaker's threshold; should it be open, the next call
  // after its pause is the probe.
  ASSERT_TRUE(wait_until(
      [&] {
        auto status = w.http->get("/api/integrations/amazon-dsp/status", bearer(w.token)).json()["data"];
        return status["circuit_state"] != "open";
      },
      60s, 500ms));
  ASSERT_EQ(w.sync({id})["status"], "succeeded");
  c = w.get(id);
  EXPECT_EQ(c["status"], "ready") << "the status before the failed sync";
  EXPECT_EQ(c["sync_status"], "synced");
  EXPECT_TRUE(c["amazon_campaign_id"].is_string());
}

// The process running the sync is killed with SIGKILL while Amazon answers its ad group calls
// slowly: another worker retries the job after the lease expires and nothing exists twice.
TEST(AmazonSync, WorkerKilledMidSyncCreatesNothingTwice) {
  SyncWorld w(EnvOverrides{{"JOB_LEASE_SECONDS", "3"}});
  auto runway = w.runway();
  auto video = w.preroll();
  auto id = w.campaign({runway, video});
  add_fault(w.sb,
            {{"path_prefix", "/dsp/v1/adGroups"}, {"method", "POST"}, {"delay_ms", 4000}, {"count", 1}});
  auto res = w.request_sync({{"campaign_ids", {id}}});
  ASSERT_EQ(res.status, 202) << res.describe();
  std::string job_id = res.json()["data"]["job_id"];
  // The fault delays the first POST under /dsp/v1/adGroups, whichever it is (the look-up by
  // externalId, /dsp/v1/adGroups/list, or the create): kill the server while that call hangs.
  ASSERT_TRUE(wait_until([&] { return received_under(w.sb, "POST", "/dsp/v1/adGroups"); }, 60s));
  w.server->kill();

  ServerProcess rescuer({.mode = "worker", .env = w.env});
  ServerProcess reader({.env = w.env, .admin = w.admin});
  HttpClient http(reader.port());
  auto token = login(http, w.admin);
  auto job = wait_job(http, token, job_id, 120s);
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_GE(job["attempts"].get<int>(), 2) << "a second attempt finished it";
  auto c = http.get("/api/campaigns/" + id, bearer(token)).json()["data"];
  EXPECT_EQ(c["status"], "ready") << c;
  EXPECT_EQ(c["sync_status"], "synced");
  auto campaigns = w.amazon_campaigns(id);
  ASSERT_EQ(campaigns.size(), 1u) << campaigns;
  EXPECT_EQ(campaigns[0]["campaignId"], c["amazon_campaign_id"]);
  auto groups = w.amazon_ad_groups(c["amazon_campaign_id"]);
  std::multiset<std::string> external_ids;
  for (const auto& g : groups) external_ids.insert(g["externalId"].get<std::string>());
  EXPECT_EQ(external_ids, (std::multiset<std::string>{id + ":" + runway, id + ":" + video})) << groups;
  auto creatives =
      w.amazon_list("/dsp/v1/adCreatives/list", {{"externalIdFilter", {runway, video}}})["adCreatives"];
  EXPECT_EQ(creatives.size(), 2u) << creatives;
}

// Two instances tick every 2 s: each tick (a row of periodic_ticks) enqueues one job at most,
// and the winners' log lines add up to exactly the jobs there are.
TEST(AmazonSync, PeriodicTickWithTwoInstancesEnqueuesOneJobPerTick) {
  SyncWorld w;
  auto id = w.campaign({w.runway()});
  w.transition(id, "activate");
  auto env = w.env;
  env["SYNC_INTERVAL_SECONDS"] = "2";
  ServerProcess a({.env = env});
  ServerProcess b({.env = env});
  auto count = [&](const std::string& sql) { return std::stoi(w.db.sql(sql)); };
  ASSERT_TRUE(wait_until(
      [&] {
        return count("SELECT count(*) FROM jobs WHERE kind = 'amazon_sync' AND status = 'succeeded'") >= 2;
      },
      90s, 500ms));
  a.stop();
  b.stop();
  int jobs = count("SELECT count(*) FROM jobs WHERE kind = 'amazon_sync'");
  EXPECT_EQ(count("SELECT count(*) FROM periodic_ticks WHERE job_id IS NOT NULL"), jobs);
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT payload->>'tick' FROM jobs WHERE kind = 'amazon_sync' "
                  "GROUP BY 1 HAVING count(*) > 1) dup"),
            0);
  auto winners = [](const ServerProcess& p) {
    int n = 0;
    for (const auto& line : p.log_lines())
      if (json_string(line, "msg") == "sync tick: amazon_sync enqueued") ++n;
    return n;
  };
  EXPECT_EQ(winners(a) + winners(b), jobs);
  EXPECT_EQ(w.get(id)["sync_status"], "synced");
}

TEST(AmazonSync, RequestIsValidatedUnknownCampaignIs404AndUnconfiguredIs503) {
  SyncWorld w;
  auto bad =
      w.request_sync({{"campaign_ids", "camp_x"}, {"sync_options", {{"creatives", "yes"}, {"budgets", 1}}}});
  EXPECT_EQ(bad.status, 422) << bad.describe();
  EXPECT_EQ(invalid_fields(bad),
            (std::set<std::string>{"campaign_ids", "sync_options.creatives", "sync_options.budgets"}));
  auto empty = w.request_sync({{"campaign_ids", json::array()}});
  EXPECT_EQ(invalid_fields(empty), (std::set<std::string>{"campaign_ids"}));
  auto unknown = w.request_sync({{"campaign_ids", {"camp_000000000000"}}});
  EXPECT_EQ(unknown.status, 404) << unknown.describe();
  EXPECT_NE(unknown.body.find("camp_000000000000"), std::string::npos);
  // Without campaign_ids: every active campaign (none here).
  auto all = w.request_sync(json::object());
  ASSERT_EQ(all.status, 202) << all.describe();
  EXPECT_EQ(all.json()["data"]["campaign_ids"], json::array());
  auto viewer = create_user(*w.http, w.token, "viewer");
  EXPECT_EQ(
      w.http->post_json("/api/integrations/amazon-dsp/sync", json::object(), bearer(login(*w.http, viewer)))
          .status,
      403);

  auto env = w.env;
  env["AMAZON_CLIENT_ID"] = std::nullopt;
  ServerProcess unconfigured({.env = env});
  HttpClient http(unconfigured.port());
  auto res =
      http.post_json("/api/integrations/amazon-dsp/sync", json::object(), bearer(login(http, w.admin)));
  EXPECT_EQ(res.status, 503) << res.describe();
  EXPECT_EQ(res.json()["error"]["code"], "EXTERNAL_API_ERROR");
}

}  // namespace
}  // namespace kargo::itest
