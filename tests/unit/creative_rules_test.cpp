// One test per transformation rule of contract section 4, on small hand-written snippets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "creative_support.hpp"
#include "kargo/core/error.hpp"

namespace kargo::domain {
namespace {

using creative_test::count_ci;
using creative_test::creative_config;
using creative_test::vast_schema_errors;

TransformResult run(std::string_view snippet, const std::string& format, const std::string& phase,
                    const nlohmann::json& overrides = nlohmann::json::object()) {
  return transform(snippet, creative_config(format, phase, overrides), MacroTable::defaults());
}

std::vector<FieldError> refusal(std::string_view snippet, const std::string& format,
                                const nlohmann::json& overrides = nlohmann::json::object()) {
  try {
    run(snippet, format, "phase_1", overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422);
    return e.details();
  }
  ADD_FAILURE() << "not refused";
  return {};
}

// The JSON inside <script class="CLASS">...</script>.
nlohmann::json embedded_json(const std::string& html, const std::string& cls) {
  std::string open = "class=\"" + cls + "\">";
  auto start = html.find(open);
  EXPECT_NE(start, std::string::npos);
  start += open.size();
  auto end = html.find("</script>", start);
  return nlohmann::json::parse(html.substr(start, end - start));
}

std::string minimal_vast(const std::string& version, const std::string& inline_body,
                         const std::string& linear_body) {
  std::string ns = version[0] == '4' ? " xmlns=\"http://www.iab.com/VAST\"" : "";
  return "<VAST version=\"" + version + "\"" + ns + "><Ad id=\"a\"><InLine>" + inline_body +
         "<Creatives><Creative id=\"c\"><Linear>" + linear_body + "</Linear>" +
         (version == "4.0"    ? "<UniversalAdId idRegistry=\"Ad-ID\" idValue=\"X\">X</UniversalAdId>"
          : version[0] == '4' ? "<UniversalAdId idRegistry=\"Ad-ID\">X</UniversalAdId>"
                              : "") +
         "</Creative></Creatives></InLine></Ad></VAST>";
}

// --- runway (HTML) ---

TEST(CreativeHtmlTest, WrapsTheCleanedSnippetInOneDisplayWrapper) {
  auto r = run("<p>ad</p>", "runway", "phase_1");
  EXPECT_TRUE(r.processed_code.starts_with(
      "<div class=\"amazon-dsp-display-wrapper\" data-phase=\"phase_1\" data-format=\"runway\">\n"
      "<script type=\"application/json\" class=\"amazon-config\">"));
  EXPECT_TRUE(r.processed_code.ends_with("<p>ad</p></div>"));
  EXPECT_EQ(r.processed_code.find("ias-s2s-config"), std::string::npos);
  EXPECT_EQ(r.creative_type, "CUSTOM_HTML");
  EXPECT_EQ(r.media_type, MediaType::kDisplay);
  EXPECT_TRUE(r.amazon_dsp_ready);
  auto config = embedded_json(r.processed_code, "amazon-config");
  EXPECT_EQ(config["format"], "runway");
  EXPECT_EQ(config["creative_name"], "Test creative");
  EXPECT_EQ(config["dimensions"], "320x50");
  EXPECT_EQ(config["device_type"], "mobile");
  EXPECT_EQ(config["phase"], "phase_1");
  EXPECT_EQ(config["viewability_vendors"], nlohmann::json({"double_verify"}));
  EXPECT_EQ(config["viewability_method"], "platform_native");
  EXPECT_EQ(config["click_url"], "${AMAZON_CLICK_URL}");
}

TEST(CreativeHtmlTest, Phase2AddsTheIasServerToServerConfigAfterTheAmazonConfig) {
  auto r = run("<p>ad</p>", "runway", "phase_2");
  auto amazon = r.processed_code.find("amazon-config");
  auto ias = r.processed_code.find("ias-s2s-config");
  ASSERT_NE(ias, std::string::npos);
  EXPECT_LT(amazon, ias);
  auto j = embedded_json(r.processed_code, "ias-s2s-config");
  EXPECT_EQ(
      j, nlohmann::json(
             {{"seat_id", "seat-1"}, {"publisher_id", "pub-1"}, {"measurement_method", "server_to_server"}}));
}

TEST(CreativeHtmlTest, EmbeddedJsonParsesBackToTheExactNameAndNeverEndsTheScript) {
  const std::string name = "A \"quoted\" </script><!-- --> <SCRIPT> & ]]> \u2028\u2029 日本語 🎉 \\ end";
  auto r = run("<p>ad</p>", "runway", "phase_1", {{"name", name}});
  auto open = r.processed_code.find("class=\"amazon-config\">");
  auto close = r.processed_code.find("</script>", open);
  std::string json = r.processed_code.substr(open, close - open);
  EXPECT_EQ(json.find('<'), std::string::npos);
  EXPECT_EQ(json.find("\u2028"), std::string::npos);
  EXPECT_EQ(embedded_json(r.processed_code, "amazon-config")["creative_name"], name);
}

TEST(CreativeHtmlTest, ClickUrlOnlyWithClickTracking) {
  auto r = run("<p>ad</p>", "runway", "phase_1", {{"click_tracking", false}});
  EXPECT_FALSE(embedded_json(r.processed_code, "amazon-config").contains("click_url"));
}

TEST(CreativeHtmlTest, RemovesIasElementsKeepingEveryOtherByte) {
  std::string before = "<div a=1>\n <b>x</b>";
  std::string ias = "<img src=\"https://pixel.adsafeprotected.com/x.gif\">";
  std::string after = "\n<i>y</i></div>";
  auto r = run(before + ias + after, "runway", "phase_1");
  EXPECT_NE(r.processed_code.find(before + after), std::string::npos);
  EXPECT_EQ(r.metadata.tags_removed, std::vector<std::string>{ias});
}

// Snippets above the parser's arena limit (64 KiB) are parsed with malloc; below it with the
// per-thread arena, which the next parse reuses. Both give the same cut, parse after parse.
TEST(CreativeHtmlTest, CutsTheSameWayForSmallAndLargeSnippetsAndRepeatedParses) {
  std::string ias = "<img src=\"https://pixel.adsafeprotected.com/x.gif\">";
  std::string dv =
      "<noscript><img src=\"//pixel.adsafeprotected.com/n.gif\"><img "
      "src=\"//tps.doubleverify.com/v.jpg\"></noscript>";
  for (size_t filler : {size_t{10}, size_t{200 * 1024}, size_t{10}, size_t{70 * 1024}}) {
    std::string padding = "<p>" + std::string(filler, 'k') + "</p>";
    auto r = run(padding + ias + dv + padding, "runway", "phase_1");
    EXPECT_EQ(count_ci(r.processed_code, "adsafeprotected"), 0u) << filler;
    EXPECT_NE(r.processed_code.find(
                  padding + "<noscript><img src=\"//tps.doubleverify.com/v.jpg\"></noscript>" + padding),
              std::string::npos)
        << filler;
    EXPECT_EQ(r.metadata.tags_removed.size(), 2u) << filler;
  }
}

TEST(CreativeHtmlTest, RecognisesIasInAnyCaseQuotingAndProtocolRelativeForm) {
  for (std::string tag :
       {"<IMG SRC='//PIXEL.ADSAFEPROTECTED.COM/a'>", "<img src=//pixel.adsafeprotected.com/a>",
        "<iframe src=\"https://Static.AdSafeProtected.com/f\"></iframe>",
        "<script src=\"//fw.adsafeprotected.com/a.js\" async></script>",
        "<embed src=\"https://fw.adsafeprotected.com/a.swf\">",
        "<img srcset=\"https://pixel.adsafeprotected.com/a 1x\">",
        "<img src=\"https://pixel.adsafe&#112;rotected.com/a\">",
        "<script>new Image().src='https://pixel.adsafeprotected.com/'+1</script>",
        "<!-- adsafeprotected.com -->"}) {
    auto r = run("<p>keep</p>" + tag + "<p>keep</p>", "runway", "phase_1");
    EXPECT_EQ(count_ci(r.processed_code, "adsafeprotected"), 0u) << tag;
    EXPECT_EQ(count_ci(r.processed_code, "adsafe&#112;rotected"), 0u) << tag;
    EXPECT_EQ(r.metadata.tags_removed, std::vector<std::string>{tag});
    EXPECT_NE(r.processed_code.find("<p>keep</p><p>keep</p>"), std::string::npos) << tag;
  }
}

TEST(CreativeHtmlTest, CutsOnlyTheIasElementInsideNoscript) {
  auto r =
      run("<noscript><img src=\"//pixel.adsafeprotected.com/n.gif\"><img "
          "src=\"//tps.doubleverify.com/v.jpg\"></noscript>",
          "runway", "phase_1");
  EXPECT_NE(r.processed_code.find("<noscript><img src=\"//tps.doubleverify.com/v.jpg\"></noscript>"),
            std::string::npos);
}

TEST(CreativeHtmlTest, KeepsDoubleVerifyInEveryFormButNotDoubleclickAsDv) {
  std::string dv =
      "<script src=\"https://cdn.doubleverify.com/dvtp_src.js\"></script><img src=//tps.doubleverify.com/v>"
      "<IMG SRC='HTTPS://TPS.DVTPS.COM/V'><iframe src=\"https://cdn.doubleverify.com/f\"></iframe>"
      "<script>var u='https:\\/\\/cdn.doubleverify.com\\/x.js';</script>";
  auto r = run(dv, "runway", "phase_1");
  EXPECT_NE(r.processed_code.find(dv), std::string::npos);
  EXPECT_TRUE(r.metadata.tags_removed.empty());
  EXPECT_TRUE(r.metadata.warnings.empty());
  auto doubleclick = run("<img src=\"https://ad.doubleclick.net/x\">", "runway", "phase_1");
  EXPECT_EQ(doubleclick.metadata.warnings,
            std::vector<std::string>{"phase_1 snippet has no DoubleVerify tag"});
}

TEST(CreativeHtmlTest, WarnsForUnknownMacrosAndNonStandardSizes) {
  auto r =
      run("<a href=\"${CLICK_URL}&d=${DEAL}\">x</a><script>`${w}`</script><img src=//cdn.doubleverify.com/a>",
          "runway", "phase_1", {{"dimensions", "321x50"}});
  EXPECT_NE(r.processed_code.find("${AMAZON_CLICK_URL}&d=${DEAL}"), std::string::npos);
  EXPECT_NE(r.processed_code.find("`${w}`"), std::string::npos);
  EXPECT_EQ(r.metadata.warnings,
            (std::vector<std::string>{"unknown macro ${DEAL} left unchanged",
                                      "dimensions 321x50 is not a standard IAB size for display"}));
}

TEST(CreativeHtmlTest, CacheBusterIsAlwaysAMacro) {
  auto r = run("<img src=\"https://t.kargo.com/i?cb=${CACHEBUSTER}\">", "runway", "phase_1");
  EXPECT_NE(r.processed_code.find("cb=${AMAZON_CACHEBUSTER}"), std::string::npos);
  EXPECT_EQ(embedded_json(r.processed_code, "amazon-config")["cache_buster"], "${AMAZON_CACHEBUSTER}");
}

// --- VAST ---

TEST(CreativeVastTest, RefusesASnippetThatIsNotVastForVideoAndAudio) {
  for (const char* format : {"instream_video", "enhanced_preroll", "audio"}) {
    auto errors = refusal("<div>not vast</div>", format);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].field, "snippet");
    EXPECT_TRUE(errors[0].message.starts_with("must be a VAST document")) << errors[0].message;
  }
  EXPECT_EQ(refusal("<VAST version=\"4.3\"><Ad/></VAST>", "instream_video")[0].message,
            "VAST version \"4.3\" is not supported (2.0, 3.0, 4.0, 4.1, 4.2)");
  EXPECT_EQ(refusal("<VAST version=\"3.0\"></VAST>", "audio")[0].message,
            "the VAST document has no InLine or Wrapper ad");
  EXPECT_EQ(refusal("<VAST version=\"3.0\"><Ad>", "audio")[0].field, "snippet");
}

