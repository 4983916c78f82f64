// Amazon DSP campaign management (/dsp/v1/*): campaigns, ad groups, third-party creatives,
// moderation and creative associations, per advertiser account (docs/UPSTREAMS.md sections 3-8).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <set>
#include <variant>
#include <vector>

#include "kargo/core/time.hpp"
#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

constexpr size_t kMaxFilterValues = 100;
constexpr size_t kMaxBatch = 100;
constexpr size_t kMaxAssociations = 20;
constexpr size_t kMaxTagSource = 4u << 20;
constexpr int kPendingPolls = 2;
constexpr std::string_view kRejectMarker = "sandbox-reject";

// Fixed-width 18-digit ids: the maps' lexicographic order is creation order.
std::string new_id(uint64_t base, uint64_t& counter) { return std::to_string(base + counter++); }
constexpr uint64_t kCampaignIdBase = 581000000000000000ull;
constexpr uint64_t kAdGroupIdBase = 582000000000000000ull;
constexpr uint64_t kCreativeIdBase = 583000000000000000ull;
// The random start (< kAmazonIdSpread) plus any realistic counter stays inside its 581/582/583 block.
static_assert(kCampaignIdBase + 2 * kAmazonIdSpread < kAdGroupIdBase);

std::string now_text() { return format_timestamp_millis(std::chrono::system_clock::now()); }

// One item's problem in a 207 answer.
struct ItemError {
  std::string code;
  std::string message;
};
using ItemErrors = std::vector<ItemError>;

// Accumulates a 207 Multi-Status body; empty arrays are omitted as Amazon does.
class BatchResult {
 public:
  void ok(json entry) { success_.push_back(std::move(entry)); }
  void fail(size_t index, const ItemErrors& errors, json extra = json::object()) {
    json list = json::array();
    for (const auto& e : errors) list.push_back({{"errorCode", e.code}, {"errorMessage", e.message}});
    json entry{{"index", index}, {"errors", std::move(list)}};
    for (const auto& [k, v] : extra.items()) entry[k] = v;
    error_.push_back(std::move(entry));
  }
  http::Response response(const http::Request& req) const {
    json body{{"requestId", req.request_id}};
    if (!success_.empty()) body["success"] = success_;
    if (!error_.empty()) body["error"] = error_;
    return json_response(207, body);
  }

 private:
  json success_ = json::array();
  json error_ = json::array();
};

// RFC 3339 date-time -> seconds since the epoch (for ordering checks only).
std::optional<int64_t> parse_rfc3339(const json& value) {
  if (!value.is_string()) return std::nullopt;
  const auto& s = value.get_ref<const std::string&>();
  if (s.size() < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto date = parse_date(std::string_view(s).substr(0, 10));
  if (!date) return std::nullopt;
  auto digits = [&](size_t pos) -> int {
    if (!std::isdigit(static_cast<unsigned char>(s[pos])) ||
        !std::isdigit(static_cast<unsigned char>(s[pos + 1])))
      return -1;
    return (s[pos] - '0') * 10 + (s[pos + 1] - '0');
  };
  int h = digits(11), m = digits(14), sec = digits(17);
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    offset = 0;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh = digits(pos + 1), om = digits(pos + 4);
    if (oh < 0 || om < 0) return std::nullopt;
    offset = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  auto days = std::chrono::sys_days(*date).time_since_epoch().count();
  return static_cast<int64_t>(days) * 86400 + h * 3600 + m * 60 + sec - offset;
}

bool non_empty_string(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

void require_string(const json& item, const char* name, ItemErrors& errors, size_t max_len = 255) {
  auto it = item.find(name);
  if (it == item.end() || it->is_null()) {
    errors.push_back({"MISSING_FIELD", std::string(name) + " is required"});
  } else if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
             it->get_ref<const std::string&>().size() > max_len) {
    errors.push_back({"INVALID_ARGUMENT", std::string(name) + " must be a string of 1-" +
                                              std::to_string(max_len) + " characters"});
  }
}

void require_positive_number(const json& obj, const char* name, const std::string& label, bool allow_zero,
                             ItemErrors& errors) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_number() || it->get<double>() < 0 || (!allow_zero && it->get<double>() == 0)) {
    errors.push_back({"INVALID_ARGUMENT", label + (allow_zero ? " must be >= 0" : " must be > 0")});
  }
}

