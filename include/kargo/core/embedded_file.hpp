#pragma once
// A file compiled into the binary by cmake/EmbedFiles.cmake (e.g. the sandbox's Kargo snippets),
// so a deployment is one file and tests never depend on the working directory.
//
//   for (const auto& f : sandbox::embedded_snippets()) std::cout << f.name << " " << f.content.size();

#include <string_view>
#include <vector>

namespace kargo {

struct EmbeddedFile {
  std::string_view name;  // file name without directory, e.g. "runway_81298.html"
  std::string_view content;
};

}  // namespace kargo
