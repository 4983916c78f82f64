// Contract section 2: the envelope, request ids, security headers, CORS, and the JSON log lines.
#include <gtest/gtest.h>

#include <set>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

class ConventionsTest : public ServerTest {};

TEST_F(ConventionsTest, SuccessEnvelopeHasDataTimestampAndRequestId) {
  auto res = http().get("/api/performance/summary", bearer(admin_token()));
  ASSERT_EQ(res.status, 200) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["success"], true);
  EXPECT_TRUE(body["data"].is_object()) << body;
  ASSERT_TRUE(body["timestamp"].is_string()) << body;
  EXPECT_TRUE(is_iso8601_utc(body["timestamp"])) << body["timestamp"];
  ASSERT_TRUE(body["request_id"].is_string()) << body;
  EXPECT_EQ(body["request_id"], res.header("x-request-id").value_or("<none>"));
  EXPECT_TRUE(is_generated_request_id(body["request_id"])) << body["request_id"];
  EXPECT_EQ(res.header("content-type").value_or("").rfind("application/json", 0), 0u);
}

TEST_F(ConventionsTest, ErrorEnvelopeHasCodeMessageDetailsTimestampAndRequestId) {
  auto res = http().post_json("/api/auth/users", nlohmann::json::object(), bearer(admin_token()));
  ASSERT_EQ(res.status, 422) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["success"], false);
  EXPECT_FALSE(body.contains("data")) << body;
  const auto& error = body["error"];
  EXPECT_EQ(error["code"], "VALIDATION_ERROR");
  ASSERT_TRUE(error["message"].is_string()) << body;
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  ASSERT_TRUE(error["details"].is_array()) << body;
  std::set<std::string> fields;
  for (const auto& d : error["details"]) {
    ASSERT_TRUE(d["field"].is_string()) << d;
    ASSERT_TRUE(d["message"].is_string()) << d;
    fields.insert(d["field"]);
  }
  EXPECT_EQ(fields, (std::set<std::string>{"username", "password", "role"}));
  EXPECT_TRUE(body["timestamp"].is_string() && is_iso8601_utc(body["timestamp"])) << body;
  EXPECT_EQ(body["request_id"], res.header("x-request-id").value_or("<none>"));
}

TEST_F(ConventionsTest, ValidCallerRequestIdIsEchoedInHeaderAndBody) {
  for (const std::string& id : {std::string("Caller.id_123-abc"), std::string(128, 'a'), std::string("x")}) {
    SCOPED_TRACE(id);
    auto res = http().get("/api/performance/summary", bearer(admin_token(), {{"X-Request-ID", id}}));
    ASSERT_EQ(res.status, 200) << res.describe();
    EXPECT_EQ(res.header("x-request-id").value_or("<none>"), id);
    EXPECT_EQ(res.json()["request_id"], id);
  }
}

TEST_F(ConventionsTest, InvalidCallerRequestIdIsReplacedByGeneratedOne) {
  for (const std::string& id :
       {std::string(129, 'a'), std::string("has space"), std::string("bad/slash"), std::string("semi;colon"),
        std::string("caf\xc3\xa9"), std::string("<script>")}) {
    SCOPED_TRACE(id);
    auto res = http().get("/api/nope", {{"X-Request-ID", id}});
    ASSERT_EQ(res.status, 404) << res.describe();
    auto header = res.header("x-request-id").value_or("<none>");
    EXPECT_TRUE(is_generated_request_id(header)) << header;
    EXPECT_EQ(res.json()["request_id"], header);
  }
}

TEST_F(ConventionsTest, EveryHealthRouteCarriesRequestId) {
  for (const char* path : {"/", "/health", "/health/live", "/health/ready", "/health/detailed",
                           "/health/status", "/health/metrics"}) {
    SCOPED_TRACE(path);
    auto generated = http().get(path);
    EXPECT_EQ(generated.status, 200) << generated.describe();
    EXPECT_TRUE(is_generated_request_id(generated.header("x-request-id").value_or("")))
        << generated.describe();
    auto echoed = http().get(path, {{"X-Request-ID", "health-probe-1"}});
    EXPECT_EQ(echoed.header("x-request-id").value_or("<none>"), "health-probe-1");
  }
}

