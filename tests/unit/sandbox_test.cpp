// The sandbox's pure parts: fault parsing and matching, deterministic report rows, gzip,
// snippet lookup, token expiry and Authorization redaction.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "kargo/core/time.hpp"
#include "kargo/sandbox/faults.hpp"
#include "kargo/sandbox/report_rows.hpp"
#include "kargo/sandbox/snippets.hpp"
#include "kargo/sandbox/state.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

std::chrono::year_month_day date(const char* text) { return *parse_date(text); }

std::string inflate(const std::string& gz) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  std::string out(1u << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

// ---- faults ------------------------------------------------------------------------------------

TEST(SandboxFaults, ParseRequiresAPathPrefixAndSomethingToDo) {
  EXPECT_THROW(parse_fault(json{{"status", 503}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "dsp"}, {"status", 503}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/dsp"}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/dsp"}, {"status", 42}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/dsp"}, {"status", 500}, {"count", 0}}),
               std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/dsp"}, {"delay_ms", -1}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/dsp"}, {"gzip_bomb", "yes"}}), std::invalid_argument);
  EXPECT_THROW(parse_fault(json::array()), std::invalid_argument);
}

TEST(SandboxFaults, ParseKeepsEveryKnob) {
  auto f = parse_fault(json{{"path_prefix", "/dsp"},
                            {"method", "post"},
                            {"status", 429},
                            {"count", 3},
                            {"delay_ms", 250},
                            {"retry_after", 7},
                            {"body", {{"message", "Too Many Requests"}}}});
  EXPECT_EQ(f.method, "POST");
  EXPECT_EQ(f.status, 429);
  EXPECT_EQ(f.remaining, 3);
  EXPECT_EQ(f.delay, std::chrono::milliseconds(250));
  EXPECT_EQ(f.retry_after, "7");
  EXPECT_EQ(json::parse(*f.body), (json{{"message", "Too Many Requests"}}));
  EXPECT_EQ(f.body_content_type, "application/json");
  EXPECT_FALSE(f.reaches_route());
  EXPECT_TRUE(parse_fault(json{{"path_prefix", "/v1"}, {"delay_ms", 10}}).reaches_route());
  EXPECT_EQ(parse_fault(json{{"path_prefix", "/v1"}, {"status", 500}, {"body", "oops"}}).body_content_type,
            "text/plain; charset=utf-8");
}

TEST(SandboxFaults, MatchesByPrefixAndMethodAndIsUsedUpAfterCount) {
  FaultList faults;
  faults.add(parse_fault(
      json{{"path_prefix", "/dsp/v1/campaigns"}, {"method", "POST"}, {"status", 503}, {"count", 2}}));
  EXPECT_FALSE(faults.take("PATCH", "/dsp/v1/campaigns"));
  EXPECT_FALSE(faults.take("POST", "/dsp/v1/adGroups"));
  EXPECT_EQ(faults.take("POST", "/dsp/v1/campaigns/list")->status, 503);
  EXPECT_EQ(faults.take("POST", "/dsp/v1/campaigns")->status, 503);
  EXPECT_FALSE(faults.take("POST", "/dsp/v1/campaigns"));
  EXPECT_TRUE(faults.to_json()["faults"].empty());
}

TEST(SandboxFaults, OldestLiveFaultWinsAndKnobPathsNeverMatch) {
  FaultList faults;
  faults.add(parse_fault(json{{"path_prefix", "/"}, {"status", 500}}));
  faults.add(parse_fault(json{{"path_prefix", "/v1"}, {"status", 502}}));
  EXPECT_FALSE(faults.take("POST", "/_sandbox/reset"));
  EXPECT_EQ(faults.take("GET", "/v1/campaigns")->status, 500);
  EXPECT_EQ(faults.take("GET", "/v1/campaigns")->status, 502);
  EXPECT_FALSE(faults.take("GET", "/v1/campaigns"));
  // Report downloads live under /_sandbox/ but are upstream traffic: they can be faulted.
  faults.add(parse_fault(json{{"path_prefix", "/_sandbox/downloads/"}, {"gzip_bomb", true}}));
  EXPECT_FALSE(faults.take("POST", "/_sandbox/faults"));
  EXPECT_TRUE(faults.take("GET", "/_sandbox/downloads/0f5d0c52?sig=ab")->gzip_bomb);
}

