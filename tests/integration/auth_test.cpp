// Contract section 2, "Authentication and roles": tokens, the 401 cases, roles, users.
#include <gtest/gtest.h>

#include <set>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

class AuthTest : public ServerTest {
 protected:
  // Asserts the contract's 401: AUTHENTICATION_ERROR in the error envelope.
  void expect_unauthenticated(const HttpResponse& res) {
    EXPECT_EQ(res.status, 401) << res.describe();
    if (res.status == 401) {
      auto body = res.json();
      EXPECT_EQ(body["success"], false);
      EXPECT_EQ(body["error"]["code"], "AUTHENTICATION_ERROR") << body;
    }
  }
  HttpResponse summary_with(const std::string& authorization) {
    return http().get("/api/performance/summary", {{"Authorization", authorization}});
  }
  std::set<std::string> detail_fields(const HttpResponse& res) {
    std::set<std::string> out;
    auto body = res.json();
    for (const auto& d : body["error"]["details"]) out.insert(json_string(d, "field"));
    return out;
  }
};

TEST_F(AuthTest, TokenEndpointIssuesBearerTokenWithExpiry) {
  auto res =
      http().post_json("/api/auth/token", {{"username", admin().username}, {"password", admin().password}});
  ASSERT_EQ(res.status, 200) << res.describe();
  auto data = res.json()["data"];
  ASSERT_TRUE(data["access_token"].is_string()) << data;
  EXPECT_EQ(data["token_type"], "bearer");
  EXPECT_EQ(data["expires_in"], 3600) << "JWT_EXPIRE_MINUTES defaults to 60";

  auto claims = jwt_payload(data["access_token"]);
  EXPECT_EQ(claims["sub"], admin().username);
  EXPECT_EQ(claims["role"], "admin");
  ASSERT_TRUE(claims["iat"].is_number_integer() && claims["exp"].is_number_integer()) << claims;
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 3600);
  EXPECT_NEAR(static_cast<double>(claims["iat"].get<int64_t>()), static_cast<double>(now_epoch()), 60.0);

  auto header =
      nlohmann::json::parse(base64url_decode(data["access_token"].get<std::string>().substr(
                                                 0, data["access_token"].get<std::string>().find('.')))
                                .value_or("{}"));
  EXPECT_EQ(header["alg"], "HS256");

  auto use = http().get("/api/performance/summary", bearer(data["access_token"]));
  EXPECT_EQ(use.status, 200) << use.describe();
}

TEST_F(AuthTest, WrongPasswordAndUnknownUserGetTheSame401) {
  auto wrong_password =
      http().post_json("/api/auth/token", {{"username", admin().username}, {"password", "not-the-password"}});
  auto unknown_user = http().post_json(
      "/api/auth/token", {{"username", unique_name("ghost")}, {"password", "not-the-password"}});
  expect_unauthenticated(wrong_password);
  expect_unauthenticated(unknown_user);
  EXPECT_EQ(wrong_password.json()["error"]["message"], unknown_user.json()["error"]["message"]);
}

TEST_F(AuthTest, MissingTokenIs401) { expect_unauthenticated(http().get("/api/performance/summary")); }

