// The KargoClient against the real `kargo-dsp sandbox` over HTTP (issue 5): snippets only from
// KARGO_SNIPPET_HOSTS (redirects included), the 1 MiB cap, 404 and outage handling, and Kargo's
// campaign API. Built in-process from the library with the real transport.
#include <gtest/gtest.h>

#include <future>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "support/helpers.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using upstream::KargoClient;

struct KargoRig {
  explicit KargoRig(std::optional<std::string> api_key = "sandbox-kargo-key",
                    std::vector<std::string> extra_hosts = {})
      : http(sandbox.port()),
        channel(client, metrics,
                [] {
                  upstream::ChannelOptions c;
                  c.service = "kargo";
                  c.retry = {.max_retries = 2, .base_delay = 10ms, .max_delay = 100ms};
                  return c;
                }()),
        kargo(channel, [&] {
          upstream::KargoOptions o;
          o.base_url = sandbox_url(sandbox.port());
          o.api_key = api_key;
          o.snippet_hosts = {"snippet.kargo.com", "127.0.0.1:" + std::to_string(sandbox.port())};
          for (auto& h : extra_hosts) o.snippet_hosts.push_back(h);
          return o;
        }()) {}

  std::string url(std::string_view path) const { return sandbox_url(sandbox.port(), path); }

  SandboxProcess sandbox;
  HttpClient http;
  Metrics metrics;
  upstream::HttpClient client;
  upstream::UpstreamChannel channel;
  KargoClient kargo;
};


// The one detail of a 422 on snippet_url.
std::string snippet_problem(const Error& e) {
  EXPECT_EQ(e.http_status(), 422) << e.external_message();
  EXPECT_EQ(e.details().size(), 1u);
  if (e.details().empty()) return "";
  EXPECT_EQ(e.details()[0].field, "snippet_url");
  return e.details()[0].message;
}

upstream::KargoCampaignFields fields(const std::string& external_id,
                                     const std::string& name = "Summer Sale") {
  return {.name = name,
          .advertiser_id = "adv_1",
          .start_date = "2026-02-01",
          .end_date = "2026-02-28",
          .budget = 10000,
          .placement_types = {"runway"},
          .optimization_goal = "viewability",
          .external_id = external_id};
}

// ---------------------------------------------------------------------------------------------
// Snippets

TEST(KargoSnippets, FetchesASnippetFromAnAllowedHost) {
  KargoRig rig;
  auto s = rig.kargo.fetch_snippet(rig.url("/snippet/dm/81298"));
  EXPECT_NE(s.body.find("kargo"), std::string::npos) << s.body.substr(0, 200);
  EXPECT_EQ(s.content_type.rfind("text/html", 0), 0u);
  auto vast = rig.kargo.fetch_snippet(rig.url("/snippet/dm/81172"));
  EXPECT_NE(vast.body.find("<VAST"), std::string::npos);
  EXPECT_EQ(rig.kargo.circuit_state(), upstream::CircuitState::kClosed);
}

TEST(KargoSnippets, FetchesWithoutAnApiKeyToo) {
  KargoRig rig(std::nullopt);
  EXPECT_FALSE(rig.kargo.configured());
  EXPECT_FALSE(rig.kargo.fetch_snippet(rig.url("/snippet/dm/81400")).body.empty());
}

