// POST /api/creatives/process and /process/bulk (contract section 4): the real service fetching
// snippets from the real sandbox through the Kargo client.
#include <gtest/gtest.h>

#include "support/fixtures.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;

class CreativeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = std::make_unique<SandboxProcess>();
    base_ = "http://127.0.0.1:" + std::to_string(sandbox_->port());
    server_ = std::make_unique<ServerProcess>(
        ServerOptions{.env = {{"KARGO_API_BASE_URL", base_},
                              {"KARGO_API_KEY", "test-key"},
                              {"KARGO_SNIPPET_HOSTS", "127.0.0.1:" + std::to_string(sandbox_->port())},
                              {"UPSTREAM_MAX_RETRIES", "1"}},
                      .admin = admin_});
    http_ = std::make_unique<HttpClient>(server_->port());
    token_ = login(*http_, admin_);
  }
  json config(const std::string& name, const std::string& snippet_path,
              const std::string& format = "runway") {
    json c = {{"name", name},
              {"format", format},
              {"snippet_url", base_ + snippet_path},
              {"viewability_config", {{"phase", "phase_1"}, {"vendors", {"double_verify"}}}}};
    if (format == "runway") {
      c["dimensions"] = "320x50";
    } else {
      c["dimensions"] = "640x360";
      c["duration"] = 15;
    }
    return c;
  }
  HttpResponse post(const std::string& path, const json& body) {
    return http_->post_json(path, body, bearer(token_));
  }
  Credentials admin_ = Credentials::unique("admin");
  std::unique_ptr<SandboxProcess> sandbox_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
  std::string base_, token_;
};

TEST_F(CreativeProcessTest, ConfigIsFetchedFromKargoTransformedAndStored) {
  auto res = post("/api/creatives/process", {{"creative_config", config("From Kargo", "/snippet/dm/81298")}});
  ASSERT_EQ(res.status, 201) << res.describe();
  auto c = res.json()["data"];
  EXPECT_EQ(c["snippet_url"], base_ + "/snippet/dm/81298");
  EXPECT_EQ(c["creative_type"], "CUSTOM_HTML");
  EXPECT_EQ(c["processed_code"].get<std::string>().find("adsafeprotected"), std::string::npos);
  auto vast = post("/api/creatives/process",
                   {{"creative_config", config("Preroll", "/snippet/dm/81172", "enhanced_preroll")}});
  ASSERT_EQ(vast.status, 201) << vast.describe();
  EXPECT_EQ(vast.json()["data"]["creative_type"], "VAST_3_0");
}

TEST_F(CreativeProcessTest, SnippetUrlsOutsideTheAllowListOrMissingAre422) {
  auto other_host = config("SSRF", "/snippet/dm/81298");
  other_host["snippet_url"] = "http://169.254.169.254/latest/meta-data";
  auto refused = post("/api/creatives/process", {{"creative_config", other_host}});
  ASSERT_EQ(refused.status, 422) << refused.describe();
  EXPECT_EQ(refused.json()["error"]["details"][0]["field"], "creative_config.snippet_url");
  auto missing = post("/api/creatives/process", {{"creative_config", config("Gone", "/snippet/dm/1")}});
  ASSERT_EQ(missing.status, 422) << missing.describe();
  EXPECT_EQ(missing.json()["error"]["details"][0]["field"], "creative_config.snippet_url");
  auto redirect = config("Redirect", "/snippet/redirect?to=http://169.254.169.254/");
  auto escaped = post("/api/creatives/process", {{"creative_config", redirect}});
  EXPECT_EQ(escaped.status, 422) << escaped.describe();
  auto not_vast = post("/api/creatives/process",
                       {{"creative_config", config("HTML as video", "/snippet/dm/81298", "instream_video")}});
  ASSERT_EQ(not_vast.status, 422) << not_vast.describe();
  EXPECT_EQ(not_vast.json()["error"]["details"][0]["field"], "snippet");
  EXPECT_EQ(post("/api/creatives/process", json::object()).status, 422);
}

TEST_F(CreativeProcessTest, CreativeIdsAreReprocessedEachOnItsOwn) {
  auto made = post("/api/creatives/process", {{"creative_config", config("Again", "/snippet/dm/81298")}});
  ASSERT_EQ(made.status, 201) << made.describe();
  std::string id = made.json()["data"]["id"];
  auto res = post("/api/creatives/process", {{"creative_ids", {id, "crv_000000000000"}}});
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  ASSERT_EQ(data["results"].size(), 1u);
  EXPECT_EQ(data["results"][0]["id"], id);
  EXPECT_EQ(data["results"][0]["processed_code"], made.json()["data"]["processed_code"]) << "deterministic";
  ASSERT_EQ(data["failed"].size(), 1u);
  EXPECT_EQ(data["failed"][0]["creative_id"], "crv_000000000000");
}

TEST_F(CreativeProcessTest, BulkIsolatesFailuresPerItem) {
  json bad_format = config("Bad format", "/snippet/dm/81298");
  bad_format["format"] = "banner";
  json configs = {config("Bulk runway", "/snippet/dm/81298"), bad_format,
                  config("Bulk gone", "/snippet/dm/2"), config("Bulk audio", "/snippet/dm/81510", "audio"),
                  config("Bulk preroll", "/snippet/dm/81172", "enhanced_preroll")};
  configs[3].erase("dimensions");
  configs[3]["duration"] = 20;
  auto res = post("/api/creatives/process/bulk", {{"creative_configs", configs}});
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  EXPECT_EQ(data["total_processed"], 5);
  EXPECT_EQ(data["successful"], 3);
  EXPECT_EQ(data["failed"], 2);
  std::set<std::string> failed_names;
  for (const auto& f : data["failed_items"]) failed_names.insert(f["creative_name"]);
  EXPECT_EQ(failed_names, (std::set<std::string>{"Bad format", "Bulk gone"}));
  EXPECT_EQ(post("/api/creatives/process/bulk", {{"creative_configs", json::array()}}).status, 422);
  EXPECT_EQ(
      post("/api/creatives/process/bulk", {{"creative_configs", {configs[0]}}, {"upload_to_amazon", true}})
          .status,
      422)
      << "upload_to_amazon needs advertiser_id";
}

}  // namespace
}  // namespace kargo::itest
