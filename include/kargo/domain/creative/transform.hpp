#pragma once
// The creative transformation of contract section 4: a Kargo snippet (HTML for runway, VAST for
// video and audio) becomes code Amazon DSP accepts, with IAS removed and DoubleVerify kept.
//
//   auto config = parse_creative_config(json);                 // 422 on bad fields
//   auto started = std::chrono::steady_clock::now();
//   TransformResult r = transform(snippet, config, macro_table);  // 422 on field "snippet"
//   double ms = elapsed_ms(started);                            // the caller times it
//   resource["processing_metadata"] = processing_metadata_json(r.metadata, ms, format_timestamp(now));
//
// Pure: no I/O, no clock, no randomness, so the same snippet and config always give the same
// bytes. Failures are kargo::Error (422 VALIDATION_ERROR) with details on field "snippet":
// not VAST for a video/audio format, malformed XML, DOCTYPE/entity declarations, an unsupported
// VAST version, nesting too deep, over 1 MiB, or an IAS reference that cannot be cut out without
// breaking the document.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/macros.hpp"

namespace kargo::domain {

inline constexpr size_t kMaxSnippetBytes = 1u << 20;  // contract: snippets over 1 MiB are 422
inline constexpr const char* kSnippetField = "snippet";

struct ProcessingMetadata {
  size_t original_snippet_size = 0;       // bytes
  size_t processed_snippet_size = 0;      // bytes
  std::vector<std::string> tags_removed;  // the original text of each removed IAS tag
  std::vector<std::string> tags_added;    // what was added, e.g. "amazon_dsp_wrapper", "impression"
  std::vector<std::string> warnings;
  std::string phase_applied;  // "phase_1" | "phase_2"
};

struct TransformResult {
  std::string processed_code;
  std::string creative_type;  // "CUSTOM_HTML" or "VAST_<major>_<minor>"
  bool amazon_dsp_ready = false;
  MediaType media_type = MediaType::kDisplay;
  std::optional<std::string> vast_version;  // the source's version ("4.2"), VAST only
  ProcessingMetadata metadata;
};

TransformResult transform(std::string_view snippet, const CreativeConfig& config, const MacroTable& macros);

// The resource's `processing_metadata` object: the metadata plus `processed_at` (the caller's
// clock) and `processing_time_ms` (the caller's measurement of transform()).
nlohmann::json processing_metadata_json(const ProcessingMetadata& metadata, double processing_time_ms,
                                        std::string_view processed_at);

// True when W x H is a standard IAB size for the media type (display sizes for audio companions).
bool is_standard_iab_size(MediaType type, const Dimensions& dimensions);

}  // namespace kargo::domain
