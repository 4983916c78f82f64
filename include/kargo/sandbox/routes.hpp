#pragma once
// The sandbox's route handlers, one file per upstream it emulates (src/sandbox/*_routes.cpp),
// and the response helpers they share. Handlers run with State::mutex held (the dispatcher takes
// it), so they must stay short and never block.
//
//   http::Router router;
//   register_lwa_routes(router, state);
//   register_amazon_routes(router, state);

#include <nlohmann/json.hpp>
#include <string_view>

#include "kargo/http/message.hpp"
#include "kargo/http/router.hpp"
#include "kargo/sandbox/state.hpp"

namespace kargo::sandbox {

void register_lwa_routes(http::Router& router, State& state);     // POST /auth/o2/token
void register_amazon_routes(http::Router& router, State& state);  // /dsp/v1/*
void register_report_routes(http::Router& router, State& state);  // /reporting/*, report downloads
void register_kargo_routes(http::Router& router, State& state);   // /v1/*, /snippet/*
void register_knob_routes(http::Router& router, State& state);    // /_sandbox/*
void register_webhook_sink_routes(http::Router& router, State& state);  // /_sandbox/webhooks/*

// JSON body; invalid UTF-8 in strings is replaced rather than thrown on (bodies are echoed).
http::Response json_response(int status, const nlohmann::json& body);
// Amazon's error shape {"code","details","requestId"} (docs/UPSTREAMS.md section 3).
http::Response amazon_error(const http::Request& req, int status, std::string_view code,
                            std::string_view details);
// Kargo's error shape {"error","message", ...extra}.
http::Response kargo_error(int status, std::string_view error, std::string_view message,
                           const nlohmann::json& extra = nlohmann::json::object());
// The body as a JSON value, or nullopt when it is not JSON.
std::optional<nlohmann::json> parse_json(std::string_view body);
// The advertiser account of an authorised Amazon call, or the 401/415 answer (section 3 checks).
struct AmazonCaller {
  std::string account;
  std::optional<http::Response> refusal;
};
AmazonCaller check_amazon_headers(State& state, const http::Request& req);
// scheme://host[:port] the caller used to reach the sandbox (Host header, else 127.0.0.1:port).
std::string sandbox_origin(const State& state, const http::Request& req);

}  // namespace kargo::sandbox
