// The upstream transport against real sockets: HttpClient and UpstreamChannel talking to a
// scripted server in this process (support/upstream_stub.hpp), plain and TLS. No fake transport.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/core/config.hpp"
#include "kargo/core/deflate.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/upstream/address_policy.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "support/helpers.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"
#include "support/upstream_stub.hpp"

using namespace kargo;
using namespace kargo::upstream;
using namespace std::chrono_literals;
using kargo::itest::StubReply;
using kargo::itest::StubRequest;
using kargo::itest::UpstreamStub;
using kargo::itest::wait_until;

namespace {

StubReply ok(std::string body = "ok") { return StubReply{.status = 200, .body = std::move(body)}; }

HttpClientOptions fast_options() {
  HttpClientOptions o;
  o.timeout = 5s;
  return o;
}

// A URL on 127.0.0.1 where nothing listens.
std::string closed_port_url() { return "http://127.0.0.1:" + std::to_string(itest::free_port()) + "/x"; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpClient

class UpstreamTransportTest : public ::testing::Test {
 protected:
  HttpClient client{fast_options()};
};

TEST_F(UpstreamTransportTest, ReusesOneKeepAliveConnectionForSequentialCalls) {
  UpstreamStub stub([](const StubRequest& r) { return ok("call " + r.target); });
  for (int i = 0; i < 5; ++i) {
    auto r = client.send_sync({.url = stub.url("/c/" + std::to_string(i))});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.response().status, 200);
    EXPECT_EQ(r.response().body, "call /c/" + std::to_string(i));
  }
  EXPECT_EQ(stub.connections(), 1u);
  EXPECT_EQ(client.connections_opened(), 1u);
  auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests.back().index_on_connection, 5u);
  EXPECT_EQ(requests.back().header("host"), "127.0.0.1:" + std::to_string(stub.port()));
  EXPECT_TRUE(requests.back().header("user-agent").value_or("").starts_with("kargo-dsp/"));
}

TEST_F(UpstreamTransportTest, ConcurrentCallsOpenSeveralConnectionsAndPoolThem) {
  UpstreamStub stub([](const StubRequest&) { return StubReply{.status = 200, .body = "x", .delay = 50ms}; });
  std::vector<std::future<HttpResult>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return client.send_sync({.url = stub.url("/")}); }));
  }
  for (auto& f : calls) EXPECT_TRUE(f.get().ok());
  unsigned opened = stub.connections();
  EXPECT_GE(opened, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(client.send_sync({.url = stub.url("/")}).ok());
  EXPECT_EQ(stub.connections(), opened);  // sequential calls reuse the pooled ones
}

TEST(UpstreamTransportPool, IdleConnectionsExpire) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  auto options = fast_options();
  options.idle_expiry = 200ms;
  HttpClient client(options);
  ASSERT_TRUE(client.send_sync({.url = stub.url("/1")}).ok());
  // The client's sweeper closes the expired connection; the stub sees it go.
  ASSERT_TRUE(wait_until([&] { return stub.open_connections() == 0; }, 10s));
  ASSERT_TRUE(client.send_sync({.url = stub.url("/2")}).ok());
  EXPECT_EQ(stub.connections(), 2u);
}

TEST(UpstreamTransportPool, KeepsAtMostTheCapOfIdleConnectionsPerHost) {
  // Replies wait until all three requests have arrived, so the calls overlap however slowly
  // their threads start.
  UpstreamStub* self = nullptr;
  UpstreamStub stub([&](const StubRequest&) {
    wait_until([&] { return self->request_count() >= 3; }, 5s, 5ms);
    return ok();
  });
  self = &stub;
  auto options = fast_options();
  options.max_idle_per_host = 1;
  HttpClient client(options);
  std::vector<std::future<HttpResult>> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return client.send_sync({.url = stub.url("/")}); }));
  }
  for (auto& f : calls) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(stub.connections(), 3u);
  EXPECT_TRUE(wait_until([&] { return stub.open_connections() == 1; }, 10s));
}

TEST_F(UpstreamTransportTest, TimesOutWhenTheServerStalls) {
  UpstreamStub stub([](const StubRequest&) { return StubReply{.hang = true}; });
  auto started = std::chrono::steady_clock::now();
  auto r = client.send_sync({.url = stub.url("/stall"), .timeout = 300ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kTimeout);
  EXPECT_TRUE(r.error().request_sent);
  EXPECT_EQ(r.error().message, "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);  // the deadline ended it, not the server
}

TEST_F(UpstreamTransportTest, TimeoutDuringTheTlsHandshakeMeansTheRequestWasNeverSent) {
  // A plain TCP server that never answers the ClientHello (it waits for an HTTP header block).
  UpstreamStub silent([](const StubRequest&) { return ok(); });
  auto r =
      client.send_sync({.method = "POST",
                        .url = "https://127.0.0.1:" + std::to_string(silent.port()) + "/dsp/v1/campaigns",
                        .body = "[]",
                        .timeout = 300ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kTimeout);
  EXPECT_FALSE(r.error().request_sent);  // so even this POST may be sent again
}

TEST_F(UpstreamTransportTest, TimeoutCoversASlowBodyToo) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.chunks = [](std::size_t i) {
      if (i > 0) std::this_thread::sleep_for(200ms);  // a trickle that never ends in time
      return std::string(10, 'x');
    }};
  });
  auto r = client.send_sync({.url = stub.url("/trickle"), .timeout = 500ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kTimeout);
}

