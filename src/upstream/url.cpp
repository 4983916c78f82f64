#include "kargo/upstream/url.hpp"

#include <boost/url/ipv4_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

namespace kargo::upstream {
namespace {

namespace urls = boost::urls;

bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<Url> from_view(const urls::url_view_base& u) {
  Url out;
  if (u.scheme_id() == urls::scheme::https) {
    out.https = true;
  } else if (u.scheme_id() != urls::scheme::http) {
    return std::nullopt;
  }
  // Credentials in a URL would end up in logs and metrics; upstreams authenticate by header.
  if (!u.has_authority() || u.has_userinfo()) return std::nullopt;
  switch (u.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      out.host = std::string(u.encoded_host_address());
      break;
    case urls::host_type::name:
      out.host = u.host_address();  // percent-decoded; then only DNS characters are accepted
      if (!valid_host_name(out.host)) return std::nullopt;
      break;
    default:
      return std::nullopt;
  }
  for (char& c : out.host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (u.has_port()) {
    auto port = u.port();
    if (port.empty() || port.size() > 5 || u.port_number() == 0) return std::nullopt;
    out.port = u.port_number();
    out.explicit_port = true;
  } else {
    out.port = out.https ? 443 : 80;
  }
  out.target = std::string(u.encoded_path());
  if (out.target.empty()) out.target.push_back('/');
  if (out.target.front() != '/') return std::nullopt;
  if (u.has_query()) out.target.append("?").append(u.encoded_query());
  return out;
}

}  // namespace

bool Url::ip_literal() const {
  auto v4 = urls::parse_ipv4_address(host);
  return v4.has_value() || host.find(':') != std::string::npos;
}

namespace {
// Host as it appears in a URL: IPv6 literals in brackets. (Built with append: GCC 12 warns
// falsely, -Wrestrict, on "[" + host + "]".)
void append_host(std::string& out, const std::string& host) {
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out.push_back('[');
  out.append(host);
  if (v6) out.push_back(']');
}
}  // namespace

std::string Url::authority() const {
  std::string out;
  append_host(out, host);
  if (explicit_port) out.append(":").append(std::to_string(port));
  return out;
}

std::string Url::origin() const {
  std::string out = scheme();
  out.append("://");
  append_host(out, host);
  out.append(":").append(std::to_string(port));
  return out;
}

std::string Url::str() const {
  std::string out = scheme();
  out.append("://").append(authority()).append(target);
  return out;
}

std::optional<Url> parse_url(std::string_view text) {
  // parse_uri (not parse_absolute_uri): a fragment is allowed and dropped.
  auto parsed = urls::parse_uri(text);
  if (!parsed) return std::nullopt;
  return from_view(*parsed);
}

bool host_allowed(const Url& url, const std::vector<std::string>& allowed) {
  uint16_t default_port = url.https ? 443 : 80;
  for (const auto& entry : allowed) {
    // Parsed as an authority, so "[::1]:8080" and upper-case names work like in a URL.
    auto parsed = parse_url("http://" + entry + "/");
    if (!parsed || parsed->host != url.host) continue;
    uint16_t port = parsed->explicit_port ? parsed->port : default_port;
    if (port == url.port) return true;
  }
  return false;
}

std::optional<Url> resolve_url(const Url& base, std::string_view reference) {
  std::string base_text = base.str();  // the view below points into it
  auto base_view = urls::parse_uri(base_text);
  auto ref = urls::parse_uri_reference(reference);
  if (!base_view || !ref) return std::nullopt;
  urls::url dest;
  if (!urls::resolve(*base_view, *ref, dest).has_value()) return std::nullopt;
  return from_view(dest);
}

}  // namespace kargo::upstream