TEST(SandboxFaults, FailReportLetsOnlyReportCreationsThroughToTheirRoute) {
  auto f = parse_fault(json{{"path_prefix", "/reporting"}, {"fail_report", true}, {"count", 2}});
  EXPECT_TRUE(f.fail_report);
  EXPECT_TRUE(f.reaches_route()) << "the report is created as usual, never answered by the fault";
  EXPECT_EQ(f.to_json()["fail_report"], true);
  EXPECT_TRUE(parse_fault(json{{"path_prefix", "/reporting"}, {"fail_report", true}, {"delay_ms", 5}})
                  .reaches_route());
  // Nothing that would answer in the route's place.
  for (const json& extra : {json{{"status", 500}}, json{{"gzip_bomb", true}}, json{{"truncate", true}},
                            json{{"body", "oops"}}, json{{"retry_after", 1}}}) {
    json body{{"path_prefix", "/reporting"}, {"fail_report", true}};
    body.update(extra);
    EXPECT_THROW(parse_fault(body), std::invalid_argument) << body;
  }
  EXPECT_THROW(parse_fault(json{{"path_prefix", "/reporting"}, {"fail_report", "yes"}}),
               std::invalid_argument);

  FaultList faults;
  faults.add(std::move(f));
  // Polls and downloads under the prefix do not use it up.
  EXPECT_FALSE(faults.take("GET", "/reporting/reports/0f5d0c52"));
  EXPECT_FALSE(faults.take("POST", "/reporting/reports/0f5d0c52"));
  EXPECT_TRUE(faults.take("POST", "/reporting/reports")->fail_report);
  EXPECT_TRUE(faults.take("POST", "/reporting/reports"));
  EXPECT_FALSE(faults.take("POST", "/reporting/reports"));
}

// ---- report rows -------------------------------------------------------------------------------

// The rows of a report file, as a client reads them.
json report_rows(const ReportSpec& spec) { return json::parse(report_json(spec)); }

TEST(SandboxReportRows, SameSpecGivesTheSameRowsAndBytes) {
  ReportSpec spec{std::string(kCampaignReport),
                  {"581000000000000001", "581000000000000002"},
                  date("2026-02-01"),
                  date("2026-02-07"),
                  true,
                  {}};
  auto a = report_rows(spec), b = report_rows(spec);
  EXPECT_EQ(a, b);
  EXPECT_EQ(report_json(spec), report_json(spec));
  EXPECT_EQ(gzip_compress(report_json(spec)), gzip_compress(report_json(spec)));
  EXPECT_EQ(a.size(), 14u);
  EXPECT_EQ(a[0]["campaignId"], "581000000000000001");
  EXPECT_EQ(a[0]["date"], "2026-02-01");
  EXPECT_EQ(a[13]["campaignId"], "581000000000000002");
  EXPECT_EQ(a[13]["date"], "2026-02-07");
  EXPECT_NE(a[0]["impressions"], a[1]["impressions"]) << "values vary by day";
}

TEST(SandboxReportRows, CampaignRowsAreConsistent) {
  ReportSpec spec{std::string(kCampaignReport), {"c1"}, date("2026-01-01"), date("2026-01-31"), true, {}};
  for (const auto& r : report_rows(spec)) {
    EXPECT_GT(r["impressions"].get<int64_t>(), 0) << r;
    EXPECT_LE(r["clicks"].get<int64_t>(), r["impressions"].get<int64_t>()) << r;
    EXPECT_LE(r["purchases"].get<int64_t>(), r["clicks"].get<int64_t>()) << r;
    EXPECT_LE(r["measurableImpressions"].get<int64_t>(), r["impressions"].get<int64_t>()) << r;
    EXPECT_LE(r["viewableImpressions"].get<int64_t>(), r["measurableImpressions"].get<int64_t>()) << r;
    ASSERT_TRUE(r["totalCost"].is_number_float()) << "money is a float even in whole dollars: " << r;
    double cost = r["totalCost"].get<double>();
    EXPECT_DOUBLE_EQ(cost, std::round(cost * 100) / 100) << "money is rounded to cents";
    EXPECT_EQ(r["orderId"], r["campaignId"]);
  }
}