TEST_F(UpstreamTransportTest, RefusesABodyOverTheCap) {
  UpstreamStub stub([](const StubRequest& r) {
    if (r.target == "/chunked") {
      return StubReply{
          .chunks = [](std::size_t i) { return i < 40 ? std::string(64 * 1024, 'a') : std::string(); }};
    }
    return ok(std::string(2u << 20, 'a'));
  });
  auto declared = client.send_sync({.url = stub.url("/big"), .max_response_bytes = 1u << 20});
  ASSERT_FALSE(declared.ok());
  EXPECT_EQ(declared.error().kind, FailureKind::kTooLarge);
  EXPECT_EQ(declared.error().message, "response larger than 1048576 bytes");

  auto chunked = client.send_sync({.url = stub.url("/chunked"), .max_response_bytes = 1u << 20});
  ASSERT_FALSE(chunked.ok());
  EXPECT_EQ(chunked.error().kind, FailureKind::kTooLarge);

  auto fits = client.send_sync({.url = stub.url("/big"), .max_response_bytes = 2u << 20});
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits.response().body.size(), 2u << 20);
}

TEST_F(UpstreamTransportTest, DecodesGzipAndAsksForIt) {
  std::string original;
  for (int i = 0; i < 2000; ++i)
    original += "{\"date\":\"2026-01-01\",\"impressions\":" + std::to_string(i) + "}\n";
  UpstreamStub stub([&](const StubRequest& r) {
    if (r.header("accept-encoding").value_or("").find("gzip") == std::string::npos) return ok("plain");
    return StubReply{.headers = {{"Content-Encoding", "gzip"}, {"Content-Type", "application/json"}},
                     .body = deflate_compress(original, kDeflateBestLevel)};
  });
  auto r = client.send_sync({.url = stub.url("/report")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().body, original);
  EXPECT_FALSE(r.response().header("content-encoding"));  // describes bytes the caller never sees
  EXPECT_EQ(r.response().header("content-type"), "application/json");

  auto raw = client.send_sync({.url = stub.url("/report"), .decode_content = false});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.response().body, "plain");  // no Accept-Encoding sent
}

TEST_F(UpstreamTransportTest, DecodesDeflate) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.headers = {{"Content-Encoding", "deflate"}},
                     .body = deflate_compress("hello", kDeflateBestLevel, kZlibWindow)};
  });
  auto r = client.send_sync({.url = stub.url("/")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().body, "hello");
}

TEST_F(UpstreamTransportTest, RefusesAnEndlessGzipBombFast) {
  auto [header, block] = itest::endless_gzip_bomb();
  UpstreamStub stub([&, header = header, block = block](const StubRequest&) {
    return StubReply{.headers = {{"Content-Encoding", "gzip"}},
                     .chunks = [header, block](std::size_t i) { return i == 0 ? header + block : block; }};
  });
  auto r = client.send_sync({.url = stub.url("/bomb"), .max_response_bytes = 4u << 20});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kTooLarge);
  EXPECT_EQ(r.error().message, "decoded response larger than 4194304 bytes");
  // The stream never ends: the client must have stopped reading and hung up.
  EXPECT_TRUE(wait_until([&] { return stub.chunked_aborted() == 1; }, 10s));
}

TEST_F(UpstreamTransportTest, CorruptOrUnknownEncodingIsADecodeError) {
  UpstreamStub stub([](const StubRequest& r) {
    if (r.target == "/br") return StubReply{.headers = {{"Content-Encoding", "br"}}, .body = "xx"};
    return StubReply{.headers = {{"Content-Encoding", "gzip"}}, .body = "definitely not gzip"};
  });
  auto corrupt = client.send_sync({.url = stub.url("/gz")});
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().kind, FailureKind::kDecode);
  EXPECT_EQ(corrupt.error().message, "corrupt compressed response");
  auto br = client.send_sync({.url = stub.url("/br")});
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.error().kind, FailureKind::kDecode);
  EXPECT_EQ(br.error().message, "unsupported content-encoding 'br'");
}

TEST_F(UpstreamTransportTest, TruncatedBodyIsAClearError) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", .close_after = true};
  });
  auto r = client.send_sync({.url = stub.url("/")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kMalformed);
  EXPECT_EQ(r.error().message, "truncated response");
}

TEST_F(UpstreamTransportTest, MalformedStatusLineIsAClearError) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.raw = "HTCPCP/1.0 418 I'm a teapot\r\n\r\n", .close_after = true};
  });
  auto r = client.send_sync({.url = stub.url("/")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kMalformed);
  EXPECT_TRUE(r.error().message.starts_with("malformed response: ")) << r.error().message;
}

