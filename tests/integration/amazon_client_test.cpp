// The Login with Amazon token manager and the AmazonDspClient against the real `kargo-dsp sandbox`
// over HTTP (issue 5): the clients are built in this process from the library, exactly as app.cpp
// builds them (real HttpClient, real channels), with shorter timings where a test needs them.
// Faults come from the sandbox's knobs; what the sandbox received is read from its request log.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <thread>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"
#include "support/helpers.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using upstream::AmazonDspClient;
using upstream::CircuitState;
using upstream::DspCampaign;
using upstream::LwaTokenManager;
using upstream::UpstreamChannel;

constexpr const char* kAccount = "adv-1001";
constexpr const char* kTokenPath = "/auth/o2/token";

struct RigOptions {
  std::vector<std::string> sandbox_args;
  std::string refresh_token = kSandboxRefreshToken;
  std::string client_secret = kSandboxClientSecret;
  std::chrono::milliseconds timeout = 5s;
  std::size_t max_response_bytes = 8u << 20;
  std::size_t max_report_bytes = 64u << 20;
  unsigned max_retries = 2;
  std::chrono::milliseconds open_duration = 30s;
  std::chrono::milliseconds report_timeout = 20s;
  bool configured = true;
};

// A sandbox and the client stack of app.cpp pointed at it.
struct Rig {
  explicit Rig(RigOptions o = {})
      : options(o),
        sandbox(o.sandbox_args),
        http(sandbox.port()),
        client([&] {
          upstream::HttpClientOptions h;
          h.timeout = o.timeout;
          return h;
        }()),
        lwa_channel(client, metrics, channel_options("amazon_lwa", o)),
        dsp_channel(client, metrics, channel_options("amazon_dsp", o)),
        tokens(lwa_channel, {.token_url = sandbox_url(sandbox.port(), kTokenPath),
                             .client_id = kSandboxClientId,
                             .client_secret = o.client_secret,
                             .refresh_token = o.refresh_token,
                             .configured = o.configured}),
        amazon(dsp_channel, tokens,
               {.base_url = sandbox_url(sandbox.port()),
                .client_id = kSandboxClientId,
                .profile_id = "1234567890",
                .configured = o.configured,
                .max_response_bytes = o.max_response_bytes,
                .max_report_bytes = o.max_report_bytes,
                .report_poll_initial = 100ms,
                .report_poll_max = 400ms,
                .report_timeout = o.report_timeout}) {}

  static upstream::ChannelOptions channel_options(std::string service, const RigOptions& o) {
    upstream::ChannelOptions c;
    c.service = std::move(service);
    c.retry = {.max_retries = o.max_retries, .base_delay = 10ms, .max_delay = 100ms};
    c.circuit = {.failure_threshold = 5, .open_duration = o.open_duration};
    return c;
  }

  size_t token_requests() const { return count_requests(http, "POST", kTokenPath); }
  size_t requests(std::string_view method, std::string_view path) const {
    return count_requests(http, method, path);
  }

  RigOptions options;
  SandboxProcess sandbox;
  HttpClient http;  // the test's own view of the sandbox (knobs, request log)
  Metrics metrics;
  upstream::HttpClient client;
  UpstreamChannel lwa_channel;
  UpstreamChannel dsp_channel;
  LwaTokenManager tokens;
  AmazonDspClient amazon;
};

DspCampaign campaign(const std::string& name, const std::string& external_id) {
  return {.name = name,
          .external_id = external_id,
          .flights = {{"2026-02-01T00:00:00Z", "2026-02-28T23:59:59Z", 10000.0, ""}},
          .kpi = "REACH"};
}

// A campaign with two ad groups and three display creatives associated with them, made through
// the client; returns the campaign id and the creative ids.
struct CampaignWithCreatives {
  std::string campaign_id;
  std::vector<std::string> creative_ids;
};

