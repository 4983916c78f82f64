#pragma once
// The rows of the sandbox's reporting v3 files (docs/UPSTREAMS.md section 9): a pure function of
// (report type, campaign id, date, vendor), so the same report request always downloads the same
// bytes and tests can compute the expected values.
//
//   ReportSpec spec{"dspCampaign", {"581000000000000001"}, start, end, /*daily=*/true, {}};
//   nlohmann::json rows = report_rows(spec);     // [{"date": "...", "impressions": 1234, ...}]
//   std::string file = gzip_compress(rows.dump());

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kargo::sandbox {

inline constexpr std::string_view kCampaignReport = "dspCampaign";        // Amazon's reportTypeId
inline constexpr std::string_view kViewabilityReport = "dspViewability";  // sandbox extension

struct ReportSpec {
  std::string report_type;                // kCampaignReport or kViewabilityReport
  std::vector<std::string> campaign_ids;  // rows are ordered by campaign id as given
  std::chrono::year_month_day start;
  std::chrono::year_month_day end;   // inclusive
  bool daily = true;                 // DAILY: a row per day; SUMMARY: one row per campaign (and vendor)
  std::vector<std::string> columns;  // empty: every column of the report type
};

bool known_report_type(std::string_view report_type);
// Every column of the report type, in output order.
const std::vector<std::string>& report_columns(std::string_view report_type);
// The rows as a JSON array; each row holds exactly the requested columns.
nlohmann::json report_rows(const ReportSpec& spec);

// gzip (RFC 1952) with zlib, no timestamp or file name in the header, so equal input gives equal
// bytes.
std::string gzip_compress(std::string_view data);

}  // namespace kargo::sandbox
