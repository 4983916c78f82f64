// Executors and deadlines: a slow upstream never starves the database routes. Snippet fetches run
// on the Kargo client's own I/O and hold no database pool thread, every request carries a
// deadline that its upstream calls get as their budget, and calls beyond an upstream's
// concurrency bound wait in line until their deadline instead of being refused at once.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "support/fixtures.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ExecutorsTest : public ::testing::Test {
 protected:
  void start(EnvOverrides extra = {}) {
    sandbox_ = std::make_unique<SandboxProcess>();
    base_ = sandbox_url(sandbox_->port());
    EnvOverrides env = {{"KARGO_API_BASE_URL", base_},
                        {"KARGO_API_KEY", "test-key"},
                        {"KARGO_SNIPPET_HOSTS", "127.0.0.1:" + std::to_string(sandbox_->port())},
                        {"UPSTREAM_MAX_RETRIES", "0"},
                        // The database pool is small, as in a real pod: 50 slow fetches would
                        // exhaust it many times over if a fetch held a pool thread.
                        {"DATABASE_POOL_SIZE", "4"}};
    for (auto& [k, v] : extra) env[k] = v;
    server_ = std::make_unique<ServerProcess>(ServerOptions{.env = env, .admin = admin_});
    http_ = std::make_unique<HttpClient>(server_->port(), 60s);
    sandbox_http_ = std::make_unique<HttpClient>(sandbox_->port());
    token_ = login(*http_, admin_);
  }
  json body(const std::string& name) {
    return {{"creative_config",
             {{"name", name},
              {"format", "runway"},
              {"dimensions", "320x50"},
              {"snippet_url", base_ + "/snippet/dm/81298"},
              {"viewability_config", {{"phase", "phase_1"}, {"vendors", {"double_verify"}}}}}}};
  }
  HttpResponse process(const json& b, Headers extra = {}) const {
    return http_->post_json("/api/creatives/process", b, bearer(token_, std::move(extra)));
  }
  void slow_snippets(std::chrono::milliseconds delay, int count) {
    add_fault(*sandbox_http_, {{"path_prefix", "/snippet/dm/81298"}, {"delay_ms", delay.count()}, {"count", count}});
  }
  // Tests run in parallel on one database: counted in PostgreSQL, not in a page of the list.
  size_t creatives_named(const std::string& name) {
    return std::stoul(run_sql("SELECT count(*) FROM creatives WHERE name = '" + name + "'"));
  }

  Credentials admin_ = Credentials::unique("admin");
  std::unique_ptr<SandboxProcess> sandbox_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_, sandbox_http_;
  std::string base_, token_;
};

TEST_F(ExecutorsTest, FiftySlowSnippetFetchesAllCompleteWhileReadinessAndListsStayFast) {
  start();
  slow_snippets(6000ms, 50);
  std::atomic<int> finished{0};
  std::vector<std::future<HttpResponse>> creates;
  for (int i = 0; i < 50; ++i) {
    creates.push_back(std::async(std::launch::async, [&, i] {
      auto res = process(body("Slow " + std::to_string(i)));
      ++finished;
      return res;
    }));
  }
  // Every fetch is waiting at the sandbox: all 50 went out at once (no pool thread per fetch).
  ASSERT_TRUE(wait_until([&] { return count_requests(*sandbox_http_, "GET", "/snippet/dm/81298") >= 50; }, 20s))
      << count_requests(*sandbox_http_, "GET", "/snippet/dm/81298");
  // Meanwhile the database routes answer at once, not after the fetches.
  auto ready = http_->get("/health/ready");
  auto list = http_->get("/api/campaigns?limit=5", bearer(token_));
  auto detailed = http_->get("/health/detailed");
  EXPECT_EQ(finished.load(), 0) << "the readiness probe and the list waited for the slow fetches";
  EXPECT_EQ(ready.status, 200) << ready.describe();
  EXPECT_EQ(list.status, 200) << list.describe();
  EXPECT_EQ(detailed.json()["checks"]["database"]["status"], "healthy") << detailed.describe();
  for (auto& f : creates) {
    auto res = f.get();
    EXPECT_EQ(res.status, 201) << res.describe();
  }
}

TEST_F(ExecutorsTest, ARequestWhoseDeadlinePassesWhileKargoIsSlowGets503OnTimeAndCreatesNothing) {
  start();
  slow_snippets(8000ms, 1);
  auto started = Clock::now();
  auto name = unique_name("Impatient");
  auto res = process(body(name), {{"X-Request-Timeout-Ms", "1500"}});
  auto took = Clock::now() - started;
  ASSERT_EQ(res.status, 503) << res.describe();
  EXPECT_EQ(res.json()["error"]["code"], "EXTERNAL_API_ERROR");
  EXPECT_TRUE(res.has_header("retry-after"));
  EXPECT_LT(took, 6s) << "answered when the sandbox answered, not at the request's deadline";
  EXPECT_EQ(creatives_named(name), 0u);
}

