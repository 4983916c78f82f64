// `kargo-dsp sandbox` over real HTTP (contract section 9, docs/UPSTREAMS.md): Login with Amazon,
// the Amazon DSP header checks, 207 batches, paging, moderation, reports and their downloads,
// faults, the request log, reset, the Kargo API and snippets.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <set>
#include <thread>

#include "kargo/sandbox/snippets.hpp"
#include "support/helpers.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

json flights(double budget = 1000.0) {
  return {{"flights", json::array({{{"startDateTime", "2026-02-01T00:00:00Z"},
                                    {"endDateTime", "2026-02-28T23:59:59Z"},
                                    {"budgetAmount", budget}}})}};
}

json campaign(const std::string& name, const std::string& external_id = "") {
  json c{{"name", name}, {"flights", flights()}, {"optimization", {{"goalSetting", {{"kpi", "REACH"}}}}}};
  if (!external_id.empty()) c["externalId"] = external_id;
  return c;
}

json display_creative(const std::string& name, const std::string& tag) {
  return {{"name", name},
          {"language", "en"},
          {"country", "US"},
          {"adCreativeFormatProperties",
           {{"adCreativeFormatType", "THIRD_PARTY"},
            {"creativeSizes", json::array({{{"width", 320}, {"height", 50}}})},
            {"thirdPartyTag",
             {{"tagSource", tag}, {"tagType", "DISPLAY"}, {"destinationOnAmazon", "OFF_AMAZON"}}}}}};
}

json report_request(const std::string& type, const std::vector<std::string>& campaign_ids,
                    const std::string& start = "2026-02-01", const std::string& end = "2026-02-03") {
  json config{{"adProduct", "DEMAND_SIDE_PLATFORM"},
              {"reportTypeId", type},
              {"groupBy", json::array({"campaign"})},
              {"timeUnit", "DAILY"},
              {"format", "GZIP_JSON"}};
  if (!campaign_ids.empty())
    config["filters"] = json::array({{{"field", "campaignId"}, {"values", campaign_ids}}});
  return {{"name", "sandbox test report"}, {"startDate", start}, {"endDate", end}, {"configuration", config}};
}

class SandboxTest : public ::testing::Test {
 protected:
  const HttpClient& http() const { return http_; }
  const std::string& token() {
    if (token_.empty()) token_ = sandbox_token(http_);
    return token_;
  }
  Headers amazon(const std::string& account = "adv-1001") { return amazon_headers(token(), account); }
  Headers report_headers() {
    auto h = amazon();
    h.back() = {"Content-Type", kReportContentType};
    return h;
  }
  HttpResponse dsp(std::string_view method, std::string_view target, const json& body,
                   const std::string& account = "adv-1001") {
    return send_json(http_, method, target, body, amazon(account));
  }
  // Creates campaigns and returns their ids (all items must succeed).
  std::vector<std::string> create_campaigns(const std::vector<json>& items,
                                            const std::string& account = "adv-1001") {
    auto res = dsp("POST", "/dsp/v1/campaigns", {{"campaigns", items}}, account);
    EXPECT_EQ(res.status, 207) << res.describe();
    std::vector<std::string> ids;
    for (const auto& s : res.json().value("success", json::array())) ids.push_back(s["campaignId"]);
    EXPECT_EQ(ids.size(), items.size()) << res.describe();
    return ids;
  }
  HttpResponse add_fault(const json& fault) {
    auto res = http_.post_json("/_sandbox/faults", fault);
    EXPECT_EQ(res.status, 201) << res.describe();
    return res;
  }
  // Polls GET /reporting/reports/{id} until COMPLETED; returns every status seen, in order.
  std::vector<std::string> poll_report(const std::string& id, json* last = nullptr) {
    std::vector<std::string> seen;
    for (int i = 0; i < 10; ++i) {
      auto res = http_.get("/reporting/reports/" + id, amazon());
      EXPECT_EQ(res.status, 200) << res.describe();
      auto body = res.json();
      seen.push_back(body["status"]);
      if (last) *last = body;
      if (body["status"] == "COMPLETED" || body["status"] == "FAILED") break;
    }
    return seen;
  }
  std::string create_report(const json& request) {
    auto res = http_.request("POST", "/reporting/reports", request.dump(), report_headers());
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json().value("reportId", "");
  }
  // An ad group of the campaign and its id.
  std::string create_ad_group(const std::string& campaign_id, const std::string& name) {
    auto res = dsp("POST", "/dsp/v1/adGroups",
                   {{"adGroups",
                     {{{"campaignId", campaign_id},
                       {"name", name},
                       {"inventoryType", "DISPLAY"},
                       {"startDateTime", "2026-02-01T00:00:00Z"},
                       {"endDateTime", "2026-02-28T00:00:00Z"}}}}});
    EXPECT_EQ(res.status, 207) << res.describe();
    return res.json()["success"][0].value("adGroupId", "");
  }
  std::string create_creative(const std::string& name) {
    auto res = dsp("POST", "/dsp/v1/adCreatives", display_creative(name, "<div>" + name + "</div>"));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json().value("adCreativeId", "");
  }
  void associate(const std::string& creative_id, const std::string& ad_group_id) {
    auto res = dsp("POST", "/dsp/v1/adCreatives/associations/adGroups",
                   {{"associations", {{{"adCreativeId", creative_id}, {"adGroupId", ad_group_id}}}}});
    EXPECT_EQ(res.status, 207) << res.describe();
    EXPECT_FALSE(res.json().contains("error")) << res.describe();
  }
  // The rows of a report once COMPLETED.
  json report_file_rows(const std::string& id) {
    json done;
    poll_report(id, &done);
    EXPECT_EQ(done["status"], "COMPLETED") << done;
    if (!done["url"].is_string()) return json::array();
    return json::parse(gunzip(http_.get(target_of(done["url"])).body));
  }
  // The path and query of a sandbox URL (http://127.0.0.1:port/...).
  static std::string target_of(const std::string& url) {
    auto scheme = url.find("://");
    return url.substr(url.find('/', scheme + 3));
  }

  SandboxProcess sandbox_;
  HttpClient http_{sandbox_.port()};
  std::string token_;
};

// ---- Login with Amazon -----------------------------------------------------------------------

TEST_F(SandboxTest, TokenGrantWithSandboxCredentialsReturnsABearerToken) {
  auto res = request_token(http());
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_TRUE(body["access_token"].is_string() && !body["access_token"].get<std::string>().empty());
  EXPECT_EQ(body["refresh_token"], kSandboxRefreshToken);
  EXPECT_EQ(body["token_type"], "bearer");
  EXPECT_EQ(body["expires_in"], 3600);
  EXPECT_NE(sandbox_token(http()), body["access_token"].get<std::string>()) << "tokens are random";
}

