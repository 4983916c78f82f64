// Issue 4 "Bad input": malformed HTTP, lying or huge Content-Length, huge headers, broken
// chunked bodies, slow-loris clients and bad JSON get the status of contract section 2 —
// never a crash, a hang or a leaked internal message.
#include <gtest/gtest.h>

#include "support/fixtures.hpp"
#include "support/forms.hpp"

namespace kargo::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class BadInputTest : public ServerTest {
 protected:
  // MAX_BODY_BYTES at its minimum so that "too large" is cheap to send.
  EnvOverrides server_env() override { return {{"MAX_BODY_BYTES", std::to_string(kLimit)}}; }
  static constexpr size_t kLimit = 1024;

  void TearDown() override {
    // Whatever the client did, the server is still up and answering.
    ASSERT_TRUE(server().running()) << "kargo-dsp died";
    auto live = http().get("/health/live");
    EXPECT_EQ(live.status, 200) << live.describe();
  }

  // Sends `bytes` on a fresh connection and returns the one response (fails the test if none).
  HttpResponse raw_exchange(const std::string& bytes, milliseconds timeout = seconds(5)) {
    RawConnection conn(server().port());
    conn.send(bytes);
    auto res = conn.read_response(timeout);
    if (!res) {
      ADD_FAILURE() << "no response within " << timeout.count() << " ms; got: " << conn.received();
      return {};
    }
    return *res;
  }

  void expect_error(const HttpResponse& res, int status, const std::string& code) {
    EXPECT_EQ(res.status, status) << res.describe();
    if (res.status != status) return;
    auto body = res.json();
    EXPECT_EQ(body["success"], false);
    EXPECT_EQ(body["error"]["code"], code) << body;
    EXPECT_TRUE(is_generated_request_id(res.header("x-request-id").value_or(""))) << res.describe();
    EXPECT_EQ(body["request_id"], res.header("x-request-id").value_or("<none>"));
    EXPECT_EQ(res.header("x-content-type-options").value_or("<none>"), "nosniff");
    EXPECT_EQ(res.header("x-frame-options").value_or("<none>"), "DENY");
  }

  // 400 VALIDATION_ERROR about the body itself: details[0].field is "body".
  void expect_body_error(const HttpResponse& res) {
    expect_error(res, 400, "VALIDATION_ERROR");
    if (res.status == 400) {
      EXPECT_EQ(res.json()["error"]["details"][0]["field"], "body") << res.describe();
    }
  }

  HttpResponse post_token_raw(const std::string& content_type, const std::string& body) {
    return http().request("POST", "/api/auth/token", body, {{"Content-Type", content_type}});
  }
};

TEST_F(BadInputTest, NonJsonBodyIs400OnFieldBody) {
  for (const std::string body : {"not json{", "{\"username\": ", "", "\xff\xfe"}) {
    SCOPED_TRACE(body);
    auto res = post_token_raw("application/json", body);
    expect_body_error(res);
  }
}

TEST_F(BadInputTest, JsonThatIsNotAnObjectIs400OnFieldBody) {
  for (const std::string body : {"[1, 2, 3]", "[]", "\"text\"", "42", "null"}) {
    SCOPED_TRACE(body);
    auto res = post_token_raw("application/json", body);
    expect_body_error(res);
  }
}

