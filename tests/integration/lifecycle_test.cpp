// Graceful shutdown (readiness turns 503, the listener stays for SHUTDOWN_DELAY_SECONDS, in-flight
// requests finish) and what the logs must never contain.
#include <gtest/gtest.h>

#include <future>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using std::chrono::seconds;

TEST(Shutdown, SigtermExitsZeroPromptly) {
  ServerProcess server;
  ASSERT_EQ(HttpClient(server.port()).get("/health/live").status, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(seconds(10)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3)) << "an idle server stops at once";
}

TEST(Shutdown, SigintExitsZero) {
  ServerProcess server;
  ::kill(server.pid(), SIGINT);
  auto code = server.wait(seconds(10));
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGINT";
  EXPECT_EQ(*code, 0);
}

TEST(Shutdown, IdleKeepAliveConnectionDoesNotDelayShutdown) {
  ServerProcess server;
  RawConnection idle(server.port());
  ASSERT_TRUE(idle.send("GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(idle.read_response(seconds(5)).has_value());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(seconds(25)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(Shutdown, InFlightRequestsStillGetTheirResponsesAfterSigterm) {
  // Four logins (each hashes a password on purpose slowly) queue behind a pool of one, so
  // they are in flight together; SIGTERM arrives while all of them are.
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"DATABASE_POOL_SIZE", "1"}}, .admin = admin});
  HttpClient http(server.port(), seconds(30));
  constexpr int kRequests = 4;
  std::vector<std::future<HttpResponse>> logins;
  for (int i = 0; i < kRequests; ++i) {
    logins.push_back(std::async(std::launch::async, [&] {
      return http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
    }));
  }
  // The scrape counts itself as in flight too.
  bool all_in_flight = wait_until(
      [&] {
        auto samples = parse_prometheus(http.get("/health/metrics").body);
        return metric_sum(samples, "http_requests_in_flight") >= kRequests + 1;
      },
      seconds(5), std::chrono::milliseconds(2));
  bool none_done = true;
  for (auto& f : logins) none_done = none_done && f.wait_for(seconds(0)) != std::future_status::ready;
  ASSERT_TRUE(all_in_flight && none_done) << "could not catch the logins in flight";

  server.terminate();
  for (auto& f : logins) {
    auto res = f.get();
    EXPECT_EQ(res.status, 200) << res.describe();
    if (res.status == 200) {
      EXPECT_TRUE(res.json()["data"]["access_token"].is_string());
    }
  }
  auto code = server.wait(seconds(25));
  ASSERT_TRUE(code.has_value()) << "still running 25 s after SIGTERM";
  EXPECT_EQ(*code, 0);
}

