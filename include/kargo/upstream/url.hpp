#pragma once
// An absolute http(s) URL split into what an outbound connection needs. The one URL parser of
// the upstream layer (Boost.URL underneath): HttpClient uses it for every call and redirect, and
// callers use it to check a URL against an allow-list (e.g. KARGO_SNIPPET_HOSTS) before sending.
//
//   auto url = kargo::upstream::parse_url("https://snippet.kargo.com/snippet/dm/81298?x=1");
//   if (!url) ...;               // not an absolute http(s) URL we can call
//   url->host;                   // "snippet.kargo.com"
//   url->authority();            // "snippet.kargo.com" ("host:port" when the port is explicit)
//   url->target;                 // "/snippet/dm/81298?x=1"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kargo::upstream {

struct Url {
  bool https = false;
  std::string host;   // lower-case; an IPv6 literal without brackets ("::1")
  uint16_t port = 0;  // explicit or the scheme's default (80 / 443)
  bool explicit_port = false;
  std::string target;  // origin-form: path (at least "/") plus "?query"; no fragment

  std::string scheme() const { return https ? "https" : "http"; }
  bool ip_literal() const;
  // host, or host:port when the URL named a port ([v6]:port for IPv6 literals): the form
  // of KARGO_SNIPPET_HOSTS entries and of the Host header.
  std::string authority() const;
  // scheme://host:port with the port always present: the key of a connection pool.
  std::string origin() const;
  // The full URL again, normalised (lower-case scheme and host, no fragment).
  std::string str() const;
};

// nullopt unless `text` is an absolute http or https URL with a host, no user info and a valid
// port (1-65535).
std::optional<Url> parse_url(std::string_view text);

// Whether `url` points at one of `allowed`, entries written `host` or `host:port` (the form of
// KARGO_SNIPPET_HOSTS). `host` alone allows the scheme's default port only; hosts compare
// case-insensitively. The snippet_url check and the snippet fetch's redirect callback use it:
//   .follow_redirect = [&](const Url& to) { return host_allowed(to, config.kargo_snippet_hosts); }
bool host_allowed(const Url& url, const std::vector<std::string>& allowed);

// Resolves a Location header value (absolute or relative) against `base`; nullopt when the
// result is not a URL parse_url accepts.
std::optional<Url> resolve_url(const Url& base, std::string_view reference);

}  // namespace kargo::upstream
