// /api/integrations/* and the upstream checks of /health/detailed end to end (issue 5): the real
// `kargo-dsp serve` pointed at a real `kargo-dsp sandbox`, against the shared PostgreSQL and Redis.
#include <gtest/gtest.h>

#include <set>

#include "support/fixtures.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json campaign_body(const std::string& name = "Push me") {
  return {{"name", name},
          {"advertiser_id", "adv_1"},
          {"budget", 12500},
          {"start_date", "2030-02-01"},
          {"end_date", "2030-02-28"},
          {"goal_kpi", "ctr"}};
}

// A server whose Amazon and Kargo settings point at its own sandbox.
class IntegrationRoutesTest : public ServerTest {
 protected:
  EnvOverrides server_env() override {
    auto base = sandbox_url(sandbox.port());
    return {{"AMAZON_DSP_BASE_URL", base},
            {"AMAZON_LWA_TOKEN_URL", base + "/auth/o2/token"},
            {"AMAZON_CLIENT_ID", kSandboxClientId},
            {"AMAZON_CLIENT_SECRET", kSandboxClientSecret},
            {"AMAZON_REFRESH_TOKEN", refresh_token()},
            {"AMAZON_PROFILE_ID", "1234567890"},
            {"KARGO_API_BASE_URL", base},
            {"KARGO_API_KEY", "sandbox-kargo-key"},
            {"KARGO_SNIPPET_HOSTS", "127.0.0.1:" + std::to_string(sandbox.port())},
            {"UPSTREAM_TIMEOUT_MS", "1000"},
            {"UPSTREAM_MAX_RETRIES", "1"}};
  }
  virtual std::string refresh_token() { return kSandboxRefreshToken; }

  HttpResponse get(const std::string& target) { return http().get(target, bearer(admin_token())); }
  HttpResponse push(const json& body) {
    return http().post_json("/api/integrations/kargo/push-campaign", body, bearer(admin_token()));
  }
  std::string create_campaign(const std::string& name = "Push me") {
    auto res = http().post_json("/api/campaigns", campaign_body(name), bearer(admin_token()));
    EXPECT_EQ(res.status, 201) << res.describe();
    return res.json()["data"]["id"].get<std::string>();
  }
  // Kargo's campaign count, asked of the sandbox directly.
  int64_t kargo_total() {
    auto res = knobs.get("/v1/campaigns?per_page=100", {{"Authorization", "Bearer test"}});
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json()["total"].get<int64_t>();
  }

  SandboxProcess sandbox;  // constructed before SetUp() starts the server
  HttpClient knobs{sandbox.port()};
};

TEST_F(IntegrationRoutesTest, AmazonStatusIsConfiguredAndConnected) {
  auto viewer = create_user(http(), admin_token(), "viewer");
  auto res = http().get("/api/integrations/amazon-dsp/status", bearer(login(http(), viewer)));
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  EXPECT_EQ(data["configured"], true);
  EXPECT_EQ(data["connected"], true);
  ASSERT_TRUE(data["token_expires_at"].is_string()) << data;
  EXPECT_TRUE(is_iso8601_utc(data["token_expires_at"].get<std::string>())) << data;
  EXPECT_EQ(data["circuit_state"], "closed");
  EXPECT_TRUE(data["last_sync_at"].is_null() || data["last_sync_at"].is_string()) << data;
  // Counts the queued and running Amazon jobs of the shared test database, where other tests
  // queue uploads at the same time: a whole number, not a fixed one.
  ASSERT_TRUE(data["pending_jobs"].is_number_integer()) << data;
  EXPECT_GE(data["pending_jobs"].get<int64_t>(), 0);
  // A second look uses the cached token: still one token request.
  ASSERT_EQ(get("/api/integrations/amazon-dsp/status").status, 200);
  EXPECT_EQ(count_requests(knobs, "POST", "/auth/o2/token"), 1u);
}

