// store::ReportStore::max_pull_age_seconds against PostgreSQL: the age behind
// report_pull_age_seconds (the report staleness alert) covers exactly the campaigns the periodic
// pull re-reads, counts from their last pull, and a campaign never pulled from when it joined them.
// A suite of its own: its database holds only the campaigns these tests make.
#include <nlohmann/json.hpp>

#include "kargo/store/reports.hpp"
#include "service/service_fixture.hpp"

namespace kargo::stest {
namespace {

using nlohmann::json;

class ReportPullAgeTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    store_ = std::make_unique<store::ReportStore>(*database_);
    // The tick's window: the last 3 days up to today (UTC).
    from_ = value("SELECT to_char((now() AT TIME ZONE 'UTC')::date - 2, 'YYYY-MM-DD')");
    to_ = value("SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')");
    sql("DELETE FROM campaigns");
  }
  // A campaign synced to Amazon, `status`, whose flight is today + [start_offset, end_offset] days.
  std::string campaign(const std::string& status, int start_offset, int end_offset) {
    std::string id = json::parse(campaigns_->create(campaign_body("Pulled " + status), "tester"))["id"];
    sql("UPDATE campaigns SET amazon_campaign_id = '9" + std::to_string(++amazon_seq_) + "', status = '" +
        status + "', start_date = (now() AT TIME ZONE 'UTC')::date + " + std::to_string(start_offset) +
        ", end_date = (now() AT TIME ZONE 'UTC')::date + " + std::to_string(end_offset) + " WHERE id = '" +
        id + "'");
    return id;
  }
  void pulled_seconds_ago(const std::string& id, int seconds) {
    sql("UPDATE campaigns SET report_pulled_at = now() - interval '" + std::to_string(seconds) +
        " seconds' WHERE id = '" + id + "'");
  }
  std::string value(const std::string& query) {
    auto out = sql(query);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  double age() { return store_->max_pull_age_seconds(from_, to_); }

  std::unique_ptr<store::ReportStore> store_;
  std::string from_, to_;
  int amazon_seq_ = 0;
};

TEST_F(ReportPullAgeTest, IsZeroWithoutCampaignsThePeriodicPullCovers) {
  EXPECT_EQ(age(), 0.0);
  // Not covered: a draft, a flight that ended before the window, one that starts after it, and a
  // campaign never synced to Amazon.
  pulled_seconds_ago(campaign("draft", -10, 10), 90000);
  pulled_seconds_ago(campaign("completed", -30, -3), 90000);
  pulled_seconds_ago(campaign("active", 1, 30), 90000);
  auto unsynced = campaign("active", -10, 10);
  sql("UPDATE campaigns SET amazon_campaign_id = NULL, report_pulled_at = now() - interval '1 day' WHERE id "
      "= '" +
      unsynced + "'");
  EXPECT_EQ(age(), 0.0);
}

TEST_F(ReportPullAgeTest, IsTheAgeOfTheLeastRecentlyPulledCoveredCampaign) {
  pulled_seconds_ago(campaign("active", -10, 10), 600);
  auto stale = campaign("paused", -40, -1);  // ended yesterday: still re-pulled for restatements
  pulled_seconds_ago(stale, 5000);
  EXPECT_GE(age(), 5000.0);
  EXPECT_LT(age(), 5060.0);

  // A pull of its window makes it fresh; the other campaign is now the oldest.
  store::PulledWindow window{{stale}, from_, to_, {}, {}, {}};
  store_->replace_window(window);
  EXPECT_GE(age(), 600.0);
  EXPECT_LT(age(), 660.0);
}

TEST_F(ReportPullAgeTest, ACampaignNeverPulledCountsFromItsStartOrItsLaterSync) {
  auto id = campaign("active", -1, 10);
  // From the start of its start date (yesterday, UTC) ...
  double since_start =
      std::stod(value("SELECT extract(epoch FROM now() - ((now() AT TIME ZONE 'UTC')::date - 1)::timestamp "
                      "AT TIME ZONE 'UTC')"));
  EXPECT_NEAR(age(), since_start, 60.0);
  // ... or from its sync to Amazon when that came later.
  sql("UPDATE campaigns SET last_synced_at = now() - interval '300 seconds' WHERE id = '" + id + "'");
  EXPECT_NEAR(age(), 300.0, 60.0);
}

}  // namespace
}  // namespace kargo::stest
