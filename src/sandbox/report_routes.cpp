// Reporting v3: POST /reporting/reports, GET /reporting/reports/{reportId}, and the pre-signed
// download the COMPLETED report points at (docs/UPSTREAMS.md section 9).
#include <algorithm>
#include <chrono>
#include <map>

#include "kargo/core/digest.hpp"
#include "kargo/core/time.hpp"
#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

constexpr std::string_view kReportContentType = "application/vnd.createasyncreportrequest.v3+json";
constexpr int kMaxRangeDays = 31;
constexpr std::string_view kFailMarker = "sandbox-fail";  // in the report name: the report ends FAILED
const nlohmann::json kByCampaign = nlohmann::json::array({"campaign"});
const nlohmann::json kByCreative = nlohmann::json::array({"campaign", "creative"});

std::string report_id() {
  auto h = random_hex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
         h.substr(20);
}

std::string signature(const State& state, const std::string& id) {
  return hex_encode(hmac_sha256(state.signing_key, id));
}

// The creatives of each campaign as associated now with its ad groups: a report grouped by
// creative is fixed when it is created, as its rows must not change between polls.
std::map<std::string, std::vector<std::string>> creatives_of(const State& state, const std::string& account,
                                                             const std::vector<std::string>& campaign_ids) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& id : campaign_ids) out[id];
  for (const auto& [key, association] : state.amazon.associations) {
    const auto& [creative, ad_group] = key;
    auto group = state.amazon.ad_groups.find(ad_group);
    if (group == state.amazon.ad_groups.end() || group->second.account != account) continue;
    auto campaign = out.find(group->second.body.value("campaignId", ""));
    if (campaign != out.end()) campaign->second.push_back(creative);
  }
  for (auto& [id, creatives] : out) {
    std::sort(creatives.begin(), creatives.end());
    creatives.erase(std::unique(creatives.begin(), creatives.end()), creatives.end());
  }
  return out;
}

struct Parsed {
  ReportSpec spec;
  std::string error;
};

