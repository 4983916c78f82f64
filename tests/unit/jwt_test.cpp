#include "kargo/auth/jwt.hpp"

#include <gtest/gtest.h>

using namespace kargo;

namespace {
const std::string kKey = "0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1'800'000'000;
}  // namespace

TEST(Jwt, RoundTripsClaims) {
  auto token = jwt::sign({"alice", Role::kEditor, kNow, kNow + 3600}, kKey);
  std::string why;
  auto c = jwt::verify(token, kKey, kNow + 10, why);
  ASSERT_TRUE(c) << why;
  EXPECT_EQ(c->subject, "alice");
  EXPECT_EQ(c->role, Role::kEditor);
  EXPECT_EQ(c->expires_at, kNow + 3600);
}

TEST(Jwt, RejectsExpiredToken) {
  auto token = jwt::sign({"alice", Role::kViewer, kNow - 7200, kNow - 3600}, kKey);
  std::string why;
  EXPECT_FALSE(jwt::verify(token, kKey, kNow, why));
  EXPECT_EQ(why, "token expired");
}

TEST(Jwt, RejectsOtherKey) {
  auto token = jwt::sign({"alice", Role::kAdmin, kNow, kNow + 60}, "another-key-another-key-another-key");
  std::string why;
  EXPECT_FALSE(jwt::verify(token, kKey, kNow, why));
  EXPECT_EQ(why, "bad token signature");
}

TEST(Jwt, RejectsTamperedPayload) {
  auto token = jwt::sign({"alice", Role::kViewer, kNow, kNow + 60}, kKey);
  auto dot1 = token.find('.');
  auto dot2 = token.find('.', dot1 + 1);
  std::string forged =
      jwt::base64url_encode(R"({"sub":"alice","role":"admin","iat":1800000000,"exp":1800000060})");
  std::string tampered = token.substr(0, dot1 + 1) + forged + token.substr(dot2);
  std::string why;
  EXPECT_FALSE(jwt::verify(tampered, kKey, kNow, why));
}

TEST(Jwt, RejectsAlgNone) {
  std::string header = jwt::base64url_encode(R"({"alg":"none","typ":"JWT"})");
  std::string payload =
      jwt::base64url_encode(R"({"sub":"mallory","role":"admin","iat":1800000000,"exp":1900000000})");
  std::string why;
  EXPECT_FALSE(jwt::verify(header + "." + payload + ".", kKey, kNow, why));
  EXPECT_FALSE(jwt::verify(header + "." + payload, kKey, kNow, why));
}

TEST(Jwt, RejectsHs512AndGarbage) {
  std::string header = jwt::base64url_encode(R"({"alg":"HS512","typ":"JWT"})");
  std::string payload = jwt::base64url_encode(R"({"sub":"m","role":"admin","exp":1900000000})");
  std::string why;
  EXPECT_FALSE(jwt::verify(header + "." + payload + ".AAAA", kKey, kNow, why));
  EXPECT_EQ(why, "unsupported token algorithm");
  EXPECT_FALSE(jwt::verify("not-a-token", kKey, kNow, why));
  EXPECT_FALSE(jwt::verify("a.b.c.d", kKey, kNow, why));
  EXPECT_FALSE(jwt::verify("!!!.@@@.###", kKey, kNow, why));
  EXPECT_FALSE(jwt::verify(std::string(10000, 'a'), kKey, kNow, why));
}

TEST(Jwt, RejectsUnknownRole) {
  // Correctly signed but with a role the service does not know.
  std::string header = jwt::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  std::string payload =
      jwt::base64url_encode(R"({"sub":"x","role":"root","iat":1800000000,"exp":1900000000})");
  auto good = jwt::sign({"x", Role::kViewer, kNow, kNow + 60}, kKey);
  std::string why;
  EXPECT_FALSE(jwt::verify(header + "." + payload + good.substr(good.rfind('.')), kKey, kNow, why));
}

TEST(Base64Url, RoundTripsBinary) {
  std::string data("\x00\xff\xfe hello", 9);
  auto enc = jwt::base64url_encode(data);
  EXPECT_EQ(enc.find('='), std::string::npos);
  EXPECT_EQ(jwt::base64url_decode(enc), data);
  EXPECT_FALSE(jwt::base64url_decode("@@@"));
}
