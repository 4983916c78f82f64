#pragma once
// Campaign rules (contract section 3): field validation for create and update, the derived
// viewability configuration and the status machine. Pure: no I/O. (The performance ratios are
// computed where the figures are summed: the SQL function campaign_performance, migration 0002.)
//
//   auto fields = domain::validate_new_campaign(body);              // throws Error 422 (all fields)
//   auto change = domain::validate_campaign_update(body, current);  // only what the body changes
//   if (!domain::transition_allowed("draft", "active", domain::Trigger::kActivate)) ... // 409
//
// Campaign documents are nlohmann::json objects with the contract's field names, so that the
// store can persist them and the API can return them without another mapping layer.

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

// Validates a POST /api/campaigns body and returns the campaign's stored fields with defaults
// applied and the viewability configuration derived: name, advertiser_id, phase,
// viewability_phase, viewability_config, goal_kpi, budget, currency, start_date, end_date,
// targeting, bidding. Throws Error::validation with one detail per bad field.
nlohmann::json validate_new_campaign(const nlohmann::json& body);

// Validates a PUT body against the current campaign (a stored document) and returns only the
// fields that change (status included, when it differs). Cross-field rules use the merged
// result (start before end, budget not below spent). Unknown fields are ignored.
nlohmann::json validate_campaign_update(const nlohmann::json& body, const nlohmann::json& current);

// The Amazon DSP ad group type of an association (docs/UPSTREAMS.md): video -> ONLINE_VIDEO
// (STREAMING_TV on ctv), audio -> AUDIO, everything else DISPLAY.
std::string ad_group_type(std::string_view media_type, std::string_view device_type);

// Rounds money to cents.
double round_cents(double v);

}  // namespace kargo::domain
