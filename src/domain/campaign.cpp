#include "kargo/domain/campaign.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/creative/config.hpp"

namespace kargo::domain {
namespace {

using nlohmann::json;

// The status machine of contract section 3, as data. `processing` is entered from any status
// but `completed` when a sync starts and left when it ends; `error` is left by a successful sync.
constexpr StatusTransition kTransitions[] = {
    {"draft", "ready", Trigger::kAutomatic},
    {"ready", "draft", Trigger::kAutomatic},  // the last ready creative was removed
    {"ready", "active", Trigger::kActivate},
    {"paused", "active", Trigger::kActivate},
    {"active", "paused", Trigger::kPause},
    {"ready", "active", Trigger::kUpdate},
    {"paused", "active", Trigger::kUpdate},
    {"active", "paused", Trigger::kUpdate},
    {"active", "completed", Trigger::kUpdate},
    {"paused", "completed", Trigger::kUpdate},
    {"ready", "completed", Trigger::kEndDate},
    {"active", "completed", Trigger::kEndDate},
    {"paused", "completed", Trigger::kEndDate},
    {"draft", "processing", Trigger::kSyncStart},
    {"ready", "processing", Trigger::kSyncStart},
    {"active", "processing", Trigger::kSyncStart},
    {"paused", "processing", Trigger::kSyncStart},
    {"error", "processing", Trigger::kSyncStart},
    {"processing", "draft", Trigger::kSyncEnd},
    {"processing", "ready", Trigger::kSyncEnd},
    {"processing", "active", Trigger::kSyncEnd},
    {"processing", "paused", Trigger::kSyncEnd},
    {"processing", "completed", Trigger::kSyncEnd},  // Amazon reports the campaign ended
    {"processing", "error", Trigger::kSyncEnd},
};

// ISO 3166-1 alpha-2 officially assigned codes, concatenated (no library in Debian ships them in a
// form usable from C++ without a data file, and the list is small and stable).
constexpr std::string_view kIsoCountries =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCRCU"
    "CVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIE"
    "ILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMT"
    "MUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSM"
    "SNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

bool iso_country(std::string_view code) {
  if (code.size() != 2) return false;
  for (size_t i = 0; i + 1 < kIsoCountries.size(); i += 2) {
    if (kIsoCountries.substr(i, 2) == code) return true;
  }
  return false;
}

bool advertiser_id_ok(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

const StringRule kListItem{.min_length = 1, .max_length = 255};

// The money rule on a field: the amount rounded to cents, or the rule's message on the field.
std::optional<double> money(Validator& v, std::string_view field, double max, bool required = false) {
  const json* value = v.value(field, {.required = required});
  if (!value) return std::nullopt;
  if (auto problem = money_problem(*value, max)) {
    v.add(v.field_name(field), *problem);
    return std::nullopt;
  }
  return round_cents(value->get<double>());
}

// Reads `field` as a list of strings that must each be one of `allowed`.
std::optional<std::vector<std::string>> subset(Validator& v, std::string_view field,
                                               std::initializer_list<std::string_view> allowed) {
  auto values = v.string_array(field);
  if (!values) return std::nullopt;
  bool good = true;
  for (size_t i = 0; i < values->size(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), (*values)[i]) == allowed.end()) {
      v.add(v.field_name(field) + "[" + std::to_string(i) + "]", one_of_message(allowed));
      good = false;
    }
  }
  return good ? values : std::nullopt;
}

// Validates the fields of a targeting object that are present and writes them over `out`.
void read_targeting(Validator& v, json& out) {
  if (auto locations = v.string_array("locations")) {
    bool good = true;
    for (size_t i = 0; i < locations->size(); ++i) {
      if (!iso_country((*locations)[i])) {
        v.add(v.field_name("locations") + "[" + std::to_string(i) + "]",
              "must be an ISO 3166-1 alpha-2 country code (e.g. US)");
        good = false;
      }
    }
    if (good) out["locations"] = *locations;
  }
  for (const char* field : {"demographics", "interests", "audiences", "keywords", "categories"}) {
    if (auto values = v.string_array(field, kListItem)) out[field] = *values;
  }
  if (auto devices = subset(v, "device_types", {"desktop", "mobile", "tablet", "ctv"})) {
    out["device_types"] = *devices;
  }
  if (auto sources =
          subset(v, "supply_sources", {"amazon_publishers", "third_party_exchange", "amazon_dsp_deals"})) {
    out["supply_sources"] = *sources;
  }
  if (auto threshold = v.number("viewability_threshold", {.min = 0, .max = 100})) {
    out["viewability_threshold"] = *threshold;
  }
  if (auto level = v.enumeration("brand_safety_level", {"low", "medium", "high"}))
    out["brand_safety_level"] = *level;
}

void read_bidding(Validator& v, json& out) {
  if (auto strategy = v.enumeration("strategy_type", {"cpm", "vcpm", "cpc"}))
    out["strategy_type"] = *strategy;
  if (auto bid = money(v, "max_bid", kMaxBid)) out["max_bid"] = *bid;
}

json default_targeting() {
  return {{"locations", {"US"}},           {"demographics", json::array()},
          {"interests", json::array()},    {"device_types", {"mobile"}},
          {"audiences", json::array()},    {"keywords", json::array()},
          {"categories", json::array()},   {"supply_sources", {"amazon_publishers"}},
          {"viewability_threshold", 70.0}, {"brand_safety_level", "high"}};
}

std::optional<std::string> date_field(Validator& v, std::string_view field, bool required) {
  // Any wrong value, a number as much as a malformed text, breaks the one date rule.
  const json* value = v.value(field, {.required = required});
  if (!value) return std::nullopt;
  if (!value->is_string() || !parse_date(value->get_ref<const std::string&>())) {
    v.add(v.field_name(field), std::string(kDateRule));
    return std::nullopt;
  }
  return value->get<std::string>();
}

// The end date rule: a campaign that is created, or whose dates move, must not end before today.
// Dates are YYYY-MM-DD, so they compare as text.
bool end_in_past(Validator& v, const std::string& end, std::chrono::year_month_day today) {
  std::string now = format_date(today);
  if (end >= now) return false;
  v.add("end_date", "must not be in the past (today is " + now + " UTC)");
  return true;
}

// The viewability configuration: given in full or in part, or derived from the phase. The rules
// are the creatives' (domain/creative/config.hpp, read_viewability_config); a campaign gives the
// phase as `viewability_phase` and may put dsp_seat_id / pub_id next to the config.
json read_viewability(Validator& v, const json& body, const std::string& phase) {
  json config = json::object();
  if (const json* given = v.object("viewability_config")) config = *given;
  if (config.contains("phase") && config["phase"] != phase) {
    v.add("viewability_config.phase", "must match viewability_phase (" + phase + ")");
    return nullptr;
  }
  config["phase"] = phase;
  for (const char* id : {"dsp_seat_id", "pub_id"}) {
    if (!config.contains(id) && body.contains(id)) config[id] = body[id];
  }
  json wrapper = {{"viewability_config", config}};
  Validator inner(wrapper);
  auto parsed = read_viewability_config(inner, "viewability_config");
  for (const auto& e : inner.errors()) v.add(e.field, e.message);
  return parsed ? parsed->to_json() : json(nullptr);
}

}  // namespace