TEST(SandboxReportRows, SummaryRowSumsTheDailyRows) {
  ReportSpec daily{std::string(kCampaignReport), {"c1"}, date("2026-02-01"), date("2026-02-10"), true, {}};
  ReportSpec summary = daily;
  summary.daily = false;
  int64_t impressions = 0, clicks = 0;
  for (const auto& r : report_rows(daily)) {
    impressions += r["impressions"].get<int64_t>();
    clicks += r["clicks"].get<int64_t>();
  }
  auto rows = report_rows(summary);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["impressions"], impressions);
  EXPECT_EQ(rows[0]["clicks"], clicks);
  EXPECT_EQ(rows[0]["intervalStart"], "2026-02-01");
  EXPECT_EQ(rows[0]["intervalEnd"], "2026-02-10");
}

TEST(SandboxReportRows, ViewabilityHasOneRowPerVendorWithTheCampaignsImpressions) {
  ReportSpec perf{std::string(kCampaignReport), {"c1"}, date("2026-02-01"), date("2026-02-02"), true, {}};
  ReportSpec view = perf;
  view.report_type = std::string(kViewabilityReport);
  auto p = report_rows(perf), v = report_rows(view);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0]["vendor"], "DOUBLE_VERIFY");
  EXPECT_EQ(v[1]["vendor"], "IAS");
  EXPECT_EQ(v[0]["impressions"], p[0]["impressions"]);
  EXPECT_EQ(v[3]["impressions"], p[1]["impressions"]);
  for (const auto& r : v) {
    EXPECT_LE(r["viewableImpressions"].get<int64_t>(), r["measurableImpressions"].get<int64_t>());
    EXPECT_GT(r["averageTimeInViewSeconds"].get<double>(), 0.0);
  }
}

TEST(SandboxReportRows, ColumnsProjectTheRowAndUnknownColumnsAreRejected) {
  ReportSpec spec{std::string(kCampaignReport), {"c1"}, date("2026-02-01"),
                  date("2026-02-01"),           true,   {"campaignId", "totalCost"}};
  auto rows = report_rows(spec);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].size(), 2u);
  EXPECT_TRUE(rows[0].contains("totalCost"));
  spec.columns = {"vendor"};  // a viewability column
  EXPECT_THROW(report_rows(spec), std::invalid_argument);
  EXPECT_FALSE(known_report_type("spCampaigns"));
}

// The file is written as text, not dumped from a JSON tree: it must be exactly what nlohmann::json
// would dump for its rows (keys sorted, each once; floats in their shortest form; strings escaped).
TEST(SandboxReportRows, TheFileIsTheCanonicalJsonOfItsRows) {
  ReportSpec spec{std::string(kCampaignReport),
                  {"581000000000000001", "a\"b\\c", std::string("x\x01\b\t\n\v\f\r\x1f\x7fy")},
                  date("2026-01-30"),
                  date("2026-02-02"),
                  true,
                  {}};
  auto check = [](const ReportSpec& s) {
    auto text = report_json(s);
    EXPECT_EQ(text, json::parse(text).dump()) << s.report_type << " daily " << s.daily;
  };
  for (bool daily : {true, false}) {
    spec.daily = daily;
    spec.report_type = std::string(kCampaignReport);
    check(spec);
    spec.report_type = std::string(kViewabilityReport);
    check(spec);
  }
  spec.columns = {"impressions", "date", "impressions", "averageTimeInViewSeconds"};  // dspViewability
  check(spec);
  EXPECT_EQ(report_rows(spec)[0].size(), 3u);
  auto by_creative = spec;
  by_creative.report_type = std::string(kCampaignReport);
  by_creative.columns.clear();
  by_creative.by_creative = true;
  for (const auto& id : spec.campaign_ids) by_creative.creatives[id] = {"k1", "k\"2"};
  check(by_creative);
  EXPECT_EQ(report_json({std::string(kCampaignReport), {}, date("2026-01-01"), date("2026-01-02"), true, {}}),
            "[]");
}

// A campaign report and the same report grouped by creative, over `campaigns` (id -> creatives).
struct CreativeSpecs {
  ReportSpec by_campaign, by_creative;
};

CreativeSpecs creative_specs(const std::map<std::string, std::vector<std::string>>& campaigns,
                             const char* start, const char* end, bool daily = true) {
  CreativeSpecs out;
  out.by_campaign = {std::string(kCampaignReport), {}, date(start), date(end), daily, {}};
  for (const auto& [id, creatives] : campaigns) out.by_campaign.campaign_ids.push_back(id);
  out.by_creative = out.by_campaign;
  out.by_creative.by_creative = true;
  out.by_creative.creatives = campaigns;
  return out;
}

