#pragma once
// Reading an upstream's JSON answer without trusting it (private to src/upstream/). Every
// surprise (not JSON, a field missing or of the wrong type, an id that is not a string) becomes one
// clear 502 EXTERNAL_API_ERROR naming the service, the call and the field, never an exception from
// nlohmann or a crash:
//
//   JsonAnswer in("amazon_dsp", "POST /dsp/v1/campaigns/list");
//   auto doc = in.parse(response);                       // 502 "...: the body is not JSON"
//   for (const auto& c : in.array(doc, "campaigns")) {    // 502 "...: campaigns missing or not an array"
//     auto id = in.string(c, "campaignId");
//     auto name = in.optional_string(c, "name");         // absent or null: nullopt; a number: 502
//   }
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/core/error.hpp"
#include "kargo/upstream/http_client.hpp"

namespace kargo::upstream::detail {

class JsonAnswer {
 public:
  JsonAnswer(std::string_view service, std::string what) : service_(service), what_(std::move(what)) {}

  // The body as JSON (any JSON value).
  nlohmann::json parse(const HttpResponse& response) const;
  // The body as a JSON object, or nullopt when it is not JSON or not an object (error bodies,
  // which are read best-effort).
  static std::optional<nlohmann::json> try_object(std::string_view body);

  // "field X missing or not a Y": the one check behind every getter below. `obj` must be an
  // object (checked too).
  const nlohmann::json& field(const nlohmann::json& obj, std::string_view key, nlohmann::json::value_t type,
                              const char* type_name) const;
  const nlohmann::json& object(const nlohmann::json& obj, std::string_view key) const;
  const nlohmann::json& array(const nlohmann::json& obj, std::string_view key) const;
  std::string string(const nlohmann::json& obj, std::string_view key) const;
  int64_t integer(const nlohmann::json& obj, std::string_view key) const;
  double number(const nlohmann::json& obj, std::string_view key) const;
  // Absent or null: nullopt; present with another type: 502.
  std::optional<std::string> optional_string(const nlohmann::json& obj, std::string_view key) const;
  std::optional<double> optional_number(const nlohmann::json& obj, std::string_view key) const;
  std::optional<int64_t> optional_integer(const nlohmann::json& obj, std::string_view key) const;
  // An id sent as a string or as a whole number (Kargo), returned as text.
  std::string id(const nlohmann::json& obj, std::string_view key) const;
  // Array elements must be objects.
  const nlohmann::json& element(const nlohmann::json& array, std::size_t index,
                                std::string_view array_name) const;

  // 502 EXTERNAL_API_ERROR "<service>: unexpected answer to <what>: <problem>".
  [[noreturn]] void malformed(std::string_view problem, std::string_view body = {}) const;
  Error error(std::string_view problem, std::string_view body = {}) const;

  const std::string& what() const { return what_; }

 private:
  std::string service_;
  std::string what_;
};

// Printable start of an upstream body for internal messages (the log), at most `max` bytes.
std::string excerpt(std::string_view body, std::size_t max = 300);

// 502 EXTERNAL_API_ERROR for an answer status a call has no rule for: "<service> refused <what>:
// HTTP <status><said>", where `said` is the upstream's own words as the caller read them from its
// error shape (with their leading separator); the body's excerpt goes to the internal message only.
[[noreturn]] void refused(std::string_view service, const HttpResponse& res, std::string_view what,
                          std::string_view said);

}  // namespace kargo::upstream::detail
