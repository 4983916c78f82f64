#pragma once
// The Kargo snippets the sandbox serves at GET /snippet/dm/{id}: every file of fixtures/snippets/
// compiled into the binary (cmake/EmbedFiles.cmake). The id is the number in the file name.
//
//   if (auto s = find_snippet("81298")) res.body = s->content, res.content_type = s->content_type;

#include <optional>
#include <string_view>
#include <vector>

#include "kargo/core/embedded_file.hpp"

namespace kargo::sandbox {

// Generated from fixtures/snippets/ (sorted by file name).
const std::vector<EmbeddedFile>& embedded_snippets();

struct Snippet {
  std::string_view file_name;
  std::string_view content;
  std::string_view content_type;  // text/html; charset=utf-8 or application/xml
};

// The snippet whose file name holds exactly this number (runway_81298.html -> "81298").
std::optional<Snippet> find_snippet(std::string_view id);

}  // namespace kargo::sandbox