TEST_F(SandboxTest, WrongRefreshTokenIsInvalidGrant) {
  auto res = request_token(http(), "not-the-refresh-token");
  ASSERT_EQ(res.status, 400) << res.describe();
  EXPECT_EQ(res.json()["error"], "invalid_grant");
  EXPECT_TRUE(res.json()["error_description"].is_string());
}

TEST_F(SandboxTest, WrongClientSecretIsInvalidClientAndMissingParameterIsInvalidRequest) {
  auto res = request_token(http(), kSandboxRefreshToken, kSandboxClientId, "wrong-secret");
  ASSERT_EQ(res.status, 401) << res.describe();
  EXPECT_EQ(res.json()["error"], "invalid_client");

  auto missing = http().request("POST", "/auth/o2/token", "grant_type=refresh_token&client_id=sandbox-client",
                                {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(missing.status, 400) << missing.describe();
  EXPECT_EQ(missing.json()["error"], "invalid_request");
}

TEST(SandboxTokens, AccessTokensExpireAfterTheirTtl) {
  SandboxProcess sandbox({"--token-ttl", "1"});
  HttpClient http(sandbox.port());
  auto grant = request_token(http);
  ASSERT_EQ(grant.status, 200) << grant.describe();
  EXPECT_EQ(grant.json()["expires_in"], 1);
  auto token = grant.json()["access_token"].get<std::string>();
  auto list = [&] {
    return send_json(http, "POST", "/dsp/v1/campaigns/list", json::object(), amazon_headers(token));
  };
  auto first = list();
  EXPECT_EQ(first.status, 200) << first.describe();
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return list().status == 401; }, seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(500));
  auto expired = list();
  EXPECT_EQ(expired.json()["code"], "UNAUTHORIZED");
  EXPECT_NE(expired.json()["details"].get<std::string>().find("expired"), std::string::npos);
  // A fresh grant works again.
  EXPECT_EQ(
      send_json(http, "POST", "/dsp/v1/campaigns/list", json::object(), amazon_headers(sandbox_token(http)))
          .status,
      200);
}

TEST(SandboxTokens, TokenTtlDefaultsToTheEnvironmentSetting) {
  SandboxProcess sandbox({}, {{"SANDBOX_TOKEN_TTL_SECONDS", "42"}});
  HttpClient http(sandbox.port());
  EXPECT_EQ(request_token(http).json()["expires_in"], 42);
}

TEST_F(SandboxTest, ExpireKnobMakesIssuedTokensAnswer401) {
  auto ok = dsp("POST", "/dsp/v1/campaigns/list", json::object());
  EXPECT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(http().request("POST", "/_sandbox/tokens/expire").status, 200);
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", json::object()).status, 401);
}

// ---- Amazon header checks --------------------------------------------------------------------

TEST_F(SandboxTest, AmazonCallsNeedAValidTokenClientIdScopeAndAccountId) {
  auto without = [&](const std::string& header) {
    Headers h;
    for (const auto& kv : amazon()) {
      if (kv.first != header) h.push_back(kv);
    }
    return http().request("POST", "/dsp/v1/campaigns/list", "{}", h);
  };
  for (const char* header : {"Authorization", "Amazon-Advertising-API-ClientId",
                             "Amazon-Advertising-API-Scope", "Amazon-Ads-AccountId"}) {
    auto res = without(header);
    EXPECT_EQ(res.status, 401) << header << ": " << res.describe();
    auto body = res.json();
    EXPECT_EQ(body["code"], "UNAUTHORIZED") << header;
    EXPECT_TRUE(body["details"].is_string()) << header;
    EXPECT_TRUE(body["requestId"].is_string()) << header;
  }
  auto unknown =
      send_json(http(), "POST", "/dsp/v1/campaigns/list", json::object(), amazon_headers("Atza|forged"));
  EXPECT_EQ(unknown.status, 401) << unknown.describe();
  auto other_client = amazon();
  other_client[1].second = "another-client";
  EXPECT_EQ(http().request("POST", "/dsp/v1/campaigns/list", "{}", other_client).status, 401);
  auto ok = dsp("POST", "/dsp/v1/campaigns/list", json::object());
  EXPECT_EQ(ok.status, 200) << ok.describe();
  EXPECT_TRUE(ok.has_header("x-amzn-RequestId"));
}

TEST_F(SandboxTest, ReportCreationWithoutTheV3ContentTypeIs415) {
  auto res = http().request("POST", "/reporting/reports", report_request("dspCampaign", {}).dump(), amazon());
  ASSERT_EQ(res.status, 415) << res.describe();
  EXPECT_EQ(res.json()["code"], "UNSUPPORTED_MEDIA_TYPE");
}

// ---- campaigns and ad groups -----------------------------------------------------------------

TEST_F(SandboxTest, BatchCreateAnswers207WithOneResultPerItem) {
  json bad = campaign("x");
  bad.erase("name");
  auto res = dsp("POST", "/dsp/v1/campaigns", {{"campaigns", {campaign("first"), bad, campaign("third")}}});
  ASSERT_EQ(res.status, 207) << res.describe();
  auto body = res.json();
  ASSERT_EQ(body["success"].size(), 2u) << body;
  EXPECT_EQ(body["success"][0]["index"], 0);
  EXPECT_EQ(body["success"][1]["index"], 2);
  EXPECT_TRUE(body["success"][0]["campaignId"].is_string());
  ASSERT_EQ(body["error"].size(), 1u) << body;
  EXPECT_EQ(body["error"][0]["index"], 1);
  EXPECT_EQ(body["error"][0]["errors"][0]["errorCode"], "MISSING_FIELD");
  EXPECT_NE(body["error"][0]["errors"][0]["errorMessage"].get<std::string>().find("name"), std::string::npos);
  EXPECT_TRUE(body["requestId"].is_string());

  // All good: the error array is omitted.
  auto clean = dsp("POST", "/dsp/v1/campaigns", {{"campaigns", {campaign("fourth")}}});
  EXPECT_FALSE(clean.json().contains("error")) << clean.describe();
  // Not a batch at all: 400 with the plain error shape.
  auto not_batch = dsp("POST", "/dsp/v1/campaigns", {{"name", "x"}});
  EXPECT_EQ(not_batch.status, 400) << not_batch.describe();
  EXPECT_EQ(not_batch.json()["code"], "BAD_REQUEST");
}

