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

namespace {
// The details of the 422 json_body() throws for `body`, or a failure when it does not throw one.
std::vector<FieldError> json_body_details(const std::string& body) {
  try {
    http::json_body(json_request(body));
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422) << body;
    EXPECT_STREQ(e.code().name, "VALIDATION_ERROR");
    return e.details();
  }
  ADD_FAILURE() << "accepted " << body;
  return {};
}
const std::string kNulMessage = "must not contain NUL characters";
}  // namespace

TEST(JsonTextProblems, NamesEveryNulStringByItsPath) {
  auto doc = json::parse(R"({"name": "a\u0000b",
                             "targeting": {"keywords": ["ok", "x", "\u0000"], "geo": {"city": "\u0000"}},
                             "rows": [[1, "\u0000"], {"note": "\u0000"}],
                             "fine": ["text", 1, null, true, {"deep": ["ok"]}]})");
  EXPECT_EQ(http::json_text_problems(doc), (std::vector<FieldError>{{"name", kNulMessage},
                                                                    {"rows[0][1]", kNulMessage},
                                                                    {"rows[1].note", kNulMessage},
                                                                    {"targeting.geo.city", kNulMessage},
                                                                    {"targeting.keywords[2]", kNulMessage}}));
  EXPECT_TRUE(http::json_text_problems(json::parse(R"({"a": ["b", {"c": "d"}], "e": {}})")).empty());
}

TEST(JsonTextProblems, NamesANulKeyByThePathOfThatKey) {
  auto doc = json::parse(R"({"targeting": {"ke\u0000y": ["\u0000"]}, "\u0000": 1})");
  EXPECT_EQ(http::json_text_problems(doc),
            (std::vector<FieldError>{{std::string("\0", 1), "key " + kNulMessage},
                                     {std::string("targeting.ke\0y", 14), "key " + kNulMessage},
                                     {std::string("targeting.ke\0y[0]", 17), kNulMessage}}));
}

TEST(JsonTextProblems, WalksDeepNestingWithoutRecursion) {
  // As deep as a 1 MiB body can nest: a recursive walk would overflow the stack.
  constexpr size_t kDepth = 200000;
  std::string text = std::string(kDepth, '[') + "\"\\u0000\"" + std::string(kDepth, ']');
  auto doc = json::parse("{\"a\": " + text + "}");
  auto problems = http::json_text_problems(doc);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].field.size(), 1 + 3 * kDepth);  // "a" and kDepth times "[0]"
}

TEST(JsonBody, NulInAStringOrKeyIs422OnItsPathBeforeAnyHandlerRuns) {
  EXPECT_EQ(json_body_details(R"({"name": "\u0000"})"), (std::vector<FieldError>{{"name", kNulMessage}}));
  EXPECT_EQ(json_body_details(R"({"targeting": {"keywords": ["a", "b\u0000"]}, "name": "ok"})"),
            (std::vector<FieldError>{{"targeting.keywords[1]", kNulMessage}}));
  EXPECT_EQ(json_body_details(R"({"creative_config": {"name": "x\u0000", "format": "\u0000"}})"),
            (std::vector<FieldError>{{"creative_config.format", kNulMessage},
                                     {"creative_config.name", kNulMessage}}));
}

TEST(JsonBody, InvalidUtf8IsRefusedByTheParserAs400) {
  // nlohmann checks UTF-8 while it parses: raw bytes that are not UTF-8 (an overlong NUL among
  // them) and escaped lone surrogates never become strings.
  for (std::string bad :
       {"{\"name\": \"\xff\"}", "{\"name\": \"caf\xe9\"}", "{\"name\": \"\xc0\x80\"}",
        "{\"name\": \"\xed\xa0\x80\"}", "{\"\xff\": 1}", R"({"name": "\ud800"})", R"({"name": "\udc00x"})"}) {
    try {
      http::json_body(json_request(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.http_status(), 400) << bad;
      ASSERT_EQ(e.details().size(), 1u);
      EXPECT_EQ(e.details()[0].field, "body");
    }
  }
  auto doc = http::json_body(json_request(R"({"name": "caf\u00e9 \ud83d\ude00"})"));
  EXPECT_EQ(doc["name"], "caf\xc3\xa9 \xf0\x9f\x98\x80") << "escaped non-ASCII and surrogate pairs are fine";
}
