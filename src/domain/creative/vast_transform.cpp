#include "vast_transform.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <pugixml.hpp>
#include <sstream>

#include "detect.hpp"
#include "html_transform.hpp"
#include "kargo/core/error.hpp"
#include "vast_schema.hpp"

namespace kargo::domain::detail {
namespace {

constexpr std::array<std::string_view, 5> kQuartileEvents{"start", "firstQuartile", "midpoint",
                                                          "thirdQuartile", "complete"};
constexpr std::string_view kBrandedCanvasId = "amazon-dsp-branded-canvas";

// IAS nodes that can go on their own without leaving their parent invalid in any VAST version.
constexpr std::array<std::string_view, 34> kRemovableLeaves{"Impression",
                                                            "Tracking",
                                                            "ClickTracking",
                                                            "CustomClick",
                                                            "ClickThrough",
                                                            "Error",
                                                            "Viewable",
                                                            "NotViewable",
                                                            "ViewUndetermined",
                                                            "ViewableImpression",
                                                            "JavaScriptResource",
                                                            "ExecutableResource",
                                                            "FlashResource",
                                                            "IconClickTracking",
                                                            "IconViewTracking",
                                                            "IconClickThrough",
                                                            "CompanionClickTracking",
                                                            "CompanionClickThrough",
                                                            "NonLinearClickTracking",
                                                            "NonLinearClickThrough",
                                                            "Survey",
                                                            "ClosedCaptionFile",
                                                            "InteractiveCreativeFile",
                                                            "Mezzanine",
                                                            "AdParameters",
                                                            "Category",
                                                            "Pricing",
                                                            "Extension",
                                                            "CreativeExtension",
                                                            "BlockedAdCategories",
                                                            "Advertiser",
                                                            "Description",
                                                            "Expires",
                                                            "AltText"};
// Containers an IAS mention deeper inside takes with it.
constexpr std::array<std::string_view, 8> kRemovableContainers{
    "Verification", "Extension", "CreativeExtension",  "Companion",
    "NonLinear",    "Icon",      "ViewableImpression", "IconClickFallbackImage"};
constexpr std::array<std::string_view, 3> kResources{"StaticResource", "IFrameResource", "HTMLResource"};

template <size_t N>
bool one_of(std::string_view name, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

[[noreturn]] void refuse(std::string message) { throw Error::validation({{"snippet", std::move(message)}}); }

std::string_view local_name(const pugi::xml_node& n) {
  std::string_view name = n.name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

pugi::xml_node first_child(const pugi::xml_node& parent, std::string_view name) {
  for (auto c : parent.children()) {
    if (c.type() == pugi::node_element && local_name(c) == name) return c;
  }
  return {};
}

std::vector<pugi::xml_node> children_named(const pugi::xml_node& parent, std::string_view name) {
  std::vector<pugi::xml_node> out;
  for (auto c : parent.children()) {
    if (c.type() == pugi::node_element && local_name(c) == name) out.push_back(c);
  }
  return out;
}

// The text of an element: its direct text and CDATA children, trimmed.
std::string text_of(const pugi::xml_node& n) {
  std::string out;
  for (auto c : n.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
  }
  return std::string(trim(out));
}

bool attributes_mention_ias(const pugi::xml_node& n) {
  for (auto a : n.attributes()) {
    if (mentions_ias(a.name()) || mentions_ias(a.value())) return true;
  }
  return false;
}

bool is_ias_vendor(std::string_view vendor) {
  std::string v = to_lower(trim(vendor));
  return v.find("integralads") != std::string::npos || v == "ias" || v.starts_with("ias.") ||
         v.starts_with("ias-");
}

// Any IAS mention in the subtree (attributes, text, comments).
bool subtree_mentions_ias(const pugi::xml_node& root) {
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    auto n = stack.back();
    stack.pop_back();
    if (mentions_ias(n.name()) || mentions_ias(n.value()) || attributes_mention_ias(n)) return true;
    for (auto c : n.children()) stack.push_back(c);
  }
  return false;
}

std::string serialize(const pugi::xml_node& n) {
  std::ostringstream out;
  n.print(out, "", pugi::format_raw, pugi::encoding_utf8);
  return out.str();
}

std::string format_duration(double seconds) {
  auto millis = static_cast<long long>(std::llround(seconds * 1000));
  long long s = millis / 1000;
  char buf[32];
  if (millis % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", s / 3600, (s / 60) % 60, s % 60,
                  millis % 1000);
  }
  return buf;
}

// "HH:MM:SS" or "HH:MM:SS.mmm" -> seconds.
std::optional<double> parse_duration(std::string_view text) {
  int h = 0, m = 0;
  double s = 0;
  std::string t(text);
  if (std::sscanf(t.c_str(), "%d:%d:%lf", &h, &m, &s) != 3) return std::nullopt;
  return h * 3600.0 + m * 60.0 + s;
}

std::string html_attribute_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view first_line(std::string_view s, size_t max) {
  s = trim(s);
  return s.substr(0, std::min(max, s.size()));
}

class VastEditor {
 public:
  VastEditor(const CreativeConfig& config, const MacroTable& macros) : config_(config), macros_(macros) {}