TEST(CreativeVastTest, RefusesEmptyAndOversizedSnippets) {
  EXPECT_EQ(refusal("", "runway")[0].message, "must not be empty");
  EXPECT_EQ(refusal(std::string(kMaxSnippetBytes + 1, ' '), "runway")[0].message,
            "must be at most 1048576 bytes (1 MiB)");
}

TEST(CreativeVastTest, ReportsTheSourceVersionAndWarnsOnAConfigMismatch) {
  auto r = run(creative_test::read_repo_file("fixtures/snippets/instream_81400.xml"), "instream_video",
               "phase_1", {{"vast_version", "3.0"}, {"duration", 30}});
  EXPECT_EQ(r.vast_version, "4.2");
  EXPECT_EQ(r.creative_type, "VAST_4_2");
  EXPECT_NE(std::find(r.metadata.warnings.begin(), r.metadata.warnings.end(),
                      "vast_version 3.0 differs from the snippet's VAST 4.2; the snippet's version is kept"),
            r.metadata.warnings.end());
  EXPECT_NE(r.processed_code.find("<VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\">"),
            std::string::npos);
}

TEST(CreativeVastTest, VastVersionLeftUnsetTakesTheSnippetsVersionWithoutAWarning) {
  for (std::string version : {"2.0", "3.0", "4.0", "4.1", "4.2"}) {
    SCOPED_TRACE(version);
    auto r = run(minimal_vast(version, "<AdSystem>K</AdSystem><AdTitle>T</AdTitle>", ""), "instream_video",
                 "phase_1", {{"duration", 10}});
    EXPECT_EQ(r.vast_version, version);
    for (const auto& w : r.metadata.warnings) EXPECT_EQ(w.find("vast_version"), std::string::npos) << w;
  }
}