TEST_F(SandboxTest, CampaignsAreCreatedInactiveAndPatchChangesOnlyTheFieldsSent) {
  auto ids = create_campaigns({campaign("Summer Sale", "camp_1")});
  ASSERT_EQ(ids.size(), 1u);
  auto list = dsp("POST", "/dsp/v1/campaigns/list", {{"campaignIdFilter", {ids[0]}}});
  ASSERT_EQ(list.status, 200) << list.describe();
  auto c = list.json()["campaigns"][0];
  EXPECT_EQ(c["state"], "INACTIVE");
  EXPECT_EQ(c["advertiserId"], "adv-1001");
  EXPECT_EQ(c["externalId"], "camp_1");
  EXPECT_EQ(c["optimization"]["goalSetting"]["goal"], "AWARENESS");

  auto patch = dsp("PATCH", "/dsp/v1/campaigns",
                   {{"campaigns",
                     {{{"campaignId", ids[0]}, {"state", "ACTIVE"}},
                      {{"campaignId", "581999999999999999"}, {"state", "ACTIVE"}},
                      {{"campaignId", ids[0]}, {"state", "RUNNING"}}}}});
  ASSERT_EQ(patch.status, 207) << patch.describe();
  auto body = patch.json();
  ASSERT_EQ(body["success"].size(), 1u) << body;
  ASSERT_EQ(body["error"].size(), 2u) << body;
  EXPECT_EQ(body["error"][0]["errors"][0]["errorCode"], "NOT_FOUND");
  EXPECT_EQ(body["error"][1]["errors"][0]["errorCode"], "INVALID_ARGUMENT");

  c = dsp("POST", "/dsp/v1/campaigns/list", {{"campaignIdFilter", {ids[0]}}}).json()["campaigns"][0];
  EXPECT_EQ(c["state"], "ACTIVE");
  EXPECT_EQ(c["deliveryStatus"], "DELIVERING");
  EXPECT_EQ(c["name"], "Summer Sale");
  EXPECT_EQ(c["flights"]["flights"][0]["budgetAmount"], 1000.0);

  dsp("PATCH", "/dsp/v1/campaigns",
      {{"campaigns", {{{"campaignId", ids[0]}, {"state", "PAUSED"}, {"name", "Renamed"}}}}});
  c = dsp("POST", "/dsp/v1/campaigns/list", {{"campaignIdFilter", {ids[0]}}}).json()["campaigns"][0];
  EXPECT_EQ(c["state"], "PAUSED");
  EXPECT_EQ(c["name"], "Renamed");
}