std::span<const StatusTransition> status_transitions() { return kTransitions; }

bool transition_allowed(std::string_view from, std::string_view to, Trigger trigger) {
  return std::any_of(std::begin(kTransitions), std::end(kTransitions), [&](const StatusTransition& t) {
    return t.from == from && t.to == to && t.trigger == trigger;
  });
}

std::string_view trigger_name(Trigger t) {
  switch (t) {
    case Trigger::kAutomatic:
      return "automatic";
    case Trigger::kActivate:
      return "activate";
    case Trigger::kPause:
      return "pause";
    case Trigger::kUpdate:
      return "update";
    case Trigger::kEndDate:
      return "end_date";
    case Trigger::kSyncStart:
      return "sync_start";
    case Trigger::kSyncEnd:
      return "sync_end";
  }
  return "unknown";
}

double round_cents(double v) { return std::round(v * 100.0) / 100.0; }

std::optional<std::string> money_problem(const json& value, double max) {
  // 0.004 would be stored as 0.00 and break the database's CHECK: the amount must still be
  // positive once rounded to cents.
  if (!value.is_number() || !std::isfinite(value.get<double>()) || round_cents(value.get<double>()) < 0.01) {
    return std::string(kMoneyRule);
  }
  if (value.get<double>() > max) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", max);
    return std::string("must be at most ") + text;
  }
  return std::nullopt;
}

std::string status_change_refused(std::string_view from, std::string_view to) {
  return "cannot change from '" + std::string(from) + "' to '" + std::string(to) + "'";
}

