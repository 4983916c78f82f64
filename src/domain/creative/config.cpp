#include "kargo/domain/creative/config.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

namespace kargo::domain {
namespace {

constexpr int kMaxDimension = 4096;
constexpr double kMinDuration = 1;
constexpr double kMaxDuration = 600;
constexpr const char* kDimensionsMessage = "must be WxH with 1 <= W, H <= 4096";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> parse_positive(std::string_view digits) {
  if (digits.empty() || digits.size() > 4 || digits[0] == '0') return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (value < 1 || value > kMaxDimension) return std::nullopt;
  return value;
}

}  // namespace

std::string_view format_name(CreativeFormat format) {
  switch (format) {
    case CreativeFormat::kRunway:
      return "runway";
    case CreativeFormat::kInstreamVideo:
      return "instream_video";
    case CreativeFormat::kEnhancedPreroll:
      return "enhanced_preroll";
    case CreativeFormat::kAudio:
      return "audio";
  }
  return "runway";
}

std::optional<CreativeFormat> parse_format(std::string_view name) {
  for (auto f : {CreativeFormat::kRunway, CreativeFormat::kInstreamVideo, CreativeFormat::kEnhancedPreroll,
                 CreativeFormat::kAudio}) {
    if (format_name(f) == name) return f;
  }
  return std::nullopt;
}

MediaType media_type_of(CreativeFormat format) {
  switch (format) {
    case CreativeFormat::kRunway:
      return MediaType::kDisplay;
    case CreativeFormat::kInstreamVideo:
    case CreativeFormat::kEnhancedPreroll:
      return MediaType::kVideo;
    case CreativeFormat::kAudio:
      return MediaType::kAudio;
  }
  return MediaType::kDisplay;
}

std::string_view media_type_name(MediaType type) {
  switch (type) {
    case MediaType::kDisplay:
      return "display";
    case MediaType::kVideo:
      return "video";
    case MediaType::kAudio:
      return "audio";
  }
  return "display";
}

std::string_view phase_name(ViewabilityPhase phase) {
  return phase == ViewabilityPhase::kPhase2 ? "phase_2" : "phase_1";
}

std::string Dimensions::text() const { return std::to_string(width) + "x" + std::to_string(height); }

std::optional<Dimensions> parse_dimensions(std::string_view text) {
  auto x = text.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  auto w = parse_positive(text.substr(0, x));
  auto h = parse_positive(text.substr(x + 1));
  if (!w || !h) return std::nullopt;
  return Dimensions{*w, *h};
}

bool ViewabilityConfig::has_vendor(std::string_view vendor) const {
  return std::find(vendors.begin(), vendors.end(), vendor) != vendors.end();
}

nlohmann::json ViewabilityConfig::to_json() const {
  nlohmann::json j = {{"phase", phase_name(phase)}, {"vendors", vendors},
                      {"method", method},           {"dsp_seat_id", nullptr},
                      {"pub_id", nullptr},          {"ias_s2s_enabled", ias_s2s_enabled}};
  if (dsp_seat_id) j["dsp_seat_id"] = *dsp_seat_id;
  if (pub_id) j["pub_id"] = *pub_id;
  return j;
}

std::optional<ViewabilityConfig> read_viewability_config(Validator& parent, std::string_view field,
                                                         const Presence& presence) {
  const auto* object = parent.object(field, presence);
  if (!object) return std::nullopt;
  size_t errors_before = parent.errors().size();
  Validator v = parent.nested(*object, field);

  ViewabilityConfig out;
  auto phase = v.enumeration("phase", {"phase_1", "phase_2"}, {.required = true});
  auto vendors = v.string_array(
      "vendors", {.accept = [](std::string_view s) { return s == kVendorIas || s == kVendorDoubleVerify; },
                  .accept_message = "must be one of: ias, double_verify"});
  auto method = v.enumeration("method", {"platform_native", "s2s_plus_native"});
  const StringRule id_rule{.min_length = 1, .max_length = 128};
  auto seat = v.string("dsp_seat_id", id_rule);
  auto pub = v.string("pub_id", id_rule);
  auto s2s = v.boolean("ias_s2s_enabled");
  if (!phase) return std::nullopt;

  bool phase_2 = *phase == "phase_2";
  out.phase = phase_2 ? ViewabilityPhase::kPhase2 : ViewabilityPhase::kPhase1;
  out.vendors = phase_2 ? std::vector<std::string>{std::string(kVendorIas), std::string(kVendorDoubleVerify)}
                        : std::vector<std::string>{std::string(kVendorDoubleVerify)};
  out.method = phase_2 ? "s2s_plus_native" : "platform_native";
  out.ias_s2s_enabled = phase_2;

  if (vendors) {
    auto has = [&](std::string_view name) {
      return std::find(vendors->begin(), vendors->end(), name) != vendors->end();
    };
    if (!phase_2 && has(kVendorIas)) {
      v.add(v.field_name("vendors"), "phase_1 must not include ias (IAS is removed in phase_1)");
    } else if (!phase_2 && (vendors->size() != 1 || !has(kVendorDoubleVerify))) {
      v.add(v.field_name("vendors"), "must be exactly [\"double_verify\"] in phase_1");
    } else if (phase_2 && (vendors->size() != 2 || !has(kVendorIas) || !has(kVendorDoubleVerify))) {
      v.add(v.field_name("vendors"), "must be [\"ias\", \"double_verify\"] in phase_2");
    }
  }
  if (method && *method != out.method) {
    v.add(v.field_name("method"), "must be " + out.method + " in " + *phase);
  }
  if (s2s && *s2s != phase_2) {
    v.add(v.field_name("ias_s2s_enabled"), phase_2 ? "must be true in phase_2" : "must be false in phase_1");
  }
  if (phase_2) {
    if (!v.has("dsp_seat_id")) v.add(v.field_name("dsp_seat_id"), "is required in phase_2");
    if (!v.has("pub_id")) v.add(v.field_name("pub_id"), "is required in phase_2");
  }
  out.dsp_seat_id = seat;
  out.pub_id = pub;
  if (parent.errors().size() != errors_before) return std::nullopt;
  return out;
}

std::optional<CreativeConfig> read_creative_config(Validator& v, const CreativeConfigRules& rules) {
  size_t errors_before = v.errors().size();
  CreativeConfig c;
  auto name = v.string("name", {.required = true, .min_length = 1, .max_length = 255});
  auto format =
      v.enumeration("format", {"runway", "instream_video", "enhanced_preroll", "audio"}, {.required = true});
  auto media = format ? std::optional(media_type_of(*parse_format(*format))) : std::nullopt;
  bool timed = media && *media != MediaType::kDisplay;

  auto dimensions =
      v.string("dimensions", {.required = media.has_value() && *media != MediaType::kAudio,
                              .accept = [](std::string_view s) { return parse_dimensions(s).has_value(); },
                              .accept_message = kDimensionsMessage});
  std::optional<std::string> snippet_url =
      v.string("snippet_url", {.required = rules.snippet_hosts != nullptr, .min_length = 1});
  if (snippet_url && rules.snippet_hosts) {
    if (auto problem = snippet_url_problem(*snippet_url, *rules.snippet_hosts)) {
      v.add(v.field_name("snippet_url"), *problem);
    }
  }
  auto device = v.enumeration("device_type", {"desktop", "mobile", "tablet", "ctv"});
  std::optional<double> duration;
  if (v.has("duration") || timed) {
    duration = v.number("duration", {.min = kMinDuration, .max = kMaxDuration});
    if (timed && !v.has("duration"))
      v.add(v.field_name("duration"), "is required for video and audio formats");
  }
  auto vast_version = v.enumeration("vast_version", {"2.0", "3.0", "4.0", "4.1", "4.2"});
  auto branded = v.boolean("branded_canvas");
  auto cache_buster = v.boolean("cache_buster");
  auto macros = v.boolean("amazon_macros");
  auto click = v.boolean("click_tracking");
  auto viewability = read_viewability_config(v, "viewability_config");

  if (v.errors().size() != errors_before) return std::nullopt;
  c.name = *name;
  c.format = *parse_format(*format);
  if (dimensions) c.dimensions = parse_dimensions(*dimensions);
  c.snippet_url = snippet_url;
  if (device) c.device_type = *device;
  c.duration = duration;
  c.vast_version = vast_version;
  if (branded) c.branded_canvas = *branded;
  if (cache_buster) c.cache_buster = *cache_buster;
  if (macros) c.amazon_macros = *macros;
  if (click) c.click_tracking = *click;
  c.viewability = *viewability;
  return c;
}

CreativeConfig parse_creative_config(const nlohmann::json& config, const CreativeConfigRules& rules) {
  Validator v(config, rules.prefix);
  auto c = read_creative_config(v, rules);
  v.check();
  return *c;
}

std::optional<std::string> snippet_url_problem(std::string_view url,
                                               const std::vector<std::string>& allowed_hosts) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return "must be an absolute http(s) URL";
  std::string scheme = lower(parsed->scheme());
  if (scheme != "http" && scheme != "https") return "must be an http or https URL";
  if (!parsed->has_authority() || parsed->encoded_host().empty()) return "must name a host";
  if (parsed->has_userinfo()) return "must not contain user information";
  std::string host = lower(parsed->encoded_host());
  std::string default_port = scheme == "https" ? "443" : "80";
  std::string port =
      parsed->has_port() && !parsed->port().empty() ? std::string(parsed->port()) : default_port;
  for (const auto& entry : allowed_hosts) {
    std::string e = lower(entry);
    auto colon = e.rfind(':');
    bool has_port = colon != std::string::npos && e.find(']', colon) == std::string::npos;
    std::string entry_host = has_port ? e.substr(0, colon) : e;
    std::string entry_port = has_port ? e.substr(colon + 1) : default_port;
    if (entry_host == host && entry_port == port) return std::nullopt;
  }
  return "host " + host + (port == default_port ? "" : ":" + port) + " is not in KARGO_SNIPPET_HOSTS";
}

}  // namespace kargo::domain
