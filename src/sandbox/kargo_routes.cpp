// The Kargo API (/v1/campaigns) and Kargo snippets (/snippet/*) (docs/UPSTREAMS.md sections 10-11).
#include <cstdlib>

#include "kargo/core/time.hpp"
#include "kargo/sandbox/routes.hpp"
#include "kargo/sandbox/snippets.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

constexpr size_t kBigSnippetBytes = (1u << 20) + 4096;  // just over the service's 1 MiB snippet limit

bool authorized(const http::Request& req) {
  auto auth = req.header("authorization");
  return auth && auth->size() > 7 && http::ascii_lower(auth->substr(0, 7)) == "bearer " &&
         auth->substr(7).find_first_not_of(' ') != std::string_view::npos;
}

http::Response unauthorized() {
  return kargo_error(401, "unauthorized", "Authorization: Bearer <api key> is required");
}

// A whole number from the query string within [min, max]; `def` when absent; nullopt when bad.
std::optional<int64_t> query_number(const http::Request& req, std::string_view name, int64_t def, int64_t min,
                                    int64_t max) {
  auto v = req.query_param(name);
  if (!v) return def;
  if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  int64_t n = std::atoll(std::string(*v).c_str());
  if (n < min || n > max) return std::nullopt;
  return n;
}

http::Response list_campaigns(State& state, const http::Request& req) {
  if (!authorized(req)) return unauthorized();
  auto page = query_number(req, "page", 1, 1, 1000000);
  auto per_page = query_number(req, "per_page", 20, 1, 100);
  if (!page || !per_page) return kargo_error(400, "bad_request", "page must be >= 1 and per_page 1-100");
  json list = json::array();
  size_t skip = static_cast<size_t>((*page - 1) * *per_page), i = 0;
  for (const auto& [id, c] : state.kargo.campaigns) {
    if (i++ < skip) continue;
    if (list.size() >= static_cast<size_t>(*per_page)) break;
    list.push_back({{"id", c["id"]},
                    {"name", c["name"]},
                    {"status", c["status"]},
                    {"advertiser_id", c["advertiser_id"]},
                    {"start_date", c["start_date"]},
                    {"end_date", c["end_date"]},
                    {"budget", c["budget"]}});
  }
  return json_response(200, {{"campaigns", list},
                             {"total", state.kargo.campaigns.size()},
                             {"page", *page},
                             {"per_page", *per_page}});
}

// Checks the fields present (all required ones too when `create`); fills `fields` with problems.
json validate_kargo_campaign(const json& body, bool create) {
  json fields = json::object();
  auto text = [&](const char* name, size_t max) {
    if (!body.contains(name)) {
      if (create) fields[name] = "is required";
    } else if (!body[name].is_string() || body[name].get_ref<const std::string&>().empty() ||
               body[name].get_ref<const std::string&>().size() > max) {
      fields[name] = "must be a string of 1-" + std::to_string(max) + " characters";
    }
  };
  text("name", 255);
  text("advertiser_id", 64);
  if (!body.contains("budget")) {
    if (create) fields["budget"] = "is required";
  } else if (!body["budget"].is_number() || body["budget"].get<double>() <= 0) {
    fields["budget"] = "must be a number > 0";
  }
  std::optional<std::chrono::year_month_day> start, end;
  for (const char* name : {"start_date", "end_date"}) {
    if (!body.contains(name)) {
      if (create) fields[name] = "is required";
      continue;
    }
    auto d = body[name].is_string() ? parse_date(body[name].get<std::string>()) : std::nullopt;
    if (!d) fields[name] = "must be a date YYYY-MM-DD";
    (std::string_view(name) == "start_date" ? start : end) = d;
  }
  if (start && end && std::chrono::sys_days(*start) >= std::chrono::sys_days(*end)) {
    fields["end_date"] = "must be after start_date";
  }
  if (body.contains("placement_types") && !body["placement_types"].is_array()) {
    fields["placement_types"] = "must be an array of strings";
  }
  if (body.contains("optimization_goal") && !body["optimization_goal"].is_string()) {
    fields["optimization_goal"] = "must be a string";
  }
  if (body.contains("external_id") && !body["external_id"].is_null() &&
      (!body["external_id"].is_string() || body["external_id"].get_ref<const std::string&>().empty())) {
    fields["external_id"] = "must be a non-empty string";
  }
  return fields;
}

// The campaign (other than `self`) that already uses this external_id.
std::optional<std::string> external_owner(const State& state, const json& body, const std::string& self) {
  if (!body.contains("external_id") || !body["external_id"].is_string()) return std::nullopt;
  for (const auto& [id, c] : state.kargo.campaigns) {
    if (id != self && c["external_id"] == body["external_id"]) return id;
  }
  return std::nullopt;
}