TEST_F(UpstreamTransportTest, ServerClosingWithoutAnswerIsAConnectionLoss) {
  UpstreamStub stub([](const StubRequest&) { return StubReply{.drop = true}; });
  auto r = client.send_sync({.url = stub.url("/")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kConnectionLost);
  EXPECT_TRUE(r.error().request_sent);
}

TEST_F(UpstreamTransportTest, RefusedConnectionIsAConnectErrorThatNeverSentTheRequest) {
  auto r = client.send_sync({.url = closed_port_url()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kConnect);
  EXPECT_FALSE(r.error().request_sent);
  EXPECT_EQ(r.error().message, "could not connect");
  EXPECT_NE(r.error().detail.find("127.0.0.1"), std::string::npos);  // the detail is for the log
}

TEST_F(UpstreamTransportTest, PropagatesXRequestId) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/a"), .request_id = "req_explicit"}).ok());
  {
    log::RequestScope scope("req_0123456789abcdef");
    ASSERT_TRUE(client.send_sync({.url = stub.url("/b")}).ok());
  }
  ASSERT_TRUE(client.send_sync({.url = stub.url("/c")}).ok());
  auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].header("x-request-id"), "req_explicit");
  EXPECT_EQ(requests[1].header("x-request-id"), "req_0123456789abcdef");
  EXPECT_FALSE(requests[2].header("x-request-id"));
}

TEST_F(UpstreamTransportTest, SendsMethodHeadersAndBody) {
  UpstreamStub stub([](const StubRequest& r) { return ok(r.method + " " + r.body); });
  auto r =
      client.send_sync({.method = "PATCH",
                        .url = stub.url("/dsp/v1/campaigns"),
                        .headers = {{"Content-Type", "application/json"}, {"Amazon-Ads-AccountId", "123"}},
                        .body = R"([{"campaignId":"1","state":"PAUSED"}])"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.response().body, R"(PATCH [{"campaignId":"1","state":"PAUSED"}])");
  auto req = stub.requests().at(0);
  EXPECT_EQ(req.header("amazon-ads-accountid"), "123");
  EXPECT_EQ(req.header("content-length"), "37");
}

TEST_F(UpstreamTransportTest, RefusesHeaderInjectionWithoutSending) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  auto r = client.send_sync({.url = stub.url("/"), .headers = {{"X-Evil", "a\r\nInjected: yes"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kInvalidRequest);
  auto bad_url = client.send_sync({.url = "ftp://127.0.0.1/"});
  ASSERT_FALSE(bad_url.ok());
  EXPECT_EQ(bad_url.error().kind, FailureKind::kInvalidRequest);
  EXPECT_EQ(stub.request_count(), 0u);
}

TEST_F(UpstreamTransportTest, RedirectIsReturnedWhenNoCallbackIsGiven) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.status = 302, .headers = {{"Location", "http://evil.example/x"}}};
  });
  auto r = client.send_sync({.url = stub.url("/snippet/dm/1")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.response().status, 302);
  EXPECT_EQ(r.response().header("location"), "http://evil.example/x");
}

TEST_F(UpstreamTransportTest, RedirectRefusedWhenTheCallbackSaysNo) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.status = 302, .headers = {{"Location", "http://169.254.169.254/latest/meta-data"}}};
  });
  std::string asked;
  auto r = client.send_sync({.url = stub.url("/snippet/dm/1"), .follow_redirect = [&](const Url& to) {
                               asked = to.authority();
                               return host_allowed(to, {"snippet.kargo.com"});
                             }});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kRedirect);
  EXPECT_EQ(r.error().message, "redirect to a location that is not allowed");
  EXPECT_EQ(asked, "169.254.169.254");
  EXPECT_EQ(stub.request_count(), 1u);
}

TEST_F(UpstreamTransportTest, AllowedRedirectIsFollowedWithoutCredentialsAcrossHosts) {
  UpstreamStub target([](const StubRequest& r) { return ok("final " + r.target); });
  UpstreamStub origin([&](const StubRequest& r) {
    if (r.target == "/loop") return StubReply{.status = 307, .headers = {{"Location", "/loop"}}};
    return StubReply{.status = 301, .headers = {{"Location", target.url("/moved")}}};
  });
  auto r = client.send_sync({.url = origin.url("/start"),
                             .headers = {{"Authorization", "Bearer secret"}},
                             .follow_redirect = [](const Url&) { return true; }});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().body, "final /moved");
  EXPECT_EQ(r.response().url, target.url("/moved"));
  EXPECT_EQ(origin.requests().at(0).header("authorization"), "Bearer secret");
  EXPECT_FALSE(target.requests().at(0).header("authorization"));

  auto loop =
      client.send_sync({.url = origin.url("/loop"), .follow_redirect = [](const Url&) { return true; }});
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().message, "too many redirects");
}

