#include "detect.hpp"

#include <algorithm>
#include <cctype>

namespace kargo::domain::detail {
namespace {

bool host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; }

// ASCII only, without std::tolower's locale look-up: the markup's URLs and tag names are ASCII,
// and this runs for every byte of every snippet (it was the largest cost of a runway transform).
inline char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool is_host_or_subdomain(std::string_view host, std::string_view domain) {
  if (host == domain) return true;
  return host.size() > domain.size() && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

}  // namespace

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower_ascii(c);
  return out;
}

bool contains_ci(std::string_view text, std::string_view lower_needle) {
  auto it = std::search(text.begin(), text.end(), lower_needle.begin(), lower_needle.end(),
                        [](char a, char b) { return lower_ascii(a) == b; });
  return it != text.end();
}

bool mentions_ias(std::string_view text) { return contains_ci(text, "adsafeprotected"); }

bool is_dv_host(std::string_view host) {
  std::string h = to_lower(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return is_host_or_subdomain(h, "doubleverify.com") || is_host_or_subdomain(h, "dvtps.com");
}

bool mentions_dv(std::string_view text) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    size_t host_start = std::string_view::npos;
    if (text[i] == '/' && text[i + 1] == '/') {
      host_start = i + 2;
    } else if (text.compare(i, 4, "\\/\\/") == 0) {
      host_start = i + 4;
    } else if (text[i] == '%' && i + 6 <= text.size() && contains_ci(text.substr(i, 6), "%2f%2f")) {
      host_start = i + 6;
    }
    if (host_start == std::string_view::npos || host_start >= text.size()) continue;
    size_t end = host_start;
    while (end < text.size() && host_char(text[end])) ++end;
    if (end > host_start && is_dv_host(text.substr(host_start, end - host_start))) return true;
  }
  return false;
}

}  // namespace kargo::domain::detail
