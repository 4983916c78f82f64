#pragma once
// The Amazon DSP API as the service uses it (contract section 9; every path, field and status in
// docs/UPSTREAMS.md sections 3-9, and section 14 names the Amazon reference page each method
// follows): campaigns, ad groups, third-party display and VAST creatives, moderation, creative
// associations and reporting v3. Calls go through the "amazon_dsp" UpstreamChannel (retries,
// circuit breaker, metrics) with the four headers Amazon requires: `Authorization: Bearer` (from
// the LwaTokenManager), `Amazon-Advertising-API-ClientId`, `Amazon-Advertising-API-Scope`
// (AMAZON_PROFILE_ID) and `Amazon-Ads-AccountId` (the DSP advertiser, the `account` argument).
//
// What every method guarantees:
// * a 401 drops the token, refreshes it once and sends the call once more;
// * writes are safe to repeat: creates first look the objects up by `externalId` and skip the
//   ones that exist, and an upstream "duplicate externalId" is read as "already created";
// * batch answers (207) are read item by item into typed per-item results, in request order;
// * anything unusable (not JSON, a field missing or of the wrong type, too large, truncated, a gzip
//   bomb) is a kargo::Error EXTERNAL_API_ERROR 502 naming the call, never a crash; without the
//   AMAZON_* credentials every call is 503 "Amazon DSP is not configured".
// Methods block the calling thread (job workers and BlockingPool threads only, never a server
// I/O thread or an upstream client thread) and throw kargo::Error.
//
//   AmazonDspClient amazon(amazon_channel, tokens, AmazonDspOptions::from_config(config));
//   auto results = amazon.create_campaigns("adv-1001", {{.name = "Summer Sale",
//       .external_id = "camp_0123456789ab", .flights = {{"2026-02-01T00:00:00Z",
//       "2026-02-28T23:59:59Z", 10000.0}}, .kpi = "REACH"}});
//   if (results[0].ok()) store(results[0].id); else report(results[0].errors);
//   auto report = amazon.wait_for_report("adv-1001", amazon.create_report("adv-1001", request));
//   auto rows = amazon.download_campaign_rows(report);
//   // Several reports are requested first and awaited together (Amazon prepares them in parallel):
//   auto reports = amazon.wait_for_reports("adv-1001", {campaign_report_id, creative_report_id});
//   auto per_creative = amazon.download_campaign_rows(reports[1], /*by_creative=*/true);

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kargo/upstream/circuit_breaker.hpp"

namespace kargo {
struct Config;
}

namespace kargo::upstream {

class UpstreamChannel;
class LwaTokenManager;

struct AmazonDspOptions {
  std::string base_url;                       // AMAZON_DSP_BASE_URL
  std::string client_id;                      // Amazon-Advertising-API-ClientId
  std::string profile_id;                     // Amazon-Advertising-API-Scope
  bool configured = false;                    // all four AMAZON_* credentials set
  std::size_t max_response_bytes = 8u << 20;  // an API answer
  std::size_t max_report_bytes = 64u << 20;   // a report file, compressed and decoded each
  // Report polling: the first wait, doubled per round of polls up to the maximum, for at most the
  // timeout (REPORT_POLL_INITIAL_MS, REPORT_POLL_MAX_MS, REPORT_TIMEOUT_SECONDS).
  std::chrono::milliseconds report_poll_initial{2000};
  std::chrono::milliseconds report_poll_max{30000};
  std::chrono::milliseconds report_timeout{15 * 60 * 1000};