TEST_F(UpstreamTransportTest, StalePooledConnectionIsReplacedTransparentlyForIdempotentCalls) {
  // The server reads the second request on its first connection, then hangs up without an answer,
  // as a server does when its keep-alive timer fires at the wrong moment.
  UpstreamStub stub([](const StubRequest& r) {
    if (r.connection == 1 && r.index_on_connection == 2) return StubReply{.drop = true};
    return ok("conn " + std::to_string(r.connection));
  });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/1")}).ok());
  auto r = client.send_sync({.url = stub.url("/2")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().body, "conn 2");
  EXPECT_EQ(stub.connections(), 2u);
}

TEST_F(UpstreamTransportTest, StaleConnectionIsNotRetriedForAnUnsafeWrite) {
  UpstreamStub stub([](const StubRequest& r) {
    if (r.connection == 1 && r.index_on_connection == 2) return StubReply{.drop = true};
    return ok();
  });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/1")}).ok());
  auto r = client.send_sync({.method = "POST", .url = stub.url("/dsp/v1/campaigns"), .body = "[]"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kConnectionLost);
  EXPECT_TRUE(r.error().request_sent);
  EXPECT_EQ(stub.request_count(), 2u);  // the POST reached the server once and was not sent again
}

TEST_F(UpstreamTransportTest, IdleConnectionClosedByTheServerIsNotReused) {
  UpstreamStub stub(
      [](const StubRequest&) { return StubReply{.status = 200, .body = "x", .close_after = true}; });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/1")}).ok());
  ASSERT_TRUE(wait_until([&] { return stub.connections() == 1; }, 5s));
  ASSERT_TRUE(client.send_sync({.url = stub.url("/2")}).ok());
  EXPECT_EQ(stub.connections(), 2u);
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST_F(UpstreamTransportTest, SendSyncOnAClientThreadFailsInsteadOfDeadlocking) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  std::promise<HttpResult> inner;
  client.send({.url = stub.url("/")},
              [&](HttpResult) { inner.set_value(client.send_sync({.url = stub.url("/")})); });
  auto future = inner.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto r = future.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kInvalidRequest);
}

TEST(UpstreamTransportShutdown, DestroyingTheClientFailsCallsInFlight) {
  UpstreamStub stub([](const StubRequest&) { return StubReply{.hang = true}; });
  std::promise<HttpResult> result;
  {
    HttpClient client(fast_options());
    client.send({.url = stub.url("/"), .timeout = 60s},
                [&](HttpResult r) { result.set_value(std::move(r)); });
    ASSERT_TRUE(wait_until([&] { return stub.request_count() == 1; }, 5s));
  }
  auto future = result.get_future();
  ASSERT_EQ(future.wait_for(1s), std::future_status::ready);
  auto r = future.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kCancelled);
}

// ---------------------------------------------------------------------------------------------
// HttpClient with an address check (OutboundRequest::refuse_address), as webhooks call it

namespace {

// Public addresses only (allow_private off).
std::optional<std::string> public_only(std::string_view ip) { return refused_address(ip, false); }

}  // namespace

class UpstreamAddressCheckTest : public UpstreamTransportTest {};

TEST_F(UpstreamAddressCheckTest, NameResolvingToLoopbackIsRefusedBeforeConnecting) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  auto r = client.send_sync(
      {.method = "POST", .url = stub.url("/hook", "localhost"), .body = "{}", .refuse_address = public_only});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kRefusedAddress);
  EXPECT_EQ(to_string(r.error().kind), "refused_address");
  EXPECT_FALSE(r.error().request_sent);
  EXPECT_EQ(r.error().message, "the address is not allowed");
  EXPECT_TRUE(r.error().detail.starts_with("localhost:" + std::to_string(stub.port()) + ": "))
      << r.error().detail;
  EXPECT_NE(r.error().detail.find("127.0.0.1 is a loopback address"), std::string::npos) << r.error().detail;
  EXPECT_EQ(stub.connections(), 0u);
  EXPECT_EQ(stub.request_count(), 0u);
  EXPECT_EQ(client.connections_opened(), 0u);
}

TEST_F(UpstreamAddressCheckTest, AcceptedAddressIsConnectedTo) {
  UpstreamStub stub([](const StubRequest&) { return ok("delivered"); });
  std::vector<std::string> asked;
  auto r =
      client.send_sync({.url = stub.url("/hook", "localhost"), .refuse_address = [&](std::string_view ip) {
                          asked.emplace_back(ip);
                          return refused_address(ip, true);
                        }});
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().detail;
  EXPECT_EQ(r.response().body, "delivered");
  EXPECT_NE(std::find(asked.begin(), asked.end(), "127.0.0.1"), asked.end());
  EXPECT_EQ(stub.request_count(), 1u);
}

TEST_F(UpstreamAddressCheckTest, LiteralAddressInTheUrlIsCheckedToo) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  auto r = client.send_sync({.url = stub.url("/hook"), .refuse_address = public_only});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kRefusedAddress);
  EXPECT_EQ(r.error().detail,
            "127.0.0.1:" + std::to_string(stub.port()) + ": 127.0.0.1 is a loopback address");
  auto v6 = client.send_sync(
      {.url = "http://[::1]:" + std::to_string(stub.port()) + "/hook", .refuse_address = public_only});
  ASSERT_FALSE(v6.ok());
  EXPECT_EQ(v6.error().kind, FailureKind::kRefusedAddress);
  EXPECT_NE(v6.error().detail.find("::1 is a loopback address"), std::string::npos) << v6.error().detail;
  EXPECT_EQ(stub.connections(), 0u);
  EXPECT_EQ(client.connections_opened(), 0u);
}

TEST_F(UpstreamAddressCheckTest, CallbackThatThrowsRefuses) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  auto r = client.send_sync(
      {.url = stub.url("/hook"), .refuse_address = [](std::string_view) -> std::optional<std::string> {
         throw std::runtime_error("policy store down");
       }});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kRefusedAddress);
  EXPECT_EQ(stub.connections(), 0u);
}