CampaignWithCreatives campaign_with_creatives(AmazonDspClient& amazon, const std::string& external_id) {
  CampaignWithCreatives out;
  auto c = amazon.create_campaigns(kAccount, {campaign("With creatives", external_id)}).at(0);
  EXPECT_TRUE(c.ok());
  out.campaign_id = c.id;
  std::vector<upstream::DspAdGroup> groups;
  for (const char* name : {"g1", "g2"}) {
    groups.push_back({.campaign_id = c.id,
                      .name = name,
                      .external_id = external_id + ":" + name,
                      .inventory_type = "DISPLAY",
                      .start = "2026-02-01T00:00:00Z",
                      .end = "2026-02-28T23:59:59Z"});
  }
  auto made_groups = amazon.create_ad_groups(kAccount, groups);
  std::vector<upstream::DspCreative> creatives;
  for (const char* name : {"a", "b", "c"}) {
    creatives.push_back({.name = name,
                         .external_id = external_id + ":" + name,
                         .type = upstream::DspTagType::kDisplay,
                         .tag_source = std::string("<div>") + name + "</div>",
                         .width = 320,
                         .height = 50});
  }
  auto made = amazon.create_ad_creatives(kAccount, creatives);
  for (const auto& m : made) {
    EXPECT_TRUE(m.ok());
    out.creative_ids.push_back(m.id);
  }
  auto results =
      amazon.associate(kAccount, {{.ad_creative_id = made[0].id, .ad_group_id = made_groups[0].id},
                                  {.ad_creative_id = made[1].id, .ad_group_id = made_groups[0].id},
                                  {.ad_creative_id = made[2].id, .ad_group_id = made_groups[1].id}});
  for (const auto& r : results) EXPECT_TRUE(r.ok());
  std::sort(out.creative_ids.begin(), out.creative_ids.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Login with Amazon

TEST(LwaTokenManager, CachesTheTokenAndReportsItsExpiry) {
  Rig rig;
  auto first = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<upstream::AccessToken>(first))
      << std::get<Error>(first).internal_message();
  auto second = rig.tokens.token_sync();
  EXPECT_EQ(std::get<upstream::AccessToken>(first).value, std::get<upstream::AccessToken>(second).value);
  EXPECT_EQ(rig.token_requests(), 1u);
  auto expires = rig.tokens.token_expires_at();
  ASSERT_TRUE(expires);
  auto left = *expires - std::chrono::system_clock::now();
  EXPECT_GT(left, 3500s);
  EXPECT_LE(left, 3600s);
  // The grant is form-encoded and carries no Authorization header.
  auto logged = sandbox_requests(rig.http, kTokenPath).at(0);
  EXPECT_EQ(logged["headers"]["content-type"], "application/x-www-form-urlencoded");
  EXPECT_FALSE(logged["headers"].contains("authorization"));
  EXPECT_NE(logged["body"].get<std::string>().find("grant_type=refresh_token"), std::string::npos);
}

TEST(LwaTokenManager, FiftyConcurrentCallersShareOneRefresh) {
  Rig rig;
  // A slow token endpoint, so that every caller arrives while the one refresh is in flight.
  add_fault(rig.http, {{"path_prefix", kTokenPath}, {"delay_ms", 400}});
  std::vector<std::future<std::string>> sync_calls;
  std::vector<std::shared_ptr<std::promise<std::string>>> async_calls;
  for (int i = 0; i < 25; ++i) {
    sync_calls.push_back(std::async(std::launch::async, [&] {
      auto r = rig.tokens.token_sync();
      return std::holds_alternative<upstream::AccessToken>(r)
                 ? std::get<upstream::AccessToken>(r).value
                 : "error: " + std::get<Error>(r).external_message();
    }));
    auto p = std::make_shared<std::promise<std::string>>();
    async_calls.push_back(p);
    rig.tokens.token([p](upstream::TokenResult r) {
      p->set_value(std::holds_alternative<upstream::AccessToken>(r) ? std::get<upstream::AccessToken>(r).value
                                                                    : "error");
    });
  }
  std::set<std::string> seen;
  for (auto& f : sync_calls) seen.insert(f.get());
  for (auto& p : async_calls) {
    auto f = p->get_future();
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    seen.insert(f.get());
  }
  ASSERT_EQ(seen.size(), 1u) << *seen.begin();
  EXPECT_TRUE(seen.begin()->starts_with("Atza|")) << *seen.begin();
  EXPECT_EQ(rig.token_requests(), 1u);
}

TEST(LwaTokenManager, FiftyConcurrentApiCallsShareOneRefresh) {
  Rig rig;
  std::vector<std::future<size_t>> calls;
  for (int i = 0; i < 50; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return rig.amazon.list_campaigns(kAccount).size(); }));
  }
  for (auto& f : calls) EXPECT_EQ(f.get(), 0u);
  EXPECT_EQ(rig.token_requests(), 1u);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 50u);
}

TEST(LwaTokenManager, InvalidGrantIsAConfigurationErrorThatIsNotRetried) {
  Rig rig({.refresh_token = "Atzr|revoked"});
  auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(e.http_status(), 503);
  EXPECT_TRUE(e.external_message().starts_with("Amazon credentials rejected: invalid_grant"))
      << e.external_message();
  EXPECT_NE(e.external_message().find("AMAZON_REFRESH_TOKEN"), std::string::npos);
  EXPECT_EQ(rig.token_requests(), 1u);  // one request, no retries of a 400
  // Later callers get the same answer without asking Login with Amazon again (no retry storm).
  for (int i = 0; i < 10; ++i) {
    auto again = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
    EXPECT_EQ(again.external_message(), e.external_message());
  }
  EXPECT_EQ(rig.token_requests(), 1u);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 0u);
  ASSERT_TRUE(rig.tokens.rejection());
  EXPECT_FALSE(rig.tokens.token_expires_at());
}

TEST(LwaTokenManager, InvalidClientIsAConfigurationErrorToo) {
  Rig rig({.client_secret = "wrong-secret"});
  auto r = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<Error>(r));
  const auto& e = std::get<Error>(r);
  EXPECT_EQ(e.http_status(), 503);
  EXPECT_TRUE(e.external_message().starts_with("Amazon credentials rejected: invalid_client"));
  EXPECT_NE(e.external_message().find("AMAZON_CLIENT_SECRET"), std::string::npos);
  // Nothing secret in what a client or the log would see.
  EXPECT_EQ(e.internal_message().find("wrong-secret"), std::string::npos);
  EXPECT_EQ(rig.token_requests(), 1u);
}

TEST(LwaTokenManager, TokenEndpointOutageIsRetriedThenA502) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", kTokenPath}, {"status", 503}, {"count", 2}});
  auto ok = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<upstream::AccessToken>(ok)) << std::get<Error>(ok).internal_message();
  EXPECT_EQ(rig.token_requests(), 3u);

  rig.tokens.invalidate(std::get<upstream::AccessToken>(ok).value);
  add_fault(rig.http, {{"path_prefix", kTokenPath}, {"status", 500}, {"count", 10}});
  auto failed = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<Error>(failed));
  EXPECT_EQ(std::get<Error>(failed).http_status(), 502);
  EXPECT_EQ(std::get<Error>(failed).external_message(), "amazon_lwa answered HTTP 500 after 3 attempts");
}

TEST(LwaTokenManager, AFailedEarlyRenewalKeepsTheTokenThatIsStillValid) {
  Rig rig({.sandbox_args = {"--token-ttl", "2"}});  // renewed after 1 s, valid for 2 s
  auto first = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<upstream::AccessToken>(first));
  std::this_thread::sleep_for(1100ms);  // into the renewal window (a real clock, on purpose)
  add_fault(rig.http, {{"path_prefix", kTokenPath}, {"status", 503}, {"count", 3}});
  auto during = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<upstream::AccessToken>(during))
      << std::get<Error>(during).internal_message();
  EXPECT_EQ(std::get<upstream::AccessToken>(during).value, std::get<upstream::AccessToken>(first).value);
  EXPECT_EQ(rig.token_requests(), 4u);     // the first grant, then one renewal of 3 attempts
  auto renewed = rig.tokens.token_sync();  // LWA is back: a new token
  ASSERT_TRUE(std::holds_alternative<upstream::AccessToken>(renewed));
  EXPECT_NE(std::get<upstream::AccessToken>(renewed).value, std::get<upstream::AccessToken>(first).value);
}

