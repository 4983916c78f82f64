// The sandbox's pure parts: fault parsing and matching, deterministic report rows, gzip,
// snippet lookup, token expiry and Authorization redaction.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>

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
  EXPECT_FALSE(f.delay_only());
  EXPECT_TRUE(parse_fault(json{{"path_prefix", "/v1"}, {"delay_ms", 10}}).delay_only());
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

// ---- report rows -------------------------------------------------------------------------------

TEST(SandboxReportRows, SameSpecGivesTheSameRowsAndBytes) {
  ReportSpec spec{std::string(kCampaignReport),
                  {"581000000000000001", "581000000000000002"},
                  date("2026-02-01"),
                  date("2026-02-07"),
                  true,
                  {}};
  auto a = report_rows(spec), b = report_rows(spec);
  EXPECT_EQ(a, b);
  EXPECT_EQ(gzip_compress(a.dump()), gzip_compress(b.dump()));
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

TEST(SandboxReportRows, GzipRoundTrips) {
  std::string text =
      report_rows({std::string(kCampaignReport), {"c1"}, date("2026-02-01"), date("2026-02-05"), true, {}})
          .dump();
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