TEST(CreativeVastTest, WarnsOnlyWhenAnExplicitVastVersionDiffersFromTheSnippets) {
  auto mentions_version = [](const TransformResult& r) {
    return std::count_if(r.metadata.warnings.begin(), r.metadata.warnings.end(),
                         [](const std::string& w) { return w.starts_with("vast_version "); });
  };
  std::string vast_4_1 =
      minimal_vast("4.1", "<AdSystem>K</AdSystem><AdServingId>s</AdServingId><AdTitle>T</AdTitle>", "");
  EXPECT_EQ(mentions_version(run(vast_4_1, "audio", "phase_1", {{"vast_version", "4.1"}})), 0);
  auto differs = run(vast_4_1, "audio", "phase_1", {{"vast_version", "4.2"}});
  EXPECT_EQ(mentions_version(differs), 1);
  EXPECT_EQ(differs.vast_version, "4.1");
  // 2.0.1 is VAST 2.0: the same version written longer is not a difference.
  std::string vast_2_0_1 = minimal_vast("2.0", "<AdSystem>K</AdSystem><AdTitle>T</AdTitle>", "");
  vast_2_0_1.replace(vast_2_0_1.find("\"2.0\""), 5, "\"2.0.1\"");
  EXPECT_EQ(mentions_version(run(vast_2_0_1, "audio", "phase_1", {{"vast_version", "2.0"}})), 0);
}