TEST_F(UpstreamAddressCheckTest, ConnectionPooledByAnUncheckedCallIsNotReusedByACheckedCallThatRefusesIt) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/unchecked")}).ok());
  ASSERT_EQ(stub.connections(), 1u);
  auto r = client.send_sync(
      {.method = "POST", .url = stub.url("/hook"), .body = "{}", .refuse_address = public_only});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kRefusedAddress);
  EXPECT_FALSE(r.error().request_sent);
  EXPECT_EQ(stub.request_count(), 1u);  // only the unchecked call reached the server
  EXPECT_EQ(stub.connections(), 1u);
  // The pooled connection stays for calls that may use it.
  ASSERT_TRUE(client.send_sync({.url = stub.url("/unchecked-again")}).ok());
  EXPECT_EQ(stub.connections(), 1u);
  EXPECT_EQ(stub.requests().back().index_on_connection, 2u);
}

TEST_F(UpstreamAddressCheckTest, PooledConnectionIsReusedOnlyWhenItsAddressIsAccepted) {
  UpstreamStub stub([](const StubRequest&) { return ok(); });
  ASSERT_TRUE(client.send_sync({.url = stub.url("/unchecked")}).ok());
  // Accepts 127.0.0.1: the pooled connection to it is reused.
  auto allow_private = [](std::string_view ip) { return refused_address(ip, true); };
  ASSERT_TRUE(client.send_sync({.url = stub.url("/a"), .refuse_address = allow_private}).ok());
  EXPECT_EQ(stub.connections(), 1u);
  // Refuses the pooled connection's address, then accepts the fresh resolution: a new connection.
  int asked = 0;
  auto r = client.send_sync(
      {.url = stub.url("/b"), .refuse_address = [&](std::string_view ip) -> std::optional<std::string> {
         if (++asked == 1) return std::string(ip) + " is refused once";
         return std::nullopt;
       }});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(stub.connections(), 2u);
  EXPECT_EQ(stub.requests().back().connection, 2u);
}

// ---------------------------------------------------------------------------------------------
// UpstreamChannel: retries, the circuit breaker, metrics, errors

class UpstreamChannelTest : public ::testing::Test {
 protected:
  ChannelOptions options(unsigned max_retries = 4) {
    ChannelOptions o;
    o.service = "kargo";
    o.retry = {.max_retries = max_retries, .base_delay = 10ms, .max_delay = 50ms};
    o.circuit = {.failure_threshold = 5, .open_duration = 300ms};
    return o;
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return itest::metric_sum(itest::parse_prometheus(metrics.serialize()), name, labels);
  }

  Metrics metrics;
  HttpClient client{fast_options()};
};

TEST_F(UpstreamChannelTest, Retries429WithAndWithoutRetryAfterThenSucceeds) {
  std::mutex m;
  std::vector<std::chrono::steady_clock::time_point> seen;
  UpstreamStub stub([&](const StubRequest&) {
    std::lock_guard lock(m);
    seen.push_back(std::chrono::steady_clock::now());
    if (seen.size() == 1) return StubReply{.status = 429, .headers = {{"Retry-After", "1"}}};
    if (seen.size() == 2) return StubReply{.status = 429, .body = R"({"message":"Too Many Requests"})"};
    return ok("[]");
  });
  UpstreamChannel channel(client, metrics, options());
  auto r =
      channel.call_sync({.endpoint = "/v1/campaigns", .request = {.url = stub.url("/v1/campaigns?page=1")}});
  ASSERT_TRUE(r.ok()) << r.error().internal_message();
  EXPECT_EQ(r.response().body, "[]");
  EXPECT_EQ(r.attempts(), 3u);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_GE(seen[1] - seen[0], 900ms);  // Retry-After: 1 was honoured (a lower bound, not a speed)
  EXPECT_EQ(metric("external_api_requests_total", {{"service", "kargo"}, {"status", "429"}}), 2);
  EXPECT_EQ(metric("external_api_requests_total",
                   {{"service", "kargo"}, {"endpoint", "/v1/campaigns"}, {"status", "200"}}),
            1);
  EXPECT_EQ(metric("external_api_request_duration_seconds_count",
                   {{"service", "kargo"}, {"endpoint", "/v1/campaigns"}}),
            3);
}