std::optional<http::Response> read_body(const http::Request& req, json& body) {
  auto parsed = parse_json(req.body);
  if (!parsed || !parsed->is_object())
    return kargo_error(400, "bad_request", "the body must be a JSON object");
  body = std::move(*parsed);
  return std::nullopt;
}

void store_fields(json& campaign, const json& body) {
  for (const char* f : {"name", "advertiser_id", "budget", "start_date", "end_date", "placement_types",
                        "optimization_goal", "external_id"}) {
    if (body.contains(f)) campaign[f] = body[f];
  }
}

http::Response create_campaign(State& state, const http::Request& req) {
  if (!authorized(req)) return unauthorized();
  json body;
  if (auto bad = read_body(req, body)) return *bad;
  auto fields = validate_kargo_campaign(body, true);
  if (!fields.empty()) return kargo_error(422, "validation_error", "invalid campaign", {{"fields", fields}});
  if (auto owner = external_owner(state, body, "")) {
    return kargo_error(409, "conflict", "external_id already used", {{"id", *owner}});
  }
  std::string id = std::to_string(state.kargo.next_id++);
  json campaign{{"id", id},
                {"status", "draft"},
                {"placement_types", json::array()},
                {"optimization_goal", nullptr},
                {"external_id", nullptr}};
  store_fields(campaign, body);
  state.kargo.campaigns[id] = std::move(campaign);
  return json_response(201, {{"id", id}});
}

http::Response update_campaign(State& state, const http::Request& req) {
  if (!authorized(req)) return unauthorized();
  std::string id(req.param("id"));
  auto it = state.kargo.campaigns.find(id);
  if (it == state.kargo.campaigns.end())
    return kargo_error(404, "not_found", "campaign " + id + " does not exist");
  json body;
  if (auto bad = read_body(req, body)) return *bad;
  auto fields = validate_kargo_campaign(body, false);
  // The dates that will hold after the update must still be in order.
  json merged = it->second;
  store_fields(merged, body);
  auto start = parse_date(merged.value("start_date", "")), end = parse_date(merged.value("end_date", ""));
  if (fields.empty() && start && end && std::chrono::sys_days(*start) >= std::chrono::sys_days(*end)) {
    fields["end_date"] = "must be after start_date";
  }
  if (!fields.empty()) return kargo_error(422, "validation_error", "invalid campaign", {{"fields", fields}});
  if (auto owner = external_owner(state, body, id)) {
    return kargo_error(409, "conflict", "external_id already used", {{"id", *owner}});
  }
  it->second = std::move(merged);
  return json_response(200, {{"id", id}});
}

http::Response snippet(const http::Request& req) {
  auto s = find_snippet(req.param("id"));
  if (!s) return kargo_error(404, "not_found", "no snippet " + std::string(req.param("id")));
  http::Response res;
  res.content_type = std::string(s->content_type);
  res.body = std::string(s->content);
  return res;
}

http::Response redirect(const http::Request& req) {
  auto to = req.query_param("to");
  if (!to || to->empty()) return kargo_error(400, "bad_request", "the query parameter to is required");
  http::Response res;
  res.status = 302;
  res.content_type = "text/plain; charset=utf-8";
  res.body = "redirecting to " + std::string(*to);
  res.header("Location", std::string(*to));
  return res;
}

http::Response big_snippet() {
  static const std::string kBody = [] {
    std::string body = "<div class=\"kargo-runway\" data-format=\"runway\" data-size=\"320x50\">\n<!-- ";
    body.append(kBigSnippetBytes - body.size() - 11, 'x');
    body += " -->\n</div>";
    return body;
  }();
  http::Response res;
  res.content_type = "text/html; charset=utf-8";
  res.body = kBody;
  return res;
}

}  // namespace

void register_kargo_routes(http::Router& router, State& state) {
  router.add("GET", "/v1/campaigns", {}, [&state](http::Request& req) { return list_campaigns(state, req); });
  router.add("POST", "/v1/campaigns", {},
             [&state](http::Request& req) { return create_campaign(state, req); });
  router.add("PUT", "/v1/campaigns/{id}", {},
             [&state](http::Request& req) { return update_campaign(state, req); });
  router.add("GET", "/snippet/dm/{id}", {}, [](http::Request& req) { return snippet(req); });
  router.add("GET", "/snippet/redirect", {}, [](http::Request& req) { return redirect(req); });
  router.add("GET", "/snippet/big", {}, [](http::Request&) { return big_snippet(); });
}

}  // namespace kargo::sandbox