TEST(CreativeVastTest, PutsExtensionsBeforeImpressionIn4xAndLastIn2xAnd3x) {
  for (std::string version : {"2.0", "3.0", "4.0", "4.1", "4.2"}) {
    std::string inline_body = "<AdSystem>K</AdSystem><Impression>https://t/i</Impression>" +
                              std::string(version >= "4.1" ? "<AdServingId>s</AdServingId>" : "") +
                              "<AdTitle>t</AdTitle>";
    if (version[0] != '4')
      inline_body = "<AdSystem>K</AdSystem><AdTitle>t</AdTitle><Impression>https://t/i</Impression>";
    auto xml = minimal_vast(
        version, inline_body,
        "<Duration>00:00:10</Duration><MediaFiles><MediaFile delivery=\"progressive\" "
        "type=\"video/mp4\" width=\"640\" height=\"360\">https://c/v.mp4</MediaFile></MediaFiles>");
    ASSERT_EQ(vast_schema_errors(xml, version), "") << version;
    auto r = run(xml, "instream_video", "phase_2", {{"vast_version", version}, {"duration", 10}});
    EXPECT_EQ(vast_schema_errors(r.processed_code, version), "") << version << "\n" << r.processed_code;
    auto ext = r.processed_code.find("<Extensions>");
    auto imp = r.processed_code.find("<Impression><![CDATA[${AMAZON_IMPRESSION_URL}");
    if (version[0] == '4') {
      EXPECT_LT(ext, imp) << version;
    } else {
      EXPECT_GT(ext, imp) << version;
    }
    // Impression comes before Creatives everywhere; ClickThrough added into a new VideoClicks.
    EXPECT_LT(imp, r.processed_code.find("<Creatives>"));
    EXPECT_NE(r.processed_code.find("<ClickThrough><![CDATA[${AMAZON_CLICK_URL}]]></ClickThrough>"),
              std::string::npos);
    EXPECT_NE(r.processed_code.find("<MeasurementType>server_to_server</MeasurementType>"),
              std::string::npos);
  }
}

