#include "kargo/domain/creative/transform.hpp"

#include <nlohmann/json.hpp>

#include "detect.hpp"
#include "html_transform.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/validator.hpp"
#include "vast_transform.hpp"

namespace kargo::domain {
namespace {

// JSON that can sit inside <script type="application/json"> and be read back exactly: nothing in
// it can end the element (`</script>`), open a comment (`<!--`) or break a JavaScript string
// (U+2028/U+2029). These characters only occur inside JSON strings, so \u escapes are lossless.
std::string script_safe_json(const nlohmann::ordered_json& value) {
  std::string dumped = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(dumped.size() + 16);
  for (size_t i = 0; i < dumped.size(); ++i) {
    char c = dumped[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < dumped.size() && dumped[i + 1] == '\x80' &&
               (dumped[i + 2] == '\xA8' || dumped[i + 2] == '\xA9')) {
      out += dumped[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

void append_unique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

TransformResult transform_html(std::string_view snippet, const CreativeConfig& config,
                               const MacroTable& macros) {
  TransformResult r;
  r.creative_type = "CUSTOM_HTML";
  auto cleaned = detail::remove_ias_from_html(snippet);
  r.metadata.tags_removed = std::move(cleaned.removed);
  auto& warnings = r.metadata.warnings;
  for (auto& w : cleaned.warnings) append_unique(warnings, std::move(w));

  auto mapped = macros.apply(cleaned.html, config.amazon_macros);
  for (const auto& u : mapped.unknown) warnings.push_back("unknown macro ${" + u + "} left unchanged");
  if (config.viewability.phase == ViewabilityPhase::kPhase1 && !detail::mentions_dv(mapped.text)) {
    warnings.push_back("phase_1 snippet has no DoubleVerify tag");
  }

  const auto& v = config.viewability;
  nlohmann::ordered_json amazon = {{"format", format_name(config.format)}, {"creative_name", config.name}};
  if (config.dimensions) {
    amazon["dimensions"] = config.dimensions->text();
    amazon["width"] = config.dimensions->width;
    amazon["height"] = config.dimensions->height;
  }
  amazon["device_type"] = config.device_type;
  amazon["phase"] = phase_name(v.phase);
  amazon["viewability_vendors"] = v.vendors;
  amazon["viewability_method"] = v.method;
  if (config.click_tracking) amazon["click_url"] = macros.amazon_macro("CLICK_URL", "AMAZON_CLICK_URL");
  amazon["impression_url"] = macros.amazon_macro("IMPRESSION_URL", "AMAZON_IMPRESSION_URL");
  // Always a macro the ad server expands per impression, never a number fixed here (rule 3).
  if (config.cache_buster) amazon["cache_buster"] = macros.amazon_macro("CACHEBUSTER", "AMAZON_CACHEBUSTER");

  std::string phase(phase_name(v.phase));
  std::string& out = r.processed_code;
  out.reserve(mapped.text.size() + 1024);
  out += "<div class=\"amazon-dsp-display-wrapper\" data-phase=\"" + phase + "\" data-format=\"runway\">\n";
  out +=
      "<script type=\"application/json\" class=\"amazon-config\">" + script_safe_json(amazon) + "</script>\n";
  if (v.phase == ViewabilityPhase::kPhase2) {
    nlohmann::ordered_json ias = {{"seat_id", v.dsp_seat_id.value_or("")},
                                  {"publisher_id", v.pub_id.value_or("")},
                                  {"measurement_method", "server_to_server"}};
    out +=
        "<script type=\"application/json\" class=\"ias-s2s-config\">" + script_safe_json(ias) + "</script>\n";
  }
  out += mapped.text;
  out += "</div>";

  if (mapped.replaced > 0) r.metadata.tags_added.push_back("amazon_macros");
  r.metadata.tags_added.push_back("amazon_dsp_wrapper");
  if (v.phase == ViewabilityPhase::kPhase2) r.metadata.tags_added.push_back("ias_s2s_config");
  return r;
}

TransformResult transform_vast(std::string_view snippet, const CreativeConfig& config,
                               const MacroTable& macros) {
  auto v = detail::transform_vast(snippet, config, macros);
  TransformResult r;
  r.processed_code = std::move(v.xml);
  r.creative_type = "VAST_" + v.version.substr(0, 1) + "_" + v.version.substr(2, 1);
  r.vast_version = v.version;
  r.metadata.tags_removed = std::move(v.removed);
  r.metadata.tags_added = std::move(v.added);
  for (auto& w : v.warnings) append_unique(r.metadata.warnings, std::move(w));
  if (config.viewability.phase == ViewabilityPhase::kPhase1 && !v.source_has_dv) {
    r.metadata.warnings.push_back("phase_1 snippet has no DoubleVerify tag");
  }
  return r;
}

}  // namespace

TransformResult transform(std::string_view snippet, const CreativeConfig& config, const MacroTable& macros) {
  if (snippet.empty()) throw Error::validation({{kSnippetField, "must not be empty"}});
  if (snippet.size() > kMaxSnippetBytes) {
    throw Error::validation(
        {{kSnippetField, "must be at most " + std::to_string(kMaxSnippetBytes) + " bytes (1 MiB)"}});
  }
  // Stored as text and JSON: the snippet and the name must be UTF-8 without NUL characters (a
  // Latin-1 snippet is refused with a clear message rather than stored mangled). Checked here, so
  // the API and `kargo-dsp process-creative` refuse exactly the same input.
  std::vector<FieldError> problems;
  if (auto p = text_problem(snippet)) problems.push_back({kSnippetField, *p});
  if (auto p = text_problem(config.name)) problems.push_back({"name", *p});
  if (!problems.empty()) throw Error::validation(std::move(problems));
  MediaType media = config.media_type();
  TransformResult r = media == MediaType::kDisplay ? transform_html(snippet, config, macros)
                                                   : transform_vast(snippet, config, macros);
  r.media_type = media;
  r.amazon_dsp_ready = true;
  if (config.dimensions && !is_standard_iab_size(media, *config.dimensions)) {
    r.metadata.warnings.push_back("dimensions " + config.dimensions->text() +
                                  " is not a standard IAB size for " + std::string(media_type_name(media)));
  }
  r.metadata.original_snippet_size = snippet.size();
  r.metadata.processed_snippet_size = r.processed_code.size();
  r.metadata.phase_applied = std::string(phase_name(config.viewability.phase));
  return r;
}

nlohmann::json processing_metadata_json(const ProcessingMetadata& m, double processing_time_ms,
                                        std::string_view processed_at) {
  return {{"processed_at", processed_at},
          {"processing_time_ms", processing_time_ms},
          {"original_snippet_size", m.original_snippet_size},
          {"processed_snippet_size", m.processed_snippet_size},
          {"tags_removed", m.tags_removed},
          {"tags_added", m.tags_added},
          {"warnings", m.warnings},
          {"phase_applied", m.phase_applied}};
}

}  // namespace kargo::domain
