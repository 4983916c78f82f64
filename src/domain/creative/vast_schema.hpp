#pragma once
// Child element order of the VAST elements the transformer adds to, per IAB schema version
// (fixtures/vast-xsd). The 4.x schemas order InLine/Wrapper children alphabetically after the
// common AdSystem, Error, Extensions, Impression... block, so Extensions comes before Impression
// there, and ClickThrough comes after ClickTracking (first in 2.0/3.0). Internal to src/domain/creative.
//
//   const auto& s = detail::vast_schema(detail::VastVersion::k42);
//   insert_ordered(inline_node, "Impression", s.inline_children);

#include <optional>
#include <string_view>
#include <vector>

namespace kargo::domain::detail {

enum class VastVersion { k20, k30, k40, k41, k42 };

std::optional<VastVersion> parse_vast_version(std::string_view text);  // "2.0", "2.0.1", "3.0", ... "4.2"
std::string_view vast_version_name(VastVersion v);                     // "2.0" ... "4.2"

struct VastSchema {
  std::vector<std::string_view> inline_children;
  std::vector<std::string_view> wrapper_children;
  std::vector<std::string_view> inline_linear_children;
  std::vector<std::string_view> wrapper_linear_children;
  std::vector<std::string_view> inline_video_clicks_children;
  std::vector<std::string_view> wrapper_video_clicks_children;
  std::vector<std::string_view> creative_children;  // 4.x only (2.0/3.0: one child per Creative)
  bool creative_holds_several = false;              // 4.x: CompanionAds may sit beside Linear
};

const VastSchema& vast_schema(VastVersion v);

}  // namespace kargo::domain::detail