TEST(CreativeVastTest, PutsClickThroughFirstIn2xAnd3xAndAfterClickTrackingIn4x) {
  for (std::string version : {"3.0", "4.0", "4.1", "4.2"}) {
    std::string inline_body =
        version[0] == '4'
            ? "<AdSystem>K</AdSystem><Impression>https://t/i</Impression>" +
                  std::string(version >= "4.1" ? "<AdServingId>s</AdServingId>" : "") + "<AdTitle>t</AdTitle>"
            : "<AdSystem>K</AdSystem><AdTitle>t</AdTitle><Impression>https://t/i</Impression>";
    std::string media =
        "<MediaFiles><MediaFile delivery=\"progressive\" type=\"video/mp4\" width=\"640\" height=\"360\">"
        "https://c/v.mp4</MediaFile></MediaFiles>";
    std::string clicks = "<VideoClicks><ClickTracking>https://t/c</ClickTracking></VideoClicks>";
    std::string linear = version[0] == '4' ? "<Duration>00:00:10</Duration>" + media + clicks
                                           : "<Duration>00:00:10</Duration>" + clicks + media;
    auto xml = minimal_vast(version, inline_body, linear);
    ASSERT_EQ(vast_schema_errors(xml, version), "") << version;
    auto r = run(xml, "instream_video", "phase_1", {{"vast_version", version}, {"duration", 10}});
    EXPECT_EQ(vast_schema_errors(r.processed_code, version), "") << version << "\n" << r.processed_code;
    bool last = version[0] == '4';
    EXPECT_EQ(r.processed_code.find("<ClickThrough>") > r.processed_code.find("<ClickTracking>"), last)
        << version;
  }
}

TEST(CreativeVastTest, AddsMissingDvQuartilesAndKeepsExistingOnes) {
  auto r = run(creative_test::read_repo_file("fixtures/snippets/preroll_81172.xml"), "enhanced_preroll",
               "phase_1");
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(r.processed_code.c_str()));
  std::map<std::string, int> dv_events;
  for (auto t : doc.select_nodes("//Tracking")) {
    std::string url = t.node().text().get();
    if (url.find("doubleverify.com") != std::string::npos) ++dv_events[t.node().attribute("event").value()];
  }
  for (const char* e : {"start", "firstQuartile", "midpoint", "thirdQuartile", "complete"})
    EXPECT_EQ(dv_events[e], 1) << e;
  EXPECT_NE(r.processed_code.find(
                "https://tps.doubleverify.com/event.jpg?ctx=700001&cmp=${AMAZON_CAMPAIGN_ID}&evt=start"),
            std::string::npos);
}

TEST(CreativeVastTest, RemovesIasNodesAndRecordsEachOne) {
  auto r = run(creative_test::read_repo_file("fixtures/snippets/preroll_81172.xml"), "enhanced_preroll",
               "phase_1");
  EXPECT_EQ(count_ci(r.processed_code, "adsafeprotected"), 0u);
  ASSERT_EQ(r.metadata.tags_removed.size(), 2u);
  EXPECT_TRUE(r.metadata.tags_removed[0].starts_with("<Impression>"));
  EXPECT_TRUE(r.metadata.tags_removed[1].starts_with("<Tracking event=\"start\">"));
}

TEST(CreativeVastTest, RemovesTheWholeIasVerificationAndKeepsDvs) {
  auto r = run(creative_test::read_repo_file("fixtures/snippets/instream_81400.xml"), "instream_video",
               "phase_1", {{"duration", 30}});
  ASSERT_EQ(r.metadata.tags_removed.size(), 1u);
  EXPECT_TRUE(r.metadata.tags_removed[0].starts_with("<Verification vendor=\"integralads.com-omid\">"));
  EXPECT_NE(r.processed_code.find("<Verification vendor=\"doubleverify.com-omid\">"), std::string::npos);
  EXPECT_NE(
      r.processed_code.find("https://cdn.doubleverify.com/dvtp_src.js#ctx=700001&cmp=${AMAZON_CAMPAIGN_ID}"),
      std::string::npos);
}

TEST(CreativeVastTest, AddsDurationWhenMissing) {
  auto r = run(creative_test::read_repo_file("tests/fixtures/creatives/vast_4_2_missing_duration.xml"),
               "instream_video", "phase_1", {{"duration", 90.25}});
  EXPECT_NE(r.processed_code.find("<Duration>00:01:30.250</Duration>"), std::string::npos);
}

