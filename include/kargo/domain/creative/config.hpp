#pragma once
// What a creative is to be turned into: the `creative_config` of contract section 4, read and
// checked once, then handed to transform() (domain/creative/transform.hpp).
//
//   auto config = kargo::domain::parse_creative_config(body["creative_config"],
//                                                      {.prefix = "creative_config.",
//                                                       .snippet_hosts = &cfg.kargo_snippet_hosts});
//   // throws Error::validation with one detail per bad field, all at once
//
// The viewability rules are those of campaigns (contract section 3), so read_viewability_config()
// is usable on its own by the campaign rules.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/core/validator.hpp"

namespace kargo::domain {

enum class CreativeFormat { kRunway, kInstreamVideo, kEnhancedPreroll, kAudio };
enum class MediaType { kDisplay, kVideo, kAudio };
enum class ViewabilityPhase { kPhase1, kPhase2 };

std::string_view format_name(CreativeFormat format);  // "runway", "instream_video", ...
std::optional<CreativeFormat> parse_format(std::string_view name);
MediaType media_type_of(CreativeFormat format);
std::string_view media_type_name(MediaType type);     // "display" | "video" | "audio"
std::string_view phase_name(ViewabilityPhase phase);  // "phase_1" | "phase_2"

struct Dimensions {
  int width = 0;
  int height = 0;
  std::string text() const;  // "320x50"
  bool operator==(const Dimensions&) const = default;
};
// "WxH" with 1 <= W, H <= 4096, digits only; nullopt otherwise.
std::optional<Dimensions> parse_dimensions(std::string_view text);

inline constexpr std::string_view kVendorIas = "ias";
inline constexpr std::string_view kVendorDoubleVerify = "double_verify";

struct ViewabilityConfig {
  ViewabilityPhase phase = ViewabilityPhase::kPhase1;
  std::vector<std::string> vendors{std::string(kVendorDoubleVerify)};
  std::string method = "platform_native";  // phase_2: "s2s_plus_native"
  std::optional<std::string> dsp_seat_id;
  std::optional<std::string> pub_id;
  bool ias_s2s_enabled = false;

  bool has_vendor(std::string_view vendor) const;
  // {"phase","vendors","method","dsp_seat_id","pub_id","ias_s2s_enabled"} as in the resource.
  nlohmann::json to_json() const;
};

// Reads `field` of the validator's object as a viewability_config, deriving vendors, method and
// ias_s2s_enabled from the phase when absent. Errors go to `v` under "<field>.<name>";
// nullopt when anything was wrong (or the field is absent and not required).
std::optional<ViewabilityConfig> read_viewability_config(Validator& v, std::string_view field,
                                                         const Presence& presence = {.required = true});

struct CreativeConfig {
  std::string name;
  CreativeFormat format = CreativeFormat::kRunway;
  std::optional<Dimensions> dimensions;  // always set except, optionally, for audio
  std::string device_type = "mobile";
  std::optional<std::string> snippet_url;
  std::optional<double> duration;  // seconds; always set for video and audio
  // As the caller gave it; nullopt means "the snippet's own version" (the output always keeps the
  // source's version, so only an explicit, different value is worth a warning).
  std::optional<std::string> vast_version;
  bool branded_canvas = false;
  bool cache_buster = true;
  bool amazon_macros = true;
  bool click_tracking = true;
  ViewabilityConfig viewability;

  MediaType media_type() const { return media_type_of(format); }
};

struct CreativeConfigRules {
  // Prepended to every field name in the errors ("creative_config." for the process route).
  std::string prefix;
  // When set, `snippet_url` is required and must point at one of these `host[:port]` entries
  // (KARGO_SNIPPET_HOSTS). When null, snippet_url is optional and only has to be a string.
  const std::vector<std::string>* snippet_hosts = nullptr;
};

// Checks every rule of contract section 4 and returns the config with defaults applied.
// Throws kargo::Error (422 VALIDATION_ERROR) listing every bad field.
CreativeConfig parse_creative_config(const nlohmann::json& config, const CreativeConfigRules& rules = {});
// Same checks, errors collected into `v` instead of thrown (for callers validating more fields).
std::optional<CreativeConfig> read_creative_config(Validator& v, const CreativeConfigRules& rules = {});

// Why `url` may not be fetched as a snippet, or nullopt when it may: it must be an absolute
// http(s) URL without user info whose host (and port, when the entry names one) is in
// `allowed_hosts` (entries `host` or `host:port`, compared case-insensitively; an entry without
// port matches the scheme's default port only). Pure: no DNS, no I/O.
std::optional<std::string> snippet_url_problem(std::string_view url,
                                               const std::vector<std::string>& allowed_hosts);

}  // namespace kargo::domain
