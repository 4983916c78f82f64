#pragma once
// How IAS and DoubleVerify are recognised in snippet text (contract section 4 rules 1 and 2).
// Shared by the HTML and VAST transformers; internal to src/domain/creative.
//
//   detail::mentions_ias("<img src=//PIXEL.AdSafeProtected.com/x>")  // true
//   detail::mentions_dv("https://cdn.doubleverify.com/dvtp_src.js")  // true
//   detail::mentions_dv("https://ad.doubleclick.net/x")              // false: not DV

#include <string>
#include <string_view>

namespace kargo::domain::detail {

std::string to_lower(std::string_view text);
bool contains_ci(std::string_view text, std::string_view lower_needle);

// Any mention of IAS's host name, in any case. Deliberately wider than a host match: rule 1 says
// no "adsafeprotected" may remain anywhere, so a query parameter naming it counts too.
bool mentions_ias(std::string_view text);

// doubleverify.com, dvtps.com and their subdomains (cdn., tps., ...), any case.
bool is_dv_host(std::string_view host);
// A URL in `text` (scheme://, protocol-relative //, JavaScript-escaped \/\/ or URL-encoded %2F%2F)
// whose host is a DV host.
bool mentions_dv(std::string_view text);

}  // namespace kargo::domain::detail
