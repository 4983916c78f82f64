#include "kargo/http/envelope.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kargo/core/error_codes.hpp"

using namespace kargo;
using nlohmann::json;

namespace {
http::Request json_request(std::string body, std::string content_type = "application/json") {
  http::Request r;
  r.request_id = "req_0123456789abcdef";
  r.headers.emplace_back("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

bool is_iso_utc(const std::string& s) {
  return s.size() == 20 && s[4] == '-' && s[10] == 'T' && s.back() == 'Z';
}
}  // namespace

TEST(Envelope, SuccessCarriesDataTimestampAndRequestId) {
  auto req = json_request("");
  auto res = http::ok(req, {{"x", 1}}, 201, "created");
  EXPECT_EQ(res.status, 201);
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["success"], true);
  EXPECT_EQ(doc["data"]["x"], 1);
  EXPECT_EQ(doc["message"], "created");
  EXPECT_EQ(doc["request_id"], "req_0123456789abcdef");
  EXPECT_TRUE(is_iso_utc(doc["timestamp"].get<std::string>()));
}

TEST(Envelope, ErrorCarriesCodeMessageAndDetails) {
  auto res =
      http::error_response("req_1", Error::validation({{"budget", "must be > 0"}, {"name", "is required"}}));
  EXPECT_EQ(res.status, 422);
  auto doc = json::parse(res.body);
  EXPECT_EQ(doc["success"], false);
  EXPECT_EQ(doc["error"]["code"], "VALIDATION_ERROR");
  ASSERT_EQ(doc["error"]["details"].size(), 2u);
  EXPECT_EQ(doc["error"]["details"][0]["field"], "budget");
  EXPECT_EQ(doc["request_id"], "req_1");
  EXPECT_EQ(res.error_code, "VALIDATION_ERROR");
}

TEST(Envelope, InternalMessageNeverReachesTheClient) {
  auto res = http::error_response(
      "r", Error(codes::kInternal, "internal error", "SELECT * FROM secret_table failed"));
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body.find("secret_table"), std::string::npos);
}

TEST(Envelope, ErrorHeadersAreKept) {
  auto res =
      http::error_response("r", Error(codes::kRateLimited, "slow down").with_header("Retry-After", "3"));
  EXPECT_EQ(res.status, 429);
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].second, "3");
}

TEST(JsonBody, BadBodiesAre400OnFieldBody) {
  for (auto [body, type] : std::vector<std::pair<std::string, std::string>>{{"{", "application/json"},
                                                                            {"[1,2]", "application/json"},
                                                                            {"{}", "text/plain"},
                                                                            {"", "application/json"}}) {
    try {
      http::json_body(json_request(body, type));
      FAIL() << "accepted " << body << " as " << type;
    } catch (const Error& e) {
      EXPECT_EQ(e.http_status(), 400);
      ASSERT_EQ(e.details().size(), 1u);
      EXPECT_EQ(e.details()[0].field, "body");
    }
  }
}

TEST(JsonBody, AcceptsJsonWithCharset) {
  auto doc = http::json_body(json_request(R"({"a":1})", "application/json; charset=utf-8"));
  EXPECT_EQ(doc["a"], 1);
}

TEST(Envelope, InvalidUtf8InDataIsReplacedNotThrown) {
  auto req = json_request("");
  auto res = http::ok(req, {{"name", std::string("bad \xff byte")}});
  EXPECT_NO_THROW(json::parse(res.body));
}

TEST(HeaderLine, CarriageReturnsAndLineFeedsAreDroppedFromValues) {
  std::string head;
  http::append_header_line(head, "X-Test", "a\r\nSet-Cookie: evil=1");
  EXPECT_EQ(head, "X-Test: aSet-Cookie: evil=1\r\n");
  http::Response res;
  res.add_head_line("X-Plain", "value");
  EXPECT_EQ(res.head_lines, "X-Plain: value\r\n");
}
