// /api/creatives (contract section 4) through the real binary: multipart upload, the stored
// resource, preview, list filters, deletion rules and the campaign association.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(KARGO_SOURCE_DIR) + "/fixtures/snippets/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) throw std::runtime_error("missing fixture " + name);
  return ss.str();
}

struct FormField {
  std::string name;
  std::string value;
  std::optional<std::string> filename = std::nullopt;
};

constexpr const char* kBoundary = "kargo-test-boundary-7f3a";

std::string multipart(const std::vector<FormField>& fields) {
  std::string body;
  for (const auto& f : fields) {
    body += std::string("--") + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"";
    if (f.filename) body += "; filename=\"" + *f.filename + "\"\r\nContent-Type: application/octet-stream";
    body += "\r\n\r\n" + f.value + "\r\n";
  }
  return body + "--" + kBoundary + "--\r\n";
}

const std::string kPhase1 = R"({"phase":"phase_1","vendors":["double_verify"]})";

std::vector<FormField> runway_form(const std::string& name = "Runway 81298") {
  return {{"name", name},
          {"format", "runway"},
          {"dimensions", "320x50"},
          {"viewability_config", kPhase1},
          {"file", fixture("runway_81298.html"), "runway_81298.html"}};
}

bool mentions_ias(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text.find("adsafeprotected") != std::string::npos;
}

class CreativeApiTest : public ServerTest {
 protected:
  HttpResponse upload(const std::vector<FormField>& fields) {
    return http().request(
        "POST", "/api/creatives", multipart(fields),
        bearer(admin_token(), {{"Content-Type", std::string("multipart/form-data; boundary=") + kBoundary}}));
  }
  json upload_ok(const std::vector<FormField>& fields) {
    auto res = upload(fields);
    EXPECT_EQ(res.status, 201) << res.describe();
    return res.status == 201 ? res.json()["data"] : json::object();
  }
};

TEST_F(CreativeApiTest, UploadedRunwayIsProcessedStoredAndReadBack) {
  auto c = upload_ok(runway_form());
  EXPECT_EQ(c["id"].get<std::string>().rfind("crv_", 0), 0u);
  EXPECT_EQ(c["format"], "runway");
  EXPECT_EQ(c["media_type"], "display");
  EXPECT_EQ(c["dimensions"], "320x50");
  EXPECT_EQ(c["width"], 320);
  EXPECT_EQ(c["height"], 50);
  EXPECT_EQ(c["snippet_url"], "upload://runway_81298.html");
  EXPECT_EQ(c["status"], "processed");
  EXPECT_EQ(c["creative_type"], "CUSTOM_HTML");
  EXPECT_EQ(c["amazon_dsp_ready"], true);
  EXPECT_TRUE(c["amazon_creative_id"].is_null());
  EXPECT_EQ(c["campaign_ids"], json::array());
  std::string code = c["processed_code"];
  EXPECT_FALSE(mentions_ias(code));
  EXPECT_NE(code.find("amazon-dsp-display-wrapper"), std::string::npos);
  const auto& meta = c["processing_metadata"];
  EXPECT_EQ(meta["phase_applied"], "phase_1");
  EXPECT_EQ(meta["original_snippet_size"], fixture("runway_81298.html").size());
  EXPECT_EQ(meta["processed_snippet_size"], code.size());
  EXPECT_FALSE(meta["tags_removed"].empty());
  EXPECT_TRUE(meta["processing_time_ms"].is_number());
  auto again = http().get("/api/creatives/" + c["id"].get<std::string>(), bearer(admin_token()));
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(again.json()["data"]["processed_code"], code);
}

TEST_F(CreativeApiTest, UploadedVastKeepsItsVersionAndDuration) {
  auto c = upload_ok({{"name", "Preroll"},
                      {"format", "enhanced_preroll"},
                      {"dimensions", "640x360"},
                      {"duration", "15"},
                      {"viewability_config", kPhase1},
                      {"file", fixture("preroll_81172.xml"), "preroll.xml"}});
  EXPECT_EQ(c["media_type"], "video");
  EXPECT_EQ(c["creative_type"], "VAST_3_0");
  EXPECT_EQ(c["vast_version"], "3.0");
  EXPECT_EQ(c["duration"].get<double>(), 15.0);
  EXPECT_FALSE(mentions_ias(c["processed_code"]));
}