// Every documented /api route except POST /api/auth/token needs a bearer token; walking the
// OpenAPI document keeps this true as routes are added.
TEST_F(AuthTest, EveryApiRouteExceptTokenNeedsABearerToken) {
  auto spec = http().get("/docs/openapi.json").json();
  int checked = 0;
  for (const auto& [path, operations] : spec["paths"].items()) {
    if (path.rfind("/api/", 0) != 0) continue;
    for (const auto& [method, _] : operations.items()) {
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (m != "GET" && m != "POST" && m != "PUT" && m != "DELETE" && m != "PATCH") continue;
      if (m == "POST" && path == "/api/auth/token") continue;
      SCOPED_TRACE(m + " " + path);
      std::string target = path;
      for (size_t open = target.find('{'); open != std::string::npos; open = target.find('{')) {
        target.replace(open, target.find('}', open) - open + 1, "x_1");
      }
      auto res = http().request(m, target, m == "GET" || m == "DELETE" ? "" : "{}",
                                {{"Content-Type", "application/json"}});
      expect_unauthenticated(res);
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);
}

TEST_F(AuthTest, MalformedTokenIs401) {
  for (const std::string& value :
       {std::string("Bearer not-a-jwt"), std::string("Bearer a.b"), std::string("Bearer a.b.c.d"),
        std::string("Bearer !!!.???.***"), std::string("Bearer "), std::string("Basic YWRtaW46YWRtaW4="),
        std::string("Bearer ") + std::string(5000, 'x')}) {
    SCOPED_TRACE(value.substr(0, 60));
    expect_unauthenticated(summary_with(value));
  }
}

TEST_F(AuthTest, CraftedTokenWithTheServerKeyIsAccepted) {
  // The control for the negative cases below: a token made by hand with the right key works.
  auto token = make_token(admin().username, "admin", secret_key());
  auto res = http().get("/api/performance/summary", bearer(token));
  EXPECT_EQ(res.status, 200) << res.describe();
}

TEST_F(AuthTest, TamperedSignatureIs401) {
  std::string token = admin_token();
  size_t mid = token.rfind('.') + 10;
  token[mid] = token[mid] == 'A' ? 'B' : 'A';
  expect_unauthenticated(summary_with("Bearer " + token));
}

TEST_F(AuthTest, TamperedPayloadIs401) {
  // A viewer promotes itself to admin by editing the payload and keeping the signature.
  auto viewer = create_user(http(), admin_token(), "viewer");
  std::string token = login(http(), viewer);
  auto claims = jwt_payload(token);
  claims["role"] = "admin";
  auto first = token.find('.');
  auto second = token.find('.', first + 1);
  std::string forged = token.substr(0, first + 1) + base64url(claims.dump()) + token.substr(second);
  expect_unauthenticated(summary_with("Bearer " + forged));
  auto create = http().post_json(
      "/api/auth/users",
      {{"username", unique_name("forged")}, {"password", "long-enough-pw"}, {"role", "admin"}},
      bearer(forged));
  expect_unauthenticated(create);
}

TEST_F(AuthTest, AlgNoneTokenIs401) {
  nlohmann::json payload = {
      {"sub", admin().username}, {"role", "admin"}, {"iat", now_epoch()}, {"exp", now_epoch() + 600}};
  std::string unsigned_part = base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(payload.dump());
  expect_unauthenticated(summary_with("Bearer " + unsigned_part + "."));
  std::string none_upper = base64url(R"({"alg":"None","typ":"JWT"})") + "." + base64url(payload.dump()) + ".";
  expect_unauthenticated(summary_with("Bearer " + none_upper));
  // alg none in the header but a valid HS256 signature over it: the algorithm itself is refused.
  expect_unauthenticated(
      summary_with("Bearer " + sign_jwt({{"alg", "none"}, {"typ", "JWT"}}, payload, secret_key())));
  expect_unauthenticated(
      summary_with("Bearer " + sign_jwt({{"alg", "HS512"}, {"typ", "JWT"}}, payload, secret_key())));
}

TEST_F(AuthTest, ExpiredTokenIs401) {
  auto expired = make_token(admin().username, "admin", secret_key(), std::chrono::seconds(-30));
  expect_unauthenticated(summary_with("Bearer " + expired));
}

TEST_F(AuthTest, TokenSignedWithAnotherKeyIs401) {
  auto foreign = make_token(admin().username, "admin", "another-secret-key-0123456789abcdef-0123");
  expect_unauthenticated(summary_with("Bearer " + foreign));
}

TEST_F(AuthTest, AdminCreatesViewerAndEditorUsersWhoCanLogIn) {
  for (const std::string role : {"viewer", "editor"}) {
    SCOPED_TRACE(role);
    auto who = Credentials::unique(role);
    auto res = http().post_json("/api/auth/users",
                                {{"username", who.username}, {"password", who.password}, {"role", role}},
                                bearer(admin_token()));
    ASSERT_EQ(res.status, 201) << res.describe();
    auto body = res.json();
    EXPECT_EQ(body["success"], true);
    EXPECT_EQ(body["data"]["username"], who.username);
    EXPECT_EQ(body["data"]["role"], role);
    EXPECT_EQ(res.body.find(who.password), std::string::npos) << "the password is never echoed";
    auto token = login(http(), who);
    EXPECT_EQ(jwt_payload(token)["role"], role);
  }
}

TEST_F(AuthTest, ViewerAndEditorCannotCreateUsers) {
  for (const std::string role : {"viewer", "editor"}) {
    SCOPED_TRACE(role);
    auto token = login(http(), create_user(http(), admin_token(), role));
    auto res = http().post_json(
        "/api/auth/users",
        {{"username", unique_name("sneaky")}, {"password", "long-enough-pw"}, {"role", "admin"}},
        bearer(token));
    EXPECT_EQ(res.status, 403) << res.describe();
    EXPECT_EQ(res.json()["error"]["code"], "AUTHORIZATION_ERROR");
  }
}

TEST_F(AuthTest, ViewerCanReadTheApi) {
  auto token = login(http(), create_user(http(), admin_token(), "viewer"));
  auto res = http().get("/api/performance/summary", bearer(token));
  EXPECT_EQ(res.status, 200) << res.describe();
}

TEST_F(AuthTest, DuplicateUsernameIs409) {
  auto who = create_user(http(), admin_token(), "viewer");
  auto res = http().post_json(
      "/api/auth/users", {{"username", who.username}, {"password", "another-password"}, {"role", "editor"}},
      bearer(admin_token()));
  EXPECT_EQ(res.status, 409) << res.describe();
  EXPECT_EQ(res.json()["error"]["code"], "RESOURCE_CONFLICT");
  // The first user is unchanged: the old password still works.
  EXPECT_EQ(jwt_payload(login(http(), who))["role"], "viewer");
}

TEST_F(AuthTest, MissingUserFieldsAreAllReportedAtOnce) {
  auto res = http().post_json("/api/auth/users", nlohmann::json::object(), bearer(admin_token()));
  ASSERT_EQ(res.status, 422) << res.describe();
  EXPECT_EQ(detail_fields(res), (std::set<std::string>{"username", "password", "role"})) << res.describe();
}

TEST_F(AuthTest, InvalidUserFieldsAreAllReportedAtOnce) {
  // Each field is wrong in its own way; every one of them must be in the same 422.
  auto res = http().post_json("/api/auth/users",
                              {{"username", "bad name!"}, {"password", "short"}, {"role", "superuser"}},
                              bearer(admin_token()));
  ASSERT_EQ(res.status, 422) << res.describe();
  EXPECT_EQ(res.json()["error"]["code"], "VALIDATION_ERROR");
  EXPECT_EQ(detail_fields(res), (std::set<std::string>{"username", "password", "role"})) << res.describe();
}

TEST_F(AuthTest, WrongJsonTypesAre422ForEachField) {
  auto res = http().post_json("/api/auth/users", {{"username", 42}, {"password", {"x"}}, {"role", true}},
                              bearer(admin_token()));
  ASSERT_EQ(res.status, 422) << res.describe();
  EXPECT_EQ(detail_fields(res), (std::set<std::string>{"username", "password", "role"})) << res.describe();
  auto token =
      http().post_json("/api/auth/token", {{"username", 42}, {"password", nlohmann::json::object()}});
  ASSERT_EQ(token.status, 422) << token.describe();
  EXPECT_EQ(detail_fields(token), (std::set<std::string>{"username", "password"})) << token.describe();
}

TEST_F(AuthTest, UnknownJsonFieldsAreIgnored) {
  auto res = http().post_json("/api/auth/token", {{"username", admin().username},
                                                  {"password", admin().password},
                                                  {"remember_me", true},
                                                  {"extra", {1, 2}}});
  EXPECT_EQ(res.status, 200) << res.describe();
}

TEST_F(AuthTest, CreateUserCommandReadsPasswordFromStdin) {
  auto who = Credentials::unique("cli");
  auto r = run_cli({"create-user", who.username, "editor"}, {}, who.password + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find(who.password), std::string::npos) << "the password is never printed";
  EXPECT_EQ(r.err.find(who.password), std::string::npos);
  auto token = login(http(), who);
  EXPECT_EQ(jwt_payload(token)["role"], "editor");
  EXPECT_EQ(jwt_payload(token)["sub"], who.username);
}

TEST_F(AuthTest, CreateUserCommandRefusesADuplicateAndKeepsTheFirstPassword) {
  auto who = Credentials::unique("cli");
  ASSERT_EQ(run_cli({"create-user", who.username, "viewer"}, {}, who.password + "\n").exit_code, 0);
  auto again = run_cli({"create-user", who.username, "admin"}, {}, std::string("another-password\n"));
  EXPECT_NE(again.exit_code, 0) << again.out;
  EXPECT_FALSE(again.err.empty());
  EXPECT_EQ(jwt_payload(login(http(), who))["role"], "viewer");
}

TEST(Auth, TokenLifetimeFollowsJwtExpireMinutes) {
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"JWT_EXPIRE_MINUTES", "5"}}, .admin = admin});
  HttpClient http(server.port());
  auto res = http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.json()["data"]["expires_in"], 300);
  auto claims = jwt_payload(res.json()["data"]["access_token"].get<std::string>());
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 300);
}

