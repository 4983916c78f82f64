#include "vast_schema.hpp"

namespace kargo::domain::detail {

std::optional<VastVersion> parse_vast_version(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text == "2.0" || text == "2.0.1") return VastVersion::k20;
  if (text == "3.0") return VastVersion::k30;
  if (text == "4.0") return VastVersion::k40;
  if (text == "4.1") return VastVersion::k41;
  if (text == "4.2") return VastVersion::k42;
  return std::nullopt;
}

std::string_view vast_version_name(VastVersion v) {
  switch (v) {
    case VastVersion::k20:
      return "2.0";
    case VastVersion::k30:
      return "3.0";
    case VastVersion::k40:
      return "4.0";
    case VastVersion::k41:
      return "4.1";
    case VastVersion::k42:
      return "4.2";
  }
  return "3.0";
}

const VastSchema& vast_schema(VastVersion v) {
  // vast_2.0.1.xsd
  static const VastSchema k20{
      .inline_children = {"AdSystem", "AdTitle", "Description", "Survey", "Error", "Impression", "Creatives",
                          "Extensions"},
      .wrapper_children = {"AdSystem", "VASTAdTagURI", "Error", "Impression", "Creatives", "Extensions"},
      .inline_linear_children = {"Duration", "TrackingEvents", "AdParameters", "VideoClicks", "MediaFiles"},
      .wrapper_linear_children = {"TrackingEvents", "VideoClicks"},
      .inline_video_clicks_children = {"ClickThrough", "ClickTracking", "CustomClick"},
      .wrapper_video_clicks_children = {"ClickTracking"},
      .creative_children = {},
  };
  // vast_3.0.xsd
  static const VastSchema k30{
      .inline_children = {"AdSystem", "AdTitle", "Description", "Advertiser", "Pricing", "Survey", "Error",
                          "Impression", "Creatives", "Extensions"},
      .wrapper_children = {"AdSystem", "VASTAdTagURI", "Error", "Impression", "Creatives", "Extensions"},
      .inline_linear_children = {"Icons", "CreativeExtensions", "Duration", "TrackingEvents", "AdParameters",
                                 "VideoClicks", "MediaFiles"},
      .wrapper_linear_children = {"CreativeExtensions", "Icons", "TrackingEvents", "VideoClicks"},
      .inline_video_clicks_children = {"ClickThrough", "ClickTracking", "CustomClick"},
      .wrapper_video_clicks_children = {"ClickTracking", "CustomClick"},
      .creative_children = {},
  };
  // vast_4.0.xsd: AdDefinitionBase_type, then Inline_type / Wrapper_type; VideoClicks_Inline_type
  // extends the base (ClickTracking, CustomClick) with ClickThrough, so ClickThrough comes last.
  static const VastSchema k40{
      .inline_children = {"AdSystem", "Error", "Extensions", "Impression", "Pricing", "ViewableImpression",
                          "AdTitle", "AdVerifications", "Advertiser", "Category", "Creatives", "Description",
                          "Survey"},
      .wrapper_children = {"AdSystem", "Error", "Extensions", "Impression", "Pricing", "ViewableImpression",
                           "AdVerifications", "Creatives", "VASTAdTagURI"},
      .inline_linear_children = {"Icons", "TrackingEvents", "AdParameters", "Duration", "MediaFiles",
                                 "VideoClicks"},
      .wrapper_linear_children = {"Icons", "TrackingEvents", "VideoClicks"},
      .inline_video_clicks_children = {"ClickTracking", "CustomClick", "ClickThrough"},
      .wrapper_video_clicks_children = {"ClickTracking", "CustomClick"},
      .creative_children = {"CompanionAds", "CreativeExtensions", "Linear", "NonLinearAds", "UniversalAdId"},
      .creative_holds_several = true,
  };
  // vast_4.1.xsd: adds AdServingId, Expires, BlockedAdCategories.
  static const VastSchema k41{
      .inline_children = {"AdSystem", "Error", "Extensions", "Impression", "Pricing", "ViewableImpression",
                          "AdServingId", "AdTitle", "AdVerifications", "Advertiser", "Category", "Creatives",
                          "Description", "Expires", "Survey"},
      .wrapper_children = {"AdSystem", "Error", "Extensions", "Impression", "Pricing", "ViewableImpression",
                           "AdVerifications", "BlockedAdCategories", "Creatives", "VASTAdTagURI"},
      .inline_linear_children = k40.inline_linear_children,
      .wrapper_linear_children = k40.wrapper_linear_children,
      .inline_video_clicks_children = {"ClickTracking", "CustomClick", "ClickThrough"},
      .wrapper_video_clicks_children = {"ClickTracking", "CustomClick"},
      .creative_children = k40.creative_children,
      .creative_holds_several = true,
  };
  // vast_4.2.xsd: one VideoClicks_type (ClickTracking, ClickThrough, CustomClick); Creative_Inline_type
  // is a sequence (CompanionAds before Linear).
  static const VastSchema k42{
      .inline_children = k41.inline_children,
      .wrapper_children = k41.wrapper_children,
      .inline_linear_children = k40.inline_linear_children,
      .wrapper_linear_children = k40.wrapper_linear_children,
      .inline_video_clicks_children = {"ClickTracking", "ClickThrough", "CustomClick"},
      .wrapper_video_clicks_children = {"ClickTracking", "ClickThrough", "CustomClick"},
      .creative_children = k40.creative_children,
      .creative_holds_several = true,
  };
  switch (v) {
    case VastVersion::k20:
      return k20;
    case VastVersion::k30:
      return k30;
    case VastVersion::k40:
      return k40;
    case VastVersion::k41:
      return k41;
    case VastVersion::k42:
      return k42;
  }
  return k30;
}

}  // namespace kargo::domain::detail
