// The job system (contract section 7): JobStore and JobRunner against the real PostgreSQL
// (the "fixtures against a real database" tier), and /api/jobs through the real binary.
// Every test uses job kinds of its own, so tests running in parallel never see each other's jobs.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string unique_kind(const std::string& prefix) {
  std::string out = prefix + "_";
  for (char c : unique_name("k")) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) out += c;
  }
  return out.substr(0, 60);
}

class JobStoreTest : public ::testing::Test {
 protected:
  JobStoreTest() : db_(required_env("DATABASE_URL"), 8, 5000ms, nullptr), jobs_(db_) {}
  json resource(const std::string& id) {
    auto text = jobs_.get(id);
    EXPECT_TRUE(text.has_value()) << id;
    return text ? json::parse(*text) : json::object();
  }
  store::Database db_;
  store::JobStore jobs_;
};

TEST_F(JobStoreTest, EnqueuedJobIsClaimedOnceAndSucceeds) {
  auto kind = unique_kind("once");
  auto id = jobs_.enqueue(kind, {{"x", 1}}, "tester", 3);
  auto queued = resource(id);
  EXPECT_EQ(queued["status"], "queued");
  EXPECT_EQ(queued["attempts"], 0);
  EXPECT_TRUE(queued["started_at"].is_null());
  auto job = jobs_.claim("owner-a", {kind}, 30s);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->id, id);
  EXPECT_EQ(job->payload, json({{"x", 1}}));
  EXPECT_EQ(job->attempts, 1);
  EXPECT_FALSE(jobs_.claim("owner-b", {kind}, 30s).has_value()) << "a running job is not claimed again";
  EXPECT_EQ(resource(id)["status"], "running");
  EXPECT_TRUE(jobs_.heartbeat(id, "owner-a", 30s, std::make_pair(1, 2)));
  EXPECT_EQ(resource(id)["progress"], json({{"done", 1}, {"total", 2}}));
  EXPECT_FALSE(jobs_.succeed(id, "owner-b", {{"ok", true}})) << "only the lease owner records the outcome";
  ASSERT_TRUE(jobs_.succeed(id, "owner-a", {{"ok", true}}));
  auto done = resource(id);
  EXPECT_EQ(done["status"], "succeeded");
  EXPECT_EQ(done["result"], json({{"ok", true}}));
  EXPECT_EQ(done["progress"], json({{"done", 2}, {"total", 2}}));
  EXPECT_TRUE(is_iso8601_utc(done["finished_at"])) << done;
}

TEST_F(JobStoreTest, ConcurrentClaimsNeverTakeTheSameJob) {
  auto kind = unique_kind("race");
  std::set<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.insert(jobs_.enqueue(kind, json::object(), "tester", 1));
  std::mutex m;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      store::Database db(required_env("DATABASE_URL"), 1, 5000ms, nullptr);
      store::JobStore jobs(db);
      while (auto job = jobs.claim("owner-" + std::to_string(t), {kind}, 30s)) {
        std::lock_guard lock(m);
        claimed.insert(job->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 40u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), ids) << "each job claimed exactly once";
}

TEST_F(JobStoreTest, FailureRequeuesUntilTheAttemptsAreUsedUp) {
  auto kind = unique_kind("retry");
  auto id = jobs_.enqueue(kind, json::object(), "tester", 2);
  auto first = jobs_.claim("w", {kind}, 30s);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(jobs_.fail(id, "w", "upstream said no", 0s));
  auto again = resource(id);
  EXPECT_EQ(again["status"], "queued");
  EXPECT_EQ(again["error"], "upstream said no");
  EXPECT_TRUE(again["finished_at"].is_null());
  auto second = jobs_.claim("w", {kind}, 30s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempts, 2);
  ASSERT_TRUE(jobs_.fail(id, "w", "still no", 0s));
  auto failed = resource(id);
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["attempts"], 2);
  EXPECT_EQ(failed["error"], "still no");
  EXPECT_FALSE(jobs_.claim("w", {kind}, 30s).has_value());
}