constexpr const char* kCountColumns[] = {"impressions", "clicks", "purchases", "viewableImpressions",
                                         "measurableImpressions"};

int64_t cents_of(const json& row) { return std::llround(row["totalCost"].get<double>() * 100.0); }

TEST(SandboxReportRows, CreativeRowsAddUpExactlyToTheCampaignRows) {
  auto specs = creative_specs({{"581000000000000001", {"583000000000000001"}},
                               {"581000000000000002", {"583000000000000002", "583000000000000003"}},
                               {"581000000000000003",
                                {"583000000000000004", "583000000000000005", "583000000000000006",
                                 "583000000000000007", "583000000000000008"}}},
                              "2026-01-01", "2026-01-31");
  auto campaigns = report_rows(specs.by_campaign);
  auto creatives = report_rows(specs.by_creative);
  ASSERT_EQ(campaigns.size(), 3u * 31);
  ASSERT_EQ(creatives.size(), (1u + 2 + 5) * 31);
  // (campaign, date) -> column -> the creatives' sum ("cents" for totalCost)
  std::map<std::pair<std::string, std::string>, std::map<std::string, int64_t>> sums;
  std::set<std::string> creatives_seen;
  for (const auto& r : creatives) {
    auto& sum = sums[{r["campaignId"], r["date"]}];
    for (const char* c : kCountColumns) {
      EXPECT_GE(r[c].get<int64_t>(), 0) << r;
      sum[c] += r[c].get<int64_t>();
    }
    EXPECT_GE(cents_of(r), 0) << r;
    sum["cents"] += cents_of(r);
    creatives_seen.insert(r["creativeId"].get<std::string>());
  }
  EXPECT_EQ(creatives_seen.size(), 8u);
  for (const auto& r : campaigns) {
    EXPECT_FALSE(r.contains("creativeId")) << r;
    const auto& sum = sums.at({r["campaignId"], r["date"]});
    for (const char* c : kCountColumns) EXPECT_EQ(sum.at(c), r[c].get<int64_t>()) << c << " of " << r;
    EXPECT_EQ(sum.at("cents"), cents_of(r)) << r;
  }
}

TEST(SandboxReportRows, CreativeRowsAreOrderedByCampaignDateCreativeAndDeterministic) {
  auto specs = creative_specs({{"c1", {"k1", "k2"}}, {"c2", {"k3", "k4", "k5"}}}, "2026-02-01", "2026-02-03");
  auto rows = report_rows(specs.by_creative);
  ASSERT_EQ(rows.size(), 15u);
  std::vector<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& r : rows) keys.emplace_back(r["campaignId"], r["date"], r["creativeId"]);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(keys.front(), std::make_tuple("c1", "2026-02-01", "k1"));
  EXPECT_EQ(keys[1], std::make_tuple("c1", "2026-02-01", "k2"));
  EXPECT_EQ(keys.back(), std::make_tuple("c2", "2026-02-03", "k5"));
  EXPECT_EQ(report_rows(specs.by_creative), rows);
  EXPECT_EQ(gzip_compress(report_json(specs.by_creative)), gzip_compress(report_json(specs.by_creative)));
  // The split follows the creatives: other creatives, other shares.
  auto other = specs.by_creative;
  other.creatives["c1"] = {"k1", "k9"};
  EXPECT_NE(report_rows(other)[0]["impressions"], rows[0]["impressions"]);
}

TEST(SandboxReportRows, CreativeSummaryRowsAddUpToTheCampaignSummary) {
  auto specs = creative_specs({{"c1", {"k1", "k2", "k3"}}}, "2026-03-01", "2026-03-10", /*daily=*/false);
  auto campaign = report_rows(specs.by_campaign);
  auto creatives = report_rows(specs.by_creative);
  ASSERT_EQ(campaign.size(), 1u);
  ASSERT_EQ(creatives.size(), 3u);
  int64_t cents = 0;
  for (const char* c : kCountColumns) {
    int64_t sum = 0;
    for (const auto& r : creatives) sum += r[c].get<int64_t>();
    EXPECT_EQ(sum, campaign[0][c]) << c;
  }
  for (const auto& r : creatives) {
    cents += cents_of(r);
    EXPECT_EQ(r["intervalStart"], "2026-03-01");
    EXPECT_EQ(r["intervalEnd"], "2026-03-10");
  }
  EXPECT_EQ(cents, cents_of(campaign[0]));
  // A creative's summary is the sum of its daily rows.
  auto daily = specs.by_creative;
  daily.daily = true;
  int64_t k2 = 0;
  for (const auto& r : report_rows(daily)) {
    if (r["creativeId"] == "k2") k2 += r["impressions"].get<int64_t>();
  }
  EXPECT_EQ(creatives[1]["creativeId"], "k2");
  EXPECT_EQ(creatives[1]["impressions"], k2);
}

