#pragma once
// The rows of the sandbox's reporting v3 files (docs/UPSTREAMS.md section 9): a pure function of
// the spec (report type, campaign ids, dates, grouping and the creatives snapshotted with it), so
// the same report request always downloads the same bytes and tests can compute the expected
// values.
//
//   ReportSpec spec{"dspCampaign", {"581000000000000001"}, start, end, /*daily=*/true, {}};
//   std::string rows = report_json(spec);     // [{"date":"...","impressions":1234,...}]
//   std::string file = gzip_compress(rows);
//
// Grouped by campaign and creative (dspCampaign only), a campaign's figures of a day are split
// among its creatives, so that the creative rows of a campaign and day add up exactly to that
// campaign's row of the campaign-grouped report:
//
//   spec.by_creative = true;
//   spec.creatives = {{"581000000000000001", {"583000000000000007", "583000000000000009"}}};

#include <chrono>
#include <map>
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
  std::vector<std::string> columns;  // empty: every column of the report type (and grouping)
  // groupBy ["campaign", "creative"]: a row per campaign, creative and day (or per campaign and
  // creative for SUMMARY), with the column creativeId. dspCampaign only.
  bool by_creative = false;
  // With by_creative: campaign id -> the ids of its ad creatives, sorted, as associated with the
  // campaign's ad groups when the report was created. A campaign without creatives has no rows.
  std::map<std::string, std::vector<std::string>> creatives;
};

bool known_report_type(std::string_view report_type);
// Every column of the report type, in output order. creativeId (dspCampaign) is valid only with
// creative grouping.
const std::vector<std::string>& report_columns(std::string_view report_type);
inline constexpr std::string_view kCreativeColumn = "creativeId";
// The rows as the text of a JSON array; each row holds exactly the requested columns, with its
// keys sorted (as nlohmann::json dumps an object). Written directly as text, not through a JSON
// tree, as a month of a large account's rows is generated while its client polls. Throws
// std::invalid_argument for an unknown report type or column, creativeId without creative
// grouping, or creative grouping of another type than dspCampaign.
std::string report_json(const ReportSpec& spec);

// gzip (RFC 1952) with zlib, no timestamp or file name in the header, so equal input gives equal
// bytes.
std::string gzip_compress(std::string_view data);

}  // namespace kargo::sandbox
