// Contract section 1: `kargo-dsp process-creative` runs the section 4 transformation offline.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/helpers.hpp"
#include "support/process.hpp"

namespace kargo::itest {
namespace {

std::string fixture(const std::string& name) {
  return std::string(KARGO_SOURCE_DIR) + "/fixtures/snippets/" + name;
}

// No database, no Redis, no SECRET_KEY: the command must not need any of them.
const EnvOverrides kOffline = {{"SECRET_KEY", std::nullopt},
                               {"DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none"},
                               {"REDIS_URL", "redis://127.0.0.1:1/0"},
                               {"ENVIRONMENT", "production"}};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

TEST(ProcessCreativeCli, PrintsTheProcessedRunwayCodeWithoutDatabaseOrSecretKey) {
  auto r = run_cli({"process-creative", fixture("runway_81298.html"), "--format", "runway", "--phase",
                    "phase_1", "--dimensions", "320x50"},
                   kOffline);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with(
      "<div class=\"amazon-dsp-display-wrapper\" data-phase=\"phase_1\" data-format=\"runway\">"));
  EXPECT_EQ(r.out.find("adsafeprotected"), std::string::npos);
  EXPECT_NE(r.out.find("https://cdn.doubleverify.com/dvtp_src.js"), std::string::npos);
  EXPECT_NE(r.out.find("${AMAZON_CLICK_URL}"), std::string::npos);
}

TEST(ProcessCreativeCli, JsonPrintsOneObjectWithMetadata) {
  auto r = run_cli({"process-creative", fixture("preroll_81172.xml"), "--format", "enhanced_preroll",
                    "--phase", "phase_2", "--dimensions", "1280x720", "--duration", "15", "--dsp-seat-id",
                    "seat-9", "--pub-id", "pub-9", "--branded-canvas", "--name", "Pre-roll \"15\"", "--json"},
                   kOffline);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.size(), 4u);
  EXPECT_EQ(j["creative_type"], "VAST_3_0");
  EXPECT_EQ(j["amazon_dsp_ready"], true);
  const auto& code = j["processed_code"].get_ref<const std::string&>();
  EXPECT_NE(code.find("<SeatId><![CDATA[seat-9]]></SeatId>"), std::string::npos);
  EXPECT_NE(code.find("<CreativeName><![CDATA[Pre-roll \"15\"]]></CreativeName>"), std::string::npos);
  const auto& m = j["processing_metadata"];
  EXPECT_EQ(m["phase_applied"], "phase_2");
  EXPECT_EQ(m["tags_removed"].size(), 2u);
  EXPECT_EQ(m["original_snippet_size"], 2341);
  EXPECT_EQ(m["processed_snippet_size"], code.size());
  EXPECT_TRUE(m["processing_time_ms"].is_number());
  EXPECT_TRUE(is_iso8601_utc(m["processed_at"]));
}

TEST(ProcessCreativeCli, ReadsTheSnippetFromStdin) {
  auto r = run_cli({"process-creative", "-", "--format", "runway", "--phase", "phase_2", "--dimensions",
                    "300x250", "--dsp-seat-id", "s", "--pub-id", "p"},
                   kOffline, std::string("<p>hi</p><img src=\"//pixel.adsafeprotected.com/x\">"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("class=\"ias-s2s-config\""), std::string::npos);
  EXPECT_NE(r.out.find("<p>hi</p></div>"), std::string::npos);
  EXPECT_EQ(r.out.find("adsafeprotected"), std::string::npos);
}

TEST(ProcessCreativeCli, InvalidCreativeExits1WithOneLinePerProblem) {
  auto r = run_cli({"process-creative", fixture("instream_81400.xml"), "--format", "instream_video",
                    "--phase", "phase_2", "--dimensions", "99999x1"},
                   kOffline);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err),
            (std::vector<std::string>{"error: dimensions: must be WxH with 1 <= W, H <= 4096",
                                      "error: duration: is required for video and audio formats",
                                      "error: viewability_config.dsp_seat_id: is required in phase_2",
                                      "error: viewability_config.pub_id: is required in phase_2"}));
  EXPECT_EQ(r.out, "");
}

TEST(ProcessCreativeCli, ASnippetThatIsNotVastExits1OnSnippet) {
  auto r = run_cli({"process-creative", fixture("runway_81298.html"), "--format", "audio", "--phase",
                    "phase_1", "--duration", "20"},
                   kOffline);
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(lines(r.err)[0].starts_with("error: snippet: must be a VAST document")) << r.err;
}

TEST(ProcessCreativeCli, BadArgumentsExit2) {
  EXPECT_EQ(
      run_cli({"process-creative", fixture("runway_81298.html"), "--phase", "phase_1"}, kOffline).exit_code,
      2);
  EXPECT_EQ(run_cli({"process-creative", "--format", "runway", "--phase", "phase_1"}, kOffline).exit_code, 2);
  EXPECT_EQ(run_cli({"process-creative", fixture("runway_81298.html"), "--format", "runway", "--phase",
                     "phase_1", "--duration", "ten"},
                    kOffline)
                .exit_code,
            2);
  EXPECT_EQ(run_cli({"process-creative", fixture("runway_81298.html"), "--format", "runway", "--phase",
                     "phase_1", "--bogus"},
                    kOffline)
                .exit_code,
            2);
  auto missing =
      run_cli({"process-creative", "/nonexistent/snippet.html", "--format", "runway", "--phase", "phase_1"},
              kOffline);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/snippet.html"), std::string::npos);
}

TEST(ProcessCreativeCli, HonoursAmazonMacrosFile) {
  TempDir dir;
  {
    std::ofstream(dir.file("macros.json")) << R"({"CLICK_URL": "AMZN_CLICK", "IMPRESSION_URL": "AMZN_IMP"})";
    std::ofstream(dir.file("bad.json")) << "{not json";
  }
  auto r = run_cli({"process-creative", fixture("runway_81298.html"), "--format", "runway", "--phase",
                    "phase_1", "--dimensions", "320x50"},
                   {{"AMAZON_MACROS_FILE", dir.file("macros.json")}, {"SECRET_KEY", std::nullopt}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("clickUrl: '${AMZN_CLICK}'"), std::string::npos);
  EXPECT_NE(r.out.find("\"click_url\":\"${AMZN_CLICK}\""), std::string::npos);
  EXPECT_NE(r.out.find("${GDPR}"), std::string::npos);  // not in the replacement table
  auto bad =
      run_cli({"process-creative", fixture("runway_81298.html"), "--format", "runway", "--phase", "phase_1"},
              {{"AMAZON_MACROS_FILE", dir.file("bad.json")}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("AMAZON_MACROS_FILE"), std::string::npos);
}

TEST(ProcessCreativeCli, SameInputGivesTheSameBytes) {
  std::vector<std::string> args{"process-creative",
                                fixture("instream_81400.xml"),
                                "--format",
                                "instream_video",
                                "--phase",
                                "phase_1",
                                "--duration",
                                "30",
                                "--vast-version",
                                "4.2",
                                "--dimensions",
                                "1920x1080",
                                "--no-click-tracking"};
  auto a = run_cli(args, kOffline);
  auto b = run_cli(args, kOffline);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.err, "");  // no warnings for a standard size, matching version and a DV tag
}

}  // namespace
}  // namespace kargo::itest