TEST_F(SandboxTest, CampaignListPagesWithMaxResultsAndNextToken) {
  std::vector<json> items;
  for (const char* name : {"c0", "c1", "c2", "c3", "c4"}) items.push_back(campaign(name));
  auto ids = create_campaigns(items);
  std::vector<std::string> seen;
  json request{{"maxResults", 2}};
  for (int page = 0; page < 5; ++page) {
    auto res = dsp("POST", "/dsp/v1/campaigns/list", request);
    ASSERT_EQ(res.status, 200) << res.describe();
    auto body = res.json();
    EXPECT_EQ(body["totalResults"], 5);
    EXPECT_LE(body["campaigns"].size(), 2u);
    for (const auto& c : body["campaigns"]) seen.push_back(c["campaignId"]);
    if (!body.contains("nextToken")) break;
    request["nextToken"] = body["nextToken"];
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", {{"maxResults", 0}}).status, 400);
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", {{"maxResults", 101}}).status, 400);
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", {{"nextToken", "garbage"}}).status, 400);
}

TEST_F(SandboxTest, CampaignListFiltersByIdsExternalIdsAndTheAccountHeader) {
  auto ids = create_campaigns({campaign("a", "ext-a"), campaign("b", "ext-b"), campaign("c", "ext-c")});
  auto other = create_campaigns({campaign("other account", "ext-a")}, "adv-2002");
  auto names = [&](const json& request, const std::string& account = "adv-1001") {
    std::vector<std::string> out;
    auto body = dsp("POST", "/dsp/v1/campaigns/list", request, account).json();
    for (const auto& c : body["campaigns"]) out.push_back(c["name"]);
    return out;
  };
  EXPECT_EQ(names({{"campaignIdFilter", {ids[0], ids[2]}}}), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(names({{"campaignIdFilter", {{"include", {ids[1]}}}}}), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names({{"externalIdFilter", {"ext-a"}}}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names({{"externalIdFilter", {"ext-a"}}}, "adv-2002"),
            (std::vector<std::string>{"other account"}));
  EXPECT_EQ(names(json::object()).size(), 3u);
  EXPECT_TRUE(names({{"campaignIdFilter", {other[0]}}}).empty()) << "another account's campaign is invisible";
}

TEST_F(SandboxTest, DuplicateExternalIdFailsThatItemAndNamesTheExistingCampaign) {
  auto ids = create_campaigns({campaign("a", "camp_dup")});
  auto res = dsp("POST", "/dsp/v1/campaigns", {{"campaigns", {campaign("again", "camp_dup")}}});
  ASSERT_EQ(res.status, 207) << res.describe();
  auto err = res.json()["error"][0]["errors"][0];
  EXPECT_EQ(err["errorCode"], "DUPLICATE_EXTERNAL_ID");
  EXPECT_NE(err["errorMessage"].get<std::string>().find(ids[0]), std::string::npos) << err;
}

TEST_F(SandboxTest, AdGroupsBelongToAnExistingCampaignAndListAndPatchLikeCampaigns) {
  auto campaign_id = create_campaigns({campaign("parent")})[0];
  json group{{"campaignId", campaign_id},
             {"name", "runway 320x50"},
             {"externalId", "camp_1:crv_1"},
             {"inventoryType", "DISPLAY"},
             {"startDateTime", "2026-02-01T00:00:00Z"},
             {"endDateTime", "2026-02-28T23:59:59Z"},
             {"budgetAmount", 500.0},
             {"bid", {{"baseBid", 1.5}}}};
  json orphan = group;
  orphan["campaignId"] = "581999999999999999";
  orphan["externalId"] = "orphan";
  json wrong_type = group;
  wrong_type["inventoryType"] = "BILLBOARD";
  wrong_type["externalId"] = "wrong";
  auto res = dsp("POST", "/dsp/v1/adGroups", {{"adGroups", {group, orphan, wrong_type}}});
  ASSERT_EQ(res.status, 207) << res.describe();
  auto body = res.json();
  ASSERT_EQ(body["success"].size(), 1u) << body;
  std::string id = body["success"][0]["adGroupId"];
  EXPECT_EQ(body["error"][0]["errors"][0]["errorCode"], "NOT_FOUND");
  EXPECT_EQ(body["error"][1]["errors"][0]["errorCode"], "INVALID_ARGUMENT");

  auto list = dsp("POST", "/dsp/v1/adGroups/list", {{"campaignIdFilter", {campaign_id}}});
  ASSERT_EQ(list.status, 200) << list.describe();
  ASSERT_EQ(list.json()["adGroups"].size(), 1u);
  EXPECT_EQ(list.json()["adGroups"][0]["state"], "INACTIVE");
  EXPECT_EQ(list.json()["adGroups"][0]["externalId"], "camp_1:crv_1");

  auto patch = dsp("PATCH", "/dsp/v1/adGroups",
                   {{"adGroups", {{{"adGroupId", id}, {"state", "ACTIVE"}, {"budgetAmount", 600}}}}});
  ASSERT_EQ(patch.status, 207) << patch.describe();
  auto g = dsp("POST", "/dsp/v1/adGroups/list", {{"adGroupIdFilter", {id}}}).json()["adGroups"][0];
  EXPECT_EQ(g["state"], "ACTIVE");
  EXPECT_EQ(g["budgetAmount"], 600);
  EXPECT_EQ(g["name"], "runway 320x50");
}

// ---- creatives, moderation, associations -----------------------------------------------------

TEST_F(SandboxTest, CreativeModerationIsPendingForTwoPollsThenApproved) {
  auto res = dsp("POST", "/dsp/v1/adCreatives", display_creative("runway", "<div>ad</div>"));
  ASSERT_EQ(res.status, 200) << res.describe();
  std::string id = res.json()["adCreativeId"];
  std::vector<std::string> statuses;
  for (int i = 0; i < 4; ++i) {
    // The contract's path and the reference's plural answer alike.
    auto m = http().get("/dsp/v1/adCreatives/" + id + (i % 2 ? "/moderations" : "/moderation"), amazon());
    ASSERT_EQ(m.status, 200) << m.describe();
    auto s = m.json()["adCreativeStatuses"][0];
    EXPECT_EQ(s["adCreativeId"], id);
    EXPECT_EQ(s["adExperiences"][0]["adExperience"], "THIRD_PARTY_DISPLAY");
    statuses.push_back(s["adCreativeModerationStatus"]);
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"PENDING", "PENDING", "APPROVED", "APPROVED"}));
  EXPECT_EQ(http().get("/dsp/v1/adCreatives/583999999999999999/moderation", amazon()).status, 404);
}

TEST_F(SandboxTest, CreativeWhoseTagSaysSandboxRejectIsRejectedWithAReason) {
  json vast = display_creative("pre-roll", "<VAST version=\"3.0\"><!-- sandbox-reject --></VAST>");
  vast["adCreativeFormatProperties"].erase("creativeSizes");
  vast["adCreativeFormatProperties"]["thirdPartyTag"]["tagType"] = "VAST";
  auto res = dsp("POST", "/dsp/v1/adCreatives", vast);
  ASSERT_EQ(res.status, 200) << res.describe();
  std::string id = res.json()["adCreativeId"];
  json last;
  for (int i = 0; i < 3; ++i) last = http().get("/dsp/v1/adCreatives/" + id + "/moderation", amazon()).json();
  auto s = last["adCreativeStatuses"][0];
  EXPECT_EQ(s["adCreativeModerationStatus"], "REJECTED") << last;
  EXPECT_EQ(s["adExperiences"][0]["adExperience"], "THIRD_PARTY_VIDEO");
  ASSERT_FALSE(s["adExperiences"][0]["reasons"].empty()) << last;
}

TEST_F(SandboxTest, InvalidCreativeIs400AndDuplicateExternalIdNamesTheExistingOne) {
  auto no_tag = display_creative("x", "");
  EXPECT_EQ(dsp("POST", "/dsp/v1/adCreatives", no_tag).status, 400);
  auto no_size = display_creative("x", "<div/>");
  no_size["adCreativeFormatProperties"].erase("creativeSizes");
  EXPECT_EQ(dsp("POST", "/dsp/v1/adCreatives", no_size).status, 400);

  auto first = display_creative("x", "<div/>");
  first["externalId"] = "crv_1";
  auto created = dsp("POST", "/dsp/v1/adCreatives", first);
  ASSERT_EQ(created.status, 200) << created.describe();
  auto again = dsp("POST", "/dsp/v1/adCreatives", first);
  ASSERT_EQ(again.status, 400) << again.describe();
  EXPECT_EQ(again.json()["code"], "DUPLICATE_EXTERNAL_ID");
  EXPECT_NE(
      again.json()["details"].get<std::string>().find(created.json()["adCreativeId"].get<std::string>()),
      std::string::npos);
  auto list = dsp("POST", "/dsp/v1/adCreatives/list", {{"externalIdFilter", {{"include", {"crv_1"}}}}});
  ASSERT_EQ(list.json()["adCreatives"].size(), 1u) << list.describe();
}

TEST_F(SandboxTest, AssociationsAreBatchesOfAtMostTwentyWithPerItemResults) {
  auto campaign_id = create_campaigns({campaign("parent")})[0];
  auto group = dsp("POST", "/dsp/v1/adGroups",
                   {{"adGroups",
                     {{{"campaignId", campaign_id},
                       {"name", "g"},
                       {"inventoryType", "DISPLAY"},
                       {"startDateTime", "2026-02-01T00:00:00Z"},
                       {"endDateTime", "2026-02-28T00:00:00Z"}}}}});
  std::string group_id = group.json()["success"][0]["adGroupId"];
  std::string creative_id =
      dsp("POST", "/dsp/v1/adCreatives", display_creative("c", "<div/>")).json()["adCreativeId"];

  json ok{{"adCreativeId", creative_id}, {"adGroupId", group_id}, {"state", "ACTIVE"}};
  json unknown{{"adCreativeId", "583999999999999999"}, {"adGroupId", group_id}};
  auto res = dsp("POST", "/dsp/v1/adCreatives/associations/adGroups", {{"associations", {ok, unknown}}});
  ASSERT_EQ(res.status, 207) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["success"][0]["adCreativeId"], creative_id);
  EXPECT_EQ(body["success"][0]["adGroupId"], group_id);
  EXPECT_EQ(body["error"][0]["index"], 1);
  EXPECT_EQ(body["error"][0]["errors"][0]["errorCode"], "NOT_FOUND");

  // A repeated association is harmless (a retried sync step).
  EXPECT_FALSE(dsp("POST", "/dsp/v1/adCreatives/associations/adGroups", {{"associations", {ok}}})
                   .json()
                   .contains("error"));
  auto list = dsp("POST", "/dsp/v1/adCreatives/associations/adGroups/list",
                  {{"adGroupIdFilter", {{"include", {group_id}}}}});
  EXPECT_EQ(list.json()["associations"].size(), 1u) << list.describe();

  json many = json::array();
  for (int i = 0; i < 21; ++i) many.push_back(ok);
  auto too_many = dsp("POST", "/dsp/v1/adCreatives/associations/adGroups", {{"associations", many}});
  EXPECT_EQ(too_many.status, 400) << too_many.describe();
  many.erase(many.size() - 1);
  EXPECT_EQ(dsp("POST", "/dsp/v1/adCreatives/associations/adGroups", {{"associations", many}}).status, 207);
}

// ---- reports ---------------------------------------------------------------------------------