Parsed parse_request(const json& body, const State& state, const std::string& account) {
  Parsed p;
  auto fail = [&](std::string message) {
    p.error = std::move(message);
    return p;
  };
  if (!body.is_object()) return fail("the body must be a JSON object");
  auto start = parse_date(body.value("startDate", ""));
  auto end = parse_date(body.value("endDate", ""));
  if (!start || !end) return fail("startDate and endDate must be dates YYYY-MM-DD");
  auto days = (std::chrono::sys_days(*end) - std::chrono::sys_days(*start)).count() + 1;
  if (days < 1) return fail("startDate must not be after endDate");
  if (days > kMaxRangeDays) {
    return fail("the date range is " + std::to_string(days) + " days; at most " +
                std::to_string(kMaxRangeDays) + " are allowed");
  }
  auto config = body.find("configuration");
  if (config == body.end() || !config->is_object()) return fail("configuration is required");
  if (config->value("adProduct", json()) != "DEMAND_SIDE_PLATFORM") {
    return fail("configuration.adProduct must be DEMAND_SIDE_PLATFORM");
  }
  if (config->value("format", json()) != "GZIP_JSON") return fail("configuration.format must be GZIP_JSON");
  const json unit = config->value("timeUnit", json());
  if (unit != "DAILY" && unit != "SUMMARY") return fail("configuration.timeUnit must be DAILY or SUMMARY");
  const json type = config->value("reportTypeId", json());
  if (!type.is_string() || !known_report_type(type.get<std::string>())) {
    return fail("configuration.reportTypeId must be dspCampaign or dspViewability");
  }
  p.spec.report_type = type.get<std::string>();
  p.spec.start = *start;
  p.spec.end = *end;
  p.spec.daily = unit == "DAILY";
  if (auto group = config->find("groupBy"); group != config->end() && !group->is_null()) {
    if (*group == kByCreative) {
      if (p.spec.report_type != kCampaignReport) {
        return fail("configuration.groupBy " + group->dump() + " is only available for " +
                    std::string(kCampaignReport));
      }
      p.spec.by_creative = true;
    } else if (*group != kByCampaign) {
      return fail("configuration.groupBy " + group->dump() + " is not supported (" + kByCampaign.dump() +
                  " or " + kByCreative.dump() + ")");
    }
  }
  if (auto cols = config->find("columns"); cols != config->end() && !cols->is_null()) {
    if (!cols->is_array()) return fail("configuration.columns must be an array of strings");
    const auto& known = report_columns(p.spec.report_type);
    for (const auto& c : *cols) {
      if (!c.is_string() || std::find(known.begin(), known.end(), c.get<std::string>()) == known.end()) {
        return fail("configuration.columns: " + c.dump() + " is not a column of " + p.spec.report_type);
      }
      if (c.get<std::string>() == kCreativeColumn && !p.spec.by_creative) {
        return fail("configuration.columns: " + c.dump() + " needs configuration.groupBy " +
                    kByCreative.dump());
      }
      p.spec.columns.push_back(c.get<std::string>());
    }
  }
  std::optional<std::vector<std::string>> campaigns;
  if (auto filters = config->find("filters"); filters != config->end() && !filters->is_null()) {
    if (!filters->is_array()) return fail("configuration.filters must be an array");
    for (const auto& f : *filters) {
      if (!f.is_object() || !f.value("field", json()).is_string() || !f.value("values", json()).is_array()) {
        return fail("each filter needs a field and an array of values");
      }
      const auto field = f["field"].get<std::string>();
      if (field == "advertiserId") continue;  // the Amazon-Ads-AccountId header already scopes
      if (field != "campaignId" && field != "orderId") {
        return fail("filter field " + field + " is not supported (advertiserId, campaignId, orderId)");
      }
      campaigns.emplace();
      for (const auto& v : f["values"]) {
        if (!v.is_string()) return fail("filter values must be strings");
        campaigns->push_back(v.get<std::string>());
      }
    }
  }
  if (campaigns) {
    std::sort(campaigns->begin(), campaigns->end());
    campaigns->erase(std::unique(campaigns->begin(), campaigns->end()), campaigns->end());
    p.spec.campaign_ids = std::move(*campaigns);
  } else {
    for (const auto& [id, c] : state.amazon.campaigns) {
      if (c.account == account) p.spec.campaign_ids.push_back(id);
    }
  }
  if (p.spec.by_creative) p.spec.creatives = creatives_of(state, account, p.spec.campaign_ids);
  return p;
}

http::Response create_report(State& state, const http::Request& req) {
  auto caller = check_amazon_headers(state, req);
  if (caller.refusal) return *caller.refusal;
  auto type = req.header("content-type");
  if (!type || http::ascii_lower(*type).rfind(kReportContentType, 0) != 0) {
    return amazon_error(req, 415, "UNSUPPORTED_MEDIA_TYPE",
                        "Content-Type must be " + std::string(kReportContentType));
  }
  auto body = parse_json(req.body);
  if (!body) return amazon_error(req, 400, "BAD_REQUEST", "the body is not JSON");
  auto parsed = parse_request(*body, state, caller.account);
  if (!parsed.error.empty()) return amazon_error(req, 400, "BAD_REQUEST", parsed.error);

  // Object keys are sorted by nlohmann::json, so equal requests dump to equal text.
  std::string fingerprint = caller.account + "\n" + body->dump();
  auto& amazon = state.amazon;
  if (auto dup = amazon.report_by_fingerprint.find(fingerprint); dup != amazon.report_by_fingerprint.end()) {
    std::string details = "The Request is a duplicate of : " + dup->second;
    return json_response(425, {{"code", "TOO_EARLY"},
                               {"details", details},
                               {"detail", details},
                               {"reportId", dup->second},
                               {"requestId", req.request_id}});
  }
  std::string id = report_id();
  std::string now = format_timestamp_millis(std::chrono::system_clock::now());
  json resource{{"reportId", id},
                {"name", body->value("name", json())},
                {"status", "PENDING"},
                {"startDate", (*body)["startDate"]},
                {"endDate", (*body)["endDate"]},
                {"configuration", (*body)["configuration"]},
                {"createdAt", now},
                {"updatedAt", now},
                {"generatedAt", nullptr},
                {"url", nullptr},
                {"urlExpiresAt", nullptr},
                {"fileSize", nullptr},
                {"failureReason", nullptr}};
  std::string failure;
  if (resource["name"].is_string() &&
      resource["name"].get<std::string>().find(kFailMarker) != std::string::npos) {
    failure = "The report could not be generated (sandbox-fail)";
  } else if (state.route_fault && state.route_fault->fail_report) {
    failure = "The report could not be generated (injected fault)";
  }
  amazon.reports[id] = Report{caller.account, fingerprint, resource, std::move(parsed.spec), 0, {}, failure};
  amazon.report_by_fingerprint[fingerprint] = id;
  resource["requestId"] = req.request_id;
  return json_response(200, resource);
}