TEST_F(CreativeApiTest, InvalidUploadsNameEveryBadField) {
  auto form = runway_form();
  form.pop_back();  // no file
  EXPECT_EQ(invalid_fields(upload(form)), std::set<std::string>{"file"});
  EXPECT_EQ(invalid_fields(upload({{"format", "banner"},
                                   {"viewability_config", R"({"phase":"phase_1","vendors":["ias"]})"},
                                   {"file", "<div></div>", "x.html"}})),
            (std::set<std::string>{"format", "viewability_config.vendors"}));
  EXPECT_EQ(invalid_fields(upload({{"name", "Not VAST"},
                                   {"format", "instream_video"},
                                   {"dimensions", "640x360"},
                                   {"duration", "30"},
                                   {"viewability_config", kPhase1},
                                   {"file", "<html>not vast</html>", "x.xml"}})),
            std::set<std::string>{"file"});
  EXPECT_EQ(invalid_fields(upload({{"name", "x"},
                                   {"format", "runway"},
                                   {"dimensions", "320x50"},
                                   {"viewability_config", "{not json"},
                                   {"file", "<div></div>", "x.html"}})),
            std::set<std::string>{"viewability_config"});
  EXPECT_EQ(invalid_fields(upload({{"name", "x"},
                                   {"format", "runway"},
                                   {"dimensions", "0x50"},
                                   {"viewability_config", kPhase1},
                                   {"file", "<div></div>", "x.html"}})),
            std::set<std::string>{"dimensions"});
}

TEST_F(CreativeApiTest, SnippetsAndNamesThatAreNotUtf8TextAre422NotStored) {
  auto form = [](const std::string& name, const std::string& file) {
    return std::vector<FormField>{{"name", name},
                                  {"format", "runway"},
                                  {"dimensions", "320x50"},
                                  {"viewability_config", kPhase1},
                                  {"file", file, "x.html"}};
  };
  EXPECT_EQ(invalid_fields(upload(form("Latin-1", "<div>caf\xe9</div>"))), std::set<std::string>{"file"});
  EXPECT_EQ(invalid_fields(upload(form("NUL", std::string("<div>nul\0byte</div>", 18)))),
            std::set<std::string>{"file"});
  EXPECT_EQ(invalid_fields(upload(form("caf\xe9", "<div>ok</div>"))), std::set<std::string>{"name"});
  auto one = upload({{"name", "x"},
                     {"format", "runway"},
                     {"dimensions", "320x50"},
                     {"viewability_config", "{not json"},
                     {"file", "<div></div>", "x.html"}});
  ASSERT_EQ(one.status, 422);
  EXPECT_EQ(one.json()["error"]["details"].size(), 1u) << "one entry per bad field: " << one.body;
}

TEST_F(CreativeApiTest, HugeOffsetIs422AndUploadHonoursIdempotencyKey) {
  EXPECT_EQ(http().get("/api/creatives?offset=9223372036854775808", bearer(admin_token())).status, 422);
  EXPECT_EQ(http().get("/api/jobs?offset=99999999999", bearer(admin_token())).status, 422);
  auto body = multipart(runway_form("Idempotent upload"));
  Headers headers =
      bearer(admin_token(), {{"Content-Type", std::string("multipart/form-data; boundary=") + kBoundary},
                             {"Idempotency-Key", unique_name("upload")}});
  auto first = http().request("POST", "/api/creatives", body, headers);
  auto second = http().request("POST", "/api/creatives", body, headers);
  ASSERT_EQ(first.status, 201) << first.describe();
  ASSERT_EQ(second.status, 201) << second.describe();
  EXPECT_EQ(second.json()["data"]["id"], first.json()["data"]["id"]);
}