TEST_F(SandboxTest, ReportStepsThroughItsStatesAndDownloadsGzipRowsWithoutAuth) {
  auto ids = create_campaigns({campaign("a"), campaign("b")});
  auto id = create_report(report_request("dspCampaign", ids));
  ASSERT_FALSE(id.empty());
  json done;
  EXPECT_EQ(poll_report(id, &done), (std::vector<std::string>{"PENDING", "PROCESSING", "COMPLETED"}));
  ASSERT_TRUE(done["url"].is_string()) << done;
  EXPECT_TRUE(done["urlExpiresAt"].is_string());
  std::string url = done["url"];
  EXPECT_EQ(url.rfind("http://127.0.0.1:" + std::to_string(sandbox_.port()) + "/", 0), 0u) << url;

  auto file = http().get(target_of(url));  // no Authorization, no Amazon-* headers
  ASSERT_EQ(file.status, 200) << file.describe();
  EXPECT_FALSE(file.has_header("content-encoding"));
  EXPECT_EQ(done["fileSize"], file.body.size());
  auto rows = json::parse(gunzip(file.body));
  ASSERT_EQ(rows.size(), 6u) << rows;  // 2 campaigns x 3 days
  std::set<std::string> dates;
  for (const auto& r : rows) {
    for (const char* col : {"date", "campaignId", "impressions", "clicks", "totalCost", "purchases"}) {
      EXPECT_TRUE(r.contains(col)) << col << " in " << r;
    }
    EXPECT_TRUE(r["campaignId"] == ids[0] || r["campaignId"] == ids[1]) << r;
    EXPECT_GT(r["impressions"].get<int64_t>(), 0);
    EXPECT_LE(r["clicks"].get<int64_t>(), r["impressions"].get<int64_t>());
    dates.insert(r["date"].get<std::string>());
  }
  EXPECT_EQ(dates, (std::set<std::string>{"2026-02-01", "2026-02-02", "2026-02-03"}));

  // Deterministic: the same request after a reset downloads the same bytes.
  ASSERT_EQ(http().request("POST", "/_sandbox/reset").status, 200);
  token_.clear();
  auto again = create_report(report_request("dspCampaign", ids));
  json second;
  poll_report(again, &second);
  ASSERT_NE(again, id);
  EXPECT_EQ(http().get(target_of(second["url"])).body, file.body);
}

TEST_F(SandboxTest, ReportColumnsSelectTheRowFieldsAndViewabilityHasARowPerVendor) {
  auto req = report_request("dspViewability", {"581000000000000042"}, "2026-03-01", "2026-03-02");
  auto id = create_report(req);
  json done;
  poll_report(id, &done);
  auto rows = json::parse(gunzip(http().get(target_of(done["url"])).body));
  ASSERT_EQ(rows.size(), 4u) << rows;  // 2 days x 2 vendors
  std::set<std::string> vendors;
  for (const auto& r : rows) {
    vendors.insert(r["vendor"].get<std::string>());
    EXPECT_LE(r["measurableImpressions"].get<int64_t>(), r["impressions"].get<int64_t>()) << r;
    EXPECT_LE(r["viewableImpressions"].get<int64_t>(), r["measurableImpressions"].get<int64_t>()) << r;
    EXPECT_GT(r["averageTimeInViewSeconds"].get<double>(), 0.0) << r;
  }
  EXPECT_EQ(vendors, (std::set<std::string>{"DOUBLE_VERIFY", "IAS"}));

  auto narrow = report_request("dspCampaign", {"581000000000000042"}, "2026-03-01", "2026-03-01");
  narrow["configuration"]["columns"] = {"date", "totalCost"};
  poll_report(create_report(narrow), &done);
  rows = json::parse(gunzip(http().get(target_of(done["url"])).body));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].size(), 2u) << rows;

  auto unknown = report_request("dspCampaign", {});
  unknown["configuration"]["columns"] = {"bogus"};
  EXPECT_EQ(http().request("POST", "/reporting/reports", unknown.dump(), report_headers()).status, 400);
}

TEST_F(SandboxTest, ReportGroupedByCampaignAndCreativeSplitsEachCampaignDayAmongItsCreatives) {
  auto ids = create_campaigns({campaign("split"), campaign("no creatives")});
  auto g1 = create_ad_group(ids[0], "g1"), g2 = create_ad_group(ids[0], "g2");
  create_ad_group(ids[1], "empty");
  auto a = create_creative("a"), b = create_creative("b"), c = create_creative("c");
  associate(a, g1);
  associate(b, g1);
  associate(b, g2);  // in two ad groups of the campaign: still one creative
  associate(c, g2);

  auto by_creative = report_request("dspCampaign", ids);
  by_creative["configuration"]["groupBy"] = {"campaign", "creative"};
  auto id = create_report(by_creative);
  // The creatives are those associated when the report was requested.
  auto late = create_creative("late");
  associate(late, g1);
  auto creative_rows = report_file_rows(id);
  auto campaign_rows = report_file_rows(create_report(report_request("dspCampaign", ids)));

  ASSERT_EQ(creative_rows.size(), 9u) << creative_rows;  // 3 creatives x 3 days, none for ids[1]
  ASSERT_EQ(campaign_rows.size(), 6u);
  std::vector<std::string> expected{a, b, c};
  std::sort(expected.begin(), expected.end());
  for (size_t i = 0; i < creative_rows.size(); ++i) {
    const auto& r = creative_rows[i];
    EXPECT_EQ(r["campaignId"], ids[0]) << r;
    EXPECT_EQ(r["creativeId"], expected[i % 3]) << "ordered by campaign, date, creative: " << r;
  }
  for (const auto& campaign_row : campaign_rows) {
    if (campaign_row["campaignId"] != ids[0]) continue;
    int64_t impressions = 0, clicks = 0, purchases = 0, cents = 0;
    for (const auto& r : creative_rows) {
      if (r["date"] != campaign_row["date"]) continue;
      impressions += r["impressions"].get<int64_t>();
      clicks += r["clicks"].get<int64_t>();
      purchases += r["purchases"].get<int64_t>();
      cents += std::llround(r["totalCost"].get<double>() * 100);
    }
    EXPECT_EQ(impressions, campaign_row["impressions"]) << campaign_row;
    EXPECT_EQ(clicks, campaign_row["clicks"]) << campaign_row;
    EXPECT_EQ(purchases, campaign_row["purchases"]) << campaign_row;
    EXPECT_EQ(cents, std::llround(campaign_row["totalCost"].get<double>() * 100)) << campaign_row;
  }

  // A report requested now has the late creative too, and only the columns asked for.
  by_creative["name"] = "selected columns";
  by_creative["configuration"]["columns"] = {"date", "campaignId", "creativeId", "impressions"};
  auto narrow = report_file_rows(create_report(by_creative));
  ASSERT_EQ(narrow.size(), 12u) << narrow;
  EXPECT_EQ(narrow[0].size(), 4u) << narrow[0];
  std::set<std::string> creatives;
  for (const auto& r : narrow) creatives.insert(r["creativeId"].get<std::string>());
  EXPECT_EQ(creatives.size(), 4u);
  EXPECT_TRUE(creatives.count(late));
}