TEST(KargoSnippets, AsyncFetchRunsTheCallbackOnce) {
  KargoRig rig;
  std::promise<upstream::SnippetResult> done;
  rig.kargo.fetch_snippet(rig.url("/snippet/dm/81510"), {},
                          [&](upstream::SnippetResult r) { done.set_value(std::move(r)); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto r = f.get();
  ASSERT_TRUE(std::holds_alternative<upstream::Snippet>(r));
  EXPECT_NE(std::get<upstream::Snippet>(r).body.find("<VAST"), std::string::npos);
}

TEST(KargoSnippets, RefusesAHostOutsideTheListWithoutCallingIt) {
  KargoRig rig;
  EXPECT_EQ(snippet_problem(
                expect_error([&] { rig.kargo.fetch_snippet("http://169.254.169.254/latest/meta-data"); })),
            "host 169.254.169.254 is not in KARGO_SNIPPET_HOSTS");
  // Same host, another port: not allowed either.
  EXPECT_EQ(
      snippet_problem(expect_error([&] { rig.kargo.fetch_snippet("http://127.0.0.1:1/snippet/dm/81298"); })),
      "host 127.0.0.1:1 is not in KARGO_SNIPPET_HOSTS");
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet("ftp://snippet.kargo.com/x"); })),
            "must be an absolute http(s) URL");
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet("not a url"); })),
            "must be an absolute http(s) URL");
}

TEST(KargoSnippets, RefusesARedirectThatLeavesTheList) {
  KargoRig rig;
  auto target = rig.url("/snippet/redirect?to=http://10.0.0.7/internal");
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet(target); })),
            "redirects to 10.0.0.7, which is not in KARGO_SNIPPET_HOSTS");
  EXPECT_EQ(count_requests(rig.http, "GET", "/snippet/redirect"), 1u);  // asked once, not retried
}

TEST(KargoSnippets, FollowsARedirectThatStaysInTheList) {
  KargoRig rig;
  auto s = rig.kargo.fetch_snippet(rig.url("/snippet/redirect?to=" + rig.url("/snippet/dm/81305")));
  EXPECT_EQ(s.url, rig.url("/snippet/dm/81305"));
  EXPECT_FALSE(s.body.empty());
}

TEST(KargoSnippets, ASnippetOverOneMebibyteIsRefused) {
  KargoRig rig;
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet(rig.url("/snippet/big")); })),
            "the snippet is larger than 1 MiB");
  add_fault(rig.http, {{"path_prefix", "/snippet/dm/81298"}, {"gzip_bomb", true}});
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet(rig.url("/snippet/dm/81298")); })),
            "the snippet is larger than 1 MiB");
}

TEST(KargoSnippets, UnknownSnippetIsA422) {
  KargoRig rig;
  EXPECT_EQ(snippet_problem(expect_error([&] { rig.kargo.fetch_snippet(rig.url("/snippet/dm/1")); })),
            "Kargo has no snippet at this URL (HTTP 404)");
}