TEST_F(CreativeApiTest, NonMultipartOrMalformedBodiesAre400) {
  auto json_body = http().post_json("/api/creatives", {{"name", "x"}}, bearer(admin_token()));
  EXPECT_EQ(json_body.status, 400) << json_body.describe();
  auto broken = http().request("POST", "/api/creatives", "--b\r\nno headers here",
                               bearer(admin_token(), {{"Content-Type", "multipart/form-data; boundary=b"}}));
  EXPECT_EQ(broken.status, 400) << broken.describe();
  EXPECT_EQ(broken.json()["error"]["details"][0]["field"], "body");
}

TEST_F(CreativeApiTest, PreviewServesTheProcessedCodeSandboxed) {
  auto c = upload_ok(runway_form());
  auto res = http().get("/api/creatives/" + c["id"].get<std::string>() + "/preview", bearer(admin_token()));
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.header("content-security-policy").value_or(""), "sandbox");
  EXPECT_EQ(res.header("content-type").value_or("").rfind("text/html", 0), 0u);
  EXPECT_EQ(res.body, c["processed_code"].get<std::string>());
  EXPECT_EQ(http().get("/api/creatives/crv_000000000000/preview", bearer(admin_token())).status, 404);
}

TEST_F(CreativeApiTest, OnlyThePreviewMayBeFramedAndOnlyByItsOwnOrigin) {
  std::string id = upload_ok(runway_form())["id"];
  auto preview = http().get("/api/creatives/" + id + "/preview", bearer(admin_token()));
  ASSERT_EQ(preview.status, 200) << preview.describe();
  EXPECT_EQ(preview.header("x-frame-options").value_or("<none>"), "SAMEORIGIN");
  EXPECT_EQ(preview.header("content-security-policy").value_or("<none>"), "sandbox");
  EXPECT_EQ(preview.header("x-content-type-options").value_or("<none>"), "nosniff");
  EXPECT_EQ(preview.header("referrer-policy").value_or("<none>"), "no-referrer");
  EXPECT_EQ(preview.header("cache-control").value_or("<none>"), "no-store");
  for (const auto& path : {"/api/creatives/" + id, std::string("/api/creatives/crv_000000000000/preview"),
                           std::string("/api/creatives")}) {
    SCOPED_TRACE(path);
    auto res = http().get(path, bearer(admin_token()));
    EXPECT_EQ(res.header("x-frame-options").value_or("<none>"), "DENY") << res.describe();
  }
}

TEST_F(CreativeApiTest, BlankFormFieldsAreAbsentAndCheckboxesSendOn) {
  // What a browser sends for the upload form: every text input (blank when not filled in) and
  // "on" for a checked checkbox.
  auto c = upload_ok({{"name", "Form instream"},
                      {"format", "instream_video"},
                      {"dimensions", "300x250"},
                      {"duration", "15"},
                      {"device_type", ""},
                      {"vast_version", ""},
                      {"campaign_id", ""},
                      {"viewability_config", kPhase1},
                      {"branded_canvas", "on"},
                      {"cache_buster", "OFF"},
                      {"amazon_macros", "True"},
                      {"click_tracking", "0"},
                      {"file", fixture("instream_81400.xml"), "instream.xml"}});
  EXPECT_EQ(c["device_type"], "mobile") << "blank device_type takes the default";
  EXPECT_EQ(c["vast_version"], "4.2") << "blank vast_version takes the snippet's";
  EXPECT_EQ(c["campaign_ids"], json::array());
  EXPECT_EQ(c["branded_canvas"], true);
  EXPECT_EQ(c["cache_buster"], false);
  EXPECT_EQ(c["amazon_macros"], true);
  EXPECT_EQ(c["click_tracking"], false);
  for (const auto& w : c["processing_metadata"]["warnings"]) {
    EXPECT_EQ(w.get<std::string>().find("vast_version"), std::string::npos) << w;
  }
  auto blank_name = upload_ok({{"name", ""},
                               {"format", "runway"},
                               {"dimensions", "320x50"},
                               {"duration", ""},
                               {"viewability_config", kPhase1},
                               {"branded_canvas", "off"},
                               {"file", fixture("runway_81298.html"), "runway_81298.html"}});
  EXPECT_EQ(blank_name["name"], "runway_81298.html") << "a blank name falls back to the file name";
  EXPECT_EQ(blank_name["duration"], nullptr);
  EXPECT_EQ(invalid_fields(upload({{"name", "Bad flag"},
                                   {"format", "runway"},
                                   {"dimensions", ""},
                                   {"viewability_config", kPhase1},
                                   {"click_tracking", "maybe"},
                                   {"file", "<div></div>", "x.html"}})),
            (std::set<std::string>{"dimensions", "click_tracking"}))
      << "a blank required field is missing; an unknown flag value is still 422";
}