json validate_new_campaign(const json& body, std::chrono::year_month_day today) {
  Validator v(body);
  json out = json::object();
  if (auto name = v.string("name", {.required = true, .min_length = 1, .max_length = 255}))
    out["name"] = *name;
  if (auto adv =
          v.string("advertiser_id", {.required = true,
                                     .accept = advertiser_id_ok,
                                     .accept_message = "must be 1-64 characters of A-Z, a-z, 0-9, _ or -"})) {
    out["advertiser_id"] = *adv;
  }
  out["phase"] = v.enumeration("phase", {"awareness", "consideration", "conversion"}).value_or("awareness");
  std::string vphase = v.enumeration("viewability_phase", {"phase_1", "phase_2"}).value_or("phase_1");
  out["viewability_phase"] = vphase;
  out["viewability_config"] = read_viewability(v, body, vphase);
  out["goal_kpi"] =
      v.enumeration("goal_kpi", {"viewability", "ctr", "conversions", "reach", "video_completion"})
          .value_or("viewability");
  if (auto budget = money(v, "budget", kMaxBudget, true)) out["budget"] = *budget;
  out["currency"] =
      v.string("currency", {.accept =
                                [](std::string_view s) {
                                  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) {
                                           return c >= 'A' && c <= 'Z';
                                         });
                                },
                            .accept_message = "must be a 3-letter ISO 4217 code (e.g. USD)"})
          .value_or("USD");
  auto start = date_field(v, "start_date", true);
  auto end = date_field(v, "end_date", true);
  if (end && end_in_past(v, *end, today)) {
    // one message on end_date: the order of the dates is checked once the end is valid
  } else if (start && end) {
    if (*start >= *end) {
      v.add("end_date", std::string(kEndAfterStartRule));
    } else {
      out["start_date"] = *start;
      out["end_date"] = *end;
    }
  }
  json targeting = default_targeting();
  if (const json* t = v.object("targeting")) {
    Validator tv = v.nested(*t, "targeting");
    read_targeting(tv, targeting);
  }
  out["targeting"] = targeting;
  json bidding = {{"strategy_type", "cpm"}, {"max_bid", 1.0}};
  if (const json* b = v.object("bidding")) {
    Validator bv = v.nested(*b, "bidding");
    read_bidding(bv, bidding);
  }
  out["bidding"] = bidding;
  v.check();
  return out;
}

json validate_campaign_update(const json& body, const json& current, std::chrono::year_month_day today) {
  Validator v(body);
  json change = json::object();
  if (auto name = v.string("name", {.min_length = 1, .max_length = 255}); name && *name != current["name"]) {
    change["name"] = *name;
  }
  if (auto budget = money(v, "budget", kMaxBudget)) {
    double b = *budget;
    double spent = current.value("spent", 0.0);
    if (b < spent) {
      v.add("budget", "must not be below the amount already spent (" + json(spent).dump() + ")");
    } else if (b != current.value("budget", 0.0)) {
      change["budget"] = b;
    }
  }
  if (auto kpi =
          v.enumeration("goal_kpi", {"viewability", "ctr", "conversions", "reach", "video_completion"});
      kpi && *kpi != current["goal_kpi"]) {
    change["goal_kpi"] = *kpi;
  }
  auto start = date_field(v, "start_date", false);
  auto end = date_field(v, "end_date", false);
  // Dates that are sent unchanged move nothing: an ended campaign can still be renamed with its
  // whole resource as the body.
  bool moves =
      (start && *start != current.value("start_date", "")) || (end && *end != current.value("end_date", ""));
  if (moves) {
    std::string s = start.value_or(current.value("start_date", ""));
    std::string e = end.value_or(current.value("end_date", ""));
    if (end_in_past(v, e, today)) {
      // the end date must move too (a new start alone cannot revive an ended campaign)
    } else if (s >= e) {
      if (end) {
        v.add("end_date", std::string(kEndAfterStartRule));
      } else {
        v.add("start_date", "must be before end_date");
      }
    } else {
      if (start && *start != current["start_date"]) change["start_date"] = *start;
      if (end && *end != current["end_date"]) change["end_date"] = *end;
    }
  }
  if (const json* t = v.object("targeting")) {
    json merged = current.contains("targeting") ? current["targeting"] : default_targeting();
    Validator tv = v.nested(*t, "targeting");
    read_targeting(tv, merged);
    if (merged != current["targeting"]) change["targeting"] = merged;
  }
  if (const json* b = v.object("bidding")) {
    json merged = current.contains("bidding") ? current["bidding"] : json::object();
    Validator bv = v.nested(*b, "bidding");
    read_bidding(bv, merged);
    if (merged != current["bidding"]) change["bidding"] = merged;
  }
  if (auto status =
          v.enumeration("status", {"draft", "ready", "active", "paused", "completed", "processing", "error"});
      status && *status != current["status"]) {
    change["status"] = *status;
  }
  v.check();
  return change;
}

std::string ad_group_type(std::string_view media_type, std::string_view device_type) {
  if (media_type == "video") return device_type == "ctv" ? "STREAMING_TV" : "ONLINE_VIDEO";
  if (media_type == "audio") return "AUDIO";
  return "DISPLAY";
}

}  // namespace kargo::domain