TEST(KargoSnippets, OutageIsRetriedThenA502) {
  KargoRig rig;
  add_fault(rig.http, {{"path_prefix", "/snippet/dm/81298"}, {"status", 503}, {"count", 2}});
  EXPECT_FALSE(rig.kargo.fetch_snippet(rig.url("/snippet/dm/81298")).body.empty());
  add_fault(rig.http, {{"path_prefix", "/snippet/dm/81298"}, {"status", 502}, {"count", 3}});
  auto e = expect_error([&] { rig.kargo.fetch_snippet(rig.url("/snippet/dm/81298")); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(e.external_message(), "kargo answered HTTP 502 after 3 attempts");
}

// ---------------------------------------------------------------------------------------------
// Campaigns

TEST(KargoCampaigns, ListsCreatesAndUpdates) {
  KargoRig rig;
  auto page = rig.kargo.list_campaigns(1, 20);
  EXPECT_EQ(page.total, 3);
  ASSERT_EQ(page.campaigns.size(), 3u);
  EXPECT_EQ(page.campaigns[0].id, "10001");
  EXPECT_FALSE(page.campaigns[0].name.empty());
  ASSERT_TRUE(page.campaigns[0].budget);

  auto created = rig.kargo.create_campaign(fields("camp_00000000000a"));
  EXPECT_FALSE(created.adopted);
  EXPECT_EQ(created.id.size(), 8u) << created.id;  // random 8-digit ids per sandbox run
  EXPECT_TRUE(rig.kargo.update_campaign(created.id, fields("camp_00000000000a", "Renamed")));
  auto after = rig.kargo.list_campaigns(2, 2);
  EXPECT_EQ(after.total, 4);
  ASSERT_EQ(after.campaigns.size(), 2u);
  EXPECT_EQ(after.campaigns[1].name, "Renamed");

  auto logged = sandbox_requests(rig.http, "/v1/campaigns").back();
  // The sandbox logs the scheme and the key's last 4 characters only.
  auto auth = logged["headers"]["authorization"].get<std::string>();
  EXPECT_TRUE(auth.starts_with("Bearer ") && auth.ends_with("-key")) << auth;
}

TEST(KargoCampaigns, ASecondCreateWithTheSameExternalIdAdoptsTheFirst) {
  KargoRig rig;
  auto first = rig.kargo.create_campaign(fields("camp_00000000000b"));
  auto second = rig.kargo.create_campaign(fields("camp_00000000000b"));
  EXPECT_TRUE(second.adopted);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(rig.kargo.list_campaigns(1, 100).total, 4);
}

TEST(KargoCampaigns, InvalidFieldsAndUnknownIdsAreClear502s) {
  KargoRig rig;
  auto bad = fields("camp_00000000000c");
  bad.budget = -1;
  auto e = expect_error([&] { rig.kargo.create_campaign(bad); });
  EXPECT_EQ(e.http_status(), 502);
  EXPECT_NE(e.external_message().find("budget"), std::string::npos) << e.external_message();
  EXPECT_FALSE(rig.kargo.update_campaign("99999", fields("camp_00000000000c")));  // 404: deleted at Kargo
}

TEST(KargoCampaigns, WithoutAKeyEveryCampaignCallIs503) {
  KargoRig rig(std::nullopt);
  for (const auto& e :
       {expect_error([&] { rig.kargo.list_campaigns(1, 20); }),
        expect_error([&] { rig.kargo.create_campaign(fields("camp_00000000000d")); }),
        expect_error([&] { (void)rig.kargo.update_campaign("10001", fields("camp_00000000000d")); })}) {
    EXPECT_EQ(e.http_status(), 503);
    EXPECT_STREQ(e.code().name, "EXTERNAL_API_ERROR");
    EXPECT_EQ(e.external_message(), "Kargo is not configured");
  }
  EXPECT_EQ(count_requests(rig.http, "GET", "/v1/campaigns"), 0u);
}

TEST(KargoCampaigns, UnusableAnswersAreClear502s) {
  KargoRig rig;
  add_fault(rig.http, {{"path_prefix", "/v1/campaigns"},
                       {"status", 200},
                       {"body", {{"campaigns", {{{"id", true}}}}, {"total", 1}}}});
  EXPECT_EQ(expect_error([&] { rig.kargo.list_campaigns(1, 20); }).external_message(),
            "kargo: unexpected answer to GET /v1/campaigns: id missing or not a string");
  add_fault(rig.http, {{"path_prefix", "/v1/campaigns"}, {"status", 200}, {"body", "[truncated"}});
  EXPECT_EQ(expect_error([&] { rig.kargo.list_campaigns(1, 20); }).external_message(),
            "kargo: unexpected answer to GET /v1/campaigns: the body is not JSON");
  add_fault(rig.http,
            {{"path_prefix", "/v1/campaigns"}, {"status", 200}, {"body", {{"campaigns", json::array()}}}});
  EXPECT_EQ(expect_error([&] { rig.kargo.list_campaigns(1, 20); }).external_message(),
            "kargo: unexpected answer to GET /v1/campaigns: total missing or not a whole number");
  add_fault(rig.http, {{"path_prefix", "/v1/campaigns"}, {"status", 401}});
  auto rejected = expect_error([&] { rig.kargo.list_campaigns(1, 20); });
  EXPECT_EQ(rejected.http_status(), 503);
  EXPECT_EQ(rejected.external_message(), "Kargo rejected KARGO_API_KEY (HTTP 401)");
  EXPECT_EQ(rig.kargo.list_campaigns(1, 20).total, 3);  // and nothing broke
}

}  // namespace
}  // namespace kargo::itest