// A list filter: ["a","b"] or {"include": ["a","b"]}. nullopt when absent; `error` set when bad.
std::optional<std::set<std::string>> read_filter(const json& body, const char* name, std::string& error) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  const json* values = &*it;
  if (it->is_object()) {
    auto inc = it->find("include");
    if (inc == it->end()) {
      error = std::string(name) + ".include is required";
      return std::nullopt;
    }
    values = &*inc;
  }
  if (!values->is_array() || values->size() > kMaxFilterValues) {
    error =
        std::string(name) + " must be an array of at most " + std::to_string(kMaxFilterValues) + " strings";
    return std::nullopt;
  }
  std::set<std::string> out;
  for (const auto& v : *values) {
    if (!v.is_string()) {
      error = std::string(name) + " must hold strings";
      return std::nullopt;
    }
    out.insert(v.get<std::string>());
  }
  return out;
}

struct PageRequest {
  size_t max_results = 100;
  size_t offset = 0;
};

// maxResults / nextToken of a list body; `error` set when bad.
PageRequest read_page(const json& body, size_t default_max, std::string& error) {
  PageRequest p{default_max, 0};
  if (auto it = body.find("maxResults"); it != body.end() && !it->is_null()) {
    int64_t n = 0;
    if (it->is_number_integer()) {
      n = it->get<int64_t>();
    } else if (it->is_string()) {
      n = std::atoll(it->get_ref<const std::string&>().c_str());
    }
    if (n < 1 || n > 100) error = "maxResults must be between 1 and 100";
    p.max_results = static_cast<size_t>(n);
  }
  if (auto it = body.find("nextToken"); it != body.end() && !it->is_null()) {
    const std::string token = it->is_string() ? it->get<std::string>() : std::string();
    // Opaque to clients: "sbx." + the offset of the next item.
    if (token.rfind("sbx.", 0) != 0 || token.size() == 4 ||
        token.find_first_not_of("0123456789", 4) != std::string::npos) {
      error = "nextToken is not valid";
    } else {
      p.offset = static_cast<size_t>(std::atoll(token.c_str() + 4));
    }
  }
  return p;
}

// {"<items>": page, "totalResults": n, "nextToken"?: ..., "requestId"}
http::Response list_page(const http::Request& req, const char* items_name, const std::vector<json>& items,
                         const PageRequest& page) {
  json out = json::array();
  for (size_t i = page.offset; i < items.size() && out.size() < page.max_results; ++i)
    out.push_back(items[i]);
  json body{{items_name, std::move(out)}, {"totalResults", items.size()}, {"requestId", req.request_id}};
  if (page.offset + page.max_results < items.size()) {
    body["nextToken"] = "sbx." + std::to_string(page.offset + page.max_results);
  }
  return json_response(200, body);
}

// The item array of a batch body: {"<name>": [ ... ]} with 1..max items.
const json* batch_items(const http::Request& req, const json* body, const char* name, size_t max,
                        std::optional<http::Response>& refusal) {
  if (!body || !body->is_object()) {
    refusal = amazon_error(req, 400, "BAD_REQUEST", "the body must be a JSON object");
    return nullptr;
  }
  auto it = body->find(name);
  if (it == body->end() || !it->is_array() || it->empty()) {
    refusal = amazon_error(req, 400, "BAD_REQUEST", std::string(name) + " must be a non-empty array");
    return nullptr;
  }
  if (it->size() > max) {
    refusal = amazon_error(req, 400, "BAD_REQUEST",
                           std::string(name) + " holds " + std::to_string(it->size()) + " items; at most " +
                               std::to_string(max) + " are allowed per request");
    return nullptr;
  }
  return &*it;
}

// The id of an object with this externalId under the account, if any.
std::optional<std::string> find_external(const std::map<std::string, StoredObject>& objects,
                                         const std::string& account, const json& item) {
  if (!non_empty_string(item, "externalId")) return std::nullopt;
  const auto& ext = item["externalId"];
  for (const auto& [id, obj] : objects) {
    if (obj.account == account && obj.body.value("externalId", json()) == ext) return id;
  }
  return std::nullopt;
}

