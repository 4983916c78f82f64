#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "creative_support.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/macros.hpp"

namespace kargo::domain {
namespace {

using creative_test::creative_config_json;

std::vector<FieldError> errors_of(const nlohmann::json& config, const CreativeConfigRules& rules = {}) {
  try {
    parse_creative_config(config, rules);
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422);
    return e.details();
  }
  return {};
}

bool has_error(const std::vector<FieldError>& errors, const std::string& field) {
  for (const auto& e : errors) {
    if (e.field == field) return true;
  }
  return false;
}

TEST(CreativeConfigTest, AppliesDefaultsAndDerivesPhase1Viewability) {
  auto c = parse_creative_config(creative_config_json("runway", "phase_1"));
  EXPECT_EQ(c.format, CreativeFormat::kRunway);
  EXPECT_EQ(c.device_type, "mobile");
  EXPECT_FALSE(c.vast_version.has_value()) << "left unset: the snippet's own version is used";
  EXPECT_TRUE(c.cache_buster);
  EXPECT_TRUE(c.amazon_macros);
  EXPECT_TRUE(c.click_tracking);
  EXPECT_FALSE(c.branded_canvas);
  EXPECT_EQ(c.dimensions, (Dimensions{320, 50}));
  EXPECT_EQ(c.viewability.vendors, std::vector<std::string>{"double_verify"});
  EXPECT_EQ(c.viewability.method, "platform_native");
  EXPECT_FALSE(c.viewability.ias_s2s_enabled);
}

TEST(CreativeConfigTest, DerivesPhase2ViewabilityWithBothVendors) {
  auto c = parse_creative_config(creative_config_json("instream_video", "phase_2"));
  EXPECT_EQ(c.viewability.vendors, (std::vector<std::string>{"ias", "double_verify"}));
  EXPECT_EQ(c.viewability.method, "s2s_plus_native");
  EXPECT_TRUE(c.viewability.ias_s2s_enabled);
  EXPECT_EQ(c.viewability.dsp_seat_id, "seat-1");
  auto j = c.viewability.to_json();
  EXPECT_EQ(j["pub_id"], "pub-1");
}

TEST(CreativeConfigTest, RejectsPhase1WithIasVendor) {
  auto config = creative_config_json("runway", "phase_1");
  config["viewability_config"]["vendors"] = {"ias", "double_verify"};
  auto errors = errors_of(config);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "viewability_config.vendors");
}

TEST(CreativeConfigTest, RequiresSeatAndPublisherInPhase2) {
  auto config = creative_config_json("runway", "phase_1", {{"viewability_config", {{"phase", "phase_2"}}}});
  auto errors = errors_of(config);
  EXPECT_TRUE(has_error(errors, "viewability_config.dsp_seat_id"));
  EXPECT_TRUE(has_error(errors, "viewability_config.pub_id"));
}

TEST(CreativeConfigTest, RejectsMethodOrVendorsThatContradictThePhase) {
  auto config = creative_config_json("runway", "phase_2");
  config["viewability_config"]["method"] = "platform_native";
  config["viewability_config"]["vendors"] = {"double_verify"};
  auto errors = errors_of(config);
  EXPECT_TRUE(has_error(errors, "viewability_config.method"));
  EXPECT_TRUE(has_error(errors, "viewability_config.vendors"));
}

TEST(CreativeConfigTest, ReportsEveryBadFieldAtOnce) {
  nlohmann::json config = {
      {"name", ""},      {"format", "banner"},    {"dimensions", "0x50"},   {"device_type", "watch"},
      {"duration", 601}, {"vast_version", "5.0"}, {"branded_canvas", "yes"}};
  auto errors = errors_of(config);
  for (const char* field : {"name", "format", "dimensions", "device_type", "duration", "vast_version",
                            "branded_canvas", "viewability_config"}) {
    EXPECT_TRUE(has_error(errors, field)) << field;
  }
}

TEST(CreativeConfigTest, RequiresDurationForVideoAndAudioAndDimensionsExceptAudio) {
  auto video = errors_of(
      creative_config_json("instream_video", "phase_1", {{"duration", nullptr}, {"dimensions", nullptr}}));
  EXPECT_TRUE(has_error(video, "duration"));
  EXPECT_TRUE(has_error(video, "dimensions"));
  auto audio = errors_of(creative_config_json("audio", "phase_1", {{"duration", nullptr}}));
  EXPECT_TRUE(has_error(audio, "duration"));
  EXPECT_FALSE(has_error(audio, "dimensions"));
  EXPECT_NO_THROW(parse_creative_config(creative_config_json("runway", "phase_1", {{"duration", nullptr}})));
}

