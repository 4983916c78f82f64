#pragma once
// The one field validator: reads typed fields from a JSON object and collects every problem,
// so a 422 reports all bad fields at once (contract section 2).
//
//   Validator v(body);
//   auto name = v.string("name", {.required = true, .min_length = 1, .max_length = 255});
//   auto budget = v.number("budget", {.required = true, .exclusive_min = 0, .max = 1e9});
//   auto role = v.enumeration("role", {"viewer", "editor", "admin"}, {.required = true});
//       // "must be one of: viewer, editor, admin": every enumeration reads the same
//   v.check();  // throws Error::validation(details) if anything was wrong
//
// A JSON null counts as absent. Wrong JSON types are reported on the field ("must be a string").
// Nested objects use a prefix: Validator t(body["targeting"], "targeting.").

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/core/error.hpp"

namespace kargo {

struct StringRule {
  bool required = false;
  size_t min_length = 0;  // in UTF-8 code points
  size_t max_length = std::numeric_limits<size_t>::max();
  // Optional predicate on the whole value, with the message used when it fails.
  std::function<bool(std::string_view)> accept = nullptr;
  const char* accept_message = "has an invalid format";
};

struct NumberRule {
  bool required = false;
  std::optional<double> min;            // value >= min
  std::optional<double> exclusive_min;  // value > exclusive_min
  std::optional<double> max;            // value <= max
};

struct Presence {
  bool required = false;
};

class Validator {
 public:
  // `object` must outlive the validator. A non-object reports one error on the prefix.
  explicit Validator(const nlohmann::json& object, std::string prefix = "");
  // Validator for query strings and other non-JSON input: only add()/check().
  Validator();

  std::optional<std::string> string(std::string_view field, const StringRule& rule = {});
  std::optional<double> number(std::string_view field, const NumberRule& rule = {});
  std::optional<int64_t> integer(std::string_view field, const NumberRule& rule = {});
  std::optional<bool> boolean(std::string_view field, const Presence& rule = {});
  std::optional<std::string> enumeration(std::string_view field,
                                         std::initializer_list<std::string_view> allowed,
                                         const Presence& rule = {});
  // Present and of the right type, else null (and an error if present with the wrong type).
  const nlohmann::json* object(std::string_view field, const Presence& rule = {});
  const nlohmann::json* array(std::string_view field, const Presence& rule = {});
  // The raw value when present (not null), for rules that read several JSON types themselves;
  // "is required" when absent and required.
  const nlohmann::json* value(std::string_view field, const Presence& rule = {});
  // Array of strings; each element checked against `rule` (errors name "field[i]").
  std::optional<std::vector<std::string>> string_array(std::string_view field, const StringRule& rule = {},
                                                       const Presence& presence = {});
  bool has(std::string_view field) const;

  void add(std::string field, std::string message);
  std::string field_name(std::string_view field) const { return prefix_ + std::string(field); }
  bool ok() const { return errors_->empty(); }
  const std::vector<FieldError>& errors() const { return *errors_; }
  // Child validator sharing this one's error list.
  Validator nested(const nlohmann::json& object, std::string_view field) const;
  void check() const;

 private:
  const nlohmann::json* get(std::string_view field, bool required);
  const nlohmann::json* object_;
  std::string prefix_;
  std::shared_ptr<std::vector<FieldError>> errors_;
};

// The words of every rule that allows a fixed list of values, wherever the value comes from (a
// JSON field, a query parameter, a sheet cell): "must be one of: a, b, c".
std::string one_of_message(const std::vector<std::string_view>& allowed);

size_t utf8_length(std::string_view s);
// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);
// The rule for every text the client sends that may reach PostgreSQL (JSON strings and keys,
// multipart file names and text fields, query values): PostgreSQL text cannot hold a NUL
// (SQLSTATE 22P05) and must be valid UTF-8. Returns the message for the field's detail, or
// nullopt when the text is fine.
//   if (auto problem = text_problem(value)) v.add("name", *problem);
std::optional<std::string> text_problem(std::string_view s);

}  // namespace kargo