// Where the caller's objects must match every filter given.
bool matches(const std::optional<std::set<std::string>>& filter, const json& value) {
  return !filter || (value.is_string() && filter->count(value.get<std::string>()) > 0);
}

// Top-level fields replace; nested objects are merged (JSON merge patch, RFC 7386).
void apply_patch(json& target, const json& patch, std::initializer_list<const char*> skip) {
  for (const auto& [k, v] : patch.items()) {
    if (std::find_if(skip.begin(), skip.end(), [&](const char* s) { return k == s; }) != skip.end()) continue;
    if (k == "flights") {
      target[k] = v;  // the flight list is a full replacement
    } else if (v.is_object() && target.contains(k) && target[k].is_object()) {
      target[k].merge_patch(v);
    } else {
      target[k] = v;
    }
  }
}

void check_immutable(const json& item, const json& stored, std::initializer_list<const char*> fields,
                     ItemErrors& errors) {
  for (const char* f : fields) {
    if (item.contains(f) && item[f] != stored.value(f, json())) {
      errors.push_back({"INVALID_ARGUMENT", std::string(f) + " cannot be changed"});
    }
  }
}

void check_state(const json& item, ItemErrors& errors) {
  if (!item.contains("state")) return;
  const auto& s = item["state"];
  if (!s.is_string() || (s != "ACTIVE" && s != "INACTIVE" && s != "PAUSED")) {
    errors.push_back({"INVALID_ARGUMENT", "state must be ACTIVE, INACTIVE or PAUSED"});
  }
}

// ---- campaigns -----------------------------------------------------------------------------

std::string goal_for(const std::string& kpi) {
  static const std::set<std::string> kConsideration{"CLICK_THROUGH_RATE",        "COST_PER_CLICK",
                                                    "COST_PER_VIDEO_COMPLETION", "VIDEO_COMPLETION_RATE",
                                                    "COST_PER_DETAIL_PAGE_VIEW", "DETAIL_PAGE_VIEW_RATE"};
  if (kpi == "REACH") return "AWARENESS";
  if (kConsideration.count(kpi)) return "CONSIDERATION";
  return "CONVERSIONS";
}

void validate_flights(const json& item, bool required, ItemErrors& errors) {
  auto it = item.find("flights");
  if (it == item.end() || it->is_null()) {
    if (required) errors.push_back({"MISSING_FIELD", "flights.flights is required"});
    return;
  }
  auto list = it->is_object() ? it->find("flights") : it->end();
  if (list == it->end() || !list->is_array() || list->empty() || list->size() > 12) {
    errors.push_back({"INVALID_ARGUMENT", "flights.flights must hold 1-12 flights"});
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const auto& f = (*list)[i];
    std::string at = "flights.flights[" + std::to_string(i) + "]";
    if (!f.is_object()) {
      errors.push_back({"INVALID_ARGUMENT", at + " must be an object"});
      continue;
    }
    auto start = parse_rfc3339(f.value("startDateTime", json()));
    auto end = parse_rfc3339(f.value("endDateTime", json()));
    if (!start || !end) {
      errors.push_back(
          {"INVALID_ARGUMENT", at + " needs startDateTime and endDateTime as RFC 3339 date-times"});
    } else if (*start >= *end) {
      errors.push_back({"INVALID_ARGUMENT", at + ".startDateTime must be before endDateTime"});
    }
    auto budget = f.find("budgetAmount");
    if (budget == f.end() || !budget->is_number() || budget->get<double>() <= 0) {
      errors.push_back({"INVALID_ARGUMENT", at + ".budgetAmount must be a number > 0"});
    }
  }
}

std::optional<std::string> kpi_of(const json& item) {
  const json* p = &item;
  for (const char* key : {"optimization", "goalSetting", "kpi"}) {
    if (!p->is_object() || !p->contains(key)) return std::nullopt;
    p = &(*p)[key];
  }
  if (!p->is_string() || p->get_ref<const std::string&>().empty()) return std::nullopt;
  return p->get<std::string>();
}