TEST_F(SandboxTest, ReportGroupByIsCampaignOrCampaignAndCreativeOfACampaignReport) {
  auto send = [&](const json& request) {
    return http().request("POST", "/reporting/reports", request.dump(), report_headers());
  };
  auto absent = report_request("dspCampaign", {"581000000000000001"});
  absent["configuration"].erase("groupBy");
  EXPECT_EQ(send(absent).status, 200);

  auto creative_only = report_request("dspCampaign", {"581000000000000001"});
  creative_only["configuration"]["groupBy"] = {"creative"};
  auto res = send(creative_only);
  ASSERT_EQ(res.status, 400) << res.describe();
  EXPECT_NE(res.json()["details"].get<std::string>().find(R"(["creative"])"), std::string::npos)
      << res.describe();

  auto viewability = report_request("dspViewability", {"581000000000000001"});
  viewability["configuration"]["groupBy"] = {"campaign", "creative"};
  res = send(viewability);
  ASSERT_EQ(res.status, 400) << res.describe();
  EXPECT_NE(res.json()["details"].get<std::string>().find("only available for dspCampaign"),
            std::string::npos)
      << res.describe();

  auto column = report_request("dspCampaign", {"581000000000000001"});
  column["configuration"]["columns"] = {"date", "creativeId"};
  res = send(column);
  ASSERT_EQ(res.status, 400) << res.describe();
  EXPECT_NE(res.json()["details"].get<std::string>().find("creativeId"), std::string::npos) << res.describe();
}

TEST_F(SandboxTest, DuplicateReportRequestIs425WithTheExistingReportId) {
  auto request = report_request("dspCampaign", {"581000000000000001"});
  auto id = create_report(request);
  auto dup = http().request("POST", "/reporting/reports", request.dump(), report_headers());
  ASSERT_EQ(dup.status, 425) << dup.describe();
  EXPECT_EQ(dup.json()["reportId"], id);
  EXPECT_NE(dup.json()["detail"].get<std::string>().find(id), std::string::npos);
  // Another account's identical request is not a duplicate.
  auto other = report_headers();
  other[3].second = "adv-2002";
  EXPECT_EQ(http().request("POST", "/reporting/reports", request.dump(), other).status, 200);
}

TEST_F(SandboxTest, ReportRangeOver31DaysIs400) {
  auto ok =
      http().request("POST", "/reporting/reports",
                     report_request("dspCampaign", {}, "2026-01-01", "2026-01-31").dump(), report_headers());
  EXPECT_EQ(ok.status, 200) << ok.describe();
  auto res =
      http().request("POST", "/reporting/reports",
                     report_request("dspCampaign", {}, "2026-01-01", "2026-02-01").dump(), report_headers());
  ASSERT_EQ(res.status, 400) << res.describe();
  EXPECT_EQ(res.json()["code"], "BAD_REQUEST");
}

TEST_F(SandboxTest, DownloadWithAWrongSignatureIs403AndUnknownReportIs404) {
  json done;
  poll_report(create_report(report_request("dspCampaign", {"581000000000000001"})), &done);
  std::string target = target_of(done["url"]);
  EXPECT_EQ(http().get(target.substr(0, target.find("sig=") + 4) + "00").status, 403);
  EXPECT_EQ(http().get("/reporting/reports/00000000-0000-0000-0000-000000000000", amazon()).status, 404);
}

TEST_F(SandboxTest, ReportNamedSandboxFailEndsFailedWithAReason) {
  auto request = report_request("dspCampaign", {"581000000000000001"});
  request["name"] = "please sandbox-fail";
  json last;
  EXPECT_EQ(poll_report(create_report(request), &last),
            (std::vector<std::string>{"PENDING", "PROCESSING", "FAILED"}));
  EXPECT_TRUE(last["failureReason"].is_string()) << last;
  EXPECT_TRUE(last["url"].is_null());
}

// ---- faults ------------------------------------------------------------------------------------

TEST_F(SandboxTest, FailReportFaultCreatesTheReportAsUsualThenItEndsFailed) {
  add_fault({{"path_prefix", "/reporting"}, {"fail_report", true}});
  auto request = report_request("dspCampaign", {"581000000000000001"});
  auto res = http().request("POST", "/reporting/reports", request.dump(), report_headers());
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.json()["status"], "PENDING");
  EXPECT_TRUE(res.json()["failureReason"].is_null());
  std::string id = res.json()["reportId"];
  json last;
  EXPECT_EQ(poll_report(id, &last), (std::vector<std::string>{"PENDING", "PROCESSING", "FAILED"}));
  EXPECT_TRUE(last["failureReason"].is_string()) << last;
  EXPECT_TRUE(last["url"].is_null());
  EXPECT_TRUE(http().get("/_sandbox/faults").json()["faults"].empty()) << "the polls did not use it";

  // A duplicate is still a duplicate: 425, and the fault is used up on it.
  add_fault({{"path_prefix", "/reporting/reports"}, {"method", "POST"}, {"fail_report", true}});
  auto dup = http().request("POST", "/reporting/reports", request.dump(), report_headers());
  ASSERT_EQ(dup.status, 425) << dup.describe();
  EXPECT_EQ(dup.json()["reportId"], id);
  request["name"] = "after the fault";
  EXPECT_EQ(poll_report(create_report(request)).back(), "COMPLETED");

  EXPECT_EQ(http()
                .post_json("/_sandbox/faults",
                           {{"path_prefix", "/reporting"}, {"fail_report", true}, {"status", 500}})
                .status,
            400);
}

TEST_F(SandboxTest, ReportDownloadsCanBeFaultedWithAGzipBombOrATruncatedBody) {
  json done;
  poll_report(create_report(report_request("dspCampaign", {"581000000000000001"})), &done);
  std::string target = target_of(done["url"]);
  add_fault({{"path_prefix", "/_sandbox/downloads/"}, {"gzip_bomb", true}});
  auto bomb = http().get(target);
  ASSERT_EQ(bomb.status, 200);
  EXPECT_EQ(bomb.header("content-encoding"), "gzip");
  EXPECT_GT(gunzip_size(bomb.body, 200u << 20), 100u << 20);

  add_fault({{"path_prefix", "/_sandbox/downloads/"}, {"truncate", true}});
  RawConnection raw(sandbox_.port());
  ASSERT_TRUE(raw.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(raw.read_response(seconds(5)).has_value())
      << "a complete response arrived: " << raw.received();
  EXPECT_TRUE(raw.wait_closed(seconds(5)));

  auto file = http().get(target);  // both used up: the real file again
  ASSERT_EQ(file.status, 200);
  EXPECT_EQ(file.body.size(), done["fileSize"]);
}

TEST_F(SandboxTest, FaultAnswersItsStatusForCountRequestsThenIsUsedUp) {
  add_fault({{"path_prefix", "/v1/campaigns"}, {"status", 503}, {"count", 2}});
  Headers key = bearer("k");
  EXPECT_EQ(http().get("/v1/campaigns", key).status, 503);
  auto second = http().get("/v1/campaigns", key);
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.json()["code"], "SANDBOX_FAULT");
  EXPECT_EQ(http().get("/v1/campaigns", key).status, 200);
  EXPECT_TRUE(http().get("/_sandbox/faults").json()["faults"].empty());
}