TEST(LwaTokenManager, MalformedTokenAnswerIsA502) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", kTokenPath}, {"status", 200}, {"body", {{"access_token", 42}}}});
  auto r = rig.tokens.token_sync();
  ASSERT_TRUE(std::holds_alternative<Error>(r));
  EXPECT_EQ(std::get<Error>(r).http_status(), 502);
  EXPECT_EQ(std::get<Error>(r).external_message(),
            "amazon_lwa: unexpected answer to POST /auth/o2/token: access_token missing or not a string");
}

TEST(LwaTokenManager, NotConfiguredIs503) {
  Rig rig({.configured = false});
  auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_EQ(e.http_status(), 503);
  EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(e.external_message(), "Amazon DSP is not configured");
  auto report = expect_error(
      [&] { rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-02"}); });
  EXPECT_EQ(report.external_message(), "Amazon DSP is not configured");
  EXPECT_EQ(rig.token_requests(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 401 -> one refresh, one retry

TEST(AmazonDspClient, A401RefreshesTheTokenOnceAndRetriesOnce) {
  Rig rig;
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  ASSERT_EQ(rig.token_requests(), 1u);
  expire_tokens(rig.http);  // the cached token is now refused by the API
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  EXPECT_EQ(rig.token_requests(), 2u);  // exactly one refresh
  auto lists = sandbox_requests(rig.http, "/dsp/v1/campaigns/list");
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[1]["status"], 401);
  EXPECT_EQ(lists[2]["status"], 200);
  EXPECT_NE(lists[1]["headers"]["authorization"], lists[2]["headers"]["authorization"]);
}

TEST(AmazonDspClient, FiftyCallsThatSeeA401ShareOneRefresh) {
  Rig rig;
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  expire_tokens(rig.http);
  std::vector<std::future<size_t>> calls;
  for (int i = 0; i < 50; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return rig.amazon.list_campaigns(kAccount).size(); }));
  }
  for (auto& f : calls) EXPECT_EQ(f.get(), 0u);
  EXPECT_EQ(rig.token_requests(), 2u);
}

TEST(AmazonDspClient, A401AfterTheRefreshIsAnErrorNotALoop) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"status", 401}, {"count", 5}});
  auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_EQ(e.external_message(), "amazon_dsp rejected the access token after a refresh (HTTP 401)");
  EXPECT_EQ(rig.token_requests(), 2u);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 2u);
}

// ---------------------------------------------------------------------------------------------
// Retries, the circuit breaker, timeouts

TEST(AmazonDspClient, Retries429WithRetryAfter) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"status", 429}, {"retry_after", "1"}});
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);  // Retry-After: 1 was honoured
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 2u);
}

TEST(AmazonDspClient, Retries429WithoutRetryAfterAndWithABareMessageBody) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"},
                       {"status", 429},
                       {"count", 2},
                       {"body", {{"message", "Too Many Requests"}}}});
  EXPECT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 3u);
}

TEST(AmazonDspClient, PersistentThrottlingIsA502AfterTheRetries) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"status", 429}, {"count", 10}});
  auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_EQ(e.external_message(), "amazon_dsp answered HTTP 429 after 3 attempts");
}

TEST(AmazonDspClient, FiveXxStormOpensTheCircuitAndAHalfOpenProbeClosesIt) {
  Rig rig({.max_retries = 0, .open_duration = 1s});
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());  // token cached, circuit closed
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"status", 503}, {"count", 6}});
  for (int i = 0; i < 5; ++i) {
    auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
    EXPECT_EQ(e.http_status(), 502);
  }
  EXPECT_EQ(rig.amazon.circuit_state(), CircuitState::kOpen);
  auto refused = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_EQ(refused.http_status(), 503);
  EXPECT_EQ(refused.external_message(), "amazon_dsp: circuit open");
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns/list"), 6u);  // refused without a request

  // Half-open: the probe meets the sixth fault and opens the circuit again...
  ASSERT_TRUE(wait_until([&] { return rig.amazon.circuit_state() == CircuitState::kHalfOpen; }, 10s));
  EXPECT_EQ(expect_error([&] { rig.amazon.list_campaigns(kAccount); }).http_status(), 502);
  EXPECT_EQ(rig.amazon.circuit_state(), CircuitState::kOpen);
  // ...the next probe succeeds and closes it.
  ASSERT_TRUE(wait_until([&] { return rig.amazon.circuit_state() == CircuitState::kHalfOpen; }, 10s));
  EXPECT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  EXPECT_EQ(rig.amazon.circuit_state(), CircuitState::kClosed);
}

TEST(AmazonDspClient, SlowAnswersTimeOutAndAreRetried) {
  Rig rig({.timeout = 400ms});
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"delay_ms", 1500}});
  EXPECT_TRUE(rig.amazon.list_campaigns(kAccount).empty());  // the retry was not delayed
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"delay_ms", 1500}, {"count", 3}});
  auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_EQ(e.external_message(), "amazon_dsp: timed out after 400 ms");
}

// ---------------------------------------------------------------------------------------------
// Unusable answers: a clear 502, never a crash

class AmazonBadAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty()); }
  Error list_error(const json& fault) {
    json f = fault;
    f["path_prefix"] = "/dsp/v1/campaigns/list";
    if (!f.contains("count")) f["count"] = 1;  // answers and oversized bodies are not retried
    add_fault(rig.http, f);
    auto e = expect_error([&] { rig.amazon.list_campaigns(kAccount); });
    EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
    EXPECT_EQ(e.http_status(), 502);
    return e;
  }
  // The raw cap is above the gzip bomb's compressed size (about 130 KiB), so the decoded cap is
  // what stops it.
  Rig rig{{.max_response_bytes = 512u << 10, .max_report_bytes = 1u << 20}};
};

TEST_F(AmazonBadAnswerTest, NotJson) {
  EXPECT_EQ(list_error({{"status", 200}, {"body", "<html>oops"}}).external_message(),
            "amazon_dsp: unexpected answer to POST /dsp/v1/campaigns/list: the body is not JSON");
}

TEST_F(AmazonBadAnswerTest, Truncated) {
  // Retried like any lost answer (the list is a read), then reported.
  EXPECT_EQ(list_error({{"truncate", true}, {"count", 3}}).external_message(),
            "amazon_dsp: truncated response");
}

