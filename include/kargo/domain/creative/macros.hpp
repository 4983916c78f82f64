#pragma once
// The table that maps Kargo macros (`${CLICK_URL}`) to Amazon DSP macros (`${AMAZON_CLICK_URL}`),
// contract section 4 rule 3. The contract's table is the default; AMAZON_MACROS_FILE replaces it
// with a JSON object {"CLICK_URL": "AMAZON_CLICK_URL", ...} (names with or without `${}`).
//
//   auto table = cfg.amazon_macros_file ? MacroTable::load_file(*cfg.amazon_macros_file)
//                                       : MacroTable::defaults();
//   auto mapped = table.apply("?c=${CLICK_URL}&x=${FOO}", true);
//   // mapped.text == "?c=${AMAZON_CLICK_URL}&x=${FOO}", mapped.unknown == {"FOO"}
//
// A macro is `${` + an upper-case name ([A-Z][A-Z0-9_]*) + `}`; anything else (JavaScript
// template literals such as `${width}`) is left alone and never warned about.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kargo::domain {

class MacroTable {
 public:
  // The contract's nine mappings.
  static MacroTable defaults();
  // Throws std::invalid_argument naming the bad entry.
  static MacroTable from_json(const nlohmann::json& table);
  // Reads and parses a JSON file; throws kargo::ConfigError("AMAZON_MACROS_FILE", reason).
  static MacroTable load_file(const std::string& path);

  // The Amazon name for a Kargo name, if the table maps it.
  std::optional<std::string_view> target(std::string_view kargo_name) const;
  // "${<target>}" for a Kargo name, or "${<fallback>}" when the table has no entry for it.
  std::string amazon_macro(std::string_view kargo_name, std::string_view fallback) const;
  // A name the table maps from or to.
  bool is_known(std::string_view name) const;

  struct Applied {
    std::string text;
    size_t replaced = 0;
    std::vector<std::string> unknown;  // names of unknown macros, in order of first appearance
  };
  // Replaces every mapped macro when `map` is true; reports unknown macros either way.
  Applied apply(std::string_view text, bool map) const;

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;  // sorted by Kargo name
};

}  // namespace kargo::domain
