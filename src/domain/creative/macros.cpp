#include "kargo/domain/creative/macros.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "kargo/core/config.hpp"

namespace kargo::domain {
namespace {

bool is_macro_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] < 'A' || name[0] > 'Z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

// "${NAME}" or "NAME" -> "NAME"; anything else -> "".
std::string bare_name(std::string_view text) {
  if (text.size() > 3 && text.substr(0, 2) == "${" && text.back() == '}')
    text = text.substr(2, text.size() - 3);
  return is_macro_name(text) ? std::string(text) : std::string();
}

}  // namespace

MacroTable MacroTable::defaults() {
  MacroTable t;
  t.entries_ = {{"CACHEBUSTER", "AMAZON_CACHEBUSTER"},
                {"CAMPAIGN_ID", "AMAZON_CAMPAIGN_ID"},
                {"CLICK_URL", "AMAZON_CLICK_URL"},
                {"CREATIVE_ID", "AMAZON_CREATIVE_ID"},
                {"GDPR", "AMAZON_GDPR"},
                {"GDPR_CONSENT", "AMAZON_GDPR_CONSENT"},
                {"IMPRESSION_URL", "AMAZON_IMPRESSION_URL"},
                {"PLACEMENT_ID", "AMAZON_PLACEMENT_ID"},
                {"SITE_ID", "AMAZON_SITE_ID"}};
  return t;
}

MacroTable MacroTable::from_json(const nlohmann::json& table) {
  if (!table.is_object()) throw std::invalid_argument("must be a JSON object of macro names");
  MacroTable t;
  for (const auto& [key, value] : table.items()) {
    std::string from = bare_name(key);
    if (from.empty()) throw std::invalid_argument("'" + key + "' is not a macro name ([A-Z][A-Z0-9_]*)");
    if (!value.is_string() || bare_name(value.get<std::string>()).empty()) {
      throw std::invalid_argument("the value of '" + key + "' must be a macro name ([A-Z][A-Z0-9_]*)");
    }
    t.entries_.emplace_back(from, bare_name(value.get<std::string>()));
  }
  std::sort(t.entries_.begin(), t.entries_.end());
  for (size_t i = 1; i < t.entries_.size(); ++i) {
    if (t.entries_[i].first == t.entries_[i - 1].first) {
      throw std::invalid_argument("'" + t.entries_[i].first + "' is mapped twice");
    }
  }
  return t;
}

MacroTable MacroTable::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("AMAZON_MACROS_FILE", "cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return from_json(nlohmann::json::parse(text.str()));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("AMAZON_MACROS_FILE", "'" + path + "' is not valid JSON: " + e.what());
  } catch (const std::invalid_argument& e) {
    throw ConfigError("AMAZON_MACROS_FILE", "'" + path + "': " + e.what());
  }
}

std::optional<std::string_view> MacroTable::target(std::string_view kargo_name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), kargo_name,
                             [](const auto& entry, std::string_view name) { return entry.first < name; });
  if (it == entries_.end() || it->first != kargo_name) return std::nullopt;
  return it->second;
}

std::string MacroTable::amazon_macro(std::string_view kargo_name, std::string_view fallback) const {
  auto t = target(kargo_name);
  return "${" + std::string(t ? *t : fallback) + "}";
}

bool MacroTable::is_known(std::string_view name) const {
  if (target(name)) return true;
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.second == name; });
}

MacroTable::Applied MacroTable::apply(std::string_view text, bool map) const {
  Applied out;
  out.text.reserve(text.size() + 64);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find("${", pos);
    if (start == std::string_view::npos) break;
    size_t close = text.find('}', start + 2);
    if (close == std::string_view::npos) break;
    std::string_view name = text.substr(start + 2, close - start - 2);
    if (!is_macro_name(name)) {
      out.text.append(text.substr(pos, start + 2 - pos));
      pos = start + 2;
      continue;
    }
    out.text.append(text.substr(pos, start - pos));
    auto mapped = map ? target(name) : std::nullopt;
    if (mapped) {
      out.text.append("${").append(*mapped).append("}");
      ++out.replaced;
    } else {
      out.text.append(text.substr(start, close + 1 - start));
      if (!is_known(name) && std::find(out.unknown.begin(), out.unknown.end(), name) == out.unknown.end()) {
        out.unknown.emplace_back(name);
      }
    }
    pos = close + 1;
  }
  out.text.append(text.substr(std::min(pos, text.size())));
  return out;
}

}  // namespace kargo::domain