TEST_F(AmazonBadAnswerTest, Oversized) {
  json huge{{"campaigns", json::array()}, {"padding", std::string(600u << 10, 'x')}};
  EXPECT_EQ(list_error({{"status", 200}, {"body", huge}}).external_message(),
            "amazon_dsp: response larger than 524288 bytes");
}

TEST_F(AmazonBadAnswerTest, GzipBomb) {
  EXPECT_EQ(list_error({{"gzip_bomb", true}}).external_message(),
            "amazon_dsp: decoded response larger than 524288 bytes");
}

TEST_F(AmazonBadAnswerTest, WronglyTyped) {
  EXPECT_EQ(
      list_error({{"status", 200}, {"body", {{"campaigns", "none"}}}}).external_message(),
      "amazon_dsp: unexpected answer to POST /dsp/v1/campaigns/list: campaigns missing or not an array");
  EXPECT_EQ(
      list_error({{"status", 200}, {"body", {{"campaigns", {{{"campaignId", 581}}}}}}}).external_message(),
      "amazon_dsp: unexpected answer to POST /dsp/v1/campaigns/list: campaignId missing or not a string");
  EXPECT_EQ(list_error({{"status", 200}, {"body", json::array()}}).external_message(),
            "amazon_dsp: unexpected answer to POST /dsp/v1/campaigns/list: the body is not a JSON object");
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns"},
                       {"method", "POST"},
                       {"status", 207},
                       {"body", {{"success", {{{"index", 7}, {"campaignId", "1"}}}}}}});
  auto e = expect_error([&] { rig.amazon.create_campaigns(kAccount, {campaign("A", "")}); });
  EXPECT_EQ(e.external_message(),
            "amazon_dsp: unexpected answer to POST /dsp/v1/campaigns: success[].index 7 is not an item of "
            "the request");
}

TEST_F(AmazonBadAnswerTest, TruncatedReportFileIsRetriedThenA502) {
  rig.amazon.create_campaigns(kAccount, {campaign("Cut", "camp_cut")});
  auto report = rig.amazon.wait_for_report(
      kAccount, rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-03"}));
  ASSERT_EQ(report.status, "COMPLETED");
  // Once: the download is a read, so the channel fetches it again.
  add_fault(rig.http, {{"path_prefix", "/_sandbox/downloads/"}, {"truncate", true}});
  EXPECT_EQ(rig.amazon.download_campaign_rows(report).size(), 3u);
  add_fault(rig.http, {{"path_prefix", "/_sandbox/downloads/"}, {"truncate", true}, {"count", 3}});
  auto cut = expect_error([&] { rig.amazon.download_campaign_rows(report); });
  EXPECT_STREQ(cut.code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(cut.http_status(), 502);
  EXPECT_EQ(cut.external_message(), "amazon_dsp: truncated response");
}

TEST_F(AmazonBadAnswerTest, ReportFileThatIsAGzipBombOrNotGzip) {
  rig.amazon.create_campaigns(kAccount, {campaign("Bomb", "camp_bomb")});
  auto id = rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-03"});
  auto report = rig.amazon.wait_for_report(kAccount, id);
  ASSERT_EQ(report.status, "COMPLETED");
  add_fault(rig.http, {{"path_prefix", "/_sandbox/downloads/"}, {"gzip_bomb", true}});
  auto bomb = expect_error([&] { rig.amazon.download_campaign_rows(report); });
  EXPECT_EQ(bomb.http_status(), 502);
  EXPECT_EQ(
      bomb.external_message(),
      "amazon_dsp: unexpected answer to the report download: the report file is larger than 1048576 bytes "
      "decoded");
  add_fault(rig.http, {{"path_prefix", "/_sandbox/downloads/"}, {"status", 200}, {"body", "plain text"}});
  auto plain = expect_error([&] { rig.amazon.download_campaign_rows(report); });
  EXPECT_NE(plain.external_message().find("the report file is not valid gzip"), std::string::npos)
      << plain.external_message();
  EXPECT_FALSE(rig.amazon.download_campaign_rows(report).empty());  // the real file still reads
}

// ---------------------------------------------------------------------------------------------
// Campaigns, ad groups, creatives, associations

TEST(AmazonDspClient, CampaignsCreateListUpdateWithTheFourHeaders) {
  Rig rig;
  auto created = rig.amazon.create_campaigns(
      kAccount, {campaign("Summer", "camp_000000000001"), campaign("Winter", "camp_000000000002")});
  ASSERT_EQ(created.size(), 2u);
  for (const auto& r : created) {
    ASSERT_TRUE(r.ok()) << r.errors.at(0).message;
    EXPECT_FALSE(r.existing);
    EXPECT_TRUE(r.id.starts_with("581")) << r.id;
  }
  auto listed = rig.amazon.list_campaigns(kAccount, {.campaign_ids = {created[1].id}});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "Winter");
  EXPECT_EQ(listed[0].external_id, "camp_000000000002");
  EXPECT_EQ(listed[0].advertiser_id, kAccount);
  EXPECT_EQ(listed[0].state, "INACTIVE");
  EXPECT_EQ(listed[0].kpi, "REACH");
  ASSERT_EQ(listed[0].flights.size(), 1u);
  EXPECT_EQ(listed[0].flights[0].budget, 10000.0);

  auto updated = rig.amazon.update_campaigns(kAccount, {{.campaign_id = created[1].id, .state = "ACTIVE"}});
  ASSERT_TRUE(updated.at(0).ok());
  auto after = rig.amazon.list_campaigns(kAccount, {.campaign_ids = {created[1].id}});
  EXPECT_EQ(after.at(0).state, "ACTIVE");
  EXPECT_EQ(after.at(0).delivery_status, "DELIVERING");
  // Another advertiser sees none of them.
  EXPECT_TRUE(rig.amazon.list_campaigns("adv-2002").empty());

  auto create = sandbox_requests(rig.http, "/dsp/v1/campaigns");
  auto post = std::find_if(create.begin(), create.end(), [](const json& r) {
    return r["method"] == "POST" && r["path"] == "/dsp/v1/campaigns";
  });
  ASSERT_NE(post, create.end());
  const auto& h = (*post)["headers"];
  EXPECT_TRUE(h["authorization"].get<std::string>().starts_with("Bearer ")) << h;
  EXPECT_EQ(h["amazon-advertising-api-clientid"], kSandboxClientId);
  EXPECT_EQ(h["amazon-advertising-api-scope"], "1234567890");
  EXPECT_EQ(h["amazon-ads-accountid"], kAccount);
  EXPECT_EQ(h["content-type"], "application/json");
}

TEST(AmazonDspClient, A207BatchWithOneFailedItemIsHandledItemByItem) {
  Rig rig;
  auto bad = campaign("No flights", "camp_000000000011");
  bad.flights.clear();
  auto results = rig.amazon.create_campaigns(
      kAccount, {campaign("First", "camp_000000000010"), bad, campaign("Third", "camp_000000000012")});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[2].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].index, 1u);
  EXPECT_TRUE(results[1].id.empty());
  EXPECT_EQ(results[1].errors.at(0).code, "INVALID_ARGUMENT");
  EXPECT_NE(results[1].errors.at(0).message.find("flights"), std::string::npos);
  EXPECT_NE(results[0].id, results[2].id);
  EXPECT_EQ(rig.amazon.list_campaigns(kAccount).size(), 2u);
}