TEST_F(ExecutorsTest, TheServerWideRequestTimeoutBoundsEveryRequest) {
  start({{"REQUEST_TIMEOUT_MS", "1500"}});
  slow_snippets(8000ms, 1);
  auto started = Clock::now();
  auto res = process(body("Server deadline"));
  EXPECT_EQ(res.status, 503) << res.describe();
  EXPECT_LT(Clock::now() - started, 6s);
  // A client cannot ask for more time than the server gives.
  slow_snippets(8000ms, 1);
  auto greedy = process(body("Greedy"), {{"X-Request-Timeout-Ms", "600000"}});
  EXPECT_EQ(greedy.status, 503) << greedy.describe();
}

TEST_F(ExecutorsTest, CallsBeyondTheUpstreamBoundWaitInLineInsteadOfBeingRefused) {
  start({{"UPSTREAM_MAX_CONCURRENCY", "2"}});
  slow_snippets(1500ms, 6);
  auto started = Clock::now();
  std::vector<std::future<HttpResponse>> creates;
  for (int i = 0; i < 6; ++i) {
    creates.push_back(std::async(std::launch::async, [&, i] { return process(body("Queued " + std::to_string(i))); }));
  }
  for (auto& f : creates) {
    auto res = f.get();
    EXPECT_EQ(res.status, 201) << res.describe();
  }
  // Two fetches at a time, 1.5 s each: six take three rounds. All of them waited for a slot, none
  // was refused.
  EXPECT_GE(Clock::now() - started, 4s);
  EXPECT_EQ(count_requests(*sandbox_http_, "GET", "/snippet/dm/81298"), 6u);
}

TEST_F(ExecutorsTest, ACallWaitingInLinePastItsDeadlineGets503WithRetryAfter) {
  start({{"UPSTREAM_MAX_CONCURRENCY", "1"}});
  slow_snippets(4000ms, 1);
  auto first = std::async(std::launch::async, [&] { return process(body("Holds the slot")); });
  ASSERT_TRUE(wait_until([&] { return count_requests(*sandbox_http_, "GET", "/snippet/dm/81298") >= 1; }, 10s));
  auto waiting = process(body("Waits in line"), {{"X-Request-Timeout-Ms", "1000"}});
  EXPECT_EQ(waiting.status, 503) << waiting.describe();
  EXPECT_EQ(waiting.header("retry-after"), "1");
  EXPECT_EQ(count_requests(*sandbox_http_, "GET", "/snippet/dm/81298"), 1u) << "it never reached Kargo";
  EXPECT_EQ(first.get().status, 201);
}

TEST_F(ExecutorsTest, ProcessWithAnIdempotencyKeyCreatesOneCreative) {
  start();
  auto name = unique_name("Idem");
  Headers key = {{"Idempotency-Key", unique_name("key")}};
  auto first = process(body(name), key);
  ASSERT_EQ(first.status, 201) << first.describe();
  auto again = process(body(name), key);
  ASSERT_EQ(again.status, 201) << again.describe();
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(again.json()["data"]["id"], first.json()["data"]["id"]);
  EXPECT_EQ(creatives_named(name), 1u);
  EXPECT_EQ(process(body(name + " other"), key).status, 409) << "same key, another body";
}

TEST_F(ExecutorsTest, AReprocessThatFailsForGoodShowsFailedWithTheReason) {
  start();
  auto made = process(body(unique_name("Gone later")));
  ASSERT_EQ(made.status, 201) << made.describe();
  std::string id = made.json()["data"]["id"];
  add_fault(*sandbox_http_, {{"path_prefix", "/snippet/dm/81298"}, {"status", 404}, {"count", 1}});
  auto res = http_->post_json("/api/creatives/process", {{"creative_ids", {id}}}, bearer(token_));
  ASSERT_EQ(res.status, 200) << res.describe();
  ASSERT_EQ(res.json()["data"]["failed"].size(), 1u) << res.describe();
  auto doc = http_->get("/api/creatives/" + id, bearer(token_)).json()["data"];
  EXPECT_EQ(doc["status"], "failed");
  EXPECT_FALSE(doc["amazon_dsp_ready"].get<bool>());
  EXPECT_NE(doc["processing_metadata"]["error"].get<std::string>().find("no snippet"), std::string::npos)
      << doc["processing_metadata"];
  // An outage is not "for good": the creative stays as it was, and a later re-process fixes it.
  add_fault(*sandbox_http_, {{"path_prefix", "/snippet/dm/81298"}, {"status", 503}, {"count", 1}});
  auto outage = http_->post_json("/api/creatives/process", {{"creative_ids", {id}}}, bearer(token_));
  ASSERT_EQ(outage.json()["data"]["failed"].size(), 1u) << outage.describe();
  EXPECT_EQ(http_->get("/api/creatives/" + id, bearer(token_)).json()["data"]["status"], "failed");
  auto fixed = http_->post_json("/api/creatives/process", {{"creative_ids", {id}}}, bearer(token_));
  ASSERT_EQ(fixed.json()["data"]["results"].size(), 1u) << fixed.describe();
  EXPECT_EQ(http_->get("/api/creatives/" + id, bearer(token_)).json()["data"]["status"], "processed");
}

}  // namespace
}  // namespace kargo::itest
