// POST /api/creatives/upload/amazon-dsp and its job (contract sections 4 and 7) end to end: the
// real service pointed at the real sandbox. Includes a worker killed with SIGKILL mid-upload.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "support/amazon.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(AmazonUpload, UploadsEachCreativeStoresItsIdAndModerationAndRefusesAudio) {
  SandboxProcess sandbox;
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = amazon_env(sandbox), .admin = admin});
  HttpClient http(server.port());
  auto token = login(http, admin);
  auto runway = create_creative(http, token, "runway", "runway_81298.html", dimensions("320x50"));
  auto video = create_creative(http, token, "enhanced_preroll", "preroll_81172.xml",
                               dimensions("640x360") + duration("15"));
  auto audio = create_creative(http, token, "audio", "audio_81510.xml", duration("20"));
  auto res = http.post_json("/api/creatives/upload/amazon-dsp",
                            {{"creative_ids", {runway, video, audio}}, {"advertiser_id", "adv-1001"}},
                            bearer(token));
  ASSERT_EQ(res.status, 202) << res.describe();
  std::string job_id = res.json()["data"]["job_id"];
  auto job = wait_job(http, token, job_id);
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["kind"], "amazon_upload");
  ASSERT_EQ(job["result"]["uploaded"].size(), 2u) << job;
  ASSERT_EQ(job["result"]["failed"].size(), 1u) << job;
  EXPECT_EQ(job["result"]["failed"][0]["creative_id"], audio);
  EXPECT_NE(job["result"]["failed"][0]["error"].get<std::string>().find("audio"), std::string::npos);
  for (const auto& id : {runway, video}) {
    auto c = http.get("/api/creatives/" + id, bearer(token)).json()["data"];
    EXPECT_TRUE(c["amazon_creative_id"].is_string()) << c;
    EXPECT_EQ(c["upload_status"], "uploaded");
    EXPECT_EQ(c["approval_status"], "APPROVED") << "the sandbox approves after a few polls";
    EXPECT_EQ(c["status"], "approved");
  }
  auto a = http.get("/api/creatives/" + audio, bearer(token)).json()["data"];
  EXPECT_TRUE(a["amazon_creative_id"].is_null()) << "never a fake id";
  EXPECT_EQ(a["upload_status"], "failed");
  // A second upload of the same creatives creates nothing new at Amazon.
  HttpClient sb(sandbox.port());
  size_t creates = count_requests(sb, "POST", "/dsp/v1/adCreatives");
  auto again =
      http.post_json("/api/creatives/upload/amazon-dsp",
                     {{"creative_ids", {runway, video}}, {"advertiser_id", "adv-1001"}}, bearer(token));
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(wait_job(http, token, again.json()["data"]["job_id"])["status"], "succeeded");
  EXPECT_EQ(count_requests(sb, "POST", "/dsp/v1/adCreatives"), creates);
}

TEST(AmazonUpload, RequestIsValidatedAndNeedsAmazonConfigured) {
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"AMAZON_CLIENT_ID", std::nullopt}}, .admin = admin});
  HttpClient http(server.port());
  auto token = login(http, admin);
  auto bad = http.post_json("/api/creatives/upload/amazon-dsp", {{"creative_ids", "x"}}, bearer(token));
  EXPECT_EQ(bad.status, 422) << bad.describe();
  auto unconfigured =
      http.post_json("/api/creatives/upload/amazon-dsp",
                     {{"creative_ids", {"crv_000000000000"}}, {"advertiser_id", "adv"}}, bearer(token));
  EXPECT_EQ(unconfigured.status, 503) << unconfigured.describe();
  EXPECT_EQ(unconfigured.json()["error"]["code"], "EXTERNAL_API_ERROR");
}