TEST(AmazonDspClient, ARepeatedCreateFindsTheCampaignByExternalId) {
  Rig rig;
  auto first = rig.amazon.create_campaigns(kAccount, {campaign("Once", "camp_000000000020")});
  ASSERT_TRUE(first.at(0).ok());
  auto again = rig.amazon.create_campaigns(
      kAccount, {campaign("Once", "camp_000000000020"), campaign("New", "camp_000000000021")});
  ASSERT_TRUE(again.at(0).ok());
  EXPECT_TRUE(again[0].existing);
  EXPECT_EQ(again[0].id, first[0].id);
  EXPECT_FALSE(again.at(1).existing);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns"), 2u);
  auto second_post = sandbox_requests(rig.http, "/dsp/v1/campaigns").back();
  EXPECT_EQ(json::parse(second_post["body"].get<std::string>())["campaigns"].size(), 1u);  // only "New"
  EXPECT_EQ(rig.amazon.list_campaigns(kAccount).size(), 2u);
}

TEST(AmazonDspClient, ACreateWhoseAnswerWasLostIsNotDuplicatedWhenRetried) {
  Rig rig({.timeout = 500ms});
  ASSERT_TRUE(rig.amazon.list_campaigns(kAccount).empty());
  // The look-up goes through; the create itself is answered too late for the client, but the
  // sandbox does create the campaign: the answer is lost on the way back.
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns/list"}, {"delay_ms", 1}});
  add_fault(rig.http, {{"path_prefix", "/dsp/v1/campaigns"}, {"method", "POST"}, {"delay_ms", 1500}});
  auto lost =
      expect_error([&] { rig.amazon.create_campaigns(kAccount, {campaign("Lost", "camp_000000000030")}); });
  EXPECT_EQ(lost.http_status(), 502);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns"), 1u);  // a POST is not blindly re-sent
  ASSERT_TRUE(wait_until(
      [&] {
        auto log = sandbox_requests(rig.http, "/dsp/v1/campaigns");
        return std::any_of(log.begin(), log.end(), [](const json& r) {
          return r["method"] == "POST" && r["path"] == "/dsp/v1/campaigns" && r["status"] == 207;
        });
      },
      10s));
  // The caller retries (a job retried): the look-up finds the campaign, nothing is created.
  auto retried = rig.amazon.create_campaigns(kAccount, {campaign("Lost", "camp_000000000030")});
  ASSERT_TRUE(retried.at(0).ok());
  EXPECT_TRUE(retried[0].existing);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/campaigns"), 1u);
  EXPECT_EQ(rig.amazon.list_campaigns(kAccount).size(), 1u);
}

TEST(AmazonDspClient, AdGroupsCreateListUpdate) {
  Rig rig;
  auto c = rig.amazon.create_campaigns(kAccount, {campaign("Parent", "camp_000000000040")}).at(0);
  ASSERT_TRUE(c.ok());
  upstream::DspAdGroup group{.campaign_id = c.id,
                             .name = "Parent - runway",
                             .external_id = "camp_000000000040:crv_000000000001",
                             .inventory_type = "DISPLAY",
                             .start = "2026-02-01T00:00:00Z",
                             .end = "2026-02-28T23:59:59Z",
                             .budget = 5000.0,
                             .base_bid = 1.5};
  auto orphan = group;
  orphan.campaign_id = "581999999999999999";
  orphan.external_id = "orphan";
  auto created = rig.amazon.create_ad_groups(kAccount, {group, orphan});
  ASSERT_TRUE(created.at(0).ok()) << created[0].errors.at(0).message;
  ASSERT_FALSE(created.at(1).ok());
  EXPECT_EQ(created[1].errors.at(0).code, "NOT_FOUND");
  auto again = rig.amazon.create_ad_groups(kAccount, {group});
  EXPECT_TRUE(again.at(0).existing);
  EXPECT_EQ(again[0].id, created[0].id);

  auto listed = rig.amazon.list_ad_groups(kAccount, {.campaign_ids = {c.id}});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].inventory_type, "DISPLAY");
  EXPECT_EQ(listed[0].budget, 5000.0);
  auto updated = rig.amazon.update_ad_groups(
      kAccount, {{.ad_group_id = created[0].id, .state = "ACTIVE", .budget = 6000.0},
                 {.ad_group_id = "582999999999999999", .state = "PAUSED"}});
  EXPECT_TRUE(updated.at(0).ok());
  ASSERT_FALSE(updated.at(1).ok());
  EXPECT_EQ(updated[1].errors.at(0).code, "NOT_FOUND");
  EXPECT_EQ(rig.amazon.list_ad_groups(kAccount, {.ad_group_ids = {created[0].id}}).at(0).state, "ACTIVE");
}