TEST(CreativeConfigTest, DimensionsMustBeWxHWithin1To4096) {
  EXPECT_EQ(parse_dimensions("320x50"), (Dimensions{320, 50}));
  EXPECT_EQ(parse_dimensions("4096x1"), (Dimensions{4096, 1}));
  for (const char* bad :
       {"", "320", "320x", "x50", "0x50", "4097x10", "320X50", "320x50 ", "-1x5", "032x50", "1e3x5"}) {
    EXPECT_FALSE(parse_dimensions(bad)) << bad;
  }
  auto errors = errors_of(creative_config_json("runway", "phase_1", {{"dimensions", "5000x50"}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "must be WxH with 1 <= W, H <= 4096");
}

TEST(CreativeConfigTest, PrefixesFieldNamesForNestedConfigs) {
  auto errors = errors_of(creative_config_json("runway", "phase_1", {{"name", nullptr}}),
                          {.prefix = "creative_config."});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "creative_config.name");
}

TEST(CreativeConfigTest, SnippetUrlMustPointAtAnAllowedHost) {
  std::vector<std::string> hosts{"snippet.kargo.com", "127.0.0.1:8089"};
  EXPECT_EQ(snippet_url_problem("https://snippet.kargo.com/snippet/dm/81298", hosts), std::nullopt);
  EXPECT_EQ(snippet_url_problem("https://SNIPPET.kargo.com:443/x", hosts), std::nullopt);
  EXPECT_EQ(snippet_url_problem("http://127.0.0.1:8089/snippet/1", hosts), std::nullopt);
  for (const char* bad :
       {"https://evil.com/x", "https://snippet.kargo.com.evil.com/x", "https://snippet.kargo.com:8443/x",
        "http://127.0.0.1/x", "ftp://snippet.kargo.com/x", "//snippet.kargo.com/x", "snippet.kargo.com",
        "https://snippet.kargo.com@evil.com/x", "https://user@snippet.kargo.com/x", "file:///etc/passwd"}) {
    EXPECT_NE(snippet_url_problem(bad, hosts), std::nullopt) << bad;
  }
  auto errors = errors_of(creative_config_json("runway", "phase_1", {{"snippet_url", "https://evil.com/x"}}),
                          {.snippet_hosts = &hosts});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "snippet_url");
  EXPECT_EQ(errors[0].message, "host evil.com is not in KARGO_SNIPPET_HOSTS");
  EXPECT_TRUE(has_error(errors_of(creative_config_json("runway", "phase_1"), {.snippet_hosts = &hosts}),
                        "snippet_url"));
}

TEST(CreativeMacroTableTest, MapsTheContractTable) {
  auto t = MacroTable::defaults();
  auto r = t.apply(
      "${CLICK_URL}|${IMPRESSION_URL}|${CAMPAIGN_ID}|${CREATIVE_ID}|${PLACEMENT_ID}|${SITE_ID}|"
      "${CACHEBUSTER}|${GDPR}|${GDPR_CONSENT}",
      true);
  EXPECT_EQ(
      r.text,
      "${AMAZON_CLICK_URL}|${AMAZON_IMPRESSION_URL}|${AMAZON_CAMPAIGN_ID}|${AMAZON_CREATIVE_ID}|"
      "${AMAZON_PLACEMENT_ID}|${AMAZON_SITE_ID}|${AMAZON_CACHEBUSTER}|${AMAZON_GDPR}|${AMAZON_GDPR_CONSENT}");
  EXPECT_EQ(r.replaced, 9u);
  EXPECT_TRUE(r.unknown.empty());
}

TEST(CreativeMacroTableTest, LeavesUnknownMacrosAndReportsEachOnce) {
  auto r = MacroTable::defaults().apply("${FOO}${FOO}${BAR_1} ${lower} ${a + b} ${ ${CLICK_URL", true);
  EXPECT_EQ(r.text, "${FOO}${FOO}${BAR_1} ${lower} ${a + b} ${ ${CLICK_URL");
  EXPECT_EQ(r.unknown, (std::vector<std::string>{"FOO", "BAR_1"}));
}

TEST(CreativeMacroTableTest, KeepsKargoMacrosWhenMappingIsOff) {
  auto r = MacroTable::defaults().apply("${CLICK_URL}${AMAZON_CLICK_URL}", false);
  EXPECT_EQ(r.text, "${CLICK_URL}${AMAZON_CLICK_URL}");
  EXPECT_TRUE(r.unknown.empty());
}

TEST(CreativeMacroTableTest, LoadsAReplacementTableFromJson) {
  auto t = MacroTable::from_json({{"${CLICK_URL}", "${AMZN_CLICK}"}, {"KARGO_DEAL", "AMAZON_DEAL"}});
  EXPECT_EQ(t.apply("${CLICK_URL} ${KARGO_DEAL} ${IMPRESSION_URL}", true).text,
            "${AMZN_CLICK} ${AMAZON_DEAL} ${IMPRESSION_URL}");
  EXPECT_THROW(MacroTable::from_json({{"click url", "X"}}), std::invalid_argument);
  EXPECT_THROW(MacroTable::from_json({{"CLICK_URL", 5}}), std::invalid_argument);
  EXPECT_THROW(MacroTable::from_json(nlohmann::json::array()), std::invalid_argument);
}

TEST(CreativeMacroTableTest, LoadFileErrorsNameTheVariable) {
  try {
    MacroTable::load_file("/nonexistent/macros.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "AMAZON_MACROS_FILE");
  }
}

}  // namespace
}  // namespace kargo::domain
