#pragma once
// The stored form of a processed creative: what the creatives table keeps of a config, a snippet
// and its transformation (contract section 4's resource, minus ids and timestamps). Pure.
//
//   auto result = transform(snippet, config, macros);
//   auto fields = creative_fields(config, result, snippet, "upload://runway.html", ms, processed_at);
//   creative_store.create(fields, actor);

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/transform.hpp"

namespace kargo::domain {

nlohmann::json creative_fields(const CreativeConfig& config, const TransformResult& result,
                               std::string_view snippet, const std::string& snippet_url,
                               double processing_time_ms, std::string_view processed_at);

}  // namespace kargo::domain
