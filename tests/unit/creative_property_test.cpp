// Property tests over generated snippets: a seeded generator mixes IAS, DoubleVerify and other
// tags (random case, quoting, attribute order, protocol-relative URLs, nesting, noscript) and
// every output is checked against the rules, not against a stored answer.
#include <gtest/gtest.h>
#include <gumbo.h>

#include <pugixml.hpp>
#include <random>

#include "creative_support.hpp"

namespace kargo::domain {
namespace {

using creative_test::count_ci;
using creative_test::creative_config;

constexpr int kIterations = 300;

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool coin() { return below(2) == 0; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  std::string random_case(std::string s) {
    for (auto& c : s) {
      if (coin()) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
  }
  std::string word() { return pick<std::string>({"alpha", "Bravo", "charlie", "delta 42", "echo", "x"}); }
  std::string quoted(const std::string& value) {
    switch (below(3)) {
      case 0:
        return "\"" + value + "\"";
      case 1:
        return "'" + value + "'";
      default:
        return value;  // unquoted: the generated URLs have no spaces, quotes, '>' or '`'
    }
  }
  std::string scheme() { return pick<std::string>({"https://", "http://", "//"}); }
  std::string tag(const std::string& name, std::vector<std::string> attrs, bool void_element,
                  const std::string& body = "") {
    std::shuffle(attrs.begin(), attrs.end(), rng_);
    std::string n = random_case(name);
    std::string out = "<" + n;
    for (const auto& a : attrs) out += " " + a;
    out += ">";
    if (!void_element) out += body + "</" + random_case(name) + ">";
    return out;
  }

 private:
  std::mt19937 rng_;
};

struct HtmlSample {
  std::string source;
  std::string expected_clean;  // the source minus the IAS elements
  std::vector<std::string> dv_urls;
  size_t ias_count = 0;
};

void add_piece(Gen& g, HtmlSample& s, int depth) {
  size_t kind = g.below(depth < 3 ? 6 : 5);
  if (kind == 0 || kind == 1) {  // IAS
    std::string host =
        g.random_case(g.pick<std::string>({"pixel.adsafeprotected.com", "fw.adsafeprotected.com",
                                           "static.adsafeprotected.com", "adsafeprotected.com"}));
    std::string url = g.scheme() + host + "/rfw/st/" + std::to_string(g.below(1000)) + "/x.gif?cb=1";
    std::string ias;
    switch (g.below(6)) {
      case 0:
        ias = g.tag("img", {"src=" + g.quoted(url), "width=1", "alt=" + g.quoted("")}, true);
        break;
      case 1:
        ias = g.tag("script", {"src=" + g.quoted(url), "async"}, false);
        break;
      case 2:
        ias = g.tag("iframe", {"src=" + g.quoted(url), "width=0", "height=0"}, false);
        break;
      case 3:
        ias = g.tag("script", {"type=\"text/javascript\""}, false, "var i=new Image();i.src='" + url + "';");
        break;
      case 4:
        ias = g.tag("link", {"rel=preconnect", "href=" + g.quoted(url)}, true);
        break;
      default:
        ias = g.tag("div", {"data-track=" + g.quoted(url), "class=t"}, false, g.word());
        break;
    }
    ++s.ias_count;
    if (g.below(4) == 0) {  // inside a noscript: only the IAS element goes
      s.source += "<noscript>" + ias + "</noscript>";
      s.expected_clean += "<noscript></noscript>";
    } else {
      s.source += ias;
    }
  } else if (kind == 2) {  // DoubleVerify
    std::string host =
        g.random_case(g.pick<std::string>({"cdn.doubleverify.com", "tps.doubleverify.com", "tps.dvtps.com"}));
    std::string url = g.scheme() + host + "/visit.jpg?ctx=" + std::to_string(g.below(100000));
    std::string dv = g.coin() ? g.tag("img", {"src=" + g.quoted(url), "alt=\"\""}, true)
                              : g.tag("script", {"src=" + g.quoted(url)}, false);
    s.dv_urls.push_back(url);
    s.source += dv;
    s.expected_clean += dv;
  } else if (kind == 3) {
    std::string other =
        g.coin() ? g.tag("img", {"src=" + g.quoted("https://ad.doubleclick.net/x"), "width=1"}, true)
                 : g.tag("span", {"class=" + g.quoted("k")}, false, g.word());
    s.source += other;
    s.expected_clean += other;
  } else if (kind == 4) {
    std::string text = " " + g.word() + "\n";
    s.source += text;
    s.expected_clean += text;
  } else {
    std::string open = "<" + g.random_case("div") + " class=\"c" + std::to_string(depth) + "\">";
    std::string close = "</" + g.random_case("div") + ">";
    s.source += open;
    s.expected_clean += open;
    size_t n = 1 + g.below(4);
    for (size_t i = 0; i < n; ++i) add_piece(g, s, depth + 1);
    s.source += close;
    s.expected_clean += close;
  }
}

HtmlSample html_sample(uint32_t seed) {
  Gen g(seed);
  HtmlSample s;
  size_t n = 1 + g.below(8);
  for (size_t i = 0; i < n; ++i) add_piece(g, s, 0);
  return s;
}

// The cleaned snippet inside the wrapper: after the last config <script>, before the final </div>.
std::string cleaned_part(const std::string& out) {
  auto header_end = out.rfind("</script>\n", out.find("</script>\n", out.find("amazon-config")) + 10);
  size_t start = out.find("</script>\n", out.find("amazon-config")) + 10;
  if (out.find("ias-s2s-config") != std::string::npos)
    start = out.find("</script>\n", out.find("ias-s2s-config")) + 10;
  (void)header_end;
  return out.substr(start, out.size() - start - 6);
}

TEST(CreativePropertyTest, GeneratedHtmlLosesAllIasKeepsDvAndEveryOtherByte) {
  for (int i = 0; i < kIterations; ++i) {
    auto s = html_sample(static_cast<uint32_t>(i));
    auto config = creative_config("runway", i % 2 ? "phase_2" : "phase_1");
    auto r = transform(s.source, config, MacroTable::defaults());
    SCOPED_TRACE("seed " + std::to_string(i) + "\n" + s.source);
    EXPECT_EQ(count_ci(r.processed_code, "adsafeprotected"), 0u);
    for (const auto& url : s.dv_urls) EXPECT_NE(r.processed_code.find(url), std::string::npos) << url;
    EXPECT_EQ(cleaned_part(r.processed_code), s.expected_clean);
    EXPECT_EQ(r.metadata.tags_removed.size(), s.ias_count);
    EXPECT_EQ(transform(s.source, config, MacroTable::defaults()).processed_code, r.processed_code);
    // The output is one wrapper element when parsed as a fragment.
    GumboOptions options = kGumboDefaultOptions;
    options.fragment_context = GUMBO_TAG_DIV;
    GumboOutput* parsed =
        gumbo_parse_with_options(&options, r.processed_code.data(), r.processed_code.size());
    const GumboVector& top = parsed->root->v.element.children;
    ASSERT_EQ(top.length, 1u);
    EXPECT_EQ(static_cast<GumboNode*>(top.data[0])->v.element.tag, GUMBO_TAG_DIV);
    gumbo_destroy_output(&options, parsed);
  }
}

struct VastSample {
  std::string xml;
  std::string version;
  std::vector<std::string> dv_urls;
};

std::string cdata(const std::string& url) { return "<![CDATA[" + url + "]]>"; }

VastSample vast_sample(uint32_t seed) {
  Gen g(seed);
  VastSample s;
  s.version = g.pick<std::string>({"2.0", "3.0", "4.0", "4.1", "4.2"});
  bool v4 = s.version[0] == '4';
  bool is_inline = g.below(3) != 0;
  auto url = [&](const std::string& what) -> std::string {
    switch (g.below(3)) {
      case 0: {
        std::string u = "https://" + g.random_case("pixel.adsafeprotected.com") + "/" + what + "/" +
                        std::to_string(g.below(999));
        return u;
      }
      case 1: {
        std::string u = "https://" + g.random_case("tps.doubleverify.com") + "/event.jpg?evt=" + what +
                        "&n=" + std::to_string(g.below(99999));
        s.dv_urls.push_back(u);
        return u;
      }
      default:
        return "https://t.kargo.com/" + what + "/" + std::to_string(g.below(999));
    }
  };
  auto repeat = [&](size_t max, auto&& make) {
    std::string out;
    size_t n = g.below(max + 1);
    for (size_t i = 0; i < n; ++i) out += make();
    return out;
  };
  auto impressions = [&] {
    return "<Impression>" + cdata(url("imp")) + "</Impression>" +
           repeat(2, [&] { return "<Impression>" + cdata(url("imp")) + "</Impression>"; });
  };
  auto tracking = [&] {
    return "<TrackingEvents>" +
           repeat(4,
                  [&] {
                    std::string e = g.pick<std::string>(
                        {"start", "firstQuartile", "midpoint", "thirdQuartile", "complete"});
                    return "<Tracking event=\"" + e + "\">" + cdata(url(e)) + "</Tracking>";
                  }) +
           "</TrackingEvents>";
  };
  auto click_tracking = [&] {
    return repeat(2, [&] { return "<ClickTracking>" + cdata(url("click")) + "</ClickTracking>"; });
  };
  std::string error = g.coin() ? "<Error>" + cdata(url("err")) + "</Error>" : "";
  std::string media =
      "<MediaFiles><MediaFile delivery=\"progressive\" type=\"video/mp4\" width=\"640\" height=\"360\">" +
      cdata("https://cdn.kargo.com/v.mp4") + "</MediaFile></MediaFiles>";
  std::string body;
  if (is_inline) {
    std::string through = g.coin() ? "<ClickThrough>" + cdata("${CLICK_URL}") + "</ClickThrough>" : "";
    std::string clicks = v4 ? "<VideoClicks>" + click_tracking() + through + "</VideoClicks>"
                            : "<VideoClicks>" + through + click_tracking() + "</VideoClicks>";
    std::string linear = v4 ? tracking() + "<Duration>00:00:15</Duration>" + media + clicks
                            : "<Duration>00:00:15</Duration>" + tracking() + clicks + media;
    std::string uid = s.version == "4.0"
                          ? "<UniversalAdId idRegistry=\"Ad-ID\" idValue=\"X\">X</UniversalAdId>"
                      : v4 ? "<UniversalAdId idRegistry=\"Ad-ID\">X</UniversalAdId>"
                           : "";
    std::string creatives =
        "<Creatives><Creative id=\"c\"><Linear>" + linear + "</Linear>" + uid + "</Creative></Creatives>";
    if (v4) {
      body = "<InLine><AdSystem>Kargo</AdSystem>" + error + impressions() +
             (s.version != "4.0" ? "<AdServingId>s</AdServingId>" : "") + "<AdTitle>t</AdTitle>" + creatives +
             "</InLine>";
    } else {
      body = "<InLine><AdSystem>Kargo</AdSystem><AdTitle>t</AdTitle>" + error + impressions() + creatives +
             "</InLine>";
    }
  } else {
    std::string creatives = "<Creatives><Creative><Linear>" + tracking() + "<VideoClicks>" +
                            click_tracking() + "</VideoClicks></Linear></Creative></Creatives>";
    std::string tag_uri = "<VASTAdTagURI>" + cdata("https://ads.kargo.com/vast.xml") + "</VASTAdTagURI>";
    body = v4 ? "<Wrapper><AdSystem>Kargo</AdSystem>" + error + impressions() + creatives + tag_uri +
                    "</Wrapper>"
              : "<Wrapper><AdSystem>Kargo</AdSystem>" + tag_uri + error + impressions() + creatives +
                    "</Wrapper>";
  }
  std::string ns = v4 ? " xmlns=\"http://www.iab.com/VAST\"" : "";
  s.xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VAST version=\"" + s.version + "\"" + ns +
          "><Ad id=\"a\">" + body + "</Ad></VAST>";
  return s;
}

TEST(CreativePropertyTest, GeneratedVastLosesAllIasKeepsDvAndStaysSchemaValid) {
  for (int i = 0; i < kIterations; ++i) {
    auto s = vast_sample(static_cast<uint32_t>(i));
    SCOPED_TRACE("seed " + std::to_string(i) + "\n" + s.xml);
    ASSERT_EQ(creative_test::vast_schema_errors(s.xml, s.version), "") << "generator bug";
    auto config = creative_config(
        i % 3 == 0 ? "audio" : "instream_video", i % 2 ? "phase_2" : "phase_1",
        {{"vast_version", s.version}, {"branded_canvas", i % 4 == 0}, {"dimensions", "300x250"}});
    auto r = transform(s.xml, config, MacroTable::defaults());
    EXPECT_EQ(count_ci(r.processed_code, "adsafeprotected"), 0u);
    for (const auto& url : s.dv_urls) EXPECT_NE(r.processed_code.find(url), std::string::npos) << url;
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_buffer(r.processed_code.data(), r.processed_code.size()));
    EXPECT_EQ(creative_test::vast_schema_errors(r.processed_code, s.version), "") << r.processed_code;
    EXPECT_EQ(transform(s.xml, config, MacroTable::defaults()).processed_code, r.processed_code);
    EXPECT_EQ(r.vast_version, s.version);
  }
}

}  // namespace
}  // namespace kargo::domain