  static AmazonDspOptions from_config(const Config& config);
};

// One item's problem in a batch answer ([R2]: errorCode / errorMessage).
struct DspItemError {
  std::string code;  // MISSING_FIELD, INVALID_ARGUMENT, NOT_FOUND, ... or UNSUPPORTED_FORMAT (audio)
  std::string message;
};

// The outcome for one item of a create or update, at the item's position in the request.
struct DspItemResult {
  std::size_t index = 0;
  std::string id;                    // campaignId / adGroupId / adCreativeId when ok()
  bool existing = false;             // created earlier (found by externalId): nothing was created now
  std::vector<DspItemError> errors;  // empty when ok()
  bool ok() const { return errors.empty(); }
};

// Dates and times are RFC 3339 UTC ("2026-02-01T00:00:00Z").
struct DspFlight {
  std::string start;
  std::string end;
  double budget = 0;
  std::string flight_id;  // set by Amazon; send it back when updating flights
};

struct DspCampaign {
  std::string name;
  std::string external_id;  // our campaign id: how a repeated create finds what it made before
  std::vector<DspFlight> flights;
  std::string kpi;  // optimization.goalSetting.kpi: REACH, CLICK_THROUGH_RATE, ...
};

struct DspCampaignUpdate {
  std::string campaign_id;
  std::optional<std::string> name;
  std::optional<std::string> state;  // ACTIVE or PAUSED (INACTIVE accepted)
  std::optional<std::vector<DspFlight>> flights;
  std::optional<std::string> kpi;
};

struct DspCampaignInfo {
  std::string campaign_id, advertiser_id, external_id, name;
  std::string state;            // ACTIVE | INACTIVE | PAUSED
  std::string delivery_status;  // DELIVERING | NOT_DELIVERING | ENDED | OUT_OF_BUDGET ("" when absent)
  std::vector<DspFlight> flights;
  std::string kpi;
};

struct DspCampaignFilter {
  std::vector<std::string> campaign_ids;
  std::vector<std::string> external_ids;  // sandbox extension (docs/UPSTREAMS.md section 4)
};

struct DspAdGroup {
  std::string campaign_id, name, external_id;
  std::string inventory_type;  // DISPLAY | ONLINE_VIDEO | STREAMING_TV
  std::string start, end;
  std::optional<double> budget;
  std::optional<double> base_bid;
};

struct DspAdGroupUpdate {
  std::string ad_group_id;
  std::optional<std::string> name, state, start, end;
  std::optional<double> budget;
  std::optional<double> base_bid;
};

struct DspAdGroupInfo {
  std::string ad_group_id, campaign_id, external_id, name, state, inventory_type, start, end;
  std::optional<double> budget;
};

struct DspAdGroupFilter {
  std::vector<std::string> ad_group_ids, campaign_ids, external_ids;
};

enum class DspTagType {
  kDisplay,  // processed runway HTML: thirdPartyTag DISPLAY with its size
  kVast,     // processed VAST XML: thirdPartyTag VAST
  kAudio,    // no Amazon DSP upload endpoint: always a per-item failure, never sent
};

struct DspCreative {
  std::string name, external_id;
  DspTagType type = DspTagType::kDisplay;
  std::string tag_source;     // the processed markup itself
  int width = 0, height = 0;  // display only
  std::string language = "en", country = "US";
};

struct DspCreativeInfo {
  std::string ad_creative_id, external_id, name;
};

struct DspModeration {
  std::string status;                // PENDING | APPROVED | REJECTED
  std::vector<std::string> reasons;  // why, when REJECTED
};

struct DspAssociation {
  std::string ad_creative_id, ad_group_id;
  std::optional<std::string> state;  // ACTIVE (default) | INACTIVE
  std::optional<int> weight;
  std::optional<std::string> start, end;  // RFC 3339
};

struct DspAssociationResult {
  std::size_t index = 0;  // position in the caller's list (over every batch)
  std::string ad_creative_id, ad_group_id;
  std::vector<DspItemError> errors;
  bool ok() const { return errors.empty(); }
};

enum class DspReportType {
  kCampaign,     // dspCampaign [R5]
  kViewability,  // dspViewability (sandbox extension: per-vendor viewability)
};

struct DspReportRequest {
  DspReportType type = DspReportType::kCampaign;
  // kCampaign only: groupBy ["campaign", "creative"] and the column creativeId, a row per
  // campaign, ad creative and day (the creatives' rows of a campaign-day add up to its row).
  bool by_creative = false;
  std::string start_date, end_date;       // YYYY-MM-DD, at most 31 days inclusive
  std::vector<std::string> campaign_ids;  // empty: every campaign of the account
  std::string name;                       // empty: "kargo <type> <start>..<end>"
};

struct DspReport {
  std::string report_id;
  std::string status;  // PENDING | PROCESSING | COMPLETED | FAILED
  std::string url;     // pre-signed download, when COMPLETED
  std::string failure_reason;
};

struct DspCampaignRow {
  std::string date, campaign_id;
  std::string creative_id;  // the ad creative of a by_creative report's row; empty otherwise
  int64_t impressions = 0, clicks = 0, purchases = 0;
  double total_cost = 0;
};

struct DspViewabilityRow {
  std::string date, campaign_id, vendor;  // DOUBLE_VERIFY | IAS
  int64_t impressions = 0, measurable_impressions = 0, viewable_impressions = 0;
  double average_time_in_view_seconds = 0;
};

class AmazonDspClient {
 public:
  // `channel` ("amazon_dsp") and `tokens` must outlive the client.
  AmazonDspClient(UpstreamChannel& channel, LwaTokenManager& tokens, AmazonDspOptions options);
  ~AmazonDspClient();
  AmazonDspClient(const AmazonDspClient&) = delete;
  AmazonDspClient& operator=(const AmazonDspClient&) = delete;