TEST(AmazonDspClient, CreativesDisplayAndVastModerationAndAudioRefused) {
  Rig rig;
  upstream::DspCreative display{.name = "Runway 320x50",
                                .external_id = "crv_000000000050",
                                .type = upstream::DspTagType::kDisplay,
                                .tag_source = "<div class=\"amazon-dsp-display-wrapper\">ad</div>",
                                .width = 320,
                                .height = 50};
  upstream::DspCreative vast{.name = "Pre-roll",
                             .external_id = "crv_000000000051",
                             .type = upstream::DspTagType::kVast,
                             .tag_source = "<?xml version=\"1.0\"?><VAST version=\"3.0\"></VAST>"};
  upstream::DspCreative audio{.name = "Audio",
                              .external_id = "crv_000000000052",
                              .type = upstream::DspTagType::kAudio,
                              .tag_source = "<VAST version=\"4.1\"></VAST>"};
  auto created = rig.amazon.create_ad_creatives(kAccount, {display, vast, audio});
  ASSERT_TRUE(created.at(0).ok()) << created[0].errors.at(0).message;
  ASSERT_TRUE(created.at(1).ok()) << created[1].errors.at(0).message;
  ASSERT_FALSE(created.at(2).ok());
  EXPECT_TRUE(created[2].id.empty());  // never a fake id
  EXPECT_EQ(created[2].errors.at(0).code, "UNSUPPORTED_FORMAT");
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/adCreatives"), 2u);  // audio was never sent

  auto sent = sandbox_requests(rig.http, "/dsp/v1/adCreatives");
  std::vector<json> posts;
  for (const auto& r : sent) {
    if (r["method"] == "POST" && r["path"] == "/dsp/v1/adCreatives")
      posts.push_back(json::parse(r["body"].get<std::string>()));
  }
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0]["adCreativeFormatProperties"]["thirdPartyTag"]["tagType"], "DISPLAY");
  EXPECT_EQ(posts[0]["adCreativeFormatProperties"]["creativeSizes"][0]["width"], 320);
  EXPECT_EQ(posts[1]["adCreativeFormatProperties"]["thirdPartyTag"]["tagType"], "VAST");
  EXPECT_EQ(posts[1]["externalId"], "crv_000000000051");

  auto again = rig.amazon.create_ad_creatives(kAccount, {display});
  EXPECT_TRUE(again.at(0).existing);
  EXPECT_EQ(again[0].id, created[0].id);
  EXPECT_EQ(rig.requests("POST", "/dsp/v1/adCreatives"), 2u);

  EXPECT_EQ(rig.amazon.get_moderation(kAccount, created[0].id).status, "PENDING");
  EXPECT_EQ(rig.amazon.get_moderation(kAccount, created[0].id).status, "PENDING");
  auto approved = rig.amazon.get_moderation(kAccount, created[0].id);
  EXPECT_EQ(approved.status, "APPROVED");
  EXPECT_TRUE(approved.reasons.empty());
  auto unknown = expect_error([&] { rig.amazon.get_moderation(kAccount, "583999999999999999"); });
  EXPECT_EQ(unknown.http_status(), 502);
}

TEST(AmazonDspClient, RejectedCreativeCarriesItsReason) {
  Rig rig;
  auto created = rig.amazon.create_ad_creatives(kAccount, {{.name = "Bad",
                                                            .external_id = "crv_000000000060",
                                                            .type = upstream::DspTagType::kDisplay,
                                                            .tag_source = "<div>sandbox-reject</div>",
                                                            .width = 300,
                                                            .height = 250}});
  ASSERT_TRUE(created.at(0).ok());
  upstream::DspModeration m;
  for (int i = 0; i < 3; ++i) m = rig.amazon.get_moderation(kAccount, created[0].id);
  EXPECT_EQ(m.status, "REJECTED");
  ASSERT_EQ(m.reasons.size(), 1u);
  EXPECT_NE(m.reasons[0].find("creative policy"), std::string::npos);
}

TEST(AmazonDspClient, AssociationsAreSentInBatchesOfAtMostTwenty) {
  Rig rig;
  auto c = rig.amazon.create_campaigns(kAccount, {campaign("Assoc", "camp_000000000070")}).at(0);
  auto group = rig.amazon
                   .create_ad_groups(kAccount, {{.campaign_id = c.id,
                                                 .name = "Assoc - group",
                                                 .external_id = "g70",
                                                 .inventory_type = "DISPLAY",
                                                 .start = "2026-02-01T00:00:00Z",
                                                 .end = "2026-02-28T23:59:59Z"}})
                   .at(0);
  ASSERT_TRUE(group.ok());
  // Appended rather than `"literal" + std::to_string(i)`, which trips GCC 12's -Wrestrict.
  auto numbered = [](const char* prefix, int i, const char* suffix = "") {
    std::string s = prefix;
    s += std::to_string(i);
    s += suffix;
    return s;
  };
  std::vector<upstream::DspCreative> creatives;
  for (int i = 0; i < 44; ++i) {
    creatives.push_back({.name = numbered("C", i),
                         .external_id = numbered("crv_a", i),
                         .type = upstream::DspTagType::kDisplay,
                         .tag_source = numbered("<div>", i, "</div>"),
                         .width = 320,
                         .height = 50});
  }
  auto made = rig.amazon.create_ad_creatives(kAccount, creatives);
  std::vector<upstream::DspAssociation> associations;
  for (const auto& m : made) {
    ASSERT_TRUE(m.ok());
    associations.push_back({.ad_creative_id = m.id, .ad_group_id = group.id});
  }
  associations.insert(associations.begin() + 30,
                      {.ad_creative_id = made[0].id, .ad_group_id = "582999999999999999"});
  ASSERT_EQ(associations.size(), 45u);
  auto results = rig.amazon.associate(kAccount, associations);
  ASSERT_EQ(results.size(), 45u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].index, i);
    EXPECT_EQ(results[i].ad_creative_id, associations[i].ad_creative_id);
    EXPECT_EQ(results[i].ok(), i != 30) << i;
  }
  EXPECT_EQ(results[30].errors.at(0).code, "NOT_FOUND");
  auto calls = sandbox_requests(rig.http, "/dsp/v1/adCreatives/associations/adGroups");
  std::vector<size_t> sizes;
  for (const auto& r : calls) {
    if (r["path"] == "/dsp/v1/adCreatives/associations/adGroups") {
      sizes.push_back(json::parse(r["body"].get<std::string>())["associations"].size());
    }
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{20, 20, 5}));
}