ItemErrors validate_dsp_campaign(const json& item, const std::string& account) {
  ItemErrors errors;
  if (!item.is_object()) return {{"INVALID_ARGUMENT", "each campaign must be an object"}};
  require_string(item, "name", errors);
  validate_flights(item, true, errors);
  if (!kpi_of(item)) errors.push_back({"MISSING_FIELD", "optimization.goalSetting.kpi is required"});
  if (item.contains("advertiserId") && item["advertiserId"] != account) {
    errors.push_back({"INVALID_ARGUMENT", "advertiserId must match the Amazon-Ads-AccountId header"});
  }
  if (item.contains("externalId")) require_string(item, "externalId", errors);
  return errors;
}

void number_flights(json& campaign) {
  if (!campaign.contains("flights") || !campaign["flights"].contains("flights")) return;
  int n = 1;
  for (auto& f : campaign["flights"]["flights"]) {
    if (!f.contains("flightId")) f["flightId"] = std::to_string(n);
    ++n;
  }
}

http::Response create_campaigns(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, body ? &*body : nullptr, "campaigns", kMaxBatch, refusal);
  if (!items) return *refusal;
  auto& amazon = state.amazon;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    auto errors = validate_dsp_campaign(item, account);
    if (errors.empty()) {
      if (auto existing = find_external(amazon.campaigns, account, item)) {
        errors.push_back({"DUPLICATE_EXTERNAL_ID", "externalId is already used by campaign " + *existing});
      }
    }
    if (!errors.empty()) {
      result.fail(i, errors);
      continue;
    }
    std::string id = new_id(kCampaignIdBase, amazon.next_campaign);
    json campaign = item;
    campaign["campaignId"] = id;
    campaign["advertiserId"] = account;
    campaign["state"] = "INACTIVE";
    campaign["deliveryStatus"] = "NOT_DELIVERING";
    campaign["optimization"]["goalSetting"]["goal"] = goal_for(*kpi_of(item));
    number_flights(campaign);
    campaign["creationDateTime"] = campaign["lastUpdatedDateTime"] = now_text();
    amazon.campaigns[id] = StoredObject{account, std::move(campaign)};
    result.ok({{"index", i}, {"campaignId", id}});
  }
  return result.response(req);
}

http::Response patch_campaigns(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, body ? &*body : nullptr, "campaigns", kMaxBatch, refusal);
  if (!items) return *refusal;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    ItemErrors errors;
    if (!item.is_object() || !non_empty_string(item, "campaignId")) {
      result.fail(i, {{"MISSING_FIELD", "campaignId is required"}});
      continue;
    }
    std::string id = item["campaignId"];
    auto it = state.amazon.campaigns.find(id);
    if (it == state.amazon.campaigns.end() || it->second.account != account) {
      result.fail(i, {{"NOT_FOUND", "campaign " + id + " does not exist"}}, {{"campaignId", id}});
      continue;
    }
    json& stored = it->second.body;
    check_immutable(item, stored, {"advertiserId", "externalId"}, errors);
    if (item.contains("name")) require_string(item, "name", errors);
    if (item.contains("flights")) validate_flights(item, false, errors);
    if (item.contains("optimization") && !kpi_of(item) && item["optimization"].contains("goalSetting")) {
      errors.push_back({"INVALID_ARGUMENT", "optimization.goalSetting.kpi must be a string"});
    }
    check_state(item, errors);
    if (!errors.empty()) {
      result.fail(i, errors, {{"campaignId", id}});
      continue;
    }
    apply_patch(stored, item, {"campaignId", "advertiserId", "externalId", "goal"});
    if (auto kpi = kpi_of(stored)) stored["optimization"]["goalSetting"]["goal"] = goal_for(*kpi);
    number_flights(stored);
    if (item.contains("state"))
      stored["deliveryStatus"] = item["state"] == "ACTIVE" ? "DELIVERING" : "NOT_DELIVERING";
    stored["lastUpdatedDateTime"] = now_text();
    result.ok({{"index", i}, {"campaignId", id}});
  }
  return result.response(req);
}