TEST_F(UpstreamChannelTest, FiveXxStormOpensTheCircuitThenAProbeClosesIt) {
  std::atomic<bool> healthy{false};
  UpstreamStub stub([&](const StubRequest&) { return healthy ? ok() : StubReply{.status = 503}; });
  auto o = options(0);
  o.circuit.open_duration = 1s;  // long enough that a slow machine still sees "open" in between
  UpstreamChannel channel(client, metrics, o);
  UpstreamCall call{.endpoint = "/v1/campaigns", .request = {.url = stub.url("/v1/campaigns")}};
  EXPECT_EQ(metric("external_api_circuit_state", {{"service", "kargo"}}), 0);
  for (int i = 0; i < 5; ++i) {
    auto r = channel.call_sync(call);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().http_status(), 502);
    EXPECT_EQ(r.error().external_message(), "kargo answered HTTP 503 after 1 attempt");
  }
  EXPECT_EQ(channel.circuit_state(), CircuitState::kOpen);
  EXPECT_EQ(metric("external_api_circuit_state", {{"service", "kargo"}}), 2);

  auto refused = channel.call_sync(call);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.attempts(), 0u);
  EXPECT_EQ(refused.error().http_status(), 503);
  EXPECT_STREQ(refused.error().code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(refused.error().external_message(), "kargo: circuit open");
  ASSERT_EQ(refused.error().headers().size(), 1u);
  EXPECT_EQ(refused.error().headers()[0].first, "Retry-After");
  EXPECT_EQ(stub.request_count(), 5u);  // refused without touching the upstream
  EXPECT_EQ(metric("external_api_requests_total", {{"service", "kargo"}, {"status", "circuit_open"}}), 1);

  // Half-open after the (shrunk) open period: a failing probe opens it again...
  ASSERT_TRUE(wait_until([&] { return channel.circuit_state() == CircuitState::kHalfOpen; }, 5s));
  EXPECT_EQ(metric("external_api_circuit_state", {{"service", "kargo"}}), 1);
  EXPECT_FALSE(channel.call_sync(call).ok());
  EXPECT_EQ(stub.request_count(), 6u);
  EXPECT_EQ(channel.circuit_state(), CircuitState::kOpen);

  // ...and a successful one closes it.
  healthy = true;
  ASSERT_TRUE(wait_until([&] { return channel.circuit_state() == CircuitState::kHalfOpen; }, 5s));
  auto probe = channel.call_sync(call);
  ASSERT_TRUE(probe.ok()) << probe.error().internal_message();
  EXPECT_EQ(channel.circuit_state(), CircuitState::kClosed);
  EXPECT_EQ(metric("external_api_circuit_state", {{"service", "kargo"}}), 0);
  EXPECT_TRUE(channel.call_sync(call).ok());
}