TEST_F(SandboxTest, FaultCarriesRetryAfterAndItsBodyAndMatchesOnlyItsMethod) {
  add_fault({{"path_prefix", "/dsp/v1/campaigns"},
             {"method", "POST"},
             {"status", 429},
             {"retry_after", 2},
             {"body", {{"message", "Too Many Requests"}}}});
  // A PATCH does not match the POST-only fault.
  auto patch = dsp("PATCH", "/dsp/v1/campaigns", {{"campaigns", {{{"campaignId", "1"}}}}});
  EXPECT_EQ(patch.status, 207) << patch.describe();
  auto res = dsp("POST", "/dsp/v1/campaigns/list", json::object());
  ASSERT_EQ(res.status, 429) << res.describe();
  EXPECT_EQ(res.header("retry-after"), "2");
  EXPECT_EQ(res.json(), (json{{"message", "Too Many Requests"}}));
  EXPECT_EQ(http().post_json("/_sandbox/faults", {{"status", 500}}).status, 400) << "path_prefix is required";
}

TEST_F(SandboxTest, FaultDelayWaitsOnATimerThenAnswersNormallyWithoutBlockingOthers) {
  add_fault({{"path_prefix", "/v1/campaigns"}, {"delay_ms", 800}});
  auto start = std::chrono::steady_clock::now();
  auto slow = std::async(std::launch::async, [&] { return http().get("/v1/campaigns", bearer("k")); });
  // Meanwhile other requests are answered at once (the delay never holds an I/O thread).
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(http().get("/snippet/dm/81298").status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(400));
  }
  auto res = slow.get();
  EXPECT_EQ(res.status, 200) << res.describe();
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(800));
  EXPECT_EQ(res.json()["total"], 3);
}

TEST_F(SandboxTest, GzipBombFaultInflatesPastOneHundredMiB) {
  add_fault({{"path_prefix", "/v1/campaigns"}, {"gzip_bomb", true}});
  auto res = http().get("/v1/campaigns", bearer("k"));
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.header("content-encoding"), "gzip");
  EXPECT_LT(res.body.size(), 1u << 20);
  EXPECT_GT(gunzip_size(res.body, 200u << 20), 100u << 20);
}

TEST_F(SandboxTest, TruncateFaultDeclaresMoreBytesThanItSendsThenCloses) {
  add_fault({{"path_prefix", "/v1/campaigns"}, {"status", 200}, {"truncate", true}});
  RawConnection raw(sandbox_.port());
  ASSERT_TRUE(raw.send("GET /v1/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"));
  EXPECT_FALSE(raw.read_response(seconds(5)).has_value())
      << "a complete response arrived: " << raw.received();
  EXPECT_NE(raw.received().find("Content-Length:"), std::string::npos) << raw.received();
  EXPECT_TRUE(raw.wait_closed(seconds(5)));
}

// ---- request log and reset ---------------------------------------------------------------------

TEST_F(SandboxTest, RequestLogShowsWhatArrivedWithTheAuthorizationRedacted) {
  auto before = http().get("/_sandbox/requests").json()["requests"];
  int64_t since = before.empty() ? 0 : before.back()["seq"].get<int64_t>();
  auto headers = amazon();
  headers.emplace_back("X-Request-ID", "trace-123");
  std::string big(5000, 'x');
  http().request("POST", "/dsp/v1/campaigns/list?probe=1", "{\"pad\":\"" + big + "\"}", headers);
  http().get("/v1/campaigns", bearer("kargo-key-abcd"));

  auto log =
      http().get("/_sandbox/requests?path_prefix=/dsp&since=" + std::to_string(since)).json()["requests"];
  ASSERT_EQ(log.size(), 1u) << log;
  auto e = log[0];
  EXPECT_GT(e["seq"].get<int64_t>(), since);
  EXPECT_EQ(e["method"], "POST");
  EXPECT_EQ(e["path"], "/dsp/v1/campaigns/list");
  EXPECT_EQ(e["query"], "probe=1");
  EXPECT_EQ(e["status"], 200);
  EXPECT_EQ(e["headers"]["x-request-id"], "trace-123");
  EXPECT_EQ(e["headers"]["amazon-ads-accountid"], "adv-1001");
  EXPECT_EQ(e["headers"]["content-type"], "application/json");
  std::string auth = e["headers"]["authorization"];
  EXPECT_EQ(auth.rfind("Bearer ", 0), 0u);
  EXPECT_EQ(auth.find(token()), std::string::npos) << "the token itself is never shown";
  EXPECT_EQ(auth.substr(auth.size() - 4), token().substr(token().size() - 4));
  EXPECT_EQ(e["body"].get<std::string>().size(), 4096u);
  EXPECT_EQ(e["body_bytes"], big.size() + 10);
  auto names = e["header_names"];
  EXPECT_NE(std::find(names.begin(), names.end(), "amazon-advertising-api-scope"), names.end()) << names;

  auto kargo = http().get("/_sandbox/requests?path_prefix=/v1/").json()["requests"];
  ASSERT_FALSE(kargo.empty());
  EXPECT_GT(kargo.back()["seq"].get<int64_t>(), e["seq"].get<int64_t>()) << "seq is monotonic";
}

TEST_F(SandboxTest, ResetClearsObjectsFaultsTheRequestLogAndTokens) {
  create_campaigns({campaign("gone")});
  http().post_json("/v1/campaigns",
                   {{"name", "n"},
                    {"advertiser_id", "a"},
                    {"budget", 1},
                    {"start_date", "2026-01-01"},
                    {"end_date", "2026-01-02"}},
                   bearer("k"));
  add_fault({{"path_prefix", "/snippet"}, {"status", 500}});
  ASSERT_EQ(http().request("POST", "/_sandbox/reset").status, 200);

  EXPECT_TRUE(http().get("/_sandbox/requests").json()["requests"].empty());
  EXPECT_TRUE(http().get("/_sandbox/faults").json()["faults"].empty());
  EXPECT_EQ(http().get("/snippet/dm/81298").status, 200);
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", json::object()).status, 401) << "tokens are gone";
  token_.clear();
  EXPECT_EQ(dsp("POST", "/dsp/v1/campaigns/list", json::object()).json()["totalResults"], 0);
  EXPECT_EQ(http().get("/v1/campaigns", bearer("k")).json()["total"], 3) << "Kargo seeds come back";
}

