#include "kargo/http/envelope.hpp"

#include <nlohmann/json.hpp>

#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"

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

std::vector<FieldError> json_text_problems(const nlohmann::json& doc) {
  std::vector<FieldError> problems;
  if (doc.is_string()) {
    if (auto p = text_problem(doc.get_ref<const std::string&>())) problems.push_back({"body", *p});
    return problems;
  }
  // Depth-first with an explicit stack: a body may nest hundreds of thousands of levels deep.
  // `path` is the path of the member being visited; each frame remembers its own path's length.
  struct Frame {
    const nlohmann::json* node;
    nlohmann::json::const_iterator next;
    size_t index;
    size_t path_size;
  };
  std::vector<Frame> stack;
  std::string path;
  if (doc.is_structured()) stack.push_back({&doc, doc.cbegin(), 0, 0});
  while (!stack.empty()) {
    Frame& frame = stack.back();
    if (frame.next == frame.node->cend()) {
      stack.pop_back();
      continue;
    }
    path.resize(frame.path_size);
    if (frame.node->is_object()) {
      const std::string& key = frame.next.key();
      if (!path.empty()) path += '.';
      path += key;
      if (auto p = text_problem(key)) problems.push_back({path, "key " + *p});
    } else {
      path += '[';
      path += std::to_string(frame.index);
      path += ']';
    }
    const nlohmann::json& child = *frame.next;
    ++frame.next;
    ++frame.index;
    // `frame` is not used past this point: the push below may move it.
    if (child.is_string()) {
      if (auto p = text_problem(child.get_ref<const std::string&>())) problems.push_back({path, *p});
    } else if (child.is_structured()) {
      stack.push_back({&child, child.cbegin(), 0, path.size()});
    }
  }
  return problems;
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
  // Decided here, before any handler or SQL runs: PostgreSQL cannot store a NUL (invalid UTF-8
  // never gets this far: the parser refuses it).
  if (auto problems = json_text_problems(doc); !problems.empty())
    throw Error::validation(std::move(problems));
  return doc;
}

}  // namespace kargo::http