TEST_F(BadInputTest, WrongContentTypeIs400OnFieldBody) {
  const std::string valid = nlohmann::json{{"username", "a"}, {"password", "b"}}.dump();
  for (const std::string type : {"text/plain", "application/x-www-form-urlencoded", "application/xml"}) {
    SCOPED_TRACE(type);
    auto res = post_token_raw(type, valid);
    expect_error(res, 400, "VALIDATION_ERROR");
    if (res.status == 400) {
      EXPECT_EQ(res.json()["error"]["details"][0]["field"], "body") << res.describe();
    }
  }
  auto missing = http().request("POST", "/api/auth/token", valid, {});
  expect_error(missing, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, UnknownApiRouteIs404) {
  auto res = http().get("/api/nope");
  expect_error(res, 404, "RESOURCE_NOT_FOUND");
  expect_error(http().get("/api/nope", bearer(admin_token())), 404, "RESOURCE_NOT_FOUND");
  expect_error(http().get("/health/nope"), 404, "RESOURCE_NOT_FOUND");
  expect_error(http().get("/nope"), 404, "RESOURCE_NOT_FOUND");
}

TEST_F(BadInputTest, KnownPathWithWrongMethodIs405WithAllowHeader) {
  auto res = http().get("/api/auth/token");
  expect_error(res, 405, "METHOD_NOT_ALLOWED");
  EXPECT_NE(res.header("allow").value_or("").find("POST"), std::string::npos) << res.describe();

  auto health = http().request("DELETE", "/health/live");
  expect_error(health, 405, "METHOD_NOT_ALLOWED");
  EXPECT_NE(health.header("allow").value_or("").find("GET"), std::string::npos) << health.describe();
}

TEST_F(BadInputTest, ContentLengthOverLimitIs413WithoutSendingTheBody) {
  // Only the headers go out: the answer must come before (and without) the body.
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(kLimit + 1) + "\r\n\r\n");
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(BadInputTest, OversizedBodySentInFullStillGets413) {
  // Most clients send the body right behind the headers; the 413 must still reach them.
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(kLimit * 64) + "\r\n\r\n" + std::string(kLimit * 64, 'x'));
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(BadInputTest, RejectedRequestEchoesTheCallersRequestId) {
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nX-Request-ID: big-body-1\r\nContent-Type: "
      "application/json\r\n"
      "Content-Length: 99999\r\n\r\n");
  EXPECT_EQ(res.status, 413) << res.describe();
  EXPECT_EQ(res.header("x-request-id").value_or("<none>"), "big-body-1");
  EXPECT_EQ(res.json()["request_id"], "big-body-1");
}

TEST_F(BadInputTest, MultipartContentTypeDoesNotRaiseTheLimitOfAJsonRoute) {
  // MAX_UPLOAD_BYTES is for the multipart upload routes; /api/auth/token takes JSON, so its
  // limit stays MAX_BODY_BYTES whatever Content-Type the client claims.
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=x\r\n"
      "Content-Length: " +
      std::to_string(kLimit * 4) + "\r\n\r\n");
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(BadInputTest, HugeContentLengthIs413WithoutSendingTheBody) {
  // Far above MAX_UPLOAD_BYTES too: still an answer for this /api request, with its headers.
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nX-Request-ID: huge-1\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000000000000000\r\n\r\n");
  EXPECT_EQ(res.status, 413) << res.describe();
  EXPECT_EQ(res.header("x-request-id").value_or("<none>"), "huge-1");
  EXPECT_EQ(res.header("cache-control").value_or("<none>"), "no-store") << "an /api/* response";
  if (res.status == 413) {
    EXPECT_EQ(res.json()["error"]["code"], "PAYLOAD_TOO_LARGE");
  }
}

TEST_F(BadInputTest, BodyAtTheLimitIsAccepted) {
  // The limit is inclusive: a body of exactly MAX_BODY_BYTES is read and validated.
  nlohmann::json body = {{"username", "nobody"}, {"password", "x"}, {"pad", ""}};
  body["pad"] = std::string(kLimit - body.dump().size(), 'p');
  ASSERT_EQ(body.dump().size(), kLimit);
  auto res = http().post_json("/api/auth/token", body);
  EXPECT_EQ(res.status, 401) << res.describe();
}

