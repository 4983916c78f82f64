// Response helpers and the Amazon header checks shared by the sandbox's route files.
#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {

http::Response json_response(int status, const nlohmann::json& body) {
  http::Response res;
  res.status = status;
  res.content_type = "application/json";
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return res;
}

http::Response amazon_error(const http::Request& req, int status, std::string_view code,
                            std::string_view details) {
  return json_response(status, {{"code", code}, {"details", details}, {"requestId", req.request_id}});
}

http::Response kargo_error(int status, std::string_view error, std::string_view message,
                           const nlohmann::json& extra) {
  nlohmann::json body{{"error", error}, {"message", message}};
  for (const auto& [k, v] : extra.items()) body[k] = v;
  return json_response(status, body);
}

std::optional<nlohmann::json> parse_json(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

AmazonCaller check_amazon_headers(State& state, const http::Request& req) {
  auto refuse = [&](std::string_view details) {
    return AmazonCaller{{}, amazon_error(req, 401, "UNAUTHORIZED", details)};
  };
  auto auth = req.header("authorization");
  if (!auth || auth->size() < 8 || http::ascii_lower(auth->substr(0, 7)) != "bearer ") {
    return refuse("Authorization: Bearer <access token> is required");
  }
  std::string client;
  switch (state.tokens.check(auth->substr(7), Clock::now(), &client)) {
    case TokenStore::Check::kUnknown:
      return refuse("the access token is not valid");
    case TokenStore::Check::kExpired:
      return refuse("the access token has expired");
    case TokenStore::Check::kValid:
      break;
  }
  auto client_header = req.header("amazon-advertising-api-clientid");
  if (!client_header || *client_header != client) {
    return refuse("Amazon-Advertising-API-ClientId is missing or does not match the access token");
  }
  auto scope = req.header("amazon-advertising-api-scope");
  if (!scope || scope->empty()) return refuse("Amazon-Advertising-API-Scope (the profile id) is required");
  auto account = req.header("amazon-ads-accountid");
  if (!account || account->empty()) {
    return refuse("Amazon-Ads-AccountId (the DSP advertiser id) is required");
  }
  return AmazonCaller{std::string(*account), std::nullopt};
}

std::string sandbox_origin(const State& state, const http::Request& req) {
  auto host = req.header("host");
  if (host && !host->empty()) return "http://" + std::string(*host);
  return "http://127.0.0.1:" + std::to_string(state.settings.port);
}

}  // namespace kargo::sandbox