TEST_F(IntegrationRoutesTest, KargoCampaignsArePagedAndCached) {
  auto res = get("/api/integrations/kargo/campaigns?limit=2&offset=1");
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  EXPECT_EQ(data["total"], 3);
  EXPECT_EQ(data["limit"], 2);
  EXPECT_EQ(data["offset"], 1);
  ASSERT_EQ(data["campaigns"].size(), 2u) << data;
  EXPECT_EQ(data["campaigns"][0]["id"], "10002");
  EXPECT_EQ(data["campaigns"][1]["id"], "10003");
  for (const char* field : {"name", "status", "advertiser_id", "start_date", "end_date", "budget"}) {
    EXPECT_TRUE(data["campaigns"][0].contains(field)) << field;
  }
  EXPECT_TRUE(is_iso8601_utc(data["fetched_at"].get<std::string>()));
  ASSERT_EQ(get("/api/integrations/kargo/campaigns").status, 200);
  ASSERT_EQ(get("/api/integrations/kargo/campaigns?offset=50").json()["data"]["campaigns"].size(), 0u);
  EXPECT_EQ(count_requests(knobs, "GET", "/v1/campaigns"), 1u);  // the rest came from the cache

  auto bad = get("/api/integrations/kargo/campaigns?limit=0&offset=-1");
  ASSERT_EQ(bad.status, 422) << bad.describe();
  EXPECT_EQ(bad.json()["error"]["details"].size(), 2u);
}

TEST_F(IntegrationRoutesTest, PushCampaignCreatesThenUpdates) {
  auto id = create_campaign();
  ASSERT_EQ(get("/api/campaigns/" + id).json()["data"]["kargo_campaign_id"], nullptr);  // now cached
  auto before = kargo_total();
  ASSERT_EQ(get("/api/integrations/kargo/campaigns").json()["data"]["total"], before);  // cached too

  auto first = push({{"campaign_id", id}});
  ASSERT_EQ(first.status, 200) << first.describe();
  auto data = first.json()["data"];
  EXPECT_EQ(data["campaign_id"], id);
  EXPECT_EQ(data["action"], "created");
  ASSERT_TRUE(data["kargo_campaign_id"].is_string()) << data;
  std::string kargo_id = data["kargo_campaign_id"];
  EXPECT_EQ(data["campaign"]["kargo_campaign_id"], kargo_id);
  EXPECT_EQ(kargo_total(), before + 1);
  // The campaign cache was invalidated: the next read shows the Kargo id.
  EXPECT_EQ(get("/api/campaigns/" + id).json()["data"]["kargo_campaign_id"], kargo_id);
  json created;
  for (const auto& r : sandbox_requests(knobs, "/v1/campaigns")) {
    if (r["method"] == "POST") created = json::parse(r["body"].get<std::string>());
  }
  EXPECT_EQ(created["external_id"], id);
  EXPECT_EQ(created["name"], "Push me");
  EXPECT_EQ(created["budget"], 12500);
  EXPECT_EQ(created["optimization_goal"], "ctr");  // the campaign's goal_kpi by default

  auto second = push({{"campaign_id", id},
                      {"kargo_settings",
                       {{"placement_types", {"runway", "instream_video"}}, {"optimization_goal", "reach"}}}});
  ASSERT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.json()["data"]["action"], "updated");
  EXPECT_EQ(second.json()["data"]["kargo_campaign_id"], kargo_id);
  EXPECT_EQ(kargo_total(), before + 1);
  auto put = sandbox_requests(knobs, "/v1/campaigns/" + kargo_id).back();
  EXPECT_EQ(put["method"], "PUT");
  auto sent = json::parse(put["body"].get<std::string>());
  EXPECT_EQ(sent["placement_types"], json({"runway", "instream_video"}));
  EXPECT_EQ(sent["optimization_goal"], "reach");

  // Kargo's list (cached above) shows the new campaign: a push clears the cache.
  EXPECT_EQ(get("/api/integrations/kargo/campaigns").json()["data"]["total"], before + 1);
  auto history = get("/api/campaigns/" + id + "/history").json()["data"]["history"];
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(history[0]["action"], "kargo_push");
  EXPECT_EQ(history[0]["changes"]["action"], "updated");
  EXPECT_EQ(history[1]["action"], "kargo_push");
}