TEST(SandboxReportRows, ACampaignWithoutCreativesHasNoCreativeRows) {
  auto specs = creative_specs({{"c1", {}}, {"c2", {"k1"}}}, "2026-02-01", "2026-02-02");
  specs.by_creative.campaign_ids.push_back("c3");  // not in the snapshot at all
  auto rows = report_rows(specs.by_creative);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) EXPECT_EQ(r["campaignId"], "c2");
}

TEST(SandboxReportRows, CreativeIdNeedsCreativeGroupingOfACampaignReport) {
  auto specs = creative_specs({{"c1", {"k1", "k2"}}}, "2026-02-01", "2026-02-01");
  specs.by_creative.columns = {"creativeId", "impressions"};
  auto rows = report_rows(specs.by_creative);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (json{{"creativeId", "k1"}, {"impressions", rows[0]["impressions"]}}));
  specs.by_campaign.columns = {"creativeId"};
  EXPECT_THROW(report_rows(specs.by_campaign), std::invalid_argument);
  auto viewability = specs.by_creative;
  viewability.report_type = std::string(kViewabilityReport);
  viewability.columns.clear();
  EXPECT_THROW(report_rows(viewability), std::invalid_argument);
}

TEST(SandboxReportRows, GzipRoundTrips) {
  std::string text =
      report_json({std::string(kCampaignReport), {"c1"}, date("2026-02-01"), date("2026-02-05"), true, {}});
  auto gz = gzip_compress(text);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_EQ(inflate(gz), text);
}

// ---- snippets, tokens, redaction ---------------------------------------------------------------

TEST(SandboxSnippets, FoundByTheNumberInTheirFileName) {
  auto runway = find_snippet("81298");
  ASSERT_TRUE(runway);
  EXPECT_EQ(runway->file_name, "runway_81298.html");
  EXPECT_EQ(runway->content_type, "text/html; charset=utf-8");
  auto vast = find_snippet("81400");
  ASSERT_TRUE(vast);
  EXPECT_EQ(vast->content_type, "application/xml");
  EXPECT_NE(vast->content.find("<VAST"), std::string_view::npos);
  EXPECT_FALSE(find_snippet("8129"));
  EXPECT_FALSE(find_snippet(""));
}

TEST(SandboxTokens, IssuedTokensAreRandomAndExpire) {
  TokenStore tokens;
  auto now = Clock::now();
  auto a = tokens.issue("sandbox-client", now, std::chrono::seconds(10));
  auto b = tokens.issue("sandbox-client", now, std::chrono::seconds(10));
  EXPECT_NE(a, b);
  std::string client;
  EXPECT_EQ(tokens.check(a, now, &client), TokenStore::Check::kValid);
  EXPECT_EQ(client, "sandbox-client");
  EXPECT_EQ(tokens.check(a, now + std::chrono::seconds(10), nullptr), TokenStore::Check::kExpired);
  EXPECT_EQ(tokens.check("nope", now, nullptr), TokenStore::Check::kUnknown);
  tokens.expire_all(now);
  EXPECT_EQ(tokens.check(b, now, nullptr), TokenStore::Check::kExpired);
}

TEST(SandboxRedaction, AuthorizationKeepsTheSchemeAndLastFourCharacters) {
  EXPECT_EQ(redact_authorization("Bearer Atza|abcdef1234"),
            "Bearer \xE2\x80\xA6"
            "1234");
  EXPECT_EQ(redact_authorization("Bearer abc"), "Bearer \xE2\x80\xA6");
  EXPECT_EQ(redact_authorization("opaque"),
            "\xE2\x80\xA6"
            "aque");
}

}  // namespace
}  // namespace kargo::sandbox