TEST_F(UpstreamChannelTest, RetriesStopAtMaxRetriesWith502) {
  UpstreamStub stub(
      [](const StubRequest&) { return StubReply{.status = 500, .body = "boom at db-7.internal"}; });
  UpstreamChannel channel(client, metrics, options(2));
  auto r = channel.call_sync({.endpoint = "/v1/campaigns", .request = {.url = stub.url("/v1/campaigns")}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 3u);
  EXPECT_EQ(stub.request_count(), 3u);
  EXPECT_EQ(r.error().http_status(), 502);
  EXPECT_EQ(r.error().external_message(), "kargo answered HTTP 500 after 3 attempts");
  EXPECT_NE(r.error().internal_message().find("boom"), std::string::npos);  // the body is for the log only
  EXPECT_THROW(std::move(r).value(), Error);
}

TEST_F(UpstreamChannelTest, NoRetryOn400) {
  UpstreamStub stub(
      [](const StubRequest&) { return StubReply{.status = 400, .body = R"({"code":"INVALID"})"}; });
  UpstreamChannel channel(client, metrics, options());
  auto r =
      channel.call_sync({.endpoint = "/dsp/v1/campaigns", .request = {.url = stub.url("/dsp/v1/campaigns")}});
  ASSERT_TRUE(r.ok());  // an answer: the caller decides what a 400 means
  EXPECT_EQ(r.response().status, 400);
  EXPECT_EQ(r.attempts(), 1u);
  EXPECT_EQ(stub.request_count(), 1u);
  EXPECT_EQ(channel.circuit_state(), CircuitState::kClosed);
  auto e = status_error("amazon_dsp", r.response());
  EXPECT_EQ(e.external_message(), "amazon_dsp answered HTTP 400");
  EXPECT_EQ(e.http_status(), 502);
}

TEST_F(UpstreamChannelTest, UnsafeWriteIsNotRetriedOnceTheRequestWasSent) {
  UpstreamStub stub([](const StubRequest& r) {
    if (r.target == "/drop") return StubReply{.drop = true};
    return StubReply{.status = 503};
  });
  UpstreamChannel channel(client, metrics, options());
  auto answered =
      channel.call_sync({.endpoint = "/dsp/v1/campaigns",
                         .request = {.method = "POST", .url = stub.url("/create"), .body = "[]"}});
  ASSERT_FALSE(answered.ok());
  EXPECT_EQ(answered.attempts(), 1u);
  auto lost = channel.call_sync({.endpoint = "/dsp/v1/campaigns",
                                 .request = {.method = "POST", .url = stub.url("/drop"), .body = "[]"}});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.attempts(), 1u);
  EXPECT_EQ(lost.error().external_message(), "kargo: connection closed before a response");
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST_F(UpstreamChannelTest, UnsafeWriteIsRetriedWhenItNeverReachedTheServer) {
  UpstreamChannel channel(client, metrics, options(3));
  auto r = channel.call_sync({.endpoint = "/dsp/v1/campaigns",
                              .request = {.method = "POST", .url = closed_port_url(), .body = "[]"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 4u);
  EXPECT_EQ(r.error().http_status(), 502);
  EXPECT_EQ(r.error().external_message(), "kargo: could not connect");
  EXPECT_EQ(metric("external_api_requests_total", {{"status", "connect_error"}}), 4);
}

TEST_F(UpstreamChannelTest, PostMarkedIdempotentIsRetried) {
  std::atomic<int> n{0};
  UpstreamStub stub([&](const StubRequest&) { return ++n < 3 ? StubReply{.status = 502} : ok(); });
  UpstreamChannel channel(client, metrics, options());
  auto r = channel.call_sync(
      {.endpoint = "/dsp/v1/campaigns/list",
       .request = {.method = "POST", .url = stub.url("/dsp/v1/campaigns/list"), .body = "{}"},
       .idempotency = Idempotency::kIdempotent});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.attempts(), 3u);
}

TEST_F(UpstreamChannelTest, TimeoutsAreRetriedThenReportedAs502) {
  UpstreamStub stub([](const StubRequest&) { return StubReply{.hang = true}; });
  UpstreamChannel channel(client, metrics, options(1));
  auto r = channel.call_sync({.endpoint = "/slow", .request = {.url = stub.url("/slow"), .timeout = 200ms}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 2u);
  EXPECT_EQ(r.error().http_status(), 502);
  EXPECT_STREQ(r.error().code().name, "EXTERNAL_API_ERROR");
  EXPECT_EQ(r.error().external_message(), "kargo: timed out after 200 ms");
  // Nothing about where the upstream lives reaches the client.
  EXPECT_EQ(r.error().external_message().find("127.0.0.1"), std::string::npos);
}

TEST_F(UpstreamChannelTest, BudgetStopsRetriesThatCouldNotFinishInTime) {
  UpstreamStub stub([](const StubRequest&) {
    return StubReply{.status = 429, .headers = {{"Retry-After", "30"}}};
  });
  UpstreamChannel channel(client, metrics, options());
  auto r = channel.call_sync({.endpoint = "/v1/campaigns", .request = {.url = stub.url("/")}, .budget = 2s});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 1u);  // a 30 s wait does not fit in 2 s
  EXPECT_EQ(r.error().external_message(), "kargo answered HTTP 429 after 1 attempt");
}

TEST_F(UpstreamChannelTest, AsyncCallsRunOnClientThreadsAndOutliveTheChannel) {
  UpstreamStub stub(
      [](const StubRequest&) { return StubReply{.status = 200, .body = "late", .delay = 100ms}; });
  std::promise<std::pair<bool, std::string>> done;
  {
    UpstreamChannel channel(client, metrics, options());
    channel.call({.endpoint = "/x", .request = {.url = stub.url("/x")}}, [&](UpstreamResult r) {
      done.set_value({client.on_client_thread(), r.ok() ? r.response().body : r.error().external_message()});
    });
  }  // the channel is gone; its call is still in flight
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto [on_client_thread, body] = future.get();
  EXPECT_TRUE(on_client_thread);
  EXPECT_EQ(body, "late");
}

TEST_F(UpstreamChannelTest, OptionsFromConfig) {
  Config config;
  config.upstream_max_retries = 2;
  config.upstream_timeout_ms = 1234;
  auto o = ChannelOptions::from_config("amazon_dsp", config);
  EXPECT_EQ(o.service, "amazon_dsp");
  EXPECT_EQ(o.retry.max_retries, 2u);
  EXPECT_EQ(o.circuit.failure_threshold, 5u);
  EXPECT_EQ(o.circuit.open_duration, 30s);
  EXPECT_EQ(HttpClientOptions::from_config(config).timeout, 1234ms);
}

// ---------------------------------------------------------------------------------------------
// TLS: certificates made with the openssl command line for this test

class UpstreamTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new itest::TempDir();
    good_ =
        new itest::TestCertificates(itest::make_test_certificates(*dir_, {"DNS:localhost", "IP:127.0.0.1"}));
    wrong_ =
        new itest::TestCertificates(itest::make_test_certificates(*dir_, {"DNS:wrong.example"}, "wrong"));
  }
  static void TearDownTestSuite() {
    delete good_;
    delete wrong_;
    delete dir_;
  }
  static HttpClientOptions with_ca(const std::string& ca) {
    auto o = fast_options();
    o.ca_file = ca;
    return o;
  }

  static itest::TempDir* dir_;
  static itest::TestCertificates* good_;
  static itest::TestCertificates* wrong_;
};
itest::TempDir* UpstreamTlsTest::dir_ = nullptr;
itest::TestCertificates* UpstreamTlsTest::good_ = nullptr;
itest::TestCertificates* UpstreamTlsTest::wrong_ = nullptr;

TEST_F(UpstreamTlsTest, RefusesAnUnknownCaWithTheSystemStore) {
  UpstreamStub stub([](const StubRequest&) { return ok("secret"); },
                    itest::StubTls{good_->server_cert, good_->server_key});
  HttpClient client(fast_options());
  auto r = client.send_sync({.url = stub.url("/", "localhost")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FailureKind::kTls);
  EXPECT_FALSE(r.error().request_sent);
  EXPECT_TRUE(r.error().message.starts_with("TLS certificate verification failed")) << r.error().message;
  EXPECT_EQ(stub.request_count(), 0u);
}

TEST_F(UpstreamTlsTest, SucceedsWhenTheCaFileIsConfiguredAndReusesTheConnection) {
  UpstreamStub stub([](const StubRequest& r) { return ok("tls " + r.target); },
                    itest::StubTls{good_->server_cert, good_->server_key});
  HttpClient client(with_ca(good_->ca_cert));
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto r = client.send_sync({.url = stub.url("/v1/campaigns", host)});
    ASSERT_TRUE(r.ok()) << host << ": " << r.error().message << " " << r.error().detail;
    EXPECT_EQ(r.response().body, "tls /v1/campaigns");
  }
  ASSERT_TRUE(client.send_sync({.url = stub.url("/again", "localhost")}).ok());
  EXPECT_EQ(stub.connections(), 2u);  // one per origin (localhost, 127.0.0.1), the third call reused
}