TEST_F(JobStoreTest, BackoffDelaysTheNextAttempt) {
  auto kind = unique_kind("later");
  auto id = jobs_.enqueue(kind, json::object(), "tester", 3);
  ASSERT_TRUE(jobs_.claim("w", {kind}, 30s).has_value());
  ASSERT_TRUE(jobs_.fail(id, "w", "wait", 3600s));
  EXPECT_FALSE(jobs_.claim("w", {kind}, 30s).has_value()) << "not due for an hour";
  EXPECT_EQ(resource(id)["status"], "queued");
}

TEST_F(JobStoreTest, ExpiredLeaseIsTakenOverAndTheOldOwnerCannotFinish) {
  auto kind = unique_kind("lease");
  auto id = jobs_.enqueue(kind, json::object(), "tester", 3);
  ASSERT_TRUE(jobs_.claim("dead-worker", {kind}, 1s).has_value());
  EXPECT_FALSE(jobs_.claim("other", {kind}, 30s).has_value()) << "the lease is still valid";
  std::optional<store::ClaimedJob> taken;
  ASSERT_TRUE(wait_until([&] { return (taken = jobs_.claim("other", {kind}, 30s)).has_value(); }, 10s));
  EXPECT_EQ(taken->id, id);
  EXPECT_EQ(taken->attempts, 2);
  EXPECT_FALSE(jobs_.heartbeat(id, "dead-worker", 30s)) << "the old owner learns it lost the lease";
  EXPECT_FALSE(jobs_.succeed(id, "dead-worker", json::object()));
  EXPECT_TRUE(jobs_.succeed(id, "other", json::object()));
  EXPECT_EQ(resource(id)["status"], "succeeded");
}

class JobRunnerTest : public JobStoreTest {
 protected:
  Metrics metrics_;
};

TEST_F(JobRunnerTest, RunsEveryJobExactlyOnce) {
  auto kind = unique_kind("run");
  std::mutex m;
  std::map<std::string, int> runs;
  jobs::JobRunner runner(jobs_, metrics_, {.threads = 3, .poll_interval = 50ms});
  runner.add_kind({.name = kind, .max_attempts = 1, .run = [&](jobs::JobContext& job) {
                     std::lock_guard lock(m);
                     runs[job.id()]++;
                     return json{{"n", job.payload()["n"]}};
                   }});
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(jobs_.enqueue(kind, {{"n", i}}, "tester", 1));
  runner.start();
  EXPECT_TRUE(wait_until(
      [&] {
        return std::all_of(ids.begin(), ids.end(),
                           [&](const std::string& id) { return resource(id)["status"] == "succeeded"; });
      },
      20s));
  runner.stop();
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(runs[ids[i]], 1) << ids[i];
    EXPECT_EQ(resource(ids[i])["result"], json({{"n", i}}));
  }
}

TEST_F(JobRunnerTest, FailingJobIsRetriedWithItsStateThenFails) {
  auto kind = unique_kind("flaky");
  std::mutex m;
  std::vector<json> seen_states;
  jobs::JobRunner runner(jobs_, metrics_, {.threads = 1, .poll_interval = 50ms});
  runner.add_kind(
      {.name = kind, .max_attempts = 3, .base_backoff = 0s, .run = [&](jobs::JobContext& job) -> json {
         {
           std::lock_guard lock(m);
           seen_states.push_back(job.state());
         }
         job.state()["steps"] = job.state().value("steps", 0) + 1;
         job.checkpoint(job.attempt(), 3);
         throw Error(codes::kExternalApi, "amazon_dsp answered HTTP 500 after 5 attempts");
       }});
  auto id = jobs_.enqueue(kind, json::object(), "tester", 3);
  runner.start();
  EXPECT_TRUE(wait_until([&] { return resource(id)["status"] == "failed"; }, 20s));
  runner.stop();
  auto job = resource(id);
  EXPECT_EQ(job["attempts"], 3);
  EXPECT_EQ(job["error"], "amazon_dsp answered HTTP 500 after 5 attempts");
  std::lock_guard lock(m);
  ASSERT_EQ(seen_states.size(), 3u);
  EXPECT_EQ(seen_states[1], json({{"steps", 1}})) << "the checkpointed state reaches the next attempt";
  EXPECT_EQ(seen_states[2], json({{"steps", 2}}));
}

