#include "kargo/domain/creative/record.hpp"

namespace kargo::domain {

nlohmann::json creative_fields(const CreativeConfig& config, const TransformResult& result,
                               std::string_view snippet, const std::string& snippet_url,
                               double processing_time_ms, std::string_view processed_at) {
  nlohmann::json f = {
      {"name", config.name},
      {"format", format_name(config.format)},
      {"media_type", media_type_name(config.media_type())},
      {"device_type", config.device_type},
      {"snippet_url", snippet_url},
      {"branded_canvas", config.branded_canvas},
      {"cache_buster", config.cache_buster},
      {"amazon_macros", config.amazon_macros},
      {"click_tracking", config.click_tracking},
      {"viewability_config", config.viewability.to_json()},
      {"creative_type", result.creative_type},
      {"amazon_dsp_ready", result.amazon_dsp_ready},
      {"original_snippet", std::string(snippet)},
      {"processed_code", result.processed_code},
      {"processing_metadata", processing_metadata_json(result.metadata, processing_time_ms, processed_at)}};
  if (config.dimensions) {
    f["dimensions"] = config.dimensions->text();
    f["width"] = config.dimensions->width;
    f["height"] = config.dimensions->height;
  } else {
    f["dimensions"] = nullptr;
    f["width"] = nullptr;
    f["height"] = nullptr;
  }
  f["duration"] = config.duration ? nlohmann::json(*config.duration) : nlohmann::json(nullptr);
  // The resource's vast_version is the source's (a differing config value is only a warning).
  f["vast_version"] = result.vast_version ? nlohmann::json(*result.vast_version) : nlohmann::json(nullptr);
  return f;
}

}  // namespace kargo::domain