TEST_F(UpstreamTlsTest, RefusesAHostNameMismatch) {
  UpstreamStub stub([](const StubRequest&) { return ok(); },
                    itest::StubTls{wrong_->server_cert, wrong_->server_key});
  HttpClient client(with_ca(wrong_->ca_cert));
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto r = client.send_sync({.url = stub.url("/", host)});
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_EQ(r.error().kind, FailureKind::kTls) << host;
    EXPECT_NE(r.error().message.find("mismatch"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(stub.request_count(), 0u);
}

TEST_F(UpstreamTlsTest, ChannelReportsTlsRefusalAs502WithoutRetrying) {
  UpstreamStub stub([](const StubRequest&) { return ok(); },
                    itest::StubTls{good_->server_cert, good_->server_key});
  HttpClient client(fast_options());
  Metrics metrics;
  UpstreamChannel channel(client, metrics, ChannelOptions{.service = "amazon_dsp"});
  auto r =
      channel.call_sync({.endpoint = "/dsp/v1/campaigns", .request = {.url = stub.url("/", "localhost")}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 1u);
  EXPECT_EQ(r.error().http_status(), 502);
  EXPECT_TRUE(r.error().external_message().starts_with("amazon_dsp: TLS certificate verification failed"));
}

// ---------------------------------------------------------------------------------------------
// Against the real `kargo-dsp sandbox`: the calls the Amazon/Kargo clients will make.

class UpstreamSandboxTest : public ::testing::Test {
 protected:
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(sandbox.port()) + path;
  }
  void add_fault(const std::string& json) {
    auto r = client.send_sync({.method = "POST",
                               .url = url("/_sandbox/faults"),
                               .headers = {{"Content-Type", "application/json"}},
                               .body = json});
    ASSERT_TRUE(r.ok() && r.response().status / 100 == 2) << (r.ok() ? r.response().body : r.error().message);
  }

  itest::SandboxProcess sandbox;
  Metrics metrics;
  HttpClient client{fast_options()};
  UpstreamChannel lwa{client, metrics,
                      ChannelOptions{.service = "amazon_lwa", .retry = {.base_delay = 10ms}}};
  UpstreamChannel kargo{client, metrics, ChannelOptions{.service = "kargo", .retry = {.base_delay = 10ms}}};
};

TEST_F(UpstreamSandboxTest, TokenRefreshAndSnippetFetch) {
  auto token = lwa.call_sync(
      {.endpoint = "/auth/o2/token",
       .request = {.method = "POST",
                   .url = url("/auth/o2/token"),
                   .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
                   .body = std::string("grant_type=refresh_token&refresh_token=") +
                           itest::kSandboxRefreshToken + "&client_id=" + itest::kSandboxClientId +
                           "&client_secret=" + itest::kSandboxClientSecret},
       .idempotency = Idempotency::kIdempotent});
  ASSERT_TRUE(token.ok()) << token.error().internal_message();
  EXPECT_EQ(token.response().status, 200);
  EXPECT_NE(token.response().body.find("access_token"), std::string::npos);

  auto allowed = std::vector<std::string>{"127.0.0.1:" + std::to_string(sandbox.port())};
  auto snippet =
      kargo.call_sync({.endpoint = "/snippet/dm/{id}",
                       .request = {.url = url("/snippet/dm/81298"), .follow_redirect = [&](const Url& to) {
                                     return host_allowed(to, allowed);
                                   }}});
  ASSERT_TRUE(snippet.ok()) << snippet.error().internal_message();
  EXPECT_EQ(snippet.response().status, 200);
  EXPECT_FALSE(snippet.response().body.empty());
}

TEST_F(UpstreamSandboxTest, FaultsAreRetriedAndGzipBombsRefused) {
  add_fault(R"({"path_prefix": "/snippet/dm/81298", "status": 503, "count": 2})");
  auto r = kargo.call_sync({.endpoint = "/snippet/dm/{id}", .request = {.url = url("/snippet/dm/81298")}});
  ASSERT_TRUE(r.ok()) << r.error().internal_message();
  EXPECT_EQ(r.attempts(), 3u);

  add_fault(R"({"path_prefix": "/snippet/dm/81305", "gzip_bomb": true})");
  auto bomb = kargo.call_sync({.endpoint = "/snippet/dm/{id}",
                               .request = {.url = url("/snippet/dm/81305"), .max_response_bytes = 1u << 20}});
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.attempts(), 1u);
  EXPECT_EQ(bomb.error().external_message(), "kargo: decoded response larger than 1048576 bytes");
}
