// Dependencies failing under a running server: Redis stopped mid-test (still serving, limiting
// locally, degraded) and PostgreSQL restarted mid-test (recovers without a service restart).
#include <gtest/gtest.h>

#include <future>

#include "support/fixtures.hpp"
#include "support/tcp_proxy.hpp"

namespace kargo::itest {
namespace {

using std::chrono::seconds;

std::string ready_status(const HttpClient& http, int* status = nullptr) {
  try {
    auto res = http.get("/health/ready");
    if (status) *status = res.status;
    return res.json().value("status", "<none>");
  } catch (const std::exception& e) {
    return std::string("<error: ") + e.what() + ">";
  }
}

TEST(Resilience, RedisStoppedMidTestServerKeepsServingAndLimitsLocally) {
  RedisServer redis;
  auto admin = Credentials::unique("admin");
  ServerProcess server(
      {.env = {{"REDIS_URL", redis.url()}, {"RATE_LIMIT_PER_MINUTE", "5"}, {"RATE_LIMIT_BURST", "0"}},
       .admin = admin});
  HttpClient http(server.port());
  ASSERT_EQ(ready_status(http), "ready");
  auto token = login(http, admin);
  ASSERT_EQ(http.get("/api/performance/summary", bearer(token)).status, 200);

  redis.kill();

  int status = 0;
  EXPECT_TRUE(wait_until([&] { return ready_status(http, &status) == "degraded"; }, seconds(10)))
      << "ready says " << ready_status(http);
  EXPECT_EQ(status, 200) << "degraded is still ready";
  auto ready = http.get("/health/ready").json();
  EXPECT_NE(ready["checks"]["redis"]["status"], "healthy") << ready;
  EXPECT_EQ(ready["checks"]["database"]["status"], "healthy") << ready;

  // Never fails open (unlimited) nor closed (all 429): each instance limits on its own.
  std::vector<int> statuses;
  for (int i = 0; i < 7; ++i) statuses.push_back(http.get("/api/performance/summary", bearer(token)).status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 200, 200, 429, 429}));
  // Requests that do not need Redis at all still work, logins included.
  auto relogin =
      http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  EXPECT_EQ(relogin.status, 200) << relogin.describe();

  auto metrics = parse_prometheus(http.get("/health/metrics").body);
  EXPECT_GT(metric_sum(metrics, "redis_errors_total"), 0.0);
  EXPECT_TRUE(server.running());

  redis.restart();
  EXPECT_TRUE(wait_until([&] { return ready_status(http) == "ready"; }, seconds(15)))
      << "ready says " << ready_status(http) << " after Redis came back";
  // Back on the shared bucket (empty after the restart): the local bucket, which is used up,
  // no longer decides.
  auto shared = http.get("/api/performance/summary", bearer(token));
  EXPECT_EQ(shared.status, 200) << shared.describe();
}

TEST(Resilience, HungRedisDoesNotStallTheApi) {
  // SIGSTOP: connections are still accepted but nothing answers, as with a network partition.
  RedisServer redis;
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"REDIS_URL", redis.url()}}, .admin = admin});
  HttpClient http(server.port(), seconds(10));
  auto token = login(http, admin);
  redis.pause();
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    auto start = std::chrono::steady_clock::now();
    auto res = http.get("/api/performance/summary", bearer(token));
    EXPECT_EQ(res.status, 200) << res.describe();
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3))
        << "an /api request waited on a hung Redis";
  }
  auto ready = http.get("/health/ready");
  EXPECT_EQ(ready.status, 200) << ready.describe();
  EXPECT_EQ(ready.json()["status"], "degraded");
  redis.resume();
  EXPECT_TRUE(wait_until([&] { return ready_status(http) == "ready"; }, seconds(15))) << ready_status(http);
}