http::Response get_report(State& state, const http::Request& req) {
  auto caller = check_amazon_headers(state, req);
  if (caller.refusal) return *caller.refusal;
  std::string id(req.param("reportId"));
  auto it = state.amazon.reports.find(id);
  if (it == state.amazon.reports.end() || it->second.account != caller.account) {
    return amazon_error(req, 404, "NOT_FOUND", "report " + id + " does not exist");
  }
  Report& report = it->second;
  json& r = report.resource;
  // Successive polls step PENDING -> PROCESSING -> COMPLETED (or FAILED).
  ++report.polls;
  auto now = std::chrono::system_clock::now();
  if (report.polls >= 2 && r["status"] == "PENDING") {
    r["status"] = "PROCESSING";
    r["updatedAt"] = format_timestamp_millis(now);
  } else if (report.polls >= 3 && r["status"] == "PROCESSING") {
    r["updatedAt"] = r["generatedAt"] = format_timestamp_millis(now);
    if (!report.failure_reason.empty()) {
      r["status"] = "FAILED";
      r["failureReason"] = report.failure_reason;
    } else {
      report.file = gzip_compress(report_json(report.spec));
      r["status"] = "COMPLETED";
      r["fileSize"] = report.file.size();
      r["url"] = sandbox_origin(state, req) + "/_sandbox/downloads/" + id + "?sig=" + signature(state, id);
      r["urlExpiresAt"] = format_timestamp_millis(now + std::chrono::hours(1));
    }
  }
  json body = r;
  body["requestId"] = req.request_id;
  return json_response(200, body);
}

// Pre-signed: no Authorization, only the signature (as an S3 URL would be).
http::Response download(State& state, const http::Request& req) {
  std::string id(req.param("reportId"));
  auto it = state.amazon.reports.find(id);
  if (it == state.amazon.reports.end() || it->second.file.empty()) {
    return json_response(404, {{"code", "NoSuchKey"}, {"details", "no such report file"}});
  }
  auto sig = req.query_param("sig");
  if (!sig || *sig != signature(state, id)) {
    return json_response(403, {{"code", "AccessDenied"}, {"details", "the signature does not match"}});
  }
  http::Response res;
  res.content_type = "application/x-gzip";
  res.body = it->second.file;
  return res;
}

}  // namespace

void register_report_routes(http::Router& router, State& state) {
  router.add("POST", "/reporting/reports", {},
             [&state](http::Request& req) { return create_report(state, req); });
  router.add("GET", "/reporting/reports/{reportId}", {},
             [&state](http::Request& req) { return get_report(state, req); });
  router.add("GET", "/_sandbox/downloads/{reportId}", {},
             [&state](http::Request& req) { return download(state, req); });
}

}  // namespace kargo::sandbox