http::Response list_objects(const http::Request& req, const std::map<std::string, StoredObject>& objects,
                            const std::string& account, const char* items_name,
                            std::initializer_list<std::pair<const char*, const char*>> filters,
                            size_t default_max) {
  auto body = parse_json(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!body || !body->is_object())
    return amazon_error(req, 400, "BAD_REQUEST", "the body must be a JSON object");
  std::string error;
  std::vector<std::pair<const char*, std::optional<std::set<std::string>>>> active;
  for (auto [filter, field] : filters) active.emplace_back(field, read_filter(*body, filter, error));
  auto page = read_page(*body, default_max, error);
  if (!error.empty()) return amazon_error(req, 400, "BAD_REQUEST", error);
  std::vector<json> items;
  for (const auto& [id, obj] : objects) {
    if (obj.account != account) continue;
    bool keep = true;
    for (const auto& [field, filter] : active) keep = keep && matches(filter, obj.body.value(field, json()));
    if (keep) items.push_back(obj.body);
  }
  return list_page(req, items_name, items, page);
}

// ---- ad groups -----------------------------------------------------------------------------

void validate_ad_group_fields(const json& item, ItemErrors& errors) {
  if (item.contains("inventoryType")) {
    const auto& t = item["inventoryType"];
    if (!t.is_string() || (t != "DISPLAY" && t != "ONLINE_VIDEO" && t != "STREAMING_TV")) {
      errors.push_back({"INVALID_ARGUMENT", "inventoryType must be DISPLAY, ONLINE_VIDEO or STREAMING_TV"});
    }
  }
  std::optional<int64_t> start, end;
  for (const char* f : {"startDateTime", "endDateTime"}) {
    if (!item.contains(f)) continue;
    auto t = parse_rfc3339(item[f]);
    if (!t) errors.push_back({"INVALID_ARGUMENT", std::string(f) + " must be an RFC 3339 date-time"});
    (std::string_view(f) == "startDateTime" ? start : end) = t;
  }
  if (start && end && *start >= *end) {
    errors.push_back({"INVALID_ARGUMENT", "startDateTime must be before endDateTime"});
  }
  require_positive_number(item, "budgetAmount", "budgetAmount", true, errors);
  if (item.contains("bid")) {
    if (!item["bid"].is_object()) {
      errors.push_back({"INVALID_ARGUMENT", "bid must be an object"});
    } else {
      require_positive_number(item["bid"], "baseBid", "bid.baseBid", false, errors);
    }
  }
  check_state(item, errors);
}

http::Response create_ad_groups(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, body ? &*body : nullptr, "adGroups", kMaxBatch, refusal);
  if (!items) return *refusal;
  auto& amazon = state.amazon;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    ItemErrors errors;
    if (!item.is_object()) {
      result.fail(i, {{"INVALID_ARGUMENT", "each ad group must be an object"}});
      continue;
    }
    require_string(item, "campaignId", errors);
    require_string(item, "name", errors);
    for (const char* f : {"inventoryType", "startDateTime", "endDateTime"}) {
      if (!item.contains(f)) errors.push_back({"MISSING_FIELD", std::string(f) + " is required"});
    }
    if (item.contains("externalId")) require_string(item, "externalId", errors);
    validate_ad_group_fields(item, errors);
    if (errors.empty()) {
      auto c = amazon.campaigns.find(item["campaignId"].get<std::string>());
      if (c == amazon.campaigns.end() || c->second.account != account) {
        errors.push_back(
            {"NOT_FOUND", "campaign " + item["campaignId"].get<std::string>() + " does not exist"});
      } else if (auto existing = find_external(amazon.ad_groups, account, item)) {
        errors.push_back({"DUPLICATE_EXTERNAL_ID", "externalId is already used by ad group " + *existing});
      }
    }
    if (!errors.empty()) {
      result.fail(i, errors);
      continue;
    }
    std::string id = new_id(kAdGroupIdBase, amazon.next_ad_group);
    json group = item;
    group["adGroupId"] = id;
    group["state"] = "INACTIVE";
    group["creationDateTime"] = group["lastUpdatedDateTime"] = now_text();
    amazon.ad_groups[id] = StoredObject{account, std::move(group)};
    result.ok({{"index", i}, {"adGroupId", id}});
  }
  return result.response(req);
}