  VastOutcome run(std::string_view snippet) {
    parse(snippet);
    remove_ias();
    out_.source_has_dv = map_macros_and_find_dv();
    const auto& schema = vast_schema(version_);
    bool any_ad = false;
    for (auto ad : children_named(root_, "Ad")) {
      bool is_inline = true;
      auto body = first_child(ad, "InLine");
      if (!body) {
        body = first_child(ad, "Wrapper");
        is_inline = false;
      }
      if (!body) continue;
      any_ad = true;
      edit_ad(body, is_inline, schema);
    }
    if (!any_ad) refuse("the VAST document has no InLine or Wrapper ad");
    std::ostringstream xml;
    doc_.save(xml, "  ", pugi::format_indent | pugi::format_no_declaration, pugi::encoding_utf8);
    out_.xml = xml.str();
    if (mentions_ias(out_.xml)) {
      refuse("an IAS (adsafeprotected) reference cannot be removed without breaking the VAST document");
    }
    return std::move(out_);
  }

 private:
  void parse(std::string_view snippet) {
    std::string for_format =
        "must be a VAST document (2.0 to 4.2) for format " + std::string(format_name(config_.format));
    auto result = doc_.load_buffer(snippet.data(), snippet.size(),
                                   pugi::parse_default | pugi::parse_comments | pugi::parse_declaration |
                                       pugi::parse_doctype | pugi::parse_pi,
                                   pugi::encoding_auto);
    if (!result) {
      refuse(for_format + ": not well-formed XML (" + result.description() + " at byte " +
             std::to_string(result.offset) + ")");
    }
    for (auto c : doc_.children()) {
      // pugixml never expands entities, but a DTD has no business in a VAST response: refusing it
      // outright turns XXE and billion-laughs attempts into a clear 422.
      if (c.type() == pugi::node_doctype) refuse("DOCTYPE and entity declarations are not allowed");
      if (c.type() == pugi::node_element) {
        if (root_) refuse(for_format + ": more than one root element");
        root_ = c;
      }
    }
    if (!root_ || local_name(root_) != "VAST") refuse(for_format);
    check_depth();
    std::string_view name = root_.name();
    auto colon = name.find(':');
    if (colon != std::string_view::npos) prefix_ = std::string(name.substr(0, colon + 1));
    auto version_attr = root_.attribute("version");
    if (!version_attr) refuse("the VAST root element has no version attribute");
    auto version = parse_vast_version(version_attr.value());
    if (!version) {
      refuse("VAST version \"" + std::string(first_line(version_attr.value(), 20)) +
             "\" is not supported (2.0, 3.0, 4.0, 4.1, 4.2)");
    }
    version_ = *version;
    out_.version = std::string(vast_version_name(version_));
    // Only a version the caller chose can disagree with the snippet; left out, it is the snippet's.
    if (config_.vast_version && *config_.vast_version != out_.version) {
      out_.warnings.push_back("vast_version " + *config_.vast_version + " differs from the snippet's VAST " +
                              out_.version + "; the snippet's version is kept");
    }
    // The output is always UTF-8 (pugixml converts); the declaration must say so.
    for (auto c : doc_.children()) {
      if (c.type() != pugi::node_declaration) continue;
      auto enc = c.attribute("encoding");
      if (enc && to_lower(enc.value()) != "utf-8") enc.set_value("UTF-8");
    }
  }

  void check_depth() {
    std::vector<std::pair<pugi::xml_node, size_t>> stack{{root_, 1}};
    while (!stack.empty()) {
      auto [n, depth] = stack.back();
      stack.pop_back();
      if (depth > kMaxXmlDepth) refuse("XML nests deeper than " + std::to_string(kMaxXmlDepth) + " elements");
      for (auto c : n.children()) {
        if (c.type() == pugi::node_element) stack.emplace_back(c, depth + 1);
      }
    }
  }

