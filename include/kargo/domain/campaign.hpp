#pragma once
// Campaign rules (contract section 3): field validation for create and update, the derived
// viewability configuration and the status machine. Pure: no I/O. (The performance ratios are
// computed where the figures are summed: the SQL function campaign_performance, migration 0002.)
//
//   auto fields = domain::validate_new_campaign(body, today_utc());              // throws Error 422
//   auto change = domain::validate_campaign_update(body, current, today_utc());  // what changes
//   if (!domain::transition_allowed("draft", "active", domain::Trigger::kActivate)) ... // 409
//
// Every rule has one wording, used by the API and by the bulk sheets (bulk/upload.cpp feeds the
// cells through these same functions), so a bad value reads the same whatever the door.
//
// Campaign documents are nlohmann::json objects with the contract's field names, so that the
// store can persist them and the API can return them without another mapping layer.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kargo::domain {

// What caused a status change: the same table answers for every route and for the tests.
enum class Trigger {
  kAutomatic,  // association with a ready creative (draft -> ready) or losing the last one
  kActivate,   // POST /activate
  kPause,      // POST /pause
  kUpdate,     // PUT {"status": ...}
  kEndDate,    // the end date passed
  kSyncStart,  // a sync job began (shows `processing`)
  kSyncEnd,    // a sync job ended (back to the previous status, or `error`)
};

struct StatusTransition {
  std::string_view from;
  std::string_view to;
  Trigger trigger;
};

// Every allowed transition; anything not listed is 409.
std::span<const StatusTransition> status_transitions();
inline constexpr std::string_view kCampaignStatuses[] = {"draft",     "ready",      "active", "paused",
                                                         "completed", "processing", "error"};
bool transition_allowed(std::string_view from, std::string_view to, Trigger trigger);
std::string_view trigger_name(Trigger t);

// The words of the rules that more than one place checks.
inline constexpr std::string_view kMoneyRule = "must be a positive amount of money (e.g. 1000.00)";
inline constexpr std::string_view kDateRule = "must be a valid date (YYYY-MM-DD)";
inline constexpr std::string_view kEndAfterStartRule = "must be after start_date";
inline constexpr double kMaxBudget = 1e9;  // a campaign's (and so a line item's) budget
inline constexpr double kMaxBid = 1e6;     // bidding.max_bid, the sheets' Bid (CPM)

// The money rule of every amount (a campaign's budget, its max bid, a line item's budget): a
// JSON number above 0 that is still at least 0.01 once rounded to cents, and at most `max`.
// Returns the message of the rule `value` breaks (kMoneyRule for a non-number, a negative or a
// zero amount; "must be at most ..." above `max`), or nullopt when it is a valid amount.
std::optional<std::string> money_problem(const nlohmann::json& value, double max);

// Validates a POST /api/campaigns body and returns the campaign's stored fields with defaults
// applied and the viewability configuration derived: name, advertiser_id, phase,
// viewability_phase, viewability_config, goal_kpi, budget, currency, start_date, end_date,
// targeting, bidding. `today` (UTC) is the earliest end_date allowed. Throws Error::validation
// with one detail per bad field.
nlohmann::json validate_new_campaign(const nlohmann::json& body, std::chrono::year_month_day today);

// Validates a PUT body against the current campaign (a stored document) and returns only the
// fields that change (status included, when it differs). Cross-field rules use the merged
// result (start before end, budget not below spent). Dates that move must leave end_date on or
// after `today` (UTC); dates sent unchanged are not checked against it, so a campaign that has
// ended keeps accepting its other changes. Unknown fields are ignored.
nlohmann::json validate_campaign_update(const nlohmann::json& body, const nlohmann::json& current,
                                        std::chrono::year_month_day today);

// The words of a refused status change ("cannot change from 'draft' to 'active'"), for the
// API's 409 and the sheets' Status errors alike.
std::string status_change_refused(std::string_view from, std::string_view to);

// The Amazon DSP ad group type of an association (docs/UPSTREAMS.md): video -> ONLINE_VIDEO
// (STREAMING_TV on ctv), audio -> AUDIO, everything else DISPLAY.
std::string ad_group_type(std::string_view media_type, std::string_view device_type);

// Rounds money to cents.
double round_cents(double v);

}  // namespace kargo::domain