TEST_F(BadInputTest, ChunkedBodyOverLimitIs413) {
  RawConnection conn(server().port());
  conn.send(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  std::string chunk(400, 'a');
  for (int i = 0; i < 6; ++i) {
    // The server may answer and close before the last chunks: a failed send is fine.
    if (!conn.send("190\r\n" + chunk + "\r\n")) break;
  }
  conn.send("0\r\n\r\n");
  auto res = conn.read_response(seconds(5));
  ASSERT_TRUE(res.has_value()) << "no response; got: " << conn.received();
  expect_error(*res, 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(BadInputTest, BrokenChunkedBodyIs400) {
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\nZZ\r\nnot a chunk\r\n0\r\n\r\n");
  expect_error(res, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, HeadersOverTheLimitAre431) {
  // One huge header, many small ones, and a huge request line: the header block is what counts.
  auto res = raw_exchange("GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(64 * 1024, 'h') +
                          "\r\n\r\n");
  expect_error(res, 431, "HEADERS_TOO_LARGE");
  std::string request = "GET /health/live HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 2000; ++i) request += "X-H" + std::to_string(i) + ": value\r\n";
  expect_error(raw_exchange(request + "\r\n"), 431, "HEADERS_TOO_LARGE");
  auto line =
      raw_exchange("GET /api/campaigns?q=" + std::string(64 * 1024, 'q') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  expect_error(line, 431, "HEADERS_TOO_LARGE");
}

TEST_F(BadInputTest, HeadersJustUnderTheLimitAreServed) {
  auto res = raw_exchange("GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4 * 1024, 'h') +
                          "\r\n\r\n");
  EXPECT_EQ(res.status, 200) << res.describe();
}

TEST_F(BadInputTest, NegativeContentLengthIs400) {
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: "
      "-1\r\n\r\n");
  expect_error(res, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, NonNumericContentLengthIs400) {
  for (const std::string value : {"abc", "12abc", "1 2", "0x10"}) {
    SCOPED_TRACE(value);
    auto res = raw_exchange(
        "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        value + "\r\n\r\n{}");
    expect_error(res, 400, "VALIDATION_ERROR");
  }
}

TEST_F(BadInputTest, ConflictingContentLengthsAre400) {
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\nContent-Length: 20\r\n\r\n{}");
  expect_error(res, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, MalformedRequestLineIs400) {
  for (const std::string line :
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /health/live HTTP/9\r\n\r\n",
        "GET /health/live HTTP/1.1 extra\r\n\r\n", "G@T /health/live HTTP/1.1\r\n\r\n"}) {
    SCOPED_TRACE(line);
    auto res = raw_exchange(line);
    expect_error(res, 400, "VALIDATION_ERROR");
    EXPECT_EQ(res.body.find("boost"), std::string::npos) << res.body;
  }
}

TEST_F(BadInputTest, MalformedHeaderLineIs400) {
  auto res = raw_exchange("GET /health/live HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n");
  expect_error(res, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, InvalidTargetIs400) {
  auto res = raw_exchange("GET http//bad target HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(res.status, 400) << res.describe();
  auto pct = raw_exchange("GET /api/%zz HTTP/1.1\r\nHost: t\r\n\r\n");
  expect_error(pct, 400, "VALIDATION_ERROR");
}

TEST_F(BadInputTest, SlowLorisClientsAreDisconnectedByTheHeaderTimeout) {
  // One client sends half a header line and stops; another trickles a byte every 500 ms.
  // Both are dropped once their headers are not complete 10 s after they began.
  auto start = std::chrono::steady_clock::now();
  RawConnection silent(server().port());
  ASSERT_TRUE(silent.send("GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: a"));
  RawConnection trickle(server().port());
  ASSERT_TRUE(trickle.send("GET /health/live HTTP/1.1\r\nHost: t\r\nX-Trickle: "));

  // Other clients are served meanwhile.
  EXPECT_EQ(http().get("/health/live").status, 200);

  bool trickle_closed = false;
  while (!trickle_closed && std::chrono::steady_clock::now() - start < seconds(14)) {
    trickle.send("a");
    trickle_closed = trickle.wait_closed(milliseconds(500));
  }
  auto trickle_elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(trickle_closed) << "trickling client still connected after 14 s";
  EXPECT_GE(trickle_elapsed, seconds(8)) << "dropped before the 10 s header timeout";

  auto left = seconds(14) - (std::chrono::steady_clock::now() - start);
  EXPECT_TRUE(silent.wait_closed(std::chrono::duration_cast<milliseconds>(left) + milliseconds(1)))
      << "silent client still connected after 14 s";
  EXPECT_LE(std::chrono::steady_clock::now() - start, seconds(14));
}

TEST_F(BadInputTest, PartialBodyThenCloseDoesNotDisturbTheServer) {
  {
    RawConnection conn(server().port());
    conn.send(
        "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{\"user");
  }  // closed half-way through the body
  {
    RawConnection conn(server().port());
    conn.send("GET /health/li");
  }
  auto res = http().get("/health/live");
  EXPECT_EQ(res.status, 200) << res.describe();
}

TEST_F(BadInputTest, UnknownMethodOnKnownPathIs405) {
  auto res = http().request("BREW", "/health/live");
  expect_error(res, 405, "METHOD_NOT_ALLOWED");
  EXPECT_NE(res.header("allow").value_or("").find("GET"), std::string::npos) << res.describe();
}

TEST_F(BadInputTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection conn(server().port());
  std::string batch;
  for (int i = 0; i < 3; ++i) {
    batch += "GET /health/live HTTP/1.1\r\nHost: t\r\nX-Request-ID: pipe-" + std::to_string(i) + "\r\n\r\n";
  }
  ASSERT_TRUE(conn.send(batch));
  for (int i = 0; i < 3; ++i) {
    auto res = conn.read_response(seconds(5));
    ASSERT_TRUE(res.has_value()) << conn.received();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("x-request-id").value_or(""), "pipe-" + std::to_string(i));
  }
}

TEST_F(BadInputTest, ExpectContinueGetsInterim100ThenTheAnswer) {
  RawConnection conn(server().port());
  std::string body = nlohmann::json{{"username", admin().username}, {"password", admin().password}}.dump();
  ASSERT_TRUE(
      conn.send("POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Expect: 100-continue\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = conn.read_response(seconds(5));
  ASSERT_TRUE(interim.has_value()) << conn.received();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(conn.send(body));
  auto res = conn.read_response(seconds(10));
  ASSERT_TRUE(res.has_value()) << conn.received();
  EXPECT_EQ(res->status, 200) << res->describe();
}

TEST_F(BadInputTest, ExpectContinueOverLimitIs413WithoutInterim100) {
  auto res = raw_exchange(
      "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n");
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(BadInputTest, Http10RequestIsAnsweredAndClosed) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.send("GET /health/live HTTP/1.0\r\n\r\n"));
  auto res = conn.read_response(seconds(5));
  ASSERT_TRUE(res.has_value()) << conn.received();
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(conn.wait_closed(seconds(5)));
}

TEST_F(BadInputTest, Http10KeepAliveRequestKeepsTheConnectionOpen) {
  RawConnection conn(server().port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(conn.send("GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto res = conn.read_response(seconds(5));
    ASSERT_TRUE(res.has_value()) << conn.received();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("connection").value_or(""), "keep-alive");
  }
}

TEST_F(BadInputTest, HeaderArrivingInPiecesIsParsedOnceComplete) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.send("GET /health/li"));
  EXPECT_FALSE(conn.read_response(milliseconds(200)).has_value());
  ASSERT_TRUE(conn.send("ve HTTP/1.1\r\nHost: t\r\nX-Request-ID: in-pieces\r"));
  EXPECT_FALSE(conn.read_response(milliseconds(200)).has_value());
  ASSERT_TRUE(conn.send("\n\r\n"));
  auto res = conn.read_response(seconds(5));
  ASSERT_TRUE(res.has_value()) << conn.received();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->header("x-request-id").value_or(""), "in-pieces");
}

TEST_F(BadInputTest, ClosingRequestIsAnsweredWithConnectionClose) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.send("GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto res = conn.read_response(seconds(5));
  ASSERT_TRUE(res.has_value()) << conn.received();
  EXPECT_EQ(res->header("connection").value_or(""), "close");
  EXPECT_TRUE(conn.wait_closed(seconds(5)));
}

TEST(BadInput, DeeplyNestedJsonIsRejectedWithoutCrashing) {
  // Nearly MAX_BODY_BYTES (1 MiB by default) of nesting: a recursive parser or destructor
  // would overflow the stack.
  ServerProcess server;
  HttpClient http(server.port());
  constexpr size_t kDepth = 500000;
  std::string array = std::string(kDepth, '[') + std::string(kDepth, ']');
  auto res = http.request("POST", "/api/auth/token", array, {{"Content-Type", "application/json"}});
  EXPECT_EQ(res.status, 400) << res.describe();
  std::string inside = "{\"username\": " + std::string(kDepth - 10, '[') + std::string(kDepth - 10, ']') +
                       ", \"password\": \"x\"}";
  auto field = http.request("POST", "/api/auth/token", inside, {{"Content-Type", "application/json"}});
  EXPECT_EQ(field.status, 422) << field.describe();
  ASSERT_TRUE(server.running()) << "kargo-dsp died";
  EXPECT_EQ(http.get("/health/live").status, 200);
}

TEST_F(BadInputTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection conn(server().port());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(conn.send("GET /health/live HTTP/1.1\r\nHost: t\r\nX-Request-ID: ka-" + std::to_string(i) +
                          "\r\n\r\n"));
    auto res = conn.read_response(seconds(5));
    ASSERT_TRUE(res.has_value()) << conn.received();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("x-request-id").value_or(""), "ka-" + std::to_string(i));
  }
}

// --- Text PostgreSQL cannot store -------------------------------------------------------------
// A NUL (JSON "\u0000", %00) or bytes that are not UTF-8 in any string the client sends are a 422
// on that field, decided before any SQL runs (PostgreSQL refuses them with SQLSTATE 22P05, which
// used to surface as a 500), and nothing is written.

const std::string kNul("\0", 1);

class TextInputTest : public BadInputTest {
 protected:
  // A 422 VALIDATION_ERROR whose details name exactly `fields`.
  void expect_invalid(const HttpResponse& res, const std::set<std::string>& fields) {
    expect_error(res, 422, "VALIDATION_ERROR");
    if (res.status == 422) {
      EXPECT_EQ(invalid_fields(res), fields) << res.describe();
    }
  }
  // A valid create body for a campaign of its own advertiser, so that a test can count its
  // campaigns while other tests create theirs.
  nlohmann::json campaign_body(const std::string& advertiser) {
    return {{"name", "Text rules"},
            {"advertiser_id", advertiser},
            {"budget", 1000},
            {"start_date", "2030-02-01"},
            {"end_date", "2030-02-28"}};
  }
  HttpResponse create_campaign(const nlohmann::json& body) {
    return http().post_json("/api/campaigns", body, bearer(admin_token()));
  }
  size_t campaigns_of(const std::string& advertiser) {
    auto res = http().get("/api/campaigns?advertiser_id=" + advertiser, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.status == 200 ? res.json()["data"]["total"].get<size_t>() : SIZE_MAX;
  }
  size_t creatives_of(const std::string& campaign_id) {
    auto res = http().get("/api/creatives?campaign_id=" + campaign_id, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.status == 200 ? res.json()["data"]["total"].get<size_t>() : SIZE_MAX;
  }
  // A runway upload form attached to `campaign_id`, with `name` and the file's name as given.
  std::string runway_form(const std::string& campaign_id, const std::string& name,
                          const std::string& filename) {
    return form_field("name", name) + form_field("format", "runway") + form_field("dimensions", "320x50") +
           form_field("viewability_config", R"({"phase":"phase_1","vendors":["double_verify"]})") +
           form_field("campaign_id", campaign_id) +
           form_file("file", filename, snippet_fixture("runway_81298.html")) + form_end();
  }
};

TEST_F(TextInputTest, NulInATopLevelFieldOfACreateIs422AndNothingIsCreated) {
  auto advertiser = unique_name("adv");
  auto body = campaign_body(advertiser);
  body["name"] = "Summer" + kNul + "Sale";
  expect_invalid(create_campaign(body), {"name"});
  EXPECT_EQ(campaigns_of(advertiser), 0u);
  body["name"] = "Summer Sale";
  EXPECT_EQ(create_campaign(body).status, 201) << "the same body without the NUL is fine";
  EXPECT_EQ(campaigns_of(advertiser), 1u);
}

TEST_F(TextInputTest, NulInAnObjectKeyIs422OnThePathOfThatKey) {
  auto advertiser = unique_name("adv");
  auto body = campaign_body(advertiser);
  body["targeting"] = {{"key" + kNul, "x"}};
  body["extra" + kNul] = 1;
  expect_invalid(create_campaign(body), {"targeting.key" + kNul, "extra" + kNul});
  EXPECT_EQ(campaigns_of(advertiser), 0u);
}

TEST_F(TextInputTest, NulInAKeywordOfAnUpdateIs422AndTheCampaignIsUnchanged) {
  auto advertiser = unique_name("adv");
  auto body = campaign_body(advertiser);
  body["targeting"] = {{"keywords", {"shoes", "boots"}}};
  auto created = create_campaign(body);
  ASSERT_EQ(created.status, 201) << created.describe();
  std::string id = created.json()["data"]["id"];
  auto before = http().get("/api/campaigns/" + id, bearer(admin_token())).json()["data"];

  nlohmann::json change = {{"name", "Renamed"},
                           {"targeting", {{"keywords", {"shoes", "bo" + kNul + "ots", "sandals"}}}},
                           {"version", 1}};
  auto res = http().request("PUT", "/api/campaigns/" + id, change.dump(),
                            bearer(admin_token(), {{"Content-Type", "application/json"}}));
  expect_invalid(res, {"targeting.keywords[1]"});
  auto after = http().get("/api/campaigns/" + id, bearer(admin_token())).json()["data"];
  EXPECT_EQ(after["version"], 1);
  EXPECT_EQ(after["name"], before["name"]);
  EXPECT_EQ(after["targeting"], before["targeting"]);
}

TEST_F(TextInputTest, NulInTheUsernameOfATokenRequestIs422) {
  auto res = http().post_json("/api/auth/token", {{"username", admin().username + kNul}, {"password", "x"}});
  expect_invalid(res, {"username"});
  EXPECT_FALSE(login(http(), admin()).empty()) << "the admin still logs in";
}

TEST_F(TextInputTest, NulInAMultipartFileNameOrTextFieldIs422AndNoCreativeIsStored) {
  auto campaign = create_campaign(campaign_body(unique_name("adv")));
  ASSERT_EQ(campaign.status, 201) << campaign.describe();
  std::string campaign_id = campaign.json()["data"]["id"];
  auto upload = [&](const std::string& form) {
    return http().request("POST", "/api/creatives", form, multipart_headers(admin_token()));
  };
  expect_invalid(upload(runway_form(campaign_id, "Runway", "runway" + kNul + ".html")), {"file"});
  expect_invalid(upload(runway_form(campaign_id, "Run" + kNul + "way", "runway.html")), {"name"});
  expect_invalid(upload(runway_form(campaign_id, "Runway", "runway\xff.html")), {"file"});
  expect_invalid(upload(runway_form(campaign_id + kNul, "Runway", "runway.html")), {"campaign_id"});
  EXPECT_EQ(creatives_of(campaign_id), 0u);
  auto good = upload(runway_form(campaign_id, "Runway", "runway.html"));
  EXPECT_EQ(good.status, 201) << "the same form without the NUL is fine: " << good.describe();
  EXPECT_EQ(creatives_of(campaign_id), 1u);
}

TEST_F(TextInputTest, JsonInAFormFieldFollowsTheSameTextRuleAsAJsonBody) {
  auto campaign = create_campaign(campaign_body(unique_name("adv")));
  ASSERT_EQ(campaign.status, 201) << campaign.describe();
  std::string campaign_id = campaign.json()["data"]["id"];
  // "\u0000" is six harmless bytes in the form; it is a NUL once the field's JSON is parsed.
  std::string form = form_field("name", "Runway") + form_field("format", "runway") +
                     form_field("dimensions", "320x50") +
                     form_field("viewability_config",
                                R"({"phase":"phase_2","vendors":["ias","double_verify"],"dsp_seat_id":"se\u0000at","pub_id":"p"})") +
                     form_field("campaign_id", campaign_id) +
                     form_file("file", "runway.html", snippet_fixture("runway_81298.html")) + form_end();
  expect_invalid(http().request("POST", "/api/creatives", form, multipart_headers(admin_token())),
                 {"viewability_config.dsp_seat_id"});
  EXPECT_EQ(creatives_of(campaign_id), 0u);
}

TEST_F(TextInputTest, AnIdempotencyKeyThatIsNotUtf8TextIs422) {
  auto body = campaign_body(unique_name("adv"));
  auto res = http().post_json("/api/campaigns", body, bearer(admin_token(), {{"Idempotency-Key", "ab\xff" "cd"}}));
  expect_invalid(res, {"Idempotency-Key"});
  EXPECT_EQ(campaigns_of(body["advertiser_id"]), 0u);
}

TEST_F(TextInputTest, NulOrInvalidUtf8InAQueryParameterIs422OnThatParameter) {
  auto list = [&](const std::string& query) {
    return http().get("/api/campaigns?" + query, bearer(admin_token()));
  };
  expect_invalid(list("q=%00"), {"q"});
  expect_invalid(list("q=%FF"), {"q"});
  expect_invalid(list("q=caf%E9"), {"q"});
  expect_invalid(list("advertiser_id=%00"), {"advertiser_id"});
  expect_invalid(list("q=a%00b&advertiser_id=%C0%80&limit=5"), {"q", "advertiser_id"});
  EXPECT_EQ(list("q=caf%C3%A9").status, 200) << "UTF-8 text is fine";
  expect_invalid(http().get("/api/creatives?campaign_id=%00", bearer(admin_token())), {"campaign_id"});
}

TEST_F(TextInputTest, QueryTextIsCheckedAfterAuthentication) {
  // Without a token the answer is the 401 of the route, not a verdict on its query.
  expect_error(http().get("/api/campaigns?q=%00"), 401, "AUTHENTICATION_ERROR");
}

}  // namespace
}  // namespace kargo::itest