// ---------------------------------------------------------------------------------------------
// Reports

TEST(AmazonDspClient, ReportCreatePollDownloadAndDuplicate) {
  Rig rig;
  auto c = rig.amazon.create_campaigns(kAccount, {campaign("Reported", "camp_000000000080")}).at(0);
  upstream::DspReportRequest request{
      .start_date = "2026-02-01", .end_date = "2026-02-03", .campaign_ids = {c.id}};
  auto id = rig.amazon.create_report(kAccount, request);
  EXPECT_EQ(rig.amazon.create_report(kAccount, request), id);  // 425: the same report
  auto created = sandbox_requests(rig.http, "/reporting/reports");
  ASSERT_GE(created.size(), 2u);
  EXPECT_EQ(created[0]["headers"]["content-type"], kReportContentType);
  EXPECT_EQ(created[1]["status"], 425);

  auto report = rig.amazon.wait_for_report(kAccount, id);
  ASSERT_EQ(report.status, "COMPLETED");
  auto rows = rig.amazon.download_campaign_rows(report);
  ASSERT_EQ(rows.size(), 3u);  // one per day
  EXPECT_EQ(rows[0].date, "2026-02-01");
  EXPECT_EQ(rows[0].campaign_id, c.id);
  EXPECT_GE(rows[0].impressions, rows[0].clicks);
  // The pre-signed download carried no Amazon header.
  auto downloads = sandbox_requests(rig.http, "/_sandbox/downloads/");
  ASSERT_EQ(downloads.size(), 1u);
  for (const auto& name : downloads[0]["header_names"]) {
    EXPECT_TRUE(name != "authorization" && !name.get<std::string>().starts_with("amazon-")) << name;
  }

  auto viewability = rig.amazon.wait_for_report(
      kAccount, rig.amazon.create_report(kAccount, {.type = upstream::DspReportType::kViewability,
                                                    .start_date = "2026-02-01",
                                                    .end_date = "2026-02-01",
                                                    .campaign_ids = {c.id}}));
  auto vrows = rig.amazon.download_viewability_rows(viewability);
  ASSERT_EQ(vrows.size(), 2u);  // DOUBLE_VERIFY and IAS
  EXPECT_EQ(vrows[0].vendor, "DOUBLE_VERIFY");
  EXPECT_LE(vrows[0].viewable_impressions, vrows[0].measurable_impressions);

  auto failed = rig.amazon.wait_for_report(
      kAccount,
      rig.amazon.create_report(
          kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-02", .name = "sandbox-fail check"}));
  EXPECT_EQ(failed.status, "FAILED");
  EXPECT_FALSE(failed.failure_reason.empty());

  auto too_long = expect_error(
      [&] { rig.amazon.create_report(kAccount, {.start_date = "2026-01-01", .end_date = "2026-03-01"}); });
  EXPECT_EQ(too_long.http_status(), 502);
  EXPECT_TRUE(too_long.external_message().starts_with("amazon_dsp refused POST /reporting/reports: HTTP 400"))
      << too_long.external_message();
}

TEST(AmazonDspClient, ReportByCreativeHasRowsPerCreativeThatAddUpToTheCampaignRows) {
  Rig rig;
  auto made = campaign_with_creatives(rig.amazon, "camp_000000000100");
  upstream::DspReportRequest per_campaign{
      .start_date = "2026-02-01", .end_date = "2026-02-05", .campaign_ids = {made.campaign_id}};
  auto per_creative = per_campaign;
  per_creative.by_creative = true;
  auto reports = rig.amazon.wait_for_reports(kAccount, {rig.amazon.create_report(kAccount, per_campaign),
                                                        rig.amazon.create_report(kAccount, per_creative)});
  ASSERT_EQ(reports.at(0).status, "COMPLETED");
  ASSERT_EQ(reports.at(1).status, "COMPLETED");

  auto sent = sandbox_requests(rig.http, "/reporting/reports");
  auto config = json::parse(sent.at(1)["body"].get<std::string>())["configuration"];
  EXPECT_EQ(config["groupBy"], (json{"campaign", "creative"}));
  auto columns = config["columns"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(columns.begin(), columns.end(), "creativeId"), columns.end()) << config;
  EXPECT_EQ(json::parse(sent.at(0)["body"].get<std::string>())["configuration"]["groupBy"],
            json::array({"campaign"}));

  auto campaign_rows = rig.amazon.download_campaign_rows(reports[0]);
  auto creative_rows = rig.amazon.download_campaign_rows(reports[1], /*by_creative=*/true);
  ASSERT_EQ(campaign_rows.size(), 5u);
  ASSERT_EQ(creative_rows.size(), 15u);  // 3 creatives x 5 days
  for (const auto& day : campaign_rows) {
    EXPECT_TRUE(day.creative_id.empty());
    int64_t impressions = 0, clicks = 0, purchases = 0, cents = 0;
    std::vector<std::string> creatives;
    for (const auto& r : creative_rows) {
      if (r.date != day.date) continue;
      EXPECT_EQ(r.campaign_id, made.campaign_id);
      creatives.push_back(r.creative_id);
      impressions += r.impressions;
      clicks += r.clicks;
      purchases += r.purchases;
      cents += std::llround(r.total_cost * 100);
    }
    EXPECT_EQ(creatives, made.creative_ids) << day.date;
    EXPECT_EQ(impressions, day.impressions) << day.date;
    EXPECT_EQ(clicks, day.clicks) << day.date;
    EXPECT_EQ(purchases, day.purchases) << day.date;
    EXPECT_EQ(cents, std::llround(day.total_cost * 100)) << day.date;
  }
  // Read as per creative, a file without creativeId is malformed, not a set of campaign totals.
  auto e = expect_error([&] { rig.amazon.download_campaign_rows(reports[0], /*by_creative=*/true); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_EQ(e.external_message(),
            "amazon_dsp: unexpected answer to the report download: creativeId missing or not a string");
}

TEST(AmazonDspClient, WaitForReportsPollsEachUnfinishedReportOncePerRound) {
  Rig rig;
  auto c = rig.amazon.create_campaigns(kAccount, {campaign("Three", "camp_000000000110")}).at(0);
  std::vector<std::string> ids;
  for (const char* end : {"2026-02-01", "2026-02-02", "2026-02-03"}) {
    ids.push_back(rig.amazon.create_report(
        kAccount, {.start_date = "2026-02-01", .end_date = end, .campaign_ids = {c.id}}));
  }
  // The second report is ahead: its next poll completes it.
  EXPECT_EQ(rig.amazon.get_report(kAccount, ids[1]).status, "PENDING");
  EXPECT_EQ(rig.amazon.get_report(kAccount, ids[1]).status, "PROCESSING");
  auto started = std::chrono::steady_clock::now();
  auto reports = rig.amazon.wait_for_reports(kAccount, ids);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(reports.size(), 3u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(reports[i].report_id, ids[i]) << "in the order given";
    EXPECT_EQ(reports[i].status, "COMPLETED");
    EXPECT_EQ(rig.amazon.download_campaign_rows(reports[i]).size(), i + 1);
  }
  EXPECT_EQ(rig.requests("GET", "/reporting/reports/" + ids[0]), 3u);  // PENDING, PROCESSING, COMPLETED
  EXPECT_EQ(rig.requests("GET", "/reporting/reports/" + ids[1]), 3u);  // two above, then once: done
  EXPECT_EQ(rig.requests("GET", "/reporting/reports/" + ids[2]), 3u);
  // Three rounds, two waits between them: 100 ms, then 200 ms (not one series of waits per report).
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(rig.amazon.wait_for_reports(kAccount, {}).empty());
}

TEST(AmazonDspClient, WaitForReportsNamesTheUnfinishedReportsWhenTheTimeoutPasses) {
  Rig rig({.report_timeout = 250ms});
  auto slow = rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-01"});
  auto done = rig.amazon.create_report(kAccount, {.start_date = "2026-02-02", .end_date = "2026-02-02"});
  for (int i = 0; i < 2; ++i) rig.amazon.get_report(kAccount, done);
  // Round one at 0 ms, round two after 100 ms; 200 ms more would pass the 250 ms.
  auto e = expect_error([&] { rig.amazon.wait_for_reports(kAccount, {slow, done}); });
  EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_EQ(e.external_message(), "amazon_dsp: report " + slow + " is still PROCESSING after 0 s");
  EXPECT_EQ(rig.requests("GET", "/reporting/reports/" + done), 3u) << "a finished report is not polled again";
}

TEST(AmazonDspClient, AReportFailedByAFaultComesBackFailed) {
  Rig rig;
  add_fault(rig.http, {{"path_prefix", "/reporting/reports"}, {"method", "POST"}, {"fail_report", true}});
  auto failing = rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-02"});
  auto fine = rig.amazon.create_report(kAccount, {.start_date = "2026-02-03", .end_date = "2026-02-04"});
  auto reports = rig.amazon.wait_for_reports(kAccount, {failing, fine});
  EXPECT_EQ(reports.at(0).status, "FAILED");
  EXPECT_FALSE(reports[0].failure_reason.empty());
  EXPECT_TRUE(reports[0].url.empty());
  EXPECT_EQ(reports.at(1).status, "COMPLETED");
  EXPECT_EQ(rig.amazon.wait_for_report(kAccount, failing).status, "FAILED");
}

TEST(AmazonDspClient, TokenExpiringWhileSeveralReportsArePolledIsRefreshedOnce) {
  Rig rig;
  std::vector<std::string> ids;
  for (const char* end : {"2026-02-01", "2026-02-02", "2026-02-03"}) {
    ids.push_back(rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = end}));
    EXPECT_EQ(rig.amazon.get_report(kAccount, ids.back()).status, "PENDING");
  }
  expire_tokens(rig.http);  // the token dies between two rounds
  for (const auto& r : rig.amazon.wait_for_reports(kAccount, ids)) EXPECT_EQ(r.status, "COMPLETED");
  EXPECT_EQ(rig.token_requests(), 2u);
}

TEST(AmazonDspClient, ShortLivedTokensAreRenewedWhileSeveralReportsArePolled) {
  Rig rig({.sandbox_args = {"--token-ttl", "1"}});
  std::vector<std::string> ids;
  for (const char* end : {"2026-02-01", "2026-02-02", "2026-02-03"}) {
    ids.push_back(rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = end}));
  }
  // Slow polls stretch the wait past the token's life (a real clock, on purpose).
  add_fault(rig.http,
            {{"path_prefix", "/reporting/reports/"}, {"method", "GET"}, {"delay_ms", 400}, {"count", 4}});
  for (const auto& r : rig.amazon.wait_for_reports(kAccount, ids)) EXPECT_EQ(r.status, "COMPLETED");
  EXPECT_GE(rig.token_requests(), 2u);
}