// A PostgreSQL that stops answering without closing its connections (a network partition, a
// hung server) must turn into 503 SERVICE_UNAVAILABLE after a bounded wait, for requests that
// need the database and for /health/ready, not into requests that hang forever.
TEST(Resilience, UnresponsiveDatabaseGives503WithinBoundedTime) {
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  TcpProxy proxy(db.host, db.port);
  PgUrl via = db;
  via.port = proxy.port();
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"DATABASE_URL", via.with_database(db.database)}}, .admin = admin});
  HttpClient http(server.port(), seconds(20));
  ASSERT_FALSE(login(http, admin).empty());

  proxy.freeze();
  auto timed = [&](std::function<HttpResponse()> call) {
    return std::async(std::launch::async, [call] {
      auto start = std::chrono::steady_clock::now();
      try {
        auto res = call();
        return std::make_pair(res, std::chrono::steady_clock::now() - start);
      } catch (const std::exception& e) {
        HttpResponse none;
        none.body = e.what();
        return std::make_pair(none, std::chrono::steady_clock::now() - start);
      }
    });
  };
  auto login_call = timed([&] {
    return http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  });
  auto ready_call = timed([&] { return http.get("/health/ready"); });
  auto [login_res, login_time] = login_call.get();
  auto [ready_res, ready_time] = ready_call.get();
  EXPECT_EQ(login_res.status, 503) << login_res.describe();
  EXPECT_LT(login_time, seconds(15));
  EXPECT_EQ(ready_res.status, 503) << ready_res.describe();
  EXPECT_LT(ready_time, seconds(15));
  EXPECT_EQ(http.get("/health/live").status, 200) << "liveness does not depend on the database";

  proxy.thaw();
  EXPECT_TRUE(wait_until(
      [&] {
        try {
          return http.post_json("/api/auth/token",
                                {{"username", admin.username}, {"password", admin.password}})
                     .status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      seconds(30), std::chrono::milliseconds(200)))
      << "login does not recover once the database answers again";
}

// A dropped connection (PostgreSQL restarted behind a proxy, a NAT timeout) costs at most a
// retry: the next request works.
TEST(Resilience, DroppedDatabaseConnectionsAreReplacedTransparently) {
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  TcpProxy proxy(db.host, db.port);
  PgUrl via = db;
  via.port = proxy.port();
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"DATABASE_URL", via.with_database(db.database)}}, .admin = admin});
  HttpClient http(server.port());
  ASSERT_FALSE(login(http, admin).empty());
  proxy.drop_all();
  auto res = http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  EXPECT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(http.get("/health/ready").status, 200);
}

// Restarts the restart-test PostgreSQL on scope exit if a failure left it stopped.
class PgStartGuard {
 public:
  ~PgStartGuard() {
    if (!stopped_) return;
    try {
      restart_pg_start();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not start PostgreSQL again: " << e.what();
    }
  }
  void stop() {
    restart_pg_stop();
    stopped_ = true;
  }
  void start() {
    restart_pg_start();
    stopped_ = false;
  }

 private:
  bool stopped_ = false;
};

TEST(Resilience, PostgresRestartedMidTestServerRecoversWithoutRestart) {
  auto admin = Credentials::unique("admin");
  ServerProcess server(
      {.env = {{"DATABASE_URL", required_env("KARGO_TEST_RESTART_DATABASE_URL")}}, .admin = admin});
  HttpClient http(server.port());
  ASSERT_EQ(ready_status(http), "ready");
  ASSERT_FALSE(login(http, admin).empty());
  pid_t pid = server.pid();

  PgStartGuard pg;
  pg.stop();

  int status = 0;
  EXPECT_TRUE(wait_until([&] { return ready_status(http, &status) == "not_ready"; }, seconds(15)))
      << "ready says " << ready_status(http);
  EXPECT_EQ(status, 503);
  auto down = http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  EXPECT_EQ(down.status, 503) << down.describe();
  if (down.status == 503) {
    EXPECT_EQ(down.json()["error"]["code"], "SERVICE_UNAVAILABLE") << down.describe();
    EXPECT_EQ(down.body.find("pqxx"), std::string::npos) << "no internals leak: " << down.body;
  }
  // Every log line of that request carries its id: the error and the access line.
  std::string failed_id = down.header("x-request-id").value_or("<none>");
  EXPECT_TRUE(server.wait_for_log(
      [&](const nlohmann::json& line) {
        return json_string(line, "request_id") == failed_id && json_string(line, "level") == "error";
      },
      seconds(5)))
      << "no error line with request_id " << failed_id;
  EXPECT_EQ(http.get("/health/live").status, 200) << "liveness does not depend on the database";

  pg.start();

  HttpResponse last;
  bool recovered = wait_until(
      [&] {
        last =
            http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
        return last.status == 200;
      },
      seconds(30), std::chrono::milliseconds(200));
  EXPECT_TRUE(recovered) << "login still fails after PostgreSQL came back: " << last.describe();
  EXPECT_TRUE(wait_until([&] { return ready_status(http) == "ready"; }, seconds(15))) << ready_status(http);
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.pid(), pid) << "the same process served before and after";
}

}  // namespace
}  // namespace kargo::itest