  // --- IAS removal ---

  void remove_ias() {
    std::vector<pugi::xml_node> holders;
    std::vector<pugi::xml_node> targets;
    std::vector<pugi::xml_node> stack{root_};
    for (auto c : doc_.children()) {
      if ((c.type() == pugi::node_comment || c.type() == pugi::node_pi) &&
          (mentions_ias(c.value()) || mentions_ias(c.name()))) {
        targets.push_back(c);
      }
    }
    while (!stack.empty()) {
      auto n = stack.back();
      stack.pop_back();
      switch (n.type()) {
        case pugi::node_element:
          if (attributes_mention_ias(n) ||
              (local_name(n) == "Verification" && is_ias_vendor(n.attribute("vendor").value()))) {
            holders.push_back(n);
          }
          for (auto c : n.children()) stack.push_back(c);
          break;
        case pugi::node_pcdata:
        case pugi::node_cdata:
          if (mentions_ias(n.value())) holders.push_back(n.parent());
          break;
        case pugi::node_comment:
        case pugi::node_pi:
          if (mentions_ias(n.value()) || mentions_ias(n.name())) targets.push_back(n);
          break;
        default:
          break;
      }
    }
    for (auto h : holders) {
      if (auto t = removal_target(h)) targets.push_back(t);
    }
    // Only the outermost target of nested ones is removed (and recorded).
    auto inside_another = [&](const pugi::xml_node& n) {
      for (auto p = n.parent(); p; p = p.parent()) {
        if (std::find(targets.begin(), targets.end(), p) != targets.end()) return true;
      }
      return false;
    };
    std::vector<pugi::xml_node> outermost;
    for (auto t : targets) {
      if (!inside_another(t) && std::find(outermost.begin(), outermost.end(), t) == outermost.end()) {
        outermost.push_back(t);
      }
    }
    // Document order, so tags_removed reads like the source.
    std::vector<std::pair<ptrdiff_t, pugi::xml_node>> ordered;
    for (auto t : outermost) ordered.emplace_back(t.offset_debug(), t);
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [offset, t] : ordered) {
      std::string text = serialize(t);
      if (mentions_dv(text))
        out_.warnings.push_back("a DoubleVerify URL inside a removed IAS node was removed with it");
      out_.removed.push_back(std::move(text));
      t.parent().remove_child(t);
    }
  }

  // Which node goes when `holder` mentions IAS; null when nothing has to (HTML cleaned in place).
  pugi::xml_node removal_target(pugi::xml_node holder) {
    for (auto a = holder; a && a.type() == pugi::node_element; a = a.parent()) {
      if (local_name(a) == "Verification") return a;
    }
    std::string_view name = local_name(holder);
    if (name == "HTMLResource" && !attributes_mention_ias(holder)) {
      clean_html_resource(holder);
      if (!subtree_mentions_ias(holder)) return {};
    }
    if (one_of(name, kResources)) {
      auto parent = holder.parent();
      if (one_of(local_name(parent), kRemovableContainers)) {
        bool other_resource = false;
        for (auto c : parent.children()) {
          if (c != holder && c.type() == pugi::node_element && one_of(local_name(c), kResources) &&
              !subtree_mentions_ias(c)) {
            other_resource = true;
          }
        }
        return other_resource ? holder : parent;
      }
      return holder;
    }
    if (name == "MediaFile") {
      for (auto c : holder.parent().children()) {
        if (c != holder && local_name(c) == "MediaFile" && !subtree_mentions_ias(c)) return holder;
      }
      refuse("the only MediaFile points at IAS (adsafeprotected); it cannot be removed");
    }
    if (one_of(name, kRemovableLeaves)) return holder;
    for (auto a = holder.parent(); a && a.type() == pugi::node_element; a = a.parent()) {
      if (one_of(local_name(a), kRemovableContainers)) return a;
    }
    refuse("an IAS (adsafeprotected) reference in <" + std::string(name) +
           "> cannot be removed without breaking the VAST document");
  }

  void clean_html_resource(pugi::xml_node resource) {
    for (auto c : resource.children()) {
      if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata) continue;
      if (!mentions_ias(c.value())) continue;
      auto cleaned = remove_ias_from_html(c.value());
      c.set_value(cleaned.html.c_str());
      for (auto& r : cleaned.removed) out_.removed.push_back(std::move(r));
      for (auto& w : cleaned.warnings) out_.warnings.push_back(std::move(w));
    }
  }

