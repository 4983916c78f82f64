// Login with Amazon: POST /auth/o2/token, refresh-token grant only (docs/UPSTREAMS.md section 2).
#include <boost/url/params_view.hpp>
#include <map>

#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {
namespace {

http::Response oauth_error(int status, std::string_view error, std::string_view description) {
  return json_response(status, {{"error", error}, {"error_description", description}});
}

// application/x-www-form-urlencoded; '+' is a space. nullopt when malformed.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
  try {
    std::map<std::string, std::string> out;
    for (auto param : boost::urls::params_view(body, boost::urls::encoding_opts(true))) {
      out[param.key] = param.has_value ? param.value : std::string();
    }
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

http::Response token(State& state, const http::Request& req) {
  auto type = req.header("content-type");
  if (!type || http::ascii_lower(*type).rfind("application/x-www-form-urlencoded", 0) != 0) {
    return oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded");
  }
  auto form = parse_form(req.body);
  if (!form) return oauth_error(400, "invalid_request", "the body is not valid form encoding");
  for (const char* name : {"grant_type", "refresh_token", "client_id", "client_secret"}) {
    if (form->count(name) == 0 || form->at(name).empty()) {
      return oauth_error(400, "invalid_request", std::string("missing parameter ") + name);
    }
  }
  if (form->at("grant_type") != "refresh_token") {
    return oauth_error(400, "unsupported_grant_type", "only grant_type=refresh_token is supported");
  }
  if (form->at("client_id") != kClientId || form->at("client_secret") != kClientSecret) {
    return oauth_error(401, "invalid_client", "client authentication failed");
  }
  if (form->at("refresh_token") != kRefreshToken) {
    return oauth_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");
  }
  auto ttl = state.settings.token_ttl;
  auto access = state.tokens.issue(form->at("client_id"), Clock::now(), ttl);
  return json_response(200, {{"access_token", access},
                             {"refresh_token", form->at("refresh_token")},
                             {"token_type", "bearer"},
                             {"expires_in", ttl.count()}});
}

}  // namespace

void register_lwa_routes(http::Router& router, State& state) {
  router.add("POST", "/auth/o2/token", {}, [&state](http::Request& req) { return token(state, req); });
}

}  // namespace kargo::sandbox