TEST(CreativeVastTest, KeepsASourceCompanionOfTheCreativeSize) {
  auto src = creative_test::read_repo_file("fixtures/snippets/preroll_81172.xml");
  auto kept = run(src, "enhanced_preroll", "phase_1", {{"branded_canvas", true}, {"dimensions", "300x50"}});
  EXPECT_EQ(kept.processed_code.find("amazon-dsp-branded-canvas"), std::string::npos);
  auto added = run(src, "enhanced_preroll", "phase_1", {{"branded_canvas", true}, {"dimensions", "300x250"}});
  EXPECT_NE(
      added.processed_code.find("<Companion id=\"amazon-dsp-branded-canvas\" width=\"300\" height=\"250\">"),
      std::string::npos);
  EXPECT_EQ(vast_schema_errors(added.processed_code, "3.0"), "");
}

TEST(CreativeVastTest, WrapperGetsClickTrackingNotClickThrough) {
  auto r = run(creative_test::read_repo_file("tests/fixtures/creatives/vast_3_0_wrapper.xml"),
               "instream_video", "phase_1");
  EXPECT_EQ(r.processed_code.find("<ClickThrough>"), std::string::npos);
  EXPECT_NE(r.processed_code.find("<ClickTracking><![CDATA[${AMAZON_CLICK_URL}]]></ClickTracking>"),
            std::string::npos);
}

TEST(CreativeVastTest, EscapesInsertedTextAndNeverBreaksCdata) {
  const std::string name = "x]]><evil/> & </CreativeName>";
  auto r = run(creative_test::read_repo_file("fixtures/snippets/audio_81510.xml"), "audio", "phase_1",
               {{"name", name}});
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(r.processed_code.c_str()));
  auto node = doc.select_node("//Extension[@type='Amazon_DSP']/CreativeName");
  ASSERT_TRUE(node);
  EXPECT_EQ(std::string(node.node().text().get()), "x]]");  // first CDATA section of the split
  std::string joined;
  for (auto c : node.node().children()) joined += c.value();
  EXPECT_EQ(joined, name);
  EXPECT_EQ(vast_schema_errors(r.processed_code, "4.1"), "");
}

TEST(CreativeVastTest, ReprocessingProcessedVastChangesNothing) {
  for (const char* file : {"fixtures/snippets/preroll_81172.xml", "fixtures/snippets/instream_81400.xml",
                           "tests/fixtures/creatives/vast_2_0_wrapper.xml"}) {
    auto once = run(creative_test::read_repo_file(file), "instream_video", "phase_2", {{"duration", 30}});
    auto twice = run(once.processed_code, "instream_video", "phase_2", {{"duration", 30}});
    EXPECT_EQ(twice.processed_code, once.processed_code) << file;
  }
}

TEST(CreativeVastTest, Phase1AudioWithoutDvWarns) {
  auto r = run(creative_test::read_repo_file("fixtures/snippets/audio_81510.xml"), "audio", "phase_1");
  EXPECT_NE(std::find(r.metadata.warnings.begin(), r.metadata.warnings.end(),
                      "phase_1 snippet has no DoubleVerify tag"),
            r.metadata.warnings.end());
  EXPECT_EQ(r.media_type, MediaType::kAudio);
}

TEST(CreativeVastTest, CleansIasOutOfHtmlResourcesInPlace) {
  auto r = run(creative_test::read_repo_file("tests/fixtures/creatives/vast_4_2_companion.xml"),
               "instream_video", "phase_1", {{"duration", 6}});
  EXPECT_NE(
      r.processed_code.find("<div class=\"canvas\">Shop now</div><script src=\"https://cdn.doubleverify.com"),
      std::string::npos);
  EXPECT_EQ(r.metadata.tags_removed,
            std::vector<std::string>{"<img src=\"https://pixel.adsafeprotected.com/c.gif\">"});
}

TEST(CreativeVastTest, RefusesIasThatCannotBeCutOut) {
  auto errors = refusal(
      "<VAST version=\"3.0\"><Ad id=\"x\"><InLine><AdSystem>K</AdSystem><AdTitle>adsafeprotected</AdTitle>"
      "<Impression>https://t/i</Impression><Creatives><Creative><Linear><Duration>00:00:01</Duration></"
      "Linear>"
      "</Creative></Creatives></InLine></Ad></VAST>",
      "instream_video");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(
      errors[0].message,
      "an IAS (adsafeprotected) reference in <AdTitle> cannot be removed without breaking the VAST document");
}

}  // namespace
}  // namespace kargo::domain