TEST_F(ConventionsTest, RequestIdAppearsInThatRequestsLogLine) {
  const std::string id = unique_name("trace");
  auto res = http().get("/api/performance/summary", bearer(admin_token(), {{"X-Request-ID", id}}));
  ASSERT_EQ(res.status, 200) << res.describe();
  nlohmann::json found;
  bool logged = server().wait_for_log(
      [&](const nlohmann::json& line) {
        if (json_string(line, "request_id") != id) return false;
        found = line;
        return true;
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(logged) << "no log line with request_id " << id;
  EXPECT_EQ(found["method"], "GET") << found;
  EXPECT_EQ(found["route"], "/api/performance/summary") << found;
  EXPECT_EQ(found["status"], 200) << found;
  EXPECT_TRUE(found["duration_ms"].is_number()) << found;
  EXPECT_TRUE(found["client"].is_string()) << found;
}

TEST_F(ConventionsTest, EveryStdoutLineIsJsonWithTsLevelMsgAndRequestId) {
  http().get("/api/performance/summary", bearer(admin_token()));
  http().get("/api/nope");
  http().post_json("/api/auth/token", {{"username", "nobody"}, {"password", "wrong-password"}});
  http().get("/health/ready");
  ASSERT_EQ(server().stop(), 0);
  auto lines = server().log_lines();
  ASSERT_GE(lines.size(), 5u) << server().stdout_text();
  for (const auto& line : lines) {
    ASSERT_TRUE(line.is_object()) << "not a JSON object: " << line;
    EXPECT_TRUE(line["ts"].is_string() && is_iso8601_utc(line["ts"])) << line;
    EXPECT_TRUE(line["level"].is_string()) << line;
    EXPECT_TRUE(line["msg"].is_string()) << line;
    EXPECT_TRUE(line.contains("request_id")) << line;
  }
}

TEST_F(ConventionsTest, SecurityHeadersOnEveryResponseAndNoStoreOnlyOnApi) {
  struct Case {
    const char* method;
    std::string path;
    bool with_token;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/", false, 200},
      {"GET", "/health/live", false, 200},
      {"GET", "/health/ready", false, 200},
      {"GET", "/health/metrics", false, 200},
      {"GET", "/health/nope", false, 404},
      {"GET", "/api/performance/summary", true, 200},
      {"GET", "/api/performance/summary", false, 401},
      {"GET", "/api/nope", false, 404},
      {"GET", "/api/auth/token", false, 405},
      {"POST", "/api/auth/token", false, 400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    Headers headers = c.with_token ? bearer(admin_token()) : Headers{};
    if (std::string(c.method) == "POST") headers.emplace_back("Content-Type", "application/json");
    auto res = http().request(c.method, c.path, std::string(c.method) == "POST" ? "not json" : "", headers);
    EXPECT_EQ(res.status, c.status) << res.describe();
    EXPECT_EQ(res.header("x-content-type-options").value_or("<none>"), "nosniff");
    EXPECT_EQ(res.header("x-frame-options").value_or("<none>"), "DENY");
    EXPECT_EQ(res.header("referrer-policy").value_or("<none>"), "no-referrer");
    bool api = c.path.rfind("/api/", 0) == 0;
    if (api) {
      EXPECT_EQ(res.header("cache-control").value_or("<none>"), "no-store");
    } else {
      EXPECT_NE(res.header("cache-control").value_or("<none>"), "no-store");
    }
  }
}

class CorsTest : public ServerTest {
 protected:
  EnvOverrides server_env() override {
    return {{"CORS_ALLOWED_ORIGINS", "http://ui.example, https://admin.example:8443"}};
  }
};

TEST_F(CorsTest, AllowedOriginGetsAllowOriginHeader) {
  auto health = http().get("/health/live", {{"Origin", "http://ui.example"}});
  EXPECT_EQ(health.header("access-control-allow-origin").value_or("<none>"), "http://ui.example");
  auto api = http().get("/api/performance/summary", bearer(admin_token(), {{"Origin", "http://ui.example"}}));
  ASSERT_EQ(api.status, 200) << api.describe();
  EXPECT_EQ(api.header("access-control-allow-origin").value_or("<none>"), "http://ui.example");
}

TEST_F(CorsTest, EveryListedOriginIsAllowed) {
  auto res = http().get("/health/live", {{"Origin", "https://admin.example:8443"}});
  EXPECT_EQ(res.header("access-control-allow-origin").value_or("<none>"), "https://admin.example:8443");
}

TEST_F(CorsTest, OtherOriginGetsNoCorsHeaders) {
  auto res =
      http().get("/api/performance/summary", bearer(admin_token(), {{"Origin", "http://evil.example"}}));
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_FALSE(res.has_header("access-control-allow-origin"))
      << res.header("access-control-allow-origin").value();
  EXPECT_FALSE(res.has_header("access-control-allow-credentials"));
}

TEST_F(CorsTest, PreflightFromAllowedOriginAnswers204WithAllowedMethodsAndHeaders) {
  auto res = http().request("OPTIONS", "/api/auth/token", "",
                            {{"Origin", "http://ui.example"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "content-type, authorization"}});
  EXPECT_EQ(res.status, 204) << res.describe();
  EXPECT_EQ(res.header("access-control-allow-origin").value_or("<none>"), "http://ui.example");
  auto methods = res.header("access-control-allow-methods").value_or("");
  EXPECT_NE(methods.find("POST"), std::string::npos) << methods;
  std::string allowed_headers = res.header("access-control-allow-headers").value_or("");
  for (auto& ch : allowed_headers) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(allowed_headers.find("authorization"), std::string::npos) << allowed_headers;
  EXPECT_NE(allowed_headers.find("content-type"), std::string::npos) << allowed_headers;
  EXPECT_TRUE(res.body.empty()) << res.body;
  EXPECT_FALSE(res.has_header("content-length")) << "a 204 has no Content-Length";
}

TEST_F(CorsTest, PreflightFromOtherOriginAnswers204WithoutCorsHeaders) {
  auto res = http().request("OPTIONS", "/api/auth/token", "",
                            {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(res.status, 204) << res.describe();
  EXPECT_FALSE(res.has_header("access-control-allow-origin"));
  EXPECT_FALSE(res.has_header("access-control-allow-methods"));
}

TEST(Cors, WildcardIsAllowedInDevelopment) {
  ServerProcess server({.env = {{"ENVIRONMENT", "development"}, {"CORS_ALLOWED_ORIGINS", "*"}}});
  auto res = HttpClient(server.port()).get("/health/live", {{"Origin", "http://anything.example"}});
  auto origin = res.header("access-control-allow-origin").value_or("<none>");
  EXPECT_TRUE(origin == "*" || origin == "http://anything.example") << origin;
}

}  // namespace
}  // namespace kargo::itest
