#pragma once
// Delivery and viewability pulled from Amazon DSP (migrations/0002, 0005 and 0009; docs/REPORTS.md):
// the daily rows per campaign, per campaign and creative, and per campaign and vendor, and the
// report documents read from them. SQL only: service::ReportService decides what to pull and when.
// Blocking: blocking pool or job threads only.
//
//   ReportStore reports(db);
//   auto counts = reports.replace_window(window);   // one transaction: the window's rows replaced
//   auto doc = reports.campaign_performance({.campaign_id = id, .start_date = "2026-01-01",
//                                            .end_date = "2026-01-31", .granularity = "weekly"});

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
class result;
}

namespace kargo::store {

class Database;

// A campaign a pull covers: its Amazon ids.
struct ReportableCampaign {
  std::string id, advertiser_id, amazon_campaign_id;
};

// One day of delivery as Amazon reports it, keyed by Amazon's ids (mapped to ours on write).
// `amazon_creative_id` is empty for a campaign row. Spend is in cents (exact).
struct DeliveryDay {
  std::string amazon_campaign_id, amazon_creative_id, day;  // day YYYY-MM-DD
  int64_t impressions = 0, clicks = 0, conversions = 0, spend_cents = 0;
};

// One day of one vendor's viewability measurement (vendor double_verify | ias).
struct ViewabilityDay {
  std::string amazon_campaign_id, day, vendor;
  int64_t impressions = 0, measurable = 0, viewable = 0;
  double avg_time_in_view = 0;  // seconds
};

// A pulled window: every stored row of these campaigns between the dates (inclusive) is replaced
// by the rows given. Rows of other campaigns or days, or of creatives that are not ours, are
// dropped (counted in `ignored`).
struct PulledWindow {
  std::vector<std::string> campaign_ids;  // ours
  std::string start_date, end_date;
  std::vector<DeliveryDay> campaigns, creatives;
  std::vector<ViewabilityDay> viewability;
};

struct WindowCounts {
  uint64_t campaign_rows = 0, creative_rows = 0, viewability_rows = 0, ignored = 0;
};

struct PerformanceQuery {
  std::string campaign_id, start_date, end_date;
  std::string granularity = "daily";  // daily | weekly | monthly
};

struct ViewabilityQuery {
  std::string campaign_id, start_date, end_date;
  std::optional<std::string> vendor;  // double_verify | ias; nullopt = both
};

class ReportStore {
 public:
  explicit ReportStore(Database& db);

  // Campaigns with an Amazon DSP campaign: these ids (nullopt: all of them), ordered by
  // advertiser then id. Ids without an Amazon campaign are left out.
  std::vector<ReportableCampaign> reportable(const std::optional<std::vector<std::string>>& ids);
  // The first of these ids (in the order given) that is no campaign; nullopt when all exist.
  std::optional<std::string> first_missing(const std::vector<std::string>& ids);
  // The campaigns the periodic pull re-reads: an Amazon campaign, not draft, and a flight that
  // overlaps [start_date, end_date] (in flight or recently ended). In the tick's transaction.
  static std::vector<std::string> in_flight(pqxx::transaction_base& tx, const std::string& start_date,
                                            const std::string& end_date);

  // Replaces the window's rows in ONE transaction (COPY after deleting what was there), sets each
  // campaign's `spent` to the sum of its reported spend and moves its report_through forward.
  // The campaign rows are locked first (in id order), so two pulls of one campaign never
  // interleave, and the creatives named are locked FOR SHARE: rows of campaigns or creatives
  // deleted meanwhile are dropped (the tables have no foreign keys; deletes cascade by trigger).
  WindowCounts replace_window(const PulledWindow& window);

  // GET /api/reports/campaign-performance as JSON text; nullopt when the campaign is unknown.
  std::optional<std::string> campaign_performance(const PerformanceQuery& q);
  // GET /api/reports/viewability as JSON text; nullopt when the campaign is unknown.
  std::optional<std::string> viewability(const ViewabilityQuery& q);
  // Both documents for many campaigns in one snapshot (exports), in the order given; a campaign
  // that does not exist is skipped.
  std::vector<std::string> campaign_performance_many(const std::vector<std::string>& ids,
                                                     const PerformanceQuery& q);
  std::vector<std::string> viewability_many(const std::vector<std::string>& ids, const ViewabilityQuery& q);

  // Seconds since the newest pulled day (its end, UTC) of the stalest campaign that is in flight
  // with an Amazon campaign; campaigns never pulled count from their start date. 0 when none.
  double max_report_age_seconds();
  // Seconds since the least recently pulled of in_flight(start_date, end_date) was last pulled; a
  // campaign never pulled counts from its start date, or from its last sync when that is later.
  // 0 when none.
  double max_pull_age_seconds(const std::string& start_date, const std::string& end_date);

 private:
  // The first column of `read`'s row per id, in one snapshot (ids without a row are skipped).
  std::vector<std::string> documents(
      const std::vector<std::string>& ids,
      const std::function<pqxx::result(pqxx::transaction_base&, const std::string&)>& read);

  Database& db_;
};

}  // namespace kargo::store
