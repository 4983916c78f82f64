#include "json_answer.hpp"

#include "kargo/core/error_codes.hpp"

namespace kargo::upstream::detail {

using nlohmann::json;

std::string excerpt(std::string_view body, std::size_t max) {
  std::string out;
  for (char c : body.substr(0, max)) out += (c >= 32 && c < 127) ? c : ' ';
  if (body.size() > max) out += "...";
  return out;
}

void refused(std::string_view service, const HttpResponse& res, std::string_view what, std::string_view said) {
  std::string external =
      std::string(service) + " refused " + std::string(what) + ": HTTP " + std::to_string(res.status) + std::string(said);
  throw Error(codes::kExternalApi, external, external + " (body: " + excerpt(res.body) + ")");
}

Error JsonAnswer::error(std::string_view problem, std::string_view body) const {
  std::string external = service_ + ": unexpected answer to " + what_ + ": " + std::string(problem);
  std::string internal = external;
  if (!body.empty()) internal += " (body: " + excerpt(body) + ")";
  return Error(codes::kExternalApi, std::move(external), std::move(internal));
}

void JsonAnswer::malformed(std::string_view problem, std::string_view body) const {
  throw error(problem, body);
}

json JsonAnswer::parse(const HttpResponse& response) const {
  auto doc = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) malformed("the body is not JSON", response.body);
  return doc;
}

std::optional<json> JsonAnswer::try_object(std::string_view body) {
  auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

const json& JsonAnswer::field(const json& obj, std::string_view key, json::value_t type,
                              const char* type_name) const {
  if (!obj.is_object()) malformed("expected an object around " + std::string(key));
  auto it = obj.find(key);
  bool ok = it != obj.end();
  if (ok) {
    switch (type) {
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
        ok = it->is_number_integer();
        break;
      case json::value_t::number_float:
        ok = it->is_number();
        break;
      default:
        ok = it->type() == type;
    }
  }
  if (!ok) malformed(std::string(key) + " missing or not " + type_name);
  return *it;
}

const json& JsonAnswer::object(const json& obj, std::string_view key) const {
  return field(obj, key, json::value_t::object, "an object");
}

const json& JsonAnswer::array(const json& obj, std::string_view key) const {
  return field(obj, key, json::value_t::array, "an array");
}

std::string JsonAnswer::string(const json& obj, std::string_view key) const {
  return field(obj, key, json::value_t::string, "a string").get<std::string>();
}

int64_t JsonAnswer::integer(const json& obj, std::string_view key) const {
  const auto& v = field(obj, key, json::value_t::number_integer, "a whole number");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    malformed(std::string(key) + " is out of range");
  }
  return v.get<int64_t>();
}

double JsonAnswer::number(const json& obj, std::string_view key) const {
  return field(obj, key, json::value_t::number_float, "a number").get<double>();
}

std::optional<std::string> JsonAnswer::optional_string(const json& obj, std::string_view key) const {
  if (!obj.is_object()) malformed("expected an object around " + std::string(key));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  return string(obj, key);
}

std::optional<double> JsonAnswer::optional_number(const json& obj, std::string_view key) const {
  if (!obj.is_object()) malformed("expected an object around " + std::string(key));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  return number(obj, key);
}

std::optional<int64_t> JsonAnswer::optional_integer(const json& obj, std::string_view key) const {
  if (!obj.is_object()) malformed("expected an object around " + std::string(key));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  return integer(obj, key);
}

std::string JsonAnswer::id(const json& obj, std::string_view key) const {
  if (!obj.is_object()) malformed("expected an object around " + std::string(key));
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number_integer()) return it->dump();
  auto text = string(obj, key);
  if (text.empty()) malformed(std::string(key) + " is empty");
  return text;
}

const json& JsonAnswer::element(const json& array, std::size_t index, std::string_view array_name) const {
  const auto& e = array.at(index);
  if (!e.is_object()) malformed(std::string(array_name) + "[" + std::to_string(index) + "] is not an object");
  return e;
}

}  // namespace kargo::upstream::detail
