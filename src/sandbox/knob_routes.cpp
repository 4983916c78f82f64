// Test knobs under /_sandbox/ (docs/UPSTREAMS.md section 12). No auth: the sandbox is a test tool.
#include <cstdlib>

#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

http::Response bad_request(const http::Request& req, std::string_view details) {
  return amazon_error(req, 400, "BAD_REQUEST", details);
}

http::Response add_fault(State& state, const http::Request& req) {
  auto body = parse_json(req.body);
  if (!body) return bad_request(req, "the body is not JSON");
  try {
    const auto& fault = state.faults.add(parse_fault(*body));
    return json_response(201, fault.to_json());
  } catch (const std::invalid_argument& e) {
    return bad_request(req, e.what());
  }
}

http::Response requests(State& state, const http::Request& req) {
  int64_t since = 0;
  if (auto s = req.query_param("since")) {
    if (s->empty() || s->find_first_not_of("0123456789") != std::string_view::npos) {
      return bad_request(req, "since must be a sequence number");
    }
    since = std::atoll(std::string(*s).c_str());
  }
  return json_response(200, state.requests.to_json(req.query_param("path_prefix").value_or(""), since));
}

http::Response patch_campaign(State& state, const http::Request& req) {
  auto it = state.amazon.campaigns.find(std::string(req.param("campaignId")));
  if (it == state.amazon.campaigns.end()) return amazon_error(req, 404, "NOT_FOUND", "no such campaign");
  auto body = parse_json(req.body);
  if (!body || !body->is_object()) return bad_request(req, "the body must be a JSON object (a merge patch)");
  it->second.body.merge_patch(*body);
  return json_response(200, it->second.body);
}

}  // namespace

void register_knob_routes(http::Router& router, State& state) {
  router.add("POST", "/_sandbox/faults", {}, [&state](http::Request& req) { return add_fault(state, req); });
  router.add("GET", "/_sandbox/faults", {},
             [&state](http::Request&) { return json_response(200, state.faults.to_json()); });
  router.add("DELETE", "/_sandbox/faults", {}, [&state](http::Request&) {
    state.faults.clear();
    return json_response(200, {{"cleared", true}});
  });
  router.add("GET", "/_sandbox/requests", {}, [&state](http::Request& req) { return requests(state, req); });
  router.add("POST", "/_sandbox/reset", {}, [&state](http::Request&) {
    state.reset();
    return json_response(200, {{"reset", true}});
  });
  router.add("POST", "/_sandbox/tokens/expire", {}, [&state](http::Request&) {
    state.tokens.expire_all(Clock::now());
    return json_response(200, {{"expired", true}});
  });
  router.add("PATCH", "/_sandbox/dsp/campaigns/{campaignId}", {},
             [&state](http::Request& req) { return patch_campaign(state, req); });
}

}  // namespace kargo::sandbox