// A campaign deleted in Kargo's UI: the stored kargo_campaign_id answers 404, so the push creates
// it again and stores the new id (action "recreated"), instead of failing for ever.
TEST_F(IntegrationRoutesTest, PushingACampaignKargoDeletedCreatesItAgain) {
  auto id = create_campaign("Deleted at Kargo");
  run_sql("UPDATE campaigns SET kargo_campaign_id = '99999999' WHERE id = '" + id + "'");
  auto before = kargo_total();
  auto res = push({{"campaign_id", id}});
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  EXPECT_EQ(data["action"], "recreated");
  ASSERT_TRUE(data["kargo_campaign_id"].is_string()) << data;
  EXPECT_NE(data["kargo_campaign_id"], "99999999");
  EXPECT_EQ(kargo_total(), before + 1);
  EXPECT_EQ(get("/api/campaigns/" + id).json()["data"]["kargo_campaign_id"], data["kargo_campaign_id"]);
  EXPECT_EQ(count_requests(knobs, "PUT", "/v1/campaigns/99999999"), 1u);
  // The next push updates the new Kargo campaign.
  auto again = push({{"campaign_id", id}});
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(again.json()["data"]["action"], "updated");
  EXPECT_EQ(again.json()["data"]["kargo_campaign_id"], data["kargo_campaign_id"]);
  EXPECT_EQ(kargo_total(), before + 1);
}

TEST_F(IntegrationRoutesTest, ARetriedPushAfterALostAnswerDoesNotDuplicate) {
  auto id = create_campaign("Lost answer");
  auto before = kargo_total();
  // Kargo creates the campaign but answers after the service stopped waiting (UPSTREAM_TIMEOUT_MS).
  add_fault(knobs, {{"path_prefix", "/v1/campaigns"}, {"method", "POST"}, {"delay_ms", 2500}});
  auto lost = push({{"campaign_id", id}});
  ASSERT_EQ(lost.status, 502) << lost.describe();
  EXPECT_EQ(lost.json()["error"]["code"], "EXTERNAL_API_ERROR");
  EXPECT_EQ(get("/api/campaigns/" + id).json()["data"]["kargo_campaign_id"], nullptr);
  ASSERT_TRUE(wait_until([&] { return kargo_total() == before + 1; }, 10s));

  auto retried = push({{"campaign_id", id}});
  ASSERT_EQ(retried.status, 200) << retried.describe();
  EXPECT_EQ(retried.json()["data"]["action"], "updated");  // Kargo's 409 named it: adopted
  EXPECT_EQ(kargo_total(), before + 1);
  EXPECT_EQ(count_requests(knobs, "POST", "/v1/campaigns"), 2u);
  std::string kargo_id = retried.json()["data"]["kargo_campaign_id"];
  EXPECT_EQ(get("/api/campaigns/" + id).json()["data"]["kargo_campaign_id"], kargo_id);

  // A Kargo outage during a push is a 502 and changes nothing either.
  add_fault(knobs, {{"path_prefix", "/v1/campaigns/"}, {"status", 503}, {"count", 2}});
  auto outage = push({{"campaign_id", id}});
  ASSERT_EQ(outage.status, 502) << outage.describe();
  EXPECT_EQ(outage.json()["error"]["message"], "kargo answered HTTP 503 after 2 attempts");
  EXPECT_EQ(kargo_total(), before + 1);
}

TEST_F(IntegrationRoutesTest, PushCampaignValidatesWithOneValidator) {
  auto empty = push(json::object());
  ASSERT_EQ(empty.status, 422) << empty.describe();
  EXPECT_EQ(empty.json()["error"]["details"][0]["field"], "campaign_id");

  auto bad =
      push({{"campaign_id", 7},
            {"kargo_settings", {{"placement_types", {"Runway!", 3}}, {"optimization_goal", "money"}}}});
  ASSERT_EQ(bad.status, 422) << bad.describe();
  std::set<std::string> fields;
  auto doc = bad.json();
  for (const auto& d : doc["error"]["details"]) fields.insert(d["field"].get<std::string>());
  EXPECT_EQ(fields,
            (std::set<std::string>{"campaign_id", "kargo_settings.placement_types[0]",
                                   "kargo_settings.placement_types[1]", "kargo_settings.optimization_goal"}));

  EXPECT_EQ(push({{"campaign_id", "camp_ffffffffffff"}}).status, 404);
  EXPECT_EQ(push({{"campaign_id", "nope"}}).status, 404);
  auto viewer = create_user(http(), admin_token(), "viewer");
  EXPECT_EQ(http()
                .post_json("/api/integrations/kargo/push-campaign", {{"campaign_id", "camp_ffffffffffff"}},
                           bearer(login(http(), viewer)))
                .status,
            403);
}

