#include "kargo/http/message.hpp"

#include <strings.h>

#include <cctype>

namespace kargo::http {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
  }
  return std::nullopt;
}

void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  if (value.find_first_of("\r\n") == std::string_view::npos) {
    out += value;
  } else {
    for (char c : value) {
      if (c != '\r' && c != '\n') out += c;
    }
  }
  out += "\r\n";
}

void Response::add_head_line(std::string_view name, std::string_view value) {
  append_header_line(head_lines, name, value);
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : path_params) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace kargo::http
