// store::ReportStore against PostgreSQL: a pulled window replaces what was stored for it (never
// adds to it), `spent` is the sum of every reported day, rows of campaigns, creatives or days the
// window does not cover are dropped, and the report documents (periods, totals, ratios with zero
// divisors, viewability rates) read those rows. The Amazon side is the integration tier's.
#include <nlohmann/json.hpp>

#include "kargo/store/reports.hpp"
#include "service/service_fixture.hpp"

namespace kargo::stest {
namespace {

using nlohmann::json;

class ReportStoreTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    store_ = std::make_unique<store::ReportStore>(*database_);
  }
  // A campaign with an Amazon campaign id (budget 1000).
  std::string campaign(const std::string& amazon_id) {
    std::string id = json::parse(campaigns_->create(campaign_body("Reported " + amazon_id), "tester"))["id"];
    sql("UPDATE campaigns SET amazon_campaign_id = '" + amazon_id + "' WHERE id = '" + id + "'");
    return id;
  }
  std::string creative(const std::string& amazon_id) {
    auto id = insert_creative(true);
    sql("UPDATE creatives SET amazon_creative_id = '" + amazon_id + "' WHERE id = '" + id + "'");
    return id;
  }
  static store::DeliveryDay day(const std::string& amazon_campaign, const std::string& date, int64_t impressions,
                                int64_t clicks, int64_t conversions, int64_t cents,
                                const std::string& amazon_creative = "") {
    return {amazon_campaign, amazon_creative, date, impressions, clicks, conversions, cents};
  }
  json performance(const std::string& id, const std::string& from, const std::string& to,
                   const std::string& granularity = "daily") {
    return json::parse(*store_->campaign_performance(
        {.campaign_id = id, .start_date = from, .end_date = to, .granularity = granularity}));
  }
  json resource(const std::string& id) { return json::parse(campaigns_->get(id)); }
  // One value of a query, without psql's line end.
  std::string value(const std::string& query) {
    auto out = sql(query);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  std::unique_ptr<store::ReportStore> store_;
};

TEST_F(ReportStoreTest, PullingAWindowTwiceReplacesItAndSpentIsTheSumOfEveryDay) {
  auto id = campaign("900000000000000001");
  auto crv = creative("930000000000000001");
  store::PulledWindow january{{id}, "2026-01-01", "2026-01-02", {}, {}, {}};
  january.campaigns = {day("900000000000000001", "2026-01-01", 1000, 10, 1, 1250),
                       day("900000000000000001", "2026-01-02", 2000, 0, 0, 2500)};
  january.creatives = {day("900000000000000001", "2026-01-01", 600, 6, 1, 750, "930000000000000001"),
                       day("900000000000000001", "2026-01-02", 2000, 0, 0, 2500, "930000000000000001")};
  january.viewability = {{"900000000000000001", "2026-01-01", "double_verify", 1000, 900, 600, 4.0}};
  for (int pass = 0; pass < 2; ++pass) {
    auto counts = store_->replace_window(january);
    EXPECT_EQ(counts.campaign_rows, 2u);
    EXPECT_EQ(counts.creative_rows, 2u);
    EXPECT_EQ(counts.viewability_rows, 1u);
    EXPECT_EQ(counts.ignored, 0u);
  }
  EXPECT_EQ(value("SELECT count(*) FROM campaign_performance_daily WHERE campaign_id = '" + id + "'"), "2");
  auto doc = resource(id);
  EXPECT_DOUBLE_EQ(doc["spent"].get<double>(), 37.5);
  EXPECT_EQ(doc["performance"]["impressions"], 3000);

  // A later window adds its days; spent covers both windows.
  store::PulledWindow february{{id}, "2026-02-01", "2026-02-01", {}, {}, {}};
  february.campaigns = {day("900000000000000001", "2026-02-01", 100, 1, 0, 99)};
  store_->replace_window(february);
  EXPECT_DOUBLE_EQ(resource(id)["spent"].get<double>(), 38.49);

  // Amazon restates January 2nd to nothing: the pull replaces the stored day, it does not add.
  january.campaigns.pop_back();
  january.creatives.pop_back();
  store_->replace_window(january);
  doc = resource(id);
  EXPECT_DOUBLE_EQ(doc["spent"].get<double>(), 13.49);
  EXPECT_EQ(doc["performance"]["impressions"], 1100);
  EXPECT_EQ(value("SELECT report_through FROM campaigns WHERE id = '" + id + "'"), "2026-02-01")
      << "an older window does not move report_through back";
}

TEST_F(ReportStoreTest, RowsOutsideTheWindowOrOfOtherCampaignsAndUnknownCreativesAreIgnored) {
  auto id = campaign("900000000000000011");
  auto other = campaign("900000000000000012");
  store::PulledWindow w{{id}, "2026-03-01", "2026-03-02", {}, {}, {}};
  w.campaigns = {day("900000000000000011", "2026-03-01", 10, 1, 0, 100),
                 day("900000000000000011", "2026-03-05", 10, 1, 0, 100),   // outside the window
                 day("900000000000000012", "2026-03-01", 10, 1, 0, 100),   // not a campaign of this pull
                 day("900000000000000099", "2026-03-01", 10, 1, 0, 100)};  // not ours at all
  w.creatives = {day("900000000000000011", "2026-03-01", 10, 1, 0, 100, "939999999999999999")};
  w.viewability = {{"900000000000000011", "2026-03-01", "ias", 10, 9, 5, 2.0},
                   {"900000000000000011", "2026-03-01", "ias", 10, 9, 3, 6.0}};  // same key: added up
  auto counts = store_->replace_window(w);
  EXPECT_EQ(counts.campaign_rows, 1u);
  EXPECT_EQ(counts.creative_rows, 0u);
  EXPECT_EQ(counts.viewability_rows, 1u);
  EXPECT_EQ(counts.ignored, 4u);
  EXPECT_EQ(resource(other)["performance"]["impressions"], 0);
  auto v = json::parse(*store_->viewability({.campaign_id = id, .start_date = "2026-03-01", .end_date = "2026-03-01"}));
  ASSERT_EQ(v["rows"].size(), 1u);
  EXPECT_EQ(v["rows"][0]["impressions"], 20);
  EXPECT_EQ(v["rows"][0]["viewable_impressions"], 8);
  EXPECT_DOUBLE_EQ(v["rows"][0]["avg_time_in_view"].get<double>(), 3.5);  // (5*2 + 3*6) / 8
}

TEST_F(ReportStoreTest, WeeksStartOnMondayMonthsOnTheFirstAndTheRangeCutsBothEnds) {
  auto id = campaign("900000000000000021");
  store::PulledWindow w{{id}, "2025-12-17", "2026-01-06", {}, {}, {}};
  for (int d = 17; d <= 31; ++d) w.campaigns.push_back(day("900000000000000021", "2025-12-" + std::to_string(d), 100, 2, 1, 300));
  for (int d = 1; d <= 6; ++d) w.campaigns.push_back(day("900000000000000021", "2026-01-0" + std::to_string(d), 100, 2, 1, 300));
  store_->replace_window(w);

  // 2025-12-17 is a Wednesday: a first partial week, then Monday weeks across the year end.
  auto weekly = performance(id, "2025-12-17", "2026-01-06", "weekly");
  std::vector<std::string> starts, ends;
  for (const auto& r : weekly["rows"]) {
    starts.push_back(r["period_start"]);
    ends.push_back(r["period_end"]);
  }
  EXPECT_EQ(starts, (std::vector<std::string>{"2025-12-17", "2025-12-22", "2025-12-29", "2026-01-05"}));
  EXPECT_EQ(ends, (std::vector<std::string>{"2025-12-21", "2025-12-28", "2026-01-04", "2026-01-06"}));
  EXPECT_EQ(weekly["rows"][0]["impressions"], 500);
  EXPECT_EQ(weekly["rows"][2]["impressions"], 700);
  EXPECT_EQ(weekly["totals"]["impressions"], 2100);
  EXPECT_DOUBLE_EQ(weekly["totals"]["spend"].get<double>(), 63.0);

  auto monthly = performance(id, "2025-12-20", "2026-01-03", "monthly");
  ASSERT_EQ(monthly["rows"].size(), 2u);
  EXPECT_EQ(monthly["rows"][0]["period_start"], "2025-12-20");
  EXPECT_EQ(monthly["rows"][0]["period_end"], "2025-12-31");
  EXPECT_EQ(monthly["rows"][0]["impressions"], 1200);
  EXPECT_EQ(monthly["rows"][1]["period_start"], "2026-01-01");
  EXPECT_EQ(monthly["rows"][1]["impressions"], 300);
  EXPECT_EQ(monthly["totals"]["impressions"], 1500);

  // Daily rows cover every date of the range: days without delivery are zeros.
  auto daily = performance(id, "2026-01-05", "2026-01-10");
  ASSERT_EQ(daily["rows"].size(), 6u);
  EXPECT_EQ(daily["rows"][5]["period_start"], "2026-01-10");
  EXPECT_EQ(daily["rows"][5]["impressions"], 0);
  EXPECT_EQ(daily["totals"]["impressions"], 200);
}

TEST_F(ReportStoreTest, RatiosArePercentagesAndZeroWhenTheirDivisorIsZero) {
  auto id = campaign("900000000000000031");
  store::PulledWindow w{{id}, "2026-04-01", "2026-04-03", {}, {}, {}};
  w.campaigns = {day("900000000000000031", "2026-04-01", 0, 0, 0, 0),        // nothing at all
                 day("900000000000000031", "2026-04-02", 1000, 0, 0, 500),   // no clicks
                 day("900000000000000031", "2026-04-03", 2000, 40, 0, 1000)};  // clicks, no conversions
  w.viewability = {{"900000000000000031", "2026-04-01", "double_verify", 0, 0, 0, 0.0},
                   {"900000000000000031", "2026-04-02", "double_verify", 1000, 800, 600, 5.0}};
  store_->replace_window(w);
  auto doc = performance(id, "2026-04-01", "2026-04-03");
  const auto& none = doc["rows"][0];
  for (const char* ratio : {"ctr", "conversion_rate", "cost_per_click", "cost_per_conversion"}) {
    EXPECT_EQ(none[ratio], 0) << ratio;
    EXPECT_EQ(doc["rows"][1][ratio], 0) << ratio;  // 1000 impressions, no clicks
  }
  EXPECT_DOUBLE_EQ(doc["rows"][2]["ctr"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(doc["rows"][2]["cost_per_click"].get<double>(), 0.25);
  EXPECT_EQ(doc["rows"][2]["cost_per_conversion"], 0);
  EXPECT_DOUBLE_EQ(doc["totals"]["ctr"].get<double>(), 1.3333);
  EXPECT_DOUBLE_EQ(doc["totals"]["spend"].get<double>(), 15.0);

  auto v = json::parse(*store_->viewability(
      {.campaign_id = id, .start_date = "2026-04-01", .end_date = "2026-04-03", .vendor = "double_verify"}));
  ASSERT_EQ(v["rows"].size(), 2u) << "only measured days";
  EXPECT_EQ(v["rows"][0]["measurable_rate"], 0);
  EXPECT_EQ(v["rows"][0]["viewability_rate"], 0);
  EXPECT_DOUBLE_EQ(v["rows"][1]["measurable_rate"].get<double>(), 80.0);
  EXPECT_DOUBLE_EQ(v["rows"][1]["viewability_rate"].get<double>(), 75.0);
  EXPECT_DOUBLE_EQ(v["totals"]["viewability_rate"].get<double>(), 75.0);
  EXPECT_EQ(v["totals_by_vendor"].size(), 1u);
  auto ias = json::parse(*store_->viewability(
      {.campaign_id = id, .start_date = "2026-04-01", .end_date = "2026-04-03", .vendor = "ias"}));
  EXPECT_TRUE(ias["rows"].empty());
  EXPECT_EQ(ias["totals"]["viewability_rate"], 0);
  EXPECT_EQ(ias["totals"]["avg_time_in_view"], 0);
}

TEST_F(ReportStoreTest, UnknownCampaignsHaveNoDocumentAndSpentMayPassTheBudget) {
  EXPECT_FALSE(store_->campaign_performance({.campaign_id = "camp_000000000000", .start_date = "2026-01-01",
                                             .end_date = "2026-01-02"}));
  EXPECT_FALSE(store_->viewability({.campaign_id = "camp_000000000000", .start_date = "2026-01-01",
                                    .end_date = "2026-01-02"}));
  auto id = campaign("900000000000000041");  // budget 1000
  store::PulledWindow w{{id}, "2026-05-01", "2026-05-01", {}, {}, {}};
  w.campaigns = {day("900000000000000041", "2026-05-01", 500000, 100, 1, 102550)};  // Amazon over-delivered
  store_->replace_window(w);
  auto doc = resource(id);
  EXPECT_DOUBLE_EQ(doc["spent"].get<double>(), 1025.5);
  EXPECT_DOUBLE_EQ(doc["remaining_budget"].get<double>(), -25.5);
}

// The daily tables have no foreign keys (migrations/0009): deleting a campaign or a creative takes
// its rows with it all the same.
TEST_F(ReportStoreTest, DeletingACampaignOrACreativeDeletesItsRows) {
  auto id = campaign("900000000000000061");
  auto other = campaign("900000000000000062");
  auto crv = creative("930000000000000061");
  store::PulledWindow w{{id, other}, "2026-07-01", "2026-07-01", {}, {}, {}};
  w.campaigns = {day("900000000000000061", "2026-07-01", 10, 1, 0, 100),
                 day("900000000000000062", "2026-07-01", 10, 1, 0, 100)};
  w.creatives = {day("900000000000000061", "2026-07-01", 10, 1, 0, 100, "930000000000000061"),
                 day("900000000000000062", "2026-07-01", 10, 1, 0, 100, "930000000000000061")};
  w.viewability = {{"900000000000000061", "2026-07-01", "ias", 10, 9, 5, 2.0}};
  store_->replace_window(w);
  auto rows_of = [&](const std::string& table, const std::string& where) {
    return value("SELECT count(*) FROM " + table + " WHERE " + where);
  };
  sql("DELETE FROM campaigns WHERE id = '" + id + "'");
  for (const char* table : {"campaign_performance_daily", "creative_performance_daily", "campaign_viewability_daily"}) {
    EXPECT_EQ(rows_of(table, "campaign_id = '" + id + "'"), "0") << table;
  }
  EXPECT_EQ(rows_of("campaign_performance_daily", "campaign_id = '" + other + "'"), "1");
  EXPECT_EQ(rows_of("creative_performance_daily", "creative_id = '" + crv + "'"), "1");
  sql("DELETE FROM creatives WHERE id = '" + crv + "'");
  EXPECT_EQ(rows_of("creative_performance_daily", "creative_id = '" + crv + "'"), "0");
  EXPECT_EQ(rows_of("campaign_performance_daily", "campaign_id = '" + other + "'"), "1");
}

TEST_F(ReportStoreTest, ExportsReadTheSameDocumentsForManyCampaignsInOrder) {
  auto a = campaign("900000000000000051");
  auto b = campaign("900000000000000052");
  store::PulledWindow w{{a, b}, "2026-06-01", "2026-06-02", {}, {}, {}};
  w.campaigns = {day("900000000000000051", "2026-06-01", 10, 1, 0, 100),
                 day("900000000000000052", "2026-06-02", 20, 2, 0, 200)};
  w.viewability = {{"900000000000000052", "2026-06-02", "ias", 20, 18, 9, 3.0}};
  store_->replace_window(w);
  store::PerformanceQuery q{.start_date = "2026-06-01", .end_date = "2026-06-02", .granularity = "daily"};
  auto docs = store_->campaign_performance_many({b, "camp_000000000000", a}, q);
  ASSERT_EQ(docs.size(), 2u) << "the unknown campaign is skipped";
  EXPECT_EQ(json::parse(docs[0]), performance(b, "2026-06-01", "2026-06-02"));
  EXPECT_EQ(json::parse(docs[1])["totals"]["impressions"], 10);
  auto views = store_->viewability_many({a, b}, {.start_date = "2026-06-01", .end_date = "2026-06-02"});
  ASSERT_EQ(views.size(), 2u);
  EXPECT_TRUE(json::parse(views[0])["rows"].empty());
  EXPECT_EQ(json::parse(views[1])["rows"][0]["viewable_impressions"], 9);
}

}  // namespace
}  // namespace kargo::stest