TEST_F(IntegrationRoutesTest, HealthDetailedReportsTheUpstreamsWithoutHammeringThem) {
  for (int i = 0; i < 3; ++i) {
    auto res = http().get("/health/detailed");
    ASSERT_EQ(res.status, 200) << res.describe();
    auto checks = res.json()["checks"];
    for (const char* upstream : {"amazon_dsp", "kargo"}) {
      SCOPED_TRACE(upstream);
      const auto& c = checks[upstream];
      EXPECT_EQ(c["status"], "ok") << c;
      EXPECT_EQ(c["configured"], true);
      EXPECT_TRUE(c["latency_ms"].is_number()) << c;
      EXPECT_EQ(c["circuit_state"], "closed");
    }
    EXPECT_EQ(res.json()["status"], "healthy");
  }
  // Three health checks, one probe each (cached for a few seconds).
  EXPECT_EQ(count_requests(knobs, "GET", "/v1/campaigns"), 1u);
  EXPECT_EQ(count_requests(knobs, "POST", "/auth/o2/token"), 1u);
}

// Credentials that Login with Amazon refuses: not connected, with the reason, and no retry storm.
class IntegrationRoutesRejectedTest : public IntegrationRoutesTest {
 protected:
  std::string refresh_token() override { return "Atzr|revoked"; }
};

TEST_F(IntegrationRoutesRejectedTest, StatusSaysNotConnectedAndWhy) {
  for (int i = 0; i < 3; ++i) {
    auto res = get("/api/integrations/amazon-dsp/status");
    ASSERT_EQ(res.status, 200) << res.describe();
    auto data = res.json()["data"];
    EXPECT_EQ(data["configured"], true);
    EXPECT_EQ(data["connected"], false);
    EXPECT_EQ(data["token_expires_at"], nullptr);
    EXPECT_TRUE(data["error"].get<std::string>().starts_with("Amazon credentials rejected: invalid_grant"))
        << data;
  }
  auto health = http().get("/health/detailed").json();
  EXPECT_EQ(health["checks"]["amazon_dsp"]["status"], "down") << health;
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(count_requests(knobs, "POST", "/auth/o2/token"), 1u);
  EXPECT_TRUE(server().wait_for_log(
      [](const json& line) {
        return json_string(line, "level") == "error" &&
               json_string(line, "msg").starts_with("Login with Amazon rejected the configured credentials");
      },
      5s));
  EXPECT_EQ(server().stdout_text().find("Atzr|revoked"), std::string::npos);  // never logged
}

// No upstream settings at all.
class IntegrationRoutesNotConfiguredTest : public ServerTest {
 protected:
  EnvOverrides server_env() override {
    return {{"AMAZON_CLIENT_ID", std::nullopt},
            {"AMAZON_CLIENT_SECRET", std::nullopt},
            {"AMAZON_REFRESH_TOKEN", std::nullopt},
            {"AMAZON_PROFILE_ID", std::nullopt},
            {"KARGO_API_KEY", std::nullopt}};
  }
};

TEST_F(IntegrationRoutesNotConfiguredTest, EverythingSaysNotConfigured) {
  auto status = http().get("/api/integrations/amazon-dsp/status", bearer(admin_token()));
  ASSERT_EQ(status.status, 200) << status.describe();
  auto data = status.json()["data"];
  EXPECT_EQ(data["configured"], false);
  EXPECT_EQ(data["connected"], false);
  EXPECT_EQ(data["token_expires_at"], nullptr);
  EXPECT_EQ(data["circuit_state"], "closed");

  auto list = http().get("/api/integrations/kargo/campaigns", bearer(admin_token()));
  ASSERT_EQ(list.status, 503) << list.describe();
  EXPECT_EQ(list.json()["error"]["code"], "EXTERNAL_API_ERROR");
  EXPECT_EQ(list.json()["error"]["message"], "Kargo is not configured");

  auto campaign = http().post_json("/api/campaigns", campaign_body(), bearer(admin_token()));
  ASSERT_EQ(campaign.status, 201);
  auto push = http().post_json("/api/integrations/kargo/push-campaign",
                               {{"campaign_id", campaign.json()["data"]["id"]}}, bearer(admin_token()));
  ASSERT_EQ(push.status, 503) << push.describe();
  EXPECT_EQ(push.json()["error"]["message"], "Kargo is not configured");

  auto health = http().get("/health/detailed").json();
  for (const char* upstream : {"amazon_dsp", "kargo"}) {
    EXPECT_EQ(health["checks"][upstream]["status"], "not_configured") << health;
    EXPECT_EQ(health["checks"][upstream]["configured"], false);
    EXPECT_EQ(health["checks"][upstream]["latency_ms"], nullptr);
  }
}

}  // namespace
}  // namespace kargo::itest
