#pragma once
// The one code path that turns a snippet into a stored creative's fields, shared by every
// creative route (upload, process from a Kargo URL, re-process, bulk): transform() from
// domain/creative, timed, counted in creative_processing_* metrics.
//
//   auto config = domain::parse_creative_config(body);
//   auto fields = process_snippet(ctx, snippet, config, snippet_url, "file");
//   ctx.creatives.create(fields, actor);

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kargo/domain/creative/config.hpp"

namespace kargo {
struct AppContext;
}

namespace kargo::api {

// Throws the transformation's 422 with its "snippet" details renamed to `snippet_field` (the
// upload route calls the snippet "file", the process route "snippet_url").
nlohmann::json process_snippet(AppContext& ctx, std::string_view snippet,
                               const domain::CreativeConfig& config, const std::string& snippet_url,
                               std::string_view snippet_field);

}  // namespace kargo::api