// The worker is killed with SIGKILL while Amazon is answering its create slowly: after the lease
// expires another process finishes the job once, and each creative exists once at Amazon.
TEST(AmazonUpload, WorkerKilledMidUploadLosesNothingAndUploadsNothingTwice) {
  SandboxProcess sandbox;
  HttpClient sb(sandbox.port());
  auto admin = Credentials::unique("admin");
  auto env = amazon_env(sandbox, {{"JOB_LEASE_SECONDS", "3"}});
  std::string runway, video, job_id;
  {
    ServerProcess api({.env = env, .admin = admin});
    HttpClient http(api.port());
    auto token = login(http, admin);
    runway = create_creative(http, token, "runway", "runway_81298.html", dimensions("320x50"));
    video = create_creative(http, token, "enhanced_preroll", "preroll_81172.xml",
                            dimensions("640x360") + duration("15"));
    // The first creative's create is slow: the process dies while it is in flight (Amazon may or
    // may not have created it; the retry must find it by externalId either way).
    add_fault(sb,
              {{"path_prefix", "/dsp/v1/adCreatives"}, {"method", "POST"}, {"delay_ms", 4000}, {"count", 1}});
    auto res =
        http.post_json("/api/creatives/upload/amazon-dsp",
                       {{"creative_ids", {runway, video}}, {"advertiser_id", "adv-1001"}}, bearer(token));
    ASSERT_EQ(res.status, 202) << res.describe();
    job_id = res.json()["data"]["job_id"];
    // The fault delays the first POST under /dsp/v1/adCreatives, whichever it is (the look-up by
    // externalId or the create): kill the server while that call hangs.
    ASSERT_TRUE(wait_until([&] { return received_under(sb, "POST", "/dsp/v1/adCreatives"); }, 20s));
    api.kill();  // SIGKILL mid-upload
  }
  ServerProcess rescuer({.mode = "worker", .env = env});
  ServerProcess reader({.env = env, .admin = admin});
  HttpClient http(reader.port());
  auto token = login(http, admin);
  auto job = wait_job(http, token, job_id, 90s);
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_GE(job["attempts"].get<int>(), 2) << "a second attempt finished it";
  EXPECT_EQ(job["result"]["uploaded"].size(), 2u) << job;
  // Each creative exists exactly once at Amazon (listed by its externalId = our id).
  auto amazon_token = sandbox_token(sb);
  auto listed = send_json(sb, "POST", "/dsp/v1/adCreatives/list", {{"externalIdFilter", {runway, video}}},
                          amazon_headers(amazon_token));
  ASSERT_EQ(listed.status, 200) << listed.describe();
  std::multiset<std::string> external_ids;
  auto doc = listed.json();
  for (const auto& c : doc["adCreatives"]) external_ids.insert(c["externalId"].get<std::string>());
  EXPECT_EQ(external_ids.count(runway), 1u) << listed.body;
  EXPECT_EQ(external_ids.count(video), 1u) << listed.body;
  for (const auto& id : {runway, video}) {
    EXPECT_TRUE(
        http.get("/api/creatives/" + id, bearer(token)).json()["data"]["amazon_creative_id"].is_string());
  }
}

// A process without Amazon credentials leaves Amazon jobs to a configured one: it must not claim
// them and fail them as "not configured" (they would lose their attempts on a shared database).
TEST(AmazonUpload, AProcessWithoutAmazonCredentialsLeavesAmazonJobsQueued) {
  FreshDatabase db;
  db.migrate();
  db.sql(
      "INSERT INTO jobs (id, kind, payload, max_attempts, created_by) VALUES "
      "('job_0000000000aa', 'amazon_upload', '{}', 5, 'test')");
  ServerProcess server({.mode = "worker", .env = {{"DATABASE_URL", db.url()}, {"JOB_CONCURRENCY", "1"}}});
  ASSERT_TRUE(server.wait_for_log(
      [](const json& l) {
        return l.value("msg", "") == "amazon jobs not run by this process: Amazon DSP is not configured";
      },
      20s));
  std::this_thread::sleep_for(2s);  // claim cycles of the runner
  EXPECT_EQ(db.sql("SELECT status || ' ' || attempts FROM jobs WHERE id = 'job_0000000000aa'"), "queued 0\n");
}

}  // namespace
}  // namespace kargo::itest
