#pragma once
// Cuts IAS out of an HTML snippet by byte ranges, so that every other byte of the snippet survives
// unchanged (contract section 4 rule 1). Gumbo gives each element its source offsets; the cuts
// are whole elements, comments or text runs, never pieces of markup found by pattern matching.
//
//   auto cleaned = detail::remove_ias_from_html(R"(<p>hi</p><img src="//pixel.adsafeprotected.com/x">)");
//   // cleaned.html == "<p>hi</p>", cleaned.removed == {"<img src=\"//pixel.adsafeprotected.com/x\">"}
//
// Internal to src/domain/creative (used for runway snippets and for VAST HTMLResource content).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kargo::domain::detail {

// Deeper nesting is refused (422): gumbo's tree construction is quadratic in nesting depth.
inline constexpr size_t kMaxHtmlDepth = 1024;

struct HtmlCleaning {
  std::string html;
  std::vector<std::string> removed;   // original text of each cut element, comment or text run
  std::vector<std::string> warnings;  // e.g. a DoubleVerify tag that sat inside a removed IAS element
};

// Throws kargo::Error (422 on field "snippet") when the markup nests deeper than kMaxHtmlDepth.
HtmlCleaning remove_ias_from_html(std::string_view html);

// An upper bound of the element nesting depth a browser would build, stopping at `limit`.
// A small tokenizer (comments, raw-text elements, quoted attributes, void elements, end tags
// closing the nearest open element of that name); it only guards the parser, it never edits.
size_t html_depth_estimate(std::string_view html, size_t limit);

}  // namespace kargo::domain::detail