TEST(AmazonDspClient, TokenExpiringWhileAReportIsPolledIsRefreshed) {
  Rig rig;
  auto id = rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-02"});
  EXPECT_EQ(rig.amazon.get_report(kAccount, id).status, "PENDING");
  expire_tokens(rig.http);  // the token dies between two polls
  auto report = rig.amazon.wait_for_report(kAccount, id);
  EXPECT_EQ(report.status, "COMPLETED");
  EXPECT_EQ(rig.token_requests(), 2u);
  auto polls = sandbox_requests(rig.http, "/reporting/reports/" + id);
  EXPECT_EQ(polls.at(1)["status"], 401);
}

TEST(AmazonDspClient, ShortLivedTokensAreRenewedDuringALongPoll) {
  Rig rig({.sandbox_args = {"--token-ttl", "1"}});
  ASSERT_TRUE(rig.amazon.create_campaigns(kAccount, {campaign("Short", "camp_000000000090")}).at(0).ok());
  auto id = rig.amazon.create_report(kAccount, {.start_date = "2026-02-01", .end_date = "2026-02-02"});
  std::this_thread::sleep_for(1200ms);  // the first token has run out (a real clock, on purpose)
  auto report = rig.amazon.wait_for_report(kAccount, id);
  EXPECT_EQ(report.status, "COMPLETED");
  EXPECT_FALSE(rig.amazon.download_campaign_rows(report).empty());
  EXPECT_GE(rig.token_requests(), 2u);
}

}  // namespace
}  // namespace kargo::itest