http::Response patch_ad_groups(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, body ? &*body : nullptr, "adGroups", kMaxBatch, refusal);
  if (!items) return *refusal;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    if (!item.is_object() || !non_empty_string(item, "adGroupId")) {
      result.fail(i, {{"MISSING_FIELD", "adGroupId is required"}});
      continue;
    }
    std::string id = item["adGroupId"];
    auto it = state.amazon.ad_groups.find(id);
    if (it == state.amazon.ad_groups.end() || it->second.account != account) {
      result.fail(i, {{"NOT_FOUND", "ad group " + id + " does not exist"}}, {{"adGroupId", id}});
      continue;
    }
    ItemErrors errors;
    json& stored = it->second.body;
    check_immutable(item, stored, {"campaignId", "externalId"}, errors);
    if (item.contains("name")) require_string(item, "name", errors);
    validate_ad_group_fields(item, errors);
    if (!errors.empty()) {
      result.fail(i, errors, {{"adGroupId", id}});
      continue;
    }
    apply_patch(stored, item, {"adGroupId", "campaignId", "externalId"});
    stored["lastUpdatedDateTime"] = now_text();
    result.ok({{"index", i}, {"adGroupId", id}});
  }
  return result.response(req);
}

// ---- creatives -----------------------------------------------------------------------------

ItemErrors validate_creative(const json& item) {
  ItemErrors errors;
  if (!item.is_object()) return {{"INVALID_ARGUMENT", "the creative must be an object"}};
  require_string(item, "name", errors);
  if (item.contains("externalId")) require_string(item, "externalId", errors);
  auto props = item.find("adCreativeFormatProperties");
  if (props == item.end() || !props->is_object()) {
    errors.push_back({"MISSING_FIELD", "adCreativeFormatProperties is required"});
    return errors;
  }
  if (props->value("adCreativeFormatType", json()) != "THIRD_PARTY") {
    errors.push_back(
        {"INVALID_ARGUMENT", "adCreativeFormatProperties.adCreativeFormatType must be THIRD_PARTY"});
  }
  auto tag = props->find("thirdPartyTag");
  if (tag == props->end() || !tag->is_object()) {
    errors.push_back({"MISSING_FIELD", "adCreativeFormatProperties.thirdPartyTag is required"});
    return errors;
  }
  auto source = tag->find("tagSource");
  if (source == tag->end() || !source->is_string() || source->get_ref<const std::string&>().empty()) {
    errors.push_back({"MISSING_FIELD", "thirdPartyTag.tagSource is required"});
  } else if (source->get_ref<const std::string&>().size() > kMaxTagSource) {
    errors.push_back({"INVALID_ARGUMENT", "thirdPartyTag.tagSource is over 4 MiB"});
  }
  const json type = tag->value("tagType", json());
  if (type != "DISPLAY" && type != "VAST" && type != "VAST_VPAID") {
    errors.push_back({"INVALID_ARGUMENT", "thirdPartyTag.tagType must be DISPLAY, VAST or VAST_VPAID"});
  }
  if (type == "DISPLAY") {
    auto sizes = props->find("creativeSizes");
    bool ok = sizes != props->end() && sizes->is_array() && !sizes->empty();
    if (ok) {
      for (const auto& s : *sizes) {
        for (const char* d : {"width", "height"}) {
          ok = ok && s.is_object() && s.contains(d) && s[d].is_number_integer() && s[d].get<int64_t>() >= 1 &&
               s[d].get<int64_t>() <= 4096;
        }
      }
    }
    if (!ok) {
      errors.push_back(
          {"INVALID_ARGUMENT", "a DISPLAY tag needs creativeSizes with width and height (1-4096)"});
    }
  }
  return errors;
}

// Creates one creative, or returns its errors.
std::variant<std::string, ItemErrors> create_creative(State& state, const json& item,
                                                      const std::string& account) {
  auto errors = validate_creative(item);
  if (!errors.empty()) return errors;
  if (auto existing = find_external(state.amazon.creatives, account, item)) {
    return ItemErrors{{"DUPLICATE_EXTERNAL_ID", "externalId is already used by ad creative " + *existing}};
  }
  std::string id = new_id(kCreativeIdBase, state.amazon.next_creative);
  json creative = item;
  creative["adCreativeId"] = id;
  creative["creationDateTime"] = creative["lastUpdatedDateTime"] = now_text();
  state.amazon.creatives[id] = StoredObject{account, std::move(creative)};
  return id;
}

