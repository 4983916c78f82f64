#include "kargo/api/creative_processing.hpp"

#include <chrono>

#include "kargo/app/context.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/creative/record.hpp"
#include "kargo/domain/creative/transform.hpp"

namespace kargo::api {

nlohmann::json process_snippet(AppContext& ctx, std::string_view snippet,
                               const domain::CreativeConfig& config, const std::string& snippet_url,
                               std::string_view snippet_field) {
  auto format = domain::format_name(config.format);
  auto phase = domain::phase_name(config.viewability.phase);
  // Stored as text and JSON: the snippet and the name must be UTF-8 without NUL bytes (a
  // Latin-1 snippet is refused with a clear message rather than stored mangled).
  auto text_problem = [](std::string_view text) -> std::optional<std::string> {
    if (text.find('\0') != std::string_view::npos) return "must not contain NUL bytes";
    if (!valid_utf8(text)) return "must be UTF-8 text";
    return std::nullopt;
  };
  std::vector<FieldError> problems;
  if (auto p = text_problem(snippet)) problems.push_back({std::string(snippet_field), *p});
  if (auto p = text_problem(config.name)) problems.push_back({"name", *p});
  if (!problems.empty()) throw Error::validation(std::move(problems));
  auto started = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  try {
    auto result = domain::transform(snippet, config, ctx.macros);
    double elapsed = seconds();
    ctx.metrics.observe_creative(format, phase, "success", elapsed);
    return domain::creative_fields(config, result, snippet, snippet_url, elapsed * 1000.0,
                                   format_timestamp(std::chrono::system_clock::now()));
  } catch (const Error& e) {
    ctx.metrics.observe_creative(format, phase, "failed", seconds());
    if (e.details().empty() || snippet_field == domain::kSnippetField) throw;
    std::vector<FieldError> details;
    for (const auto& d : e.details()) {
      details.push_back({d.field == domain::kSnippetField ? std::string(snippet_field) : d.field, d.message});
    }
    throw Error::validation(std::move(details));
  }
}

}  // namespace kargo::api