  bool configured() const;
  CircuitState circuit_state() const;
  LwaTokenManager& tokens();

  // Campaigns [R1] [R2] [R7]. Items whose external_id already exists come back ok() and existing.
  std::vector<DspItemResult> create_campaigns(const std::string& account,
                                              const std::vector<DspCampaign>& items);
  std::vector<DspCampaignInfo> list_campaigns(const std::string& account,
                                              const DspCampaignFilter& filter = {});
  std::vector<DspItemResult> update_campaigns(const std::string& account,
                                              const std::vector<DspCampaignUpdate>& items);

  // Ad groups, one per campaign-creative association [R1] [R2] [R7].
  std::vector<DspItemResult> create_ad_groups(const std::string& account,
                                              const std::vector<DspAdGroup>& items);
  std::vector<DspAdGroupInfo> list_ad_groups(const std::string& account, const DspAdGroupFilter& filter = {});
  std::vector<DspItemResult> update_ad_groups(const std::string& account,
                                              const std::vector<DspAdGroupUpdate>& items);

  // Third-party creatives, one create call each [R3]; audio fails per item with UNSUPPORTED_FORMAT.
  std::vector<DspItemResult> create_ad_creatives(const std::string& account,
                                                 const std::vector<DspCreative>& items);
  std::vector<DspCreativeInfo> list_ad_creatives(const std::string& account,
                                                 const std::vector<std::string>& external_ids);
  DspModeration get_moderation(const std::string& account, const std::string& ad_creative_id);

  // Sent in batches of at most 20 [R4]; results in the caller's order.
  std::vector<DspAssociationResult> associate(const std::string& account,
                                              const std::vector<DspAssociation>& items);

  // Reporting v3 [R5]. A duplicate request (425) answers the existing report's id.
  std::string create_report(const std::string& account, const DspReportRequest& request);
  DspReport get_report(const std::string& account, const std::string& report_id);
  // Polls every report still PENDING or PROCESSING once per round, then waits the back-off
  // (report_poll_initial, doubled per round up to report_poll_max), until each is COMPLETED or
  // FAILED (a FAILED report is returned, not thrown). Results in the order of `report_ids`; 502
  // naming the unfinished reports when report_timeout passes first.
  std::vector<DspReport> wait_for_reports(const std::string& account,
                                          const std::vector<std::string>& report_ids);
  DspReport wait_for_report(const std::string& account, const std::string& report_id);  // one of the above
  // The COMPLETED report's file: fetched without any Amazon header, gunzipped under the cap,
  // each row checked. creativeId is read into creative_id when a row has it; `by_creative` (the
  // report was requested by_creative) makes it required, so a row without it is a malformed
  // answer (502) rather than a row the caller could mistake for a campaign total. A flag rather
  // than a field of DspReport: the report resource need not echo the request's grouping.
  std::vector<DspCampaignRow> download_campaign_rows(const DspReport& report, bool by_creative = false);
  std::vector<DspViewabilityRow> download_viewability_rows(const DspReport& report);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::upstream