  // --- macros ---

  // Maps macros in every text, CDATA and attribute value; returns whether a DV URL is present.
  bool map_macros_and_find_dv() {
    bool dv = false;
    std::vector<std::string> unknown;
    size_t replaced = 0;
    auto apply = [&](const char* value, auto&& set) {
      std::string_view v = value;
      if (v.find("${") != std::string_view::npos) {
        auto applied = macros_.apply(v, config_.amazon_macros);
        replaced += applied.replaced;
        for (auto& u : applied.unknown) {
          if (std::find(unknown.begin(), unknown.end(), u) == unknown.end()) unknown.push_back(u);
        }
        if (applied.text != v) set(applied.text);
      }
      if (mentions_dv(v)) {
        dv = true;
        remember_dv_context(v);
      }
    };
    std::vector<pugi::xml_node> stack{root_};
    while (!stack.empty()) {
      auto n = stack.back();
      stack.pop_back();
      if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
        apply(n.value(), [&](const std::string& t) { n.set_value(t.c_str()); });
      } else if (n.type() == pugi::node_element) {
        for (auto a : n.attributes()) apply(a.value(), [&](const std::string& t) { a.set_value(t.c_str()); });
        // Reverse push keeps document order for the first DV context and the unknown macros.
        std::vector<pugi::xml_node> kids;
        for (auto c : n.children()) kids.push_back(c);
        for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
      }
    }
    if (replaced > 0) out_.added.push_back("amazon_macros");
    for (const auto& u : unknown) out_.warnings.push_back("unknown macro ${" + u + "} left unchanged");
    return dv;
  }

  // DV's account id (ctx=...) from the first DV URL, reused in the quartile pixels we add.
  void remember_dv_context(std::string_view url) {
    if (!dv_context_.empty()) return;
    auto p = url.find("ctx=");
    if (p == std::string_view::npos) return;
    size_t end = p + 4;
    while (end < url.size() &&
           (std::isalnum(static_cast<unsigned char>(url[end])) || url[end] == '_' || url[end] == '-')) {
      ++end;
    }
    dv_context_ = std::string(url.substr(p + 4, end - p - 4));
  }

  // --- additions ---

  pugi::xml_node insert_ordered(pugi::xml_node parent, std::string_view name,
                                const std::vector<std::string_view>& order) {
    std::string qualified = prefix_ + std::string(name);
    auto index_of = [&](std::string_view n) {
      auto it = std::find(order.begin(), order.end(), n);
      return it == order.end() ? std::string_view::npos : static_cast<size_t>(it - order.begin());
    };
    size_t mine = index_of(name);
    pugi::xml_node after;
    for (auto c : parent.children()) {
      if (c.type() != pugi::node_element) continue;
      size_t i = index_of(local_name(c));
      if (i != std::string_view::npos && i <= mine) after = c;
    }
    if (after) return parent.insert_child_after(qualified.c_str(), after);
    for (auto c : parent.children()) {
      if (c.type() == pugi::node_element) return parent.insert_child_before(qualified.c_str(), c);
    }
    return parent.append_child(qualified.c_str());
  }

  static void set_cdata(pugi::xml_node n, const std::string& value) {
    while (auto c = n.first_child()) n.remove_child(c);
    n.append_child(pugi::node_cdata).set_value(value.c_str());
  }

  void added(std::string what) {
    if (std::find(out_.added.begin(), out_.added.end(), what) == out_.added.end())
      out_.added.push_back(std::move(what));
  }

  std::string macro(std::string_view kargo_name) const {
    if (!config_.amazon_macros) return "${" + std::string(kargo_name) + "}";
    return macros_.amazon_macro(kargo_name, "AMAZON_" + std::string(kargo_name));
  }

  void edit_ad(pugi::xml_node body, bool is_inline, const VastSchema& schema) {
    const auto& order = is_inline ? schema.inline_children : schema.wrapper_children;
    add_extensions(body, order);
    add_impression(body, order);
    for (auto creative : children_named(first_child(body, "Creatives"), "Creative")) {
      for (auto linear : children_named(creative, "Linear")) {
        if (is_inline) ensure_duration(linear, schema);
        if (config_.click_tracking) {
          if (is_inline) {
            set_click_through(linear, schema);
          } else {
            add_wrapper_click_tracking(linear, schema);
          }
        }
        if (config_.viewability.has_vendor(kVendorDoubleVerify)) {
          add_dv_quartiles(linear,
                           is_inline ? schema.inline_linear_children : schema.wrapper_linear_children);
        }
      }
    }
    if (config_.branded_canvas) ensure_companion(body, order, schema);
  }

  void add_extensions(pugi::xml_node body, const std::vector<std::string_view>& order) {
    auto extensions = first_child(body, "Extensions");
    if (!extensions) extensions = insert_ordered(body, "Extensions", order);
    // Re-processing an already processed VAST replaces our extensions instead of repeating them.
    for (auto e : children_named(extensions, "Extension")) {
      std::string_view type = e.attribute("type").value();
      if (type == "Amazon_DSP" || type == "IAS_S2S") extensions.remove_child(e);
    }
    const auto& v = config_.viewability;
    auto amazon = extensions.append_child((prefix_ + "Extension").c_str());
    amazon.append_attribute("type") = "Amazon_DSP";
    amazon.append_child("Phase").text() = std::string(phase_name(v.phase)).c_str();
    amazon.append_child("ViewabilityMethod").text() = v.method.c_str();
    set_cdata(amazon.append_child("CreativeName"), config_.name);
    added("amazon_dsp_extension");
    if (v.phase == ViewabilityPhase::kPhase2) {
      auto ias = extensions.append_child((prefix_ + "Extension").c_str());
      ias.append_attribute("type") = "IAS_S2S";
      set_cdata(ias.append_child("SeatId"), v.dsp_seat_id.value_or(""));
      set_cdata(ias.append_child("PublisherId"), v.pub_id.value_or(""));
      ias.append_child("MeasurementType").text() = "server_to_server";
      added("ias_s2s_extension");
    }
  }

  void add_impression(pugi::xml_node body, const std::vector<std::string_view>& order) {
    std::string url = macros_.amazon_macro("IMPRESSION_URL", "AMAZON_IMPRESSION_URL");
    auto impressions = children_named(body, "Impression");
    for (auto i : impressions) {
      if (text_of(i) == url) return;
    }
    auto n = impressions.empty()
                 ? insert_ordered(body, "Impression", order)
                 : body.insert_child_after((prefix_ + "Impression").c_str(), impressions.back());
    set_cdata(n, url);
    added("impression");
  }

  void ensure_duration(pugi::xml_node linear, const VastSchema& schema) {
    if (!config_.duration) return;
    auto d = first_child(linear, "Duration");
    if (!d) {
      d = insert_ordered(linear, "Duration", schema.inline_linear_children);
      d.text() = format_duration(*config_.duration).c_str();
      added("duration");
      return;
    }
    auto source = parse_duration(text_of(d));
    if (source && std::fabs(*source - *config_.duration) >= 0.5) {
      out_.warnings.push_back("duration " + format_duration(*config_.duration) +
                              " differs from the snippet's Duration " + text_of(d) +
                              "; the snippet's is kept");
    }
  }

  void set_click_through(pugi::xml_node linear, const VastSchema& schema) {
    std::string click = macros_.amazon_macro("CLICK_URL", "AMAZON_CLICK_URL");
    auto clicks = first_child(linear, "VideoClicks");
    if (!clicks) clicks = insert_ordered(linear, "VideoClicks", schema.inline_linear_children);
    auto through = first_child(clicks, "ClickThrough");
    if (!through) {
      through = insert_ordered(clicks, "ClickThrough", schema.inline_video_clicks_children);
    } else {
      std::string old = text_of(through);
      if (old == click) return;
      out_.warnings.push_back("ClickThrough " + std::string(first_line(old, 200)) + " replaced by " + click +
                              " (set the landing page in Amazon DSP)");
    }
    set_cdata(through, click);
    added("click_through");
  }

  // A Wrapper has no ClickThrough (the wrapped ad owns it): Amazon's click is tracked instead.
  void add_wrapper_click_tracking(pugi::xml_node linear, const VastSchema& schema) {
    std::string click = macros_.amazon_macro("CLICK_URL", "AMAZON_CLICK_URL");
    auto clicks = first_child(linear, "VideoClicks");
    if (!clicks) clicks = insert_ordered(linear, "VideoClicks", schema.wrapper_linear_children);
    for (auto t : children_named(clicks, "ClickTracking")) {
      if (text_of(t) == click) return;
    }
    set_cdata(insert_ordered(clicks, "ClickTracking", schema.wrapper_video_clicks_children), click);
    added("click_tracking");
  }

  std::string dv_event_url(std::string_view event) const {
    std::string url = "https://tps.doubleverify.com/event.jpg?";
    if (!dv_context_.empty()) url += "ctx=" + dv_context_ + "&";
    url += "cmp=" + macro("CAMPAIGN_ID") + "&sid=" + macro("SITE_ID") + "&plc=" + macro("PLACEMENT_ID") +
           "&crt=" + macro("CREATIVE_ID") + "&evt=" + std::string(event) + "&cb=" + macro("CACHEBUSTER");
    return url;
  }

  void add_dv_quartiles(pugi::xml_node linear, const std::vector<std::string_view>& order) {
    auto events = first_child(linear, "TrackingEvents");
    if (!events) events = insert_ordered(linear, "TrackingEvents", order);
    for (auto event : kQuartileEvents) {
      bool present = false;
      for (auto t : children_named(events, "Tracking")) {
        if (t.attribute("event").value() == event && mentions_dv(text_of(t))) present = true;
      }
      if (present) continue;
      auto t = events.append_child((prefix_ + "Tracking").c_str());
      t.append_attribute("event") = std::string(event).c_str();
      set_cdata(t, dv_event_url(event));
      added("dv_tracking");
    }
  }

  void ensure_companion(pugi::xml_node body, const std::vector<std::string_view>& order,
                        const VastSchema& schema) {
    if (!config_.dimensions) {
      out_.warnings.push_back("branded_canvas needs dimensions for its companion; none was added");
      return;
    }
    const auto& dim = *config_.dimensions;
    auto creatives = first_child(body, "Creatives");
    pugi::xml_node companion_ads;
    for (auto creative : children_named(creatives, "Creative")) {
      for (auto ads : children_named(creative, "CompanionAds")) {
        if (!companion_ads) companion_ads = ads;
        for (auto c : children_named(ads, "Companion")) {
          if (c.attribute("width").as_int() == dim.width && c.attribute("height").as_int() == dim.height)
            return;
        }
      }
    }
    if (!creatives) creatives = insert_ordered(body, "Creatives", order);
    if (!companion_ads) {
      if (schema.creative_holds_several) {
        // 4.x: CompanionAds sits beside the Linear in its Creative (which already has the
        // UniversalAdId an InLine creative needs).
        pugi::xml_node host;
        for (auto creative : children_named(creatives, "Creative")) {
          if (!host && first_child(creative, "Linear")) host = creative;
        }
        if (!host) host = first_child(creatives, "Creative");
        if (!host) host = creatives.append_child((prefix_ + "Creative").c_str());
        companion_ads = insert_ordered(host, "CompanionAds", schema.creative_children);
      } else {
        // 2.0/3.0: a Creative holds exactly one of Linear, CompanionAds and NonLinearAds.
        auto creative = creatives.append_child((prefix_ + "Creative").c_str());
        creative.append_attribute("id") = std::string(kBrandedCanvasId).c_str();
        companion_ads = creative.append_child((prefix_ + "CompanionAds").c_str());
      }
    }
    auto companion = companion_ads.append_child((prefix_ + "Companion").c_str());
    companion.append_attribute("id") = std::string(kBrandedCanvasId).c_str();
    companion.append_attribute("width") = dim.width;
    companion.append_attribute("height") = dim.height;
    set_cdata(companion.append_child((prefix_ + "HTMLResource").c_str()),
              "<div class=\"amazon-dsp-branded-canvas\" data-creative-name=\"" +
                  html_attribute_escape(config_.name) + "\" style=\"width:" + std::to_string(dim.width) +
                  "px;height:" + std::to_string(dim.height) + "px\"></div>");
    if (config_.click_tracking) {
      set_cdata(companion.append_child((prefix_ + "CompanionClickThrough").c_str()),
                macros_.amazon_macro("CLICK_URL", "AMAZON_CLICK_URL"));
    }
    added("companion_ads");
  }

  const CreativeConfig& config_;
  const MacroTable& macros_;
  pugi::xml_document doc_;
  pugi::xml_node root_;
  std::string prefix_;
  VastVersion version_ = VastVersion::k30;
  std::string dv_context_;
  VastOutcome out_;
};

}  // namespace

VastOutcome transform_vast(std::string_view snippet, const CreativeConfig& config, const MacroTable& macros) {
  return VastEditor(config, macros).run(snippet);
}

}  // namespace kargo::domain::detail