TEST_F(CreativeApiTest, ListFiltersByFormatMediaTypeStatusAndCampaign) {
  auto runway = upload_ok(runway_form("List runway"));
  auto audio = upload_ok({{"name", "List audio"},
                          {"format", "audio"},
                          {"duration", "20"},
                          {"viewability_config", kPhase1},
                          {"file", fixture("audio_81510.xml"), "audio.xml"}});
  auto campaign = http().post_json("/api/campaigns",
                                   {{"name", "Creative list"},
                                    {"advertiser_id", "adv"},
                                    {"budget", 100},
                                    {"start_date", "2030-02-01"},
                                    {"end_date", "2030-02-28"},
                                    {"creative_ids", {runway["id"]}}},
                                   bearer(admin_token()));
  ASSERT_EQ(campaign.status, 201) << campaign.describe();
  std::string campaign_id = campaign.json()["data"]["id"];
  auto ids = [&](const std::string& query) {
    auto res = http().get("/api/creatives?limit=100" + query, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    std::set<std::string> out;
    auto doc = res.json();
    for (const auto& c : doc["data"]["creatives"]) out.insert(c["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids("&campaign_id=" + campaign_id), std::set<std::string>{runway["id"]});
  EXPECT_TRUE(ids("&format=audio").count(audio["id"]));
  EXPECT_FALSE(ids("&format=audio").count(runway["id"]));
  EXPECT_TRUE(ids("&format=display").count(runway["id"]));
  EXPECT_FALSE(ids("&format=display").count(audio["id"]));
  EXPECT_TRUE(ids("&status=processed").count(runway["id"]));
  EXPECT_FALSE(ids("&status=approved").count(runway["id"]));
  EXPECT_EQ(http().get("/api/creatives?format=gif", bearer(admin_token())).status, 422);
  EXPECT_EQ(http().get("/api/creatives?status=done", bearer(admin_token())).status, 422);
  auto got = http().get("/api/creatives/" + runway["id"].get<std::string>(), bearer(admin_token()));
  EXPECT_EQ(got.json()["data"]["campaign_ids"], json({campaign_id}));
}

TEST_F(CreativeApiTest, UploadWithCampaignIdMakesTheCampaignReady) {
  auto campaign = http().post_json("/api/campaigns",
                                   {{"name", "Gets ready"},
                                    {"advertiser_id", "adv"},
                                    {"budget", 100},
                                    {"start_date", "2030-02-01"},
                                    {"end_date", "2030-02-28"}},
                                   bearer(admin_token()));
  std::string campaign_id = campaign.json()["data"]["id"];
  auto form = runway_form();
  form.push_back({"campaign_id", campaign_id});
  auto c = upload_ok(form);
  EXPECT_EQ(c["campaign_ids"], json({campaign_id}));
  auto after = http().get("/api/campaigns/" + campaign_id, bearer(admin_token())).json()["data"];
  EXPECT_EQ(after["status"], "ready");
  EXPECT_EQ(after["creative_count"], 1);
  form.back().value = "camp_000000000000";
  EXPECT_EQ(upload(form).status, 404) << "an unknown campaign stores nothing";
}

TEST_F(CreativeApiTest, CreativeInAnActiveCampaignCannotBeDeleted) {
  auto c = upload_ok(runway_form());
  std::string id = c["id"];
  auto campaign = http().post_json("/api/campaigns",
                                   {{"name", "Active"},
                                    {"advertiser_id", "adv"},
                                    {"budget", 100},
                                    {"start_date", "2030-02-01"},
                                    {"end_date", "2030-02-28"},
                                    {"creative_ids", {id}}},
                                   bearer(admin_token()));
  std::string campaign_id = campaign.json()["data"]["id"];
  ASSERT_EQ(
      http()
          .post_json("/api/campaigns/" + campaign_id + "/activate", json::object(), bearer(admin_token()))
          .status,
      200);
  auto refused = http().request("DELETE", "/api/creatives/" + id, "", bearer(admin_token()));
  EXPECT_EQ(refused.status, 409) << refused.describe();
  ASSERT_EQ(http()
                .post_json("/api/campaigns/" + campaign_id + "/pause", json::object(), bearer(admin_token()))
                .status,
            200);
  auto deleted = http().request("DELETE", "/api/creatives/" + id, "", bearer(admin_token()));
  ASSERT_EQ(deleted.status, 200) << deleted.describe();
  EXPECT_EQ(http().get("/api/creatives/" + id, bearer(admin_token())).status, 404);
  auto after = http().get("/api/campaigns/" + campaign_id, bearer(admin_token())).json()["data"];
  EXPECT_EQ(after["creative_count"], 0);
  EXPECT_EQ(after["status"], "paused") << "a paused campaign stays paused";
}

TEST_F(CreativeApiTest, ViewersCannotUploadOrDelete) {
  auto viewer = create_user(http(), admin_token(), "viewer");
  auto token = login(http(), viewer);
  auto res = http().request(
      "POST", "/api/creatives", multipart(runway_form()),
      bearer(token, {{"Content-Type", std::string("multipart/form-data; boundary=") + kBoundary}}));
  EXPECT_EQ(res.status, 403) << res.describe();
  EXPECT_EQ(http().get("/api/creatives", bearer(token)).status, 200);
}

// Creative lists are cached in Redis like campaign lists: a list on instance B right after an
// upload, an association change or a delete on instance A shows it.
TEST(CreativeInstances, ListsAfterWritesOnAnotherInstanceSeeTheWrites) {
  TwoInstances two;
  auto& ha = two.ha;
  const auto& token = two.token;
  auto json_headers = bearer(token, {{"Content-Type", "application/json"}});
  auto created = ha.post_json("/api/campaigns",
                              {{"name", "Holder"},
                               {"advertiser_id", "crv_list"},
                               {"budget", 100},
                               {"start_date", "2099-01-01"},
                               {"end_date", "2099-01-31"}},
                              bearer(token));
  ASSERT_EQ(created.status, 201) << created.describe();
  std::string campaign = created.json()["data"]["id"];
  const std::string url = "/api/creatives?campaign_id=" + campaign;
  auto list_on_b = [&] { return two.data_on_b(url); };
  EXPECT_EQ(list_on_b()["total"], 0);  // fills B's cache with the empty page
  EXPECT_EQ(list_on_b()["total"], 0);  // from the cache

  auto form = runway_form("Listed");
  form.push_back({"campaign_id", campaign});
  auto up = ha.request("POST", "/api/creatives", multipart(form),
                       bearer(token, {{"Content-Type", std::string("multipart/form-data; boundary=") + kBoundary}}));
  ASSERT_EQ(up.status, 201) << up.describe();
  std::string id = up.json()["data"]["id"];
  auto page = list_on_b();
  ASSERT_EQ(page["total"], 1);
  EXPECT_EQ(page["creatives"][0]["id"], id);
  EXPECT_EQ(page["creatives"][0]["campaign_ids"], json::array({campaign}));

  ASSERT_EQ(ha.request("DELETE", "/api/campaigns/" + campaign + "/creatives/" + id, "", bearer(token)).status, 200);
  EXPECT_EQ(list_on_b()["total"], 0) << "the association change retired the cached page";
  auto again = ha.request("POST", "/api/campaigns/" + campaign + "/creatives", json{{"creative_ids", {id}}}.dump(),
                          json_headers);
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(list_on_b()["total"], 1);
  ASSERT_EQ(ha.request("DELETE", "/api/creatives/" + id, "", bearer(token)).status, 200);
  EXPECT_EQ(list_on_b()["total"], 0);
}

}  // namespace
}  // namespace kargo::itest