// SIGTERM: readiness answers 503 (draining) at once, while the listener keeps accepting new
// connections for SHUTDOWN_DELAY_SECONDS (requests a load balancer routed here before it noticed
// still land), every answer closes its connection, then the process exits 0.
TEST(Shutdown, DelayKeepsAcceptingWhileReadinessSays503) {
  ServerProcess server({.env = {{"SHUTDOWN_DELAY_SECONDS", "3"}}});
  HttpClient http(server.port());
  auto before = http.get("/health/ready");
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_FALSE(before.json().contains("draining"));

  auto start = std::chrono::steady_clock::now();
  server.terminate();
  ASSERT_TRUE(server.wait_for_log([](const nlohmann::json& l) { return json_string(l, "msg") == "draining"; },
                                  seconds(5)));
  auto ready = http.get("/health/ready");  // a new connection: the listener is still open
  EXPECT_EQ(ready.status, 503) << ready.describe();
  EXPECT_EQ(ready.json()["status"], "not_ready");
  EXPECT_EQ(ready.json()["draining"], true);
  auto live = http.get("/health/live");
  EXPECT_EQ(live.status, 200) << live.describe();
  EXPECT_EQ(live.header("connection").value_or(""), "close") << "draining answers close their connection";
  EXPECT_TRUE(server.running()) << "exited before the delay was over";

  auto code = server.wait(seconds(15));
  ASSERT_TRUE(code.has_value()) << "still running 15 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

// Draining closes kept-alive connections that wait for their next request at once, while the
// listener still takes new ones: a proxy drops a closed connection from its pool instead of
// sending a request on it just as the process exits.
TEST(Shutdown, DrainingClosesIdleKeepAliveConnectionsAtOnce) {
  ServerProcess server({.env = {{"SHUTDOWN_DELAY_SECONDS", "5"}}});
  RawConnection idle(server.port());
  ASSERT_TRUE(idle.send("GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(idle.read_response(seconds(5)).has_value());
  RawConnection fresh(server.port());  // connected, nothing sent yet: it keeps its chance
  server.terminate();
  EXPECT_TRUE(idle.wait_closed(seconds(2))) << "the idle keep-alive connection stayed open";
  ASSERT_TRUE(fresh.send("GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto res = fresh.read_response(seconds(5));
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->header("connection").value_or(""), "close");
  EXPECT_TRUE(server.running()) << "the delay is not over";
  EXPECT_EQ(server.stop(seconds(15)), 0);
}

// A second signal during the delay closes the listener at once (an operator's second Ctrl-C).
TEST(Shutdown, SecondSignalCutsTheDelayShort) {
  ServerProcess server({.env = {{"SHUTDOWN_DELAY_SECONDS", "60"}}});
  server.terminate();
  ASSERT_TRUE(server.wait_for_log([](const nlohmann::json& l) { return json_string(l, "msg") == "draining"; },
                                  seconds(5)));
  auto start = std::chrono::steady_clock::now();
  server.terminate();
  auto code = server.wait(seconds(10));
  ASSERT_TRUE(code.has_value()) << "the second SIGTERM did not end the delay";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(Shutdown, SigtermWhileDatabaseIsDownExitsPromptly) {
  // The bootstrap admin keeps retrying against an unreachable database; that must not hold
  // the process up.
  ServerProcess server({.env = {{"DATABASE_URL", "postgresql://kargo:kargo@127.0.0.1:" +
                                                     std::to_string(free_port()) + "/kargo_dsp"},
                                {"ADMIN_USERNAME", unique_name("admin")},
                                {"ADMIN_PASSWORD", "long-enough-password"}}});
  ASSERT_EQ(HttpClient(server.port()).get("/health/ready").status, 503);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(seconds(25)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(Logs, NeverContainPasswordsTokensSecretsOrAuthorization) {
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"LOG_LEVEL", "debug"}}, .admin = admin});
  HttpClient http(server.port());
  auto token = login(http, admin);
  auto user = create_user(http, token, "editor");
  auto user_token = login(http, user);
  const std::string wrong_password = "wrong-" + unique_name("pw");
  const std::string bogus_token = "bogus." + unique_name("token") + ".sig";
  const std::string basic = "Basic " + base64url("someone:" + unique_name("basicpw"));

  http.post_json("/api/auth/token", {{"username", admin.username}, {"password", wrong_password}});
  http.post_json("/api/auth/token", {{"username", unique_name("ghost")}, {"password", wrong_password}});
  http.get("/api/performance/summary", bearer(user_token));
  http.get("/api/performance/summary", {{"Authorization", "Bearer " + bogus_token}});
  http.get("/api/performance/summary", {{"Authorization", basic}});
  http.get("/api/nope", bearer(token));
  // A rejected body that contains a password.
  http.post_json("/api/auth/users", {{"username", "bad name"}, {"password", wrong_password}, {"role", "x"}},
                 bearer(token));
  ASSERT_EQ(server.stop(), 0);

  std::string all = server.stdout_text() + server.stderr_text();
  ASSERT_FALSE(server.stdout_text().empty());
  for (const std::string& secret : {admin.password, user.password, wrong_password, token, user_token,
                                    bogus_token, basic, required_env("SECRET_KEY")}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << "logs contain '" << secret << "'";
  }
  EXPECT_EQ(all.find("Bearer "), std::string::npos) << "an Authorization value was logged";
  for (const auto& line : server.log_lines()) {
    if (!line.is_object()) continue;
    for (const auto& [key, value] : line.items()) {
      std::string k = key;
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      EXPECT_NE(k, "authorization") << line;
      EXPECT_NE(k, "password") << line;
    }
  }
}

}  // namespace
}  // namespace kargo::itest