// A worker that died mid-job (here: a claim that is never renewed) loses nothing: once its lease
// expires, a runner takes the job over and finishes it once.
TEST_F(JobRunnerTest, JobOfADeadWorkerIsFinishedOnceByAnother) {
  auto kind = unique_kind("orphan");
  auto id = jobs_.enqueue(kind, {{"creative", "crv_1"}}, "tester", 5);
  ASSERT_TRUE(jobs_.claim("killed-worker", {kind}, 1s).has_value());
  std::atomic<int> runs{0};
  jobs::JobRunner runner(jobs_, metrics_, {.threads = 2, .lease = 5s, .poll_interval = 50ms});
  runner.add_kind({.name = kind, .run = [&](jobs::JobContext& job) {
                     runs++;
                     return json{{"attempt", job.attempt()}};
                   }});
  runner.start();
  EXPECT_TRUE(wait_until([&] { return resource(id)["status"] == "succeeded"; }, 15s));
  runner.stop();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(resource(id)["result"], json({{"attempt", 2}}));
}

TEST_F(JobRunnerTest, LongStepKeepsItsLeaseThroughHeartbeats) {
  auto kind = unique_kind("slow");
  std::atomic<int> runs{0};
  jobs::JobRunner runner(jobs_, metrics_, {.threads = 1, .lease = 1s, .poll_interval = 50ms});
  runner.add_kind({.name = kind, .run = [&](jobs::JobContext&) {
                     runs++;
                     std::this_thread::sleep_for(3s);  // a blocking upstream poll, longer than the lease
                     return json::object();
                   }});
  auto id = jobs_.enqueue(kind, json::object(), "tester", 3);
  runner.start();
  ASSERT_TRUE(wait_until([&] { return runs.load() == 1; }, 10s)) << "our runner picked the job up";
  // Meanwhile another worker tries to take the job: the renewed lease keeps it away.
  std::atomic<bool> stolen{false};
  std::thread thief([&] {
    auto until = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < until) {
      if (jobs_.claim("thief", {kind}, 30s)) stolen = true;
      std::this_thread::sleep_for(100ms);
    }
  });
  thief.join();
  EXPECT_TRUE(wait_until([&] { return resource(id)["status"] == "succeeded"; }, 15s));
  runner.stop();
  EXPECT_FALSE(stolen);
  EXPECT_EQ(runs, 1);
}

class JobRoutesTest : public ServerTest {};

TEST_F(JobRoutesTest, JobsAreReadableAndFilterable) {
  store::Database db(required_env("DATABASE_URL"), 1, 5000ms, nullptr);
  store::JobStore jobs(db);
  auto kind = unique_kind("api");
  auto id = jobs.enqueue(kind, {{"k", "v"}}, "tester", 4);
  auto res = http().get("/api/jobs/" + id, bearer(admin_token()));
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  EXPECT_EQ(data["id"], id);
  EXPECT_EQ(data["kind"], kind);
  EXPECT_EQ(data["status"], "queued");
  EXPECT_EQ(data["attempts"], 0);
  EXPECT_EQ(data["progress"], json({{"done", 0}, {"total", 0}}));
  for (const char* k : {"result", "error", "created_at", "started_at", "finished_at"}) {
    EXPECT_TRUE(data.contains(k)) << k;
  }
  auto list = http().get("/api/jobs?kind=" + kind + "&status=queued", bearer(admin_token()));
  ASSERT_EQ(list.status, 200) << list.describe();
  EXPECT_EQ(list.json()["data"]["total"], 1);
  EXPECT_EQ(list.json()["data"]["jobs"][0]["id"], id);
  EXPECT_EQ(
      http().get("/api/jobs?kind=" + kind + "&status=failed", bearer(admin_token())).json()["data"]["total"],
      0);
  EXPECT_EQ(http().get("/api/jobs?status=done", bearer(admin_token())).status, 422);
  EXPECT_EQ(http().get("/api/jobs/job_000000000000", bearer(admin_token())).status, 404);
  EXPECT_EQ(http().get("/api/jobs/" + id).status, 401);
}

}  // namespace
}  // namespace kargo::itest
