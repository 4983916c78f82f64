#include "kargo/sandbox/snippets.hpp"

#include <cctype>
#include <string>

namespace kargo::sandbox {
namespace {

// The first run of digits in a file name: "preroll_81172.xml" -> "81172".
std::string_view number_in(std::string_view name) {
  size_t begin = 0;
  while (begin < name.size() && !std::isdigit(static_cast<unsigned char>(name[begin]))) ++begin;
  size_t end = begin;
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
  return name.substr(begin, end - begin);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::optional<Snippet> find_snippet(std::string_view id) {
  if (id.empty()) return std::nullopt;
  for (const auto& f : embedded_snippets()) {
    if (number_in(f.name) != id) continue;
    std::string_view type = ends_with(f.name, ".xml") ? "application/xml" : "text/html; charset=utf-8";
    return Snippet{f.name, f.content, type};
  }
  return std::nullopt;
}

}  // namespace kargo::sandbox