// ---- Kargo -------------------------------------------------------------------------------------

TEST_F(SandboxTest, KargoApiNeedsABearerKey) {
  EXPECT_EQ(http().get("/v1/campaigns").status, 401);
  EXPECT_EQ(http().get("/v1/campaigns", {{"Authorization", "Bearer "}}).status, 401);
  auto res = http().get("/v1/campaigns", {{"Authorization", "Basic abc"}});
  ASSERT_EQ(res.status, 401);
  EXPECT_EQ(res.json()["error"], "unauthorized");
}

TEST_F(SandboxTest, KargoListsSeededCampaignsPageByPage) {
  auto res = http().get("/v1/campaigns?page=1&per_page=2", bearer("k"));
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["total"], 3);
  ASSERT_EQ(body["campaigns"].size(), 2u);
  for (const char* f : {"id", "name", "status", "advertiser_id", "start_date", "end_date", "budget"}) {
    EXPECT_TRUE(body["campaigns"][0].contains(f)) << f;
  }
  auto page2 = http().get("/v1/campaigns?page=2&per_page=2", bearer("k")).json();
  ASSERT_EQ(page2["campaigns"].size(), 1u);
  EXPECT_NE(page2["campaigns"][0]["id"], body["campaigns"][0]["id"]);
  EXPECT_EQ(http().get("/v1/campaigns?per_page=0", bearer("k")).status, 400);
  EXPECT_EQ(http().get("/v1/campaigns?page=x", bearer("k")).status, 400);
}

TEST_F(SandboxTest, KargoCreateAndUpdateReturnTheIdAndAReusedExternalIdIs409) {
  json body{{"name", "Summer Sale"},
            {"advertiser_id", "123456"},
            {"budget", 10000.0},
            {"start_date", "2026-02-01"},
            {"end_date", "2026-02-28"},
            {"placement_types", {"runway"}},
            {"optimization_goal", "viewability"},
            {"external_id", "camp_0123456789ab"}};
  auto created = http().post_json("/v1/campaigns", body, bearer("k"));
  ASSERT_EQ(created.status, 201) << created.describe();
  std::string id = created.json()["id"];

  auto dup = http().post_json("/v1/campaigns", body, bearer("k"));
  ASSERT_EQ(dup.status, 409) << dup.describe();
  EXPECT_EQ(dup.json()["id"], id);
  EXPECT_EQ(dup.json()["error"], "conflict");

  auto updated =
      http().request("PUT", "/v1/campaigns/" + id, json{{"budget", 12000.0}, {"name", "Renamed"}}.dump(),
                     bearer("k", {{"Content-Type", "application/json"}}));
  ASSERT_EQ(updated.status, 200) << updated.describe();
  EXPECT_EQ(updated.json()["id"], id);
  auto list = http().get("/v1/campaigns?per_page=100", bearer("k")).json()["campaigns"];
  auto it = std::find_if(list.begin(), list.end(), [&](const json& c) { return c["id"] == id; });
  ASSERT_NE(it, list.end());
  EXPECT_EQ((*it)["budget"], 12000.0);
  EXPECT_EQ((*it)["name"], "Renamed");
  EXPECT_EQ(http().request("PUT", "/v1/campaigns/99999", "{}", bearer("k")).status, 404);
}

TEST_F(SandboxTest, KargoInvalidCampaignIs422NamingEveryBadField) {
  auto res = http().post_json("/v1/campaigns", {{"name", ""}, {"budget", -1}, {"start_date", "2026-02-30"}},
                              bearer("k"));
  ASSERT_EQ(res.status, 422) << res.describe();
  auto fields = res.json()["fields"];
  for (const char* f : {"name", "advertiser_id", "budget", "start_date", "end_date"}) {
    EXPECT_TRUE(fields.contains(f)) << f << " in " << fields;
  }
}

// ---- snippets ----------------------------------------------------------------------------------

TEST_F(SandboxTest, EverySeededSnippetIsServedWithItsContentType) {
  ASSERT_GE(sandbox::embedded_snippets().size(), 9u);
  for (const auto& file : sandbox::embedded_snippets()) {
    std::string name(file.name);
    auto digits = name.substr(name.find_first_of("0123456789"));
    digits = digits.substr(0, digits.find_first_not_of("0123456789"));
    auto res = http().get("/snippet/dm/" + digits);
    ASSERT_EQ(res.status, 200) << name;
    EXPECT_EQ(res.body, file.content) << name;
    bool xml = name.size() > 4 && name.substr(name.size() - 4) == ".xml";
    EXPECT_EQ(res.header("content-type").value_or(""), xml ? "application/xml" : "text/html; charset=utf-8")
        << name;
  }
  auto runway = http().get("/snippet/dm/81298");
  EXPECT_NE(runway.body.find("adsafeprotected"), std::string::npos);
  EXPECT_NE(runway.body.find("doubleverify"), std::string::npos);
}

TEST_F(SandboxTest, UnknownSnippetIs404) {
  EXPECT_EQ(http().get("/snippet/dm/1").status, 404);
  EXPECT_EQ(http().get("/snippet/dm/abc").status, 404);
}

TEST_F(SandboxTest, RedirectAnswers302ToAnyUrlAndBigSnippetIsOverOneMiB) {
  auto res = http().get("/snippet/redirect?to=http%3A%2F%2F169.254.169.254%2Flatest");
  ASSERT_EQ(res.status, 302) << res.describe();
  EXPECT_EQ(res.header("location"), "http://169.254.169.254/latest");
  auto big = http().get("/snippet/big");
  ASSERT_EQ(big.status, 200);
  EXPECT_GT(big.body.size(), 1u << 20);
}

// ---- the process -------------------------------------------------------------------------------

TEST_F(SandboxTest, UnknownPathIs404Json) {
  auto res = http().get("/nothing/here");
  ASSERT_EQ(res.status, 404) << res.describe();
  EXPECT_EQ(res.json()["code"], "NOT_FOUND");
  EXPECT_EQ(http().get("/dsp/v1/campaigns").status, 405);
}

TEST(SandboxProcessTest, RunsWithoutDatabaseRedisOrSecretKeyAndStopsOnSigterm) {
  SandboxProcess sandbox;  // started without DATABASE_URL, REDIS_URL and SECRET_KEY
  HttpClient http(sandbox.port());
  EXPECT_EQ(request_token(http).status, 200);
  EXPECT_EQ(sandbox.stop(), 0);
  bool logged = false;
  for (const auto& line : sandbox.log_lines())
    logged = logged || json_string(line, "msg") == "sandbox listening";
  EXPECT_TRUE(logged);
  auto help = run_cli({"sandbox", "--help"}, {{"SECRET_KEY", std::nullopt}});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("--token-ttl"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace kargo::itest