TEST(Auth, BootstrapAdminIsCreatedOrUpdatedAtStart) {
  // An existing viewer named like the configured admin becomes that admin, with the
  // configured password; a later start with another password updates it again.
  const std::string name = unique_name("boot");
  ASSERT_EQ(run_cli({"create-user", name, "viewer"}, {}, std::string("first-password\n")).exit_code, 0);
  {
    ServerProcess server({.admin = Credentials{name, "second-password"}});
    HttpClient http(server.port());
    EXPECT_EQ(jwt_payload(login(http, {name, "second-password"}))["role"], "admin");
    EXPECT_EQ(http.post_json("/api/auth/token", {{"username", name}, {"password", "first-password"}}).status,
              401);
    EXPECT_EQ(server.stop(), 0);
  }
  ServerProcess server({.admin = Credentials{name, "third-password"}});
  HttpClient http(server.port());
  EXPECT_EQ(jwt_payload(login(http, {name, "third-password"}))["role"], "admin");
  EXPECT_EQ(http.post_json("/api/auth/token", {{"username", name}, {"password", "second-password"}}).status,
            401);
}

TEST_F(AuthTest, UserCreationIsAuditedWithTheActor) {
  auto who = create_user(http(), admin_token(), "editor");
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  auto rows =
      run_command({"/usr/lib/postgresql/15/bin/psql", db.with_database(db.database), "-qtA", "-F", "|", "-c",
                   "SELECT entity_type, action, actor, changes::text FROM audit_log WHERE entity_id = '" +
                       who.username + "'"});
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  EXPECT_NE(rows.out.find("user|create|" + admin().username + "|"), std::string::npos) << rows.out;
  EXPECT_EQ(rows.out.find(who.password), std::string::npos) << "no password in the audit trail: " << rows.out;
}