http::Response create_creatives(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  if (!body || !body->is_object())
    return amazon_error(req, 400, "BAD_REQUEST", "the body must be a JSON object");
  if (!body->contains("adCreatives")) {
    // [R3]: one creative per call, 200 {"adCreativeId"}.
    auto created = create_creative(state, *body, account);
    if (auto* errors = std::get_if<ItemErrors>(&created)) {
      const auto& first = errors->front();
      std::string details;
      for (const auto& e : *errors) details += (details.empty() ? "" : "; ") + e.message;
      return amazon_error(req, 400, first.code == "DUPLICATE_EXTERNAL_ID" ? first.code : "BAD_REQUEST",
                          details);
    }
    return json_response(200,
                         {{"adCreativeId", std::get<std::string>(created)}, {"requestId", req.request_id}});
  }
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, &*body, "adCreatives", kMaxBatch, refusal);
  if (!items) return *refusal;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    auto created = create_creative(state, (*items)[i], account);
    if (auto* errors = std::get_if<ItemErrors>(&created)) {
      result.fail(i, *errors);
    } else {
      result.ok({{"index", i}, {"adCreativeId", std::get<std::string>(created)}});
    }
  }
  return result.response(req);
}

http::Response moderation(State& state, const http::Request& req, const std::string& account) {
  std::string id(req.param("id"));
  auto it = state.amazon.creatives.find(id);
  if (it == state.amazon.creatives.end() || it->second.account != account) {
    return amazon_error(req, 404, "NOT_FOUND", "ad creative " + id + " does not exist");
  }
  auto& creative = it->second;
  const json& tag = creative.body["adCreativeFormatProperties"]["thirdPartyTag"];
  std::string experience =
      tag.value("tagType", "") == "DISPLAY" ? "THIRD_PARTY_DISPLAY" : "THIRD_PARTY_VIDEO";
  std::string status = "PENDING";
  json reasons = json::array();
  if (++creative.moderation_polls > kPendingPolls) {
    if (tag.value("tagSource", "").find(kRejectMarker) != std::string::npos) {
      status = "REJECTED";
      reasons.push_back(
          "Creative contains content that violates the Amazon DSP creative policy (sandbox-reject)");
    } else {
      status = "APPROVED";
    }
  }
  json entry{
      {"adCreativeId", id},
      {"adCreativeModerationStatus", status},
      {"adExperiences",
       json::array({{{"adExperience", experience}, {"moderationStatus", status}, {"reasons", reasons}}})}};
  return json_response(200, {{"totalResults", 1},
                             {"adCreativeStatuses", json::array({std::move(entry)})},
                             {"requestId", req.request_id}});
}

// ---- associations --------------------------------------------------------------------------

http::Response associate(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body);
  std::optional<http::Response> refusal;
  const json* items = batch_items(req, body ? &*body : nullptr, "associations", kMaxAssociations, refusal);
  if (!items) return *refusal;
  auto& amazon = state.amazon;
  BatchResult result;
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    ItemErrors errors;
    if (!item.is_object()) {
      result.fail(i, {{"INVALID_ARGUMENT", "each association must be an object"}});
      continue;
    }
    require_string(item, "adCreativeId", errors);
    require_string(item, "adGroupId", errors);
    json ids{{"adCreativeId", item.value("adCreativeId", json())},
             {"adGroupId", item.value("adGroupId", json())}};
    if (errors.empty()) {
      auto creative = amazon.creatives.find(item["adCreativeId"].get<std::string>());
      auto group = amazon.ad_groups.find(item["adGroupId"].get<std::string>());
      if (creative == amazon.creatives.end() || creative->second.account != account) {
        errors.push_back(
            {"NOT_FOUND", "ad creative " + item["adCreativeId"].get<std::string>() + " does not exist"});
      }
      if (group == amazon.ad_groups.end() || group->second.account != account) {
        errors.push_back(
            {"NOT_FOUND", "ad group " + item["adGroupId"].get<std::string>() + " does not exist"});
      }
    }
    if (item.contains("state") && item["state"] != "ACTIVE" && item["state"] != "INACTIVE") {
      errors.push_back({"INVALID_ARGUMENT", "state must be ACTIVE or INACTIVE"});
    }
    if (!errors.empty()) {
      result.fail(i, errors, ids);
      continue;
    }
    json assoc{{"adCreativeId", item["adCreativeId"]},         {"adGroupId", item["adGroupId"]},
               {"weight", item.value("weight", json(1))},      {"state", item.value("state", json("ACTIVE"))},
               {"startDate", item.value("startDate", json())}, {"endDate", item.value("endDate", json())}};
    amazon.associations[{item["adCreativeId"].get<std::string>(), item["adGroupId"].get<std::string>()}] =
        std::move(assoc);
    json ok{{"index", i}};
    ok.update(ids);
    result.ok(std::move(ok));
  }
  return result.response(req);
}

