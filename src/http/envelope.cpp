#include "kargo/http/envelope.hpp"

#include <nlohmann/json.hpp>

#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"

namespace kargo::http {
namespace {

// The envelope's tail is built as text so that `data` is serialised once.
void append_tail(std::string& out, std::string_view request_id) {
  out += ",\"timestamp\":\"";
  out += format_timestamp(std::chrono::system_clock::now());
  out += "\",\"request_id\":";
  log::append_json_string(out, request_id);
  out += '}';
}

}  // namespace

Response ok(const Request& req, const nlohmann::json& data, int status, std::string_view message) {
  return ok_serialized(req, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), status,
                       message);
}

Response ok_serialized(const Request& req, std::string_view data_json, int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body.reserve(data_json.size() + 128);
  r.body += "{\"success\":true,\"data\":";
  r.body += data_json;
  if (!message.empty()) {
    r.body += ",\"message\":";
    log::append_json_string(r.body, message);
  }
  append_tail(r.body, req.request_id);
  return r;
}

Response error_response(std::string_view request_id, const Error& error) {
  return error_response(request_id, error, nullptr);
}

Response error_response(std::string_view request_id, const Error& error, const nlohmann::json& data) {
  nlohmann::json err = {{"code", error.code().name}, {"message", error.external_message()}};
  if (!error.details().empty()) {
    auto details = nlohmann::json::array();
    for (const auto& d : error.details()) details.push_back({{"field", d.field}, {"message", d.message}});
    err["details"] = std::move(details);
  }
  if (!data.is_null()) err["data"] = data;
  Response r;
  r.status = error.http_status();
  r.error_code = error.code().name;
  r.error_message = error.external_message();
  r.body = "{\"success\":false,\"error\":";
  r.body += err.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  append_tail(r.body, request_id);
  for (const auto& h : error.headers()) r.headers.push_back(h);
  return r;
}

Response replay(const Request& req, const StoredAnswer& stored) {
  Response r;
  r.status = stored.status;
  r.body = stored.body;
  // ordered_json keeps the stored key order, so a replay reads like the first answer.
  auto doc = nlohmann::ordered_json::parse(r.body, nullptr, false);
  if (doc.is_object()) {
    doc["request_id"] = req.request_id;
    doc["timestamp"] = format_timestamp(std::chrono::system_clock::now());
    r.body = doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  r.header("Idempotent-Replayed", "true");
  return r;
}

Response plain_json(const nlohmann::json& doc, int status) {
  Response r;
  r.status = status;
  r.body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

nlohmann::json json_body(const Request& req) {
  auto ct = req.header("content-type");
  if (!ct) throw Error::bad_body("Content-Type must be application/json");
  std::string_view type = *ct;
  if (auto semi = type.find(';'); semi != std::string_view::npos) type = type.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  std::string lower = ascii_lower(type);
  if (lower != "application/json" && !(lower.starts_with("application/") && lower.ends_with("+json"))) {
    throw Error::bad_body("Content-Type must be application/json, got '" + std::string(type) + "'");
  }
  if (req.body.empty()) throw Error::bad_body("request body is empty; a JSON object is required");
  nlohmann::json doc = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw Error::bad_body("request body is not valid JSON");
  if (!doc.is_object()) throw Error::bad_body("request body must be a JSON object");
  return doc;
}

}  // namespace kargo::http