// Contract section 2: POST creates accept Idempotency-Key; a repeat with the same key and
// body returns the first response and changes nothing; the same key with another body is 409.
TEST_F(AuthTest, CreateUserHonoursIdempotencyKey) {
  auto who = Credentials::unique("idem");
  nlohmann::json body = {{"username", who.username}, {"password", who.password}, {"role", "viewer"}};
  Headers headers = bearer(admin_token(), {{"Idempotency-Key", unique_name("key")}});
  auto first = http().post_json("/api/auth/users", body, headers);
  ASSERT_EQ(first.status, 201) << first.describe();
  auto repeat = http().post_json("/api/auth/users", body, headers);
  EXPECT_EQ(repeat.status, 201) << repeat.describe();
  if (repeat.status == 201) {
    EXPECT_EQ(repeat.json()["data"], first.json()["data"]);
  }
  body["role"] = "editor";
  auto other = http().post_json("/api/auth/users", body, headers);
  EXPECT_EQ(other.status, 409) << other.describe();
  EXPECT_EQ(jwt_payload(login(http(), who))["role"], "viewer") << "nothing changed";
}

TEST_F(AuthTest, PasswordsAreStoredAsSaltedHashes) {
  // Two users with the same password: neither row holds it, and the hashes differ (salt).
  const std::string shared_password = "same-password-" + unique_name("pw");
  Credentials a{unique_name("salt_a"), shared_password};
  Credentials b{unique_name("salt_b"), shared_password};
  for (const auto& who : {a, b}) {
    auto res = http().post_json("/api/auth/users",
                                {{"username", who.username}, {"password", who.password}, {"role", "viewer"}},
                                bearer(admin_token()));
    ASSERT_EQ(res.status, 201) << res.describe();
  }
  auto db = parse_pg_url(required_env("DATABASE_URL"));
  auto rows = run_command({"/usr/lib/postgresql/15/bin/psql", db.with_database(db.database), "-qtA", "-c",
                           "SELECT password_hash FROM users WHERE username IN ('" + a.username + "', '" +
                               b.username + "') ORDER BY username"});
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  auto newline = rows.out.find('\n');
  ASSERT_NE(newline, std::string::npos) << rows.out;
  std::string hash_a = rows.out.substr(0, newline);
  std::string hash_b = rows.out.substr(newline + 1, rows.out.find('\n', newline + 1) - newline - 1);
  EXPECT_FALSE(hash_a.empty());
  EXPECT_NE(hash_a, hash_b);
  EXPECT_EQ(rows.out.find(shared_password), std::string::npos) << rows.out;
}

}  // namespace
}  // namespace kargo::itest