http::Response list_associations(State& state, const http::Request& req, const std::string& account) {
  auto body = parse_json(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!body || !body->is_object())
    return amazon_error(req, 400, "BAD_REQUEST", "the body must be a JSON object");
  std::string error;
  auto groups = read_filter(*body, "adGroupIdFilter", error);
  auto creatives = read_filter(*body, "adCreativeIdFilter", error);
  auto page = read_page(*body, 100, error);
  if (!error.empty()) return amazon_error(req, 400, "BAD_REQUEST", error);
  std::vector<json> items;
  for (const auto& [key, assoc] : state.amazon.associations) {
    auto g = state.amazon.ad_groups.find(key.second);
    if (g == state.amazon.ad_groups.end() || g->second.account != account) continue;
    if (matches(groups, json(key.second)) && matches(creatives, json(key.first))) items.push_back(assoc);
  }
  return list_page(req, "associations", items, page);
}

}  // namespace

void register_amazon_routes(http::Router& router, State& state) {
  // Every /dsp/v1 handler runs behind the header checks of docs/UPSTREAMS.md section 3.
  auto add = [&](const char* method, const char* path,
                 std::function<http::Response(State&, const http::Request&, const std::string&)> fn) {
    router.add(method, path, {}, [&state, fn = std::move(fn)](http::Request& req) {
      auto caller = check_amazon_headers(state, req);
      if (caller.refusal) return *caller.refusal;
      return fn(state, req, caller.account);
    });
  };
  add("POST", "/dsp/v1/campaigns", create_campaigns);
  add("PATCH", "/dsp/v1/campaigns", patch_campaigns);
  add("POST", "/dsp/v1/campaigns/list", [](State& s, const http::Request& req, const std::string& account) {
    return list_objects(req, s.amazon.campaigns, account, "campaigns",
                        {{"campaignIdFilter", "campaignId"}, {"externalIdFilter", "externalId"}}, 100);
  });
  add("POST", "/dsp/v1/adGroups", create_ad_groups);
  add("PATCH", "/dsp/v1/adGroups", patch_ad_groups);
  add("POST", "/dsp/v1/adGroups/list", [](State& s, const http::Request& req, const std::string& account) {
    return list_objects(req, s.amazon.ad_groups, account, "adGroups",
                        {{"adGroupIdFilter", "adGroupId"},
                         {"campaignIdFilter", "campaignId"},
                         {"externalIdFilter", "externalId"}},
                        100);
  });
  add("POST", "/dsp/v1/adCreatives", create_creatives);
  add("POST", "/dsp/v1/adCreatives/list", [](State& s, const http::Request& req, const std::string& account) {
    return list_objects(req, s.amazon.creatives, account, "adCreatives",
                        {{"adCreativeIdFilter", "adCreativeId"}, {"externalIdFilter", "externalId"}}, 50);
  });
  // The contract's path, and the reference's plural (docs/UPSTREAMS.md section 7).
  add("GET", "/dsp/v1/adCreatives/{id}/moderation", moderation);
  add("GET", "/dsp/v1/adCreatives/{id}/moderations", moderation);
  add("POST", "/dsp/v1/adCreatives/associations/adGroups", associate);
  add("POST", "/dsp/v1/adCreatives/associations/adGroups/list", list_associations);
}

}  // namespace kargo::sandbox
