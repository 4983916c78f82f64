#include "kargo/core/validator.hpp"

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

namespace kargo {
namespace {

const char* type_name(const nlohmann::json& j) {
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  return "null";
}

std::string format_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

}  // namespace

std::string one_of_message(const std::vector<std::string_view>& allowed) {
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return "must be one of: " + list;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

std::optional<std::string> text_problem(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return "must not contain NUL characters";
  if (!valid_utf8(s)) return "must be UTF-8 text";
  return std::nullopt;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

Validator::Validator(const nlohmann::json& object, std::string prefix)
    : object_(&object), prefix_(std::move(prefix)), errors_(std::make_shared<std::vector<FieldError>>()) {
  if (!object.is_object()) {
    std::string name = prefix_.empty() ? "body" : prefix_.substr(0, prefix_.size() - 1);
    add(name, std::string("must be an object, got ") + type_name(object));
    object_ = nullptr;
  }
}

Validator::Validator() : object_(nullptr), errors_(std::make_shared<std::vector<FieldError>>()) {}

Validator Validator::nested(const nlohmann::json& object, std::string_view field) const {
  Validator child;
  child.errors_ = errors_;
  child.prefix_ = prefix_ + std::string(field) + ".";
  if (object.is_object()) {
    child.object_ = &object;
  } else {
    child.add(prefix_ + std::string(field), std::string("must be an object, got ") + type_name(object));
  }
  return child;
}

void Validator::add(std::string field, std::string message) {
  errors_->push_back({std::move(field), std::move(message)});
}

bool Validator::has(std::string_view field) const {
  if (!object_) return false;
  auto it = object_->find(field);
  return it != object_->end() && !it->is_null();
}

const nlohmann::json* Validator::get(std::string_view field, bool required) {
  if (!object_) return nullptr;
  auto it = object_->find(field);
  if (it == object_->end() || it->is_null()) {
    if (required) add(field_name(field), "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> Validator::string(std::string_view field, const StringRule& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    add(field_name(field), std::string("must be a string, got ") + type_name(*v));
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  size_t len = utf8_length(s);
  if (len < rule.min_length) {
    add(field_name(field), rule.min_length == 1
                               ? "must not be empty"
                               : "must be at least " + std::to_string(rule.min_length) + " characters");
    return std::nullopt;
  }
  if (len > rule.max_length) {
    add(field_name(field), "must be at most " + std::to_string(rule.max_length) + " characters");
    return std::nullopt;
  }
  if (rule.accept && !rule.accept(s)) {
    add(field_name(field), rule.accept_message);
    return std::nullopt;
  }
  return s;
}

std::optional<double> Validator::number(std::string_view field, const NumberRule& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return std::nullopt;
  if (!v->is_number()) {
    add(field_name(field), std::string("must be a number, got ") + type_name(*v));
    return std::nullopt;
  }
  double d = v->get<double>();
  if (!std::isfinite(d)) {
    add(field_name(field), "must be a finite number");
    return std::nullopt;
  }
  if (rule.exclusive_min && !(d > *rule.exclusive_min)) {
    add(field_name(field), "must be > " + format_number(*rule.exclusive_min));
    return std::nullopt;
  }
  if (rule.min && d < *rule.min) {
    add(field_name(field), "must be >= " + format_number(*rule.min));
    return std::nullopt;
  }
  if (rule.max && d > *rule.max) {
    add(field_name(field), "must be <= " + format_number(*rule.max));
    return std::nullopt;
  }
  return d;
}

std::optional<int64_t> Validator::integer(std::string_view field, const NumberRule& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return std::nullopt;
  bool integral = v->is_number_integer() ||
                  (v->is_number_float() && std::isfinite(v->get<double>()) &&
                   v->get<double>() == std::floor(v->get<double>()) && std::fabs(v->get<double>()) < 9e15);
  if (!integral) {
    add(field_name(field), v->is_number() ? "must be a whole number"
                                          : std::string("must be a whole number, got ") + type_name(*v));
    return std::nullopt;
  }
  auto n = v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    add(field_name(field), "is too large");
    return std::nullopt;
  }
  auto d = static_cast<double>(n);
  if ((rule.exclusive_min && !(d > *rule.exclusive_min)) || (rule.min && d < *rule.min) ||
      (rule.max && d > *rule.max)) {
    std::string range;
    if (rule.min) range = ">= " + format_number(*rule.min);
    if (rule.exclusive_min) range = "> " + format_number(*rule.exclusive_min);
    if (rule.max) range += (range.empty() ? "<= " : " and <= ") + format_number(*rule.max);
    add(field_name(field), "must be " + range);
    return std::nullopt;
  }
  return n;
}

std::optional<bool> Validator::boolean(std::string_view field, const Presence& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    add(field_name(field), std::string("must be a boolean, got ") + type_name(*v));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::string> Validator::enumeration(std::string_view field,
                                                  std::initializer_list<std::string_view> allowed,
                                                  const Presence& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return std::nullopt;
  // One wording whatever the wrong value is (a sheet cell is always text, a JSON value may not be).
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    for (auto a : allowed) {
      if (a == s) return s;
    }
  }
  add(field_name(field), one_of_message(allowed));
  return std::nullopt;
}

const nlohmann::json* Validator::object(std::string_view field, const Presence& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return nullptr;
  if (!v->is_object()) {
    add(field_name(field), std::string("must be an object, got ") + type_name(*v));
    return nullptr;
  }
  return v;
}

const nlohmann::json* Validator::value(std::string_view field, const Presence& rule) {
  return get(field, rule.required);
}

const nlohmann::json* Validator::array(std::string_view field, const Presence& rule) {
  const auto* v = get(field, rule.required);
  if (!v) return nullptr;
  if (!v->is_array()) {
    add(field_name(field), std::string("must be an array, got ") + type_name(*v));
    return nullptr;
  }
  return v;
}

std::optional<std::vector<std::string>> Validator::string_array(std::string_view field,
                                                                const StringRule& rule,
                                                                const Presence& presence) {
  const auto* arr = array(field, presence);
  if (!arr) return std::nullopt;
  std::vector<std::string> out;
  bool good = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const auto& item = (*arr)[i];
    std::string name = field_name(field) + "[" + std::to_string(i) + "]";
    if (!item.is_string()) {
      add(name, std::string("must be a string, got ") + type_name(item));
      good = false;
      continue;
    }
    const auto& s = item.get_ref<const std::string&>();
    size_t len = utf8_length(s);
    if (len < rule.min_length || len > rule.max_length || (rule.accept && !rule.accept(s))) {
      add(name, len < rule.min_length   ? "must not be empty"
                : len > rule.max_length ? "must be at most " + std::to_string(rule.max_length) + " characters"
                                        : rule.accept_message);
      good = false;
      continue;
    }
    out.push_back(s);
  }
  if (!good) return std::nullopt;
  return out;
}

void Validator::check() const {
  if (!errors_->empty()) throw Error::validation(*errors_);
}

}  // namespace kargo
