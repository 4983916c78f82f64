// Golden tests: each case's processed_code and metadata are compared with files under
// tests/fixtures/creatives/expected/. After a deliberate change, regenerate them with
//   KARGO_UPDATE_GOLDEN=1 ./build/tests/kargo_unit_tests --gtest_filter='CreativeGolden*'
// and review the diff by eye before committing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "creative_support.hpp"

namespace kargo::domain {
namespace {

using creative_test::creative_config;
using creative_test::read_repo_file;

struct GoldenCase {
  std::string name;
  std::string input;  // repository-relative
  std::string format;
  std::string phase;
  nlohmann::json overrides = nlohmann::json::object();
  bool source_valid = true;  // the source validates against its VAST schema
};

const std::string kHostileName = "Spring \"sale\" </script><!-- ]]> Café ☕ \u2028 & more";

std::vector<GoldenCase> golden_cases() {
  const std::string snippets = "fixtures/snippets/";
  const std::string own = "tests/fixtures/creatives/";
  return {
      {"runway_81298_phase_1", snippets + "runway_81298.html", "runway", "phase_1"},
      {"runway_81298_phase_2", snippets + "runway_81298.html", "runway", "phase_2", {{"name", kHostileName}}},
      {"runway_81298_no_macros_no_click",
       snippets + "runway_81298.html",
       "runway",
       "phase_1",
       {{"amazon_macros", false}, {"click_tracking", false}, {"cache_buster", false}}},
      {"preroll_81172_phase_1",
       snippets + "preroll_81172.xml",
       "enhanced_preroll",
       "phase_1",
       {{"dimensions", "300x50"}, {"branded_canvas", true}}},
      {"preroll_81172_phase_2",
       snippets + "preroll_81172.xml",
       "enhanced_preroll",
       "phase_2",
       {{"branded_canvas", true}, {"name", kHostileName}}},
      {"instream_81400_phase_1",
       snippets + "instream_81400.xml",
       "instream_video",
       "phase_1",
       {{"duration", 30}, {"vast_version", "4.2"}, {"dimensions", "1920x1080"}}},
      {"instream_81400_phase_2",
       snippets + "instream_81400.xml",
       "instream_video",
       "phase_2",
       {{"duration", 30}, {"branded_canvas", true}, {"dimensions", "300x250"}}},
      {"audio_81510_phase_1", snippets + "audio_81510.xml", "audio", "phase_1", {{"vast_version", "4.1"}}},
      {"audio_81510_phase_2_canvas",
       snippets + "audio_81510.xml",
       "audio",
       "phase_2",
       {{"branded_canvas", true}, {"dimensions", "300x250"}}},
      {"html_case_and_quotes",
       own + "html_case_and_quotes.html",
       "runway",
       "phase_1",
       {{"dimensions", "300x250"}}},
      {"html_iframes_noscript", own + "html_iframes_noscript.html", "runway", "phase_2"},
      {"html_unknown_macros",
       own + "html_unknown_macros.html",
       "runway",
       "phase_1",
       {{"dimensions", "321x51"}}},
      {"html_full_document",
       own + "html_full_document.html",
       "runway",
       "phase_1",
       {{"dimensions", "300x250"}, {"device_type", "desktop"}}},
      {"vast_2_0_inline",
       own + "vast_2_0_inline.xml",
       "instream_video",
       "phase_1",
       {{"vast_version", "2.0"}, {"branded_canvas", true}, {"dimensions", "300x250"}}},
      {"vast_2_0_wrapper",
       own + "vast_2_0_wrapper.xml",
       "instream_video",
       "phase_2",
       {{"vast_version", "2.0"}}},
      {"vast_3_0_wrapper",
       own + "vast_3_0_wrapper.xml",
       "enhanced_preroll",
       "phase_1",
       {{"branded_canvas", true}}},
      {"vast_3_0_audio", own + "vast_3_0_audio.xml", "audio", "phase_1", {{"duration", 30}}},
      {"vast_4_0_inline",
       own + "vast_4_0_inline.xml",
       "instream_video",
       "phase_2",
       {{"vast_version", "4.0"}, {"duration", 30}, {"branded_canvas", true}, {"dimensions", "640x360"}}},
      {"vast_4_1_wrapper",
       own + "vast_4_1_wrapper.xml",
       "instream_video",
       "phase_1",
       {{"vast_version", "4.1"}, {"branded_canvas", true}, {"name", kHostileName}}},
      {"vast_4_2_companion",
       own + "vast_4_2_companion.xml",
       "instream_video",
       "phase_1",
       {{"vast_version", "4.2"}, {"duration", 6}, {"branded_canvas", true}, {"dimensions", "300x250"}}},
      {"vast_4_2_missing_duration",
       own + "vast_4_2_missing_duration.xml",
       "instream_video",
       "phase_2",
       {{"vast_version", "4.2"}, {"duration", 12.5}},
       false},
  };
}

nlohmann::ordered_json metadata_of(const TransformResult& r) {
  nlohmann::ordered_json j;
  j["creative_type"] = r.creative_type;
  j["media_type"] = media_type_name(r.media_type);
  j["vast_version"] = r.vast_version ? nlohmann::ordered_json(*r.vast_version) : nlohmann::ordered_json();
  j["tags_removed"] = r.metadata.tags_removed;
  j["tags_added"] = r.metadata.tags_added;
  j["warnings"] = r.metadata.warnings;
  j["phase_applied"] = r.metadata.phase_applied;
  return j;
}

class CreativeGoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(CreativeGoldenTest, MatchesExpectedOutputAndRules) {
  const auto& c = GetParam();
  auto snippet = read_repo_file(c.input);
  auto config = creative_config(c.format, c.phase, c.overrides);
  auto result = transform(snippet, config, MacroTable::defaults());
  std::string extension = config.media_type() == MediaType::kDisplay ? ".html" : ".xml";
  std::string code_file = "tests/fixtures/creatives/expected/" + c.name + extension;
  std::string meta_file = "tests/fixtures/creatives/expected/" + c.name + ".meta.json";
  std::string meta = metadata_of(result).dump(2, ' ', false) + "\n";
  const char* update = std::getenv("KARGO_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    creative_test::write_repo_file(code_file, result.processed_code);
    creative_test::write_repo_file(meta_file, meta);
  }
  EXPECT_EQ(result.processed_code, read_repo_file(code_file)) << "regenerate with KARGO_UPDATE_GOLDEN=1";
  EXPECT_EQ(meta, read_repo_file(meta_file));

  EXPECT_EQ(creative_test::count_ci(result.processed_code, "adsafeprotected"), 0u);
  EXPECT_EQ(transform(snippet, config, MacroTable::defaults()).processed_code, result.processed_code);
  EXPECT_EQ(result.metadata.original_snippet_size, snippet.size());
  EXPECT_EQ(result.metadata.processed_snippet_size, result.processed_code.size());
  if (config.media_type() != MediaType::kDisplay) {
    ASSERT_TRUE(result.vast_version.has_value());
    if (c.source_valid) {
      ASSERT_EQ(creative_test::vast_schema_errors(snippet, *result.vast_version), "")
          << "the source should be valid";
    }
    // Also when the source was not valid: the one fix it needed (Duration) is ours to add.
    EXPECT_EQ(creative_test::vast_schema_errors(result.processed_code, *result.vast_version), "");
    EXPECT_EQ(creative_test::vast_version_of(result.processed_code), creative_test::vast_version_of(snippet));
  }
}

INSTANTIATE_TEST_SUITE_P(Snippets, CreativeGoldenTest, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kargo::domain
