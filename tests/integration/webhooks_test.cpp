// Webhooks end to end (migrations/0010_webhooks.sql, service/webhook_dispatcher): the real binary
// against a database of its own per test, with a real receiver (an UpstreamStub on 127.0.0.1, so
// most servers run with WEBHOOK_ALLOW_PRIVATE=true). Events come from real changes made over the
// API; what the receiver gets is checked byte for byte: both signatures are computed here with
// OpenSSL over the raw body received, never with the server's own code. Settings are short
// (retries from 100 ms, 2 s per attempt, the outbox read every 20 ms) and every wait is a poll
// with a deadline; where a test asserts that nothing arrives, it first waits until nothing is left
// to send (the outbox empty and no delivery pending, or a later marker event delivered).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <tuple>

#include "support/amazon.hpp"
#include "support/fixtures.hpp"
#include "support/upstream_stub.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- the signatures, computed independently of the server (OpenSSL) ---

std::string hmac_sha256_raw(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string to_hex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string from_base64(std::string_view text) {
  std::string out(3 * (text.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) throw std::runtime_error("not base64: " + std::string(text));
  out.resize(static_cast<size_t>(n));
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) out.pop_back();
  return out;
}

std::string random_bytes(size_t n) {
  static std::mt19937_64 gen{std::random_device{}()};
  std::string out;
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(gen() & 0xff);
  return out;
}

// A Standard Webhooks secret (whsec_ + base64 of 24 random bytes) and a plain one.
std::string whsec_secret() { return "whsec_" + to_base64(random_bytes(24)); }
std::string plain_secret() { return unique_name("plain-secret"); }

int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- the receiver ---

// One request the receiver got: the raw request, its body parsed, when it arrived and what the
// receiver answered.
struct Received {
  StubRequest request;
  json body;
  Clock::time_point at;
  int answered = 0;

  std::string header(std::string_view name) const { return request.header(name).value_or(""); }
  std::string delivery_id() const { return body.value("delivery_id", ""); }
  std::string event() const { return body.value("event", ""); }
};

// A webhook receiver on 127.0.0.1: answers 200 unless the test's script says otherwise, and keeps
// every request (the script sees the ones before it, so it can answer "500 twice, then 200").
class Receiver {
 public:
  using Script = std::function<StubReply(const Received& now, const std::vector<Received>& before)>;

  explicit Receiver(Script script = {}) : script_(std::move(script)) {}

  std::string url(std::string_view path = "/hook", std::string_view host = "127.0.0.1") const {
    return stub_.url(path, host);
  }
  uint16_t port() const { return stub_.port(); }
  void set_script(Script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }
  // Every request so far, or those to `path`.
  std::vector<Received> received(const std::string& path = "") const {
    std::lock_guard lock(mutex_);
    std::vector<Received> out;
    for (const auto& r : received_) {
      if (path.empty() || r.request.target == path) out.push_back(r);
    }
    return out;
  }
  bool wait_count(size_t n, std::chrono::milliseconds timeout, const std::string& path = "") const {
    return wait_until([&] { return received(path).size() >= n; }, timeout, 10ms);
  }

 private:
  StubReply answer(const StubRequest& req) {
    Received r{req, json::parse(req.body, nullptr, false), Clock::now()};
    std::unique_lock lock(mutex_);
    auto before = received_;
    auto script = script_;
    const size_t index = received_.size();
    received_.push_back(r);
    lock.unlock();
    StubReply reply = script ? script(r, before) : StubReply{};
    if (reply.raw.empty() && reply.body.empty()) reply.body = "{}";
    lock.lock();
    received_[index].answered = reply.status;
    return reply;
  }

  mutable std::mutex mutex_;
  Script script_;
  std::vector<Received> received_;
  UpstreamStub stub_{[this](const StubRequest& r) { return answer(r); }};  // last: stops first
};

StubReply status(int code) { return StubReply{.status = code, .body = "{}"}; }

// --- the service under test ---

json campaign_body(const std::string& name) {
  return {{"name", name},
          {"advertiser_id", "adv_hooks"},
          {"budget", 10000},
          {"start_date", "2030-02-01"},
          {"end_date", "2030-02-28"}};
}

// The fast settings of these tests, on `db`, with `extra` on top.
EnvOverrides hook_env(const FreshDatabase& db, EnvOverrides extra = {}) {
  EnvOverrides env{{"DATABASE_URL", db.url()},
                   {"WEBHOOK_ALLOW_PRIVATE", "true"},
                   {"WEBHOOK_RETRY_BASE_MS", "100"},
                   {"WEBHOOK_TIMEOUT_SECONDS", "2"},
                   {"WEBHOOK_POLL_MS", "20"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

// A database of its own, a `serve` on it with the fast settings, and its admin.
struct HookWorld {
  explicit HookWorld(EnvOverrides extra = {}) {
    db.migrate();
    env = hook_env(db, std::move(extra));
    server = std::make_unique<ServerProcess>(ServerOptions{.env = env, .admin = admin});
    http = std::make_unique<HttpClient>(server->port());
    token = login(*http, admin);
  }

  HttpResponse call(const std::string& method, const std::string& target, const json& body = nullptr,
                    const std::string& as = "") const {
    Headers headers = bearer(as.empty() ? token : as);
    if (body.is_null()) return http->request(method, target, "", headers);
    headers.emplace_back("Content-Type", "application/json");
    return http->request(method, target, body.dump(), headers);
  }
  HttpResponse create_hook(const json& body) const { return call("POST", "/api/webhooks", body); }
  // A webhook that must be created: its resource.
  json hook(const std::string& url, const std::vector<std::string>& events, const std::string& secret,
            json extra = json::object()) const {
    extra["url"] = url;
    extra["events"] = events;
    extra["secret"] = secret;
    auto res = create_hook(extra);
    if (res.status != 201) throw std::runtime_error("webhook create failed: " + res.describe());
    return res.json()["data"];
  }
  json get_hook(const std::string& id) const {
    auto res = call("GET", "/api/webhooks/" + id);
    if (res.status != 200) throw std::runtime_error("webhook get failed: " + res.describe());
    return res.json()["data"];
  }
  // Its attempts, newest first.
  json attempts(const std::string& hook_id) const {
    auto res = call("GET", "/api/webhooks/" + hook_id + "/deliveries?limit=100");
    if (res.status != 200) throw std::runtime_error("deliveries failed: " + res.describe());
    return res.json()["data"]["deliveries"];
  }
  bool wait_attempts(const std::string& hook_id, size_t n, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return attempts(hook_id).size() >= n; }, timeout, 20ms);
  }

  std::string create_campaign(const std::string& name) const {
    auto res = call("POST", "/api/campaigns", campaign_body(name));
    if (res.status != 201) throw std::runtime_error("campaign create failed: " + res.describe());
    return res.json()["data"]["id"];
  }
  HttpResponse update_campaign(const std::string& id, const json& change) const {
    return call("PUT", "/api/campaigns/" + id, change);
  }

  // One value of a query on the test's database (psql -tA, without the line end).
  std::string query(const std::string& sql) const {
    auto out = db.sql(sql);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  // Nothing left to send: every committed event fanned out and no delivery pending. After this,
  // a receiver that got nothing gets nothing.
  bool wait_quiet(std::chrono::milliseconds timeout = 20s) const {
    return wait_until(
        [&] {
          return query(
                     "SELECT (SELECT count(*) FROM webhook_events) + "
                     "(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')") == "0";
        },
        timeout, 50ms);
  }

  FreshDatabase db;
  Credentials admin = Credentials::unique("admin");
  EnvOverrides env;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> http;
  std::string token;
};

// Both signatures of `r` match `secret` over the raw body received; returns what failed ("" when
// both match).
std::string signature_problems(const Received& r, const std::string& secret) {
  std::string problems;
  const std::string& raw = r.request.body;
  auto expected_legacy = "sha256=" + to_hex(hmac_sha256_raw(secret, raw));
  if (r.header("X-Webhook-Signature") != expected_legacy) {
    problems += "X-Webhook-Signature " + r.header("X-Webhook-Signature") + " != " + expected_legacy + "; ";
  }
  std::string key = secret.rfind("whsec_", 0) == 0 ? from_base64(secret.substr(6)) : secret;
  auto signed_text = r.header("webhook-id") + "." + r.header("webhook-timestamp") + "." + raw;
  auto expected_standard = "v1," + to_base64(hmac_sha256_raw(key, signed_text));
  if (r.header("webhook-signature") != expected_standard) {
    problems += "webhook-signature " + r.header("webhook-signature") + " != " + expected_standard + "; ";
  }
  return problems;
}

bool is_delivery_id(const std::string& id) { return std::regex_match(id, std::regex("dlv_[0-9a-f]{32}")); }

// ---------------------------------------------------------------------------------------------
// 1. What a receiver gets: the body, the headers and both signatures.

TEST(Webhooks, DeliveriesAreSignedBothWaysOverTheRawBody) {
  HookWorld w;
  Receiver receiver;
  const auto standard_secret = whsec_secret();
  const auto plain = plain_secret();
  auto standard_hook = w.hook(receiver.url("/standard"), {"campaign.created"}, standard_secret);
  auto plain_hook = w.hook(receiver.url("/plain"), {"campaign.created"}, plain);

  const int64_t before = epoch_seconds();
  auto campaign_id = w.create_campaign(unique_name("Signed"));
  ASSERT_TRUE(receiver.wait_count(1, 15s, "/standard"));
  ASSERT_TRUE(receiver.wait_count(1, 15s, "/plain"));
  const int64_t after = epoch_seconds();

  for (const auto& [path, hook, secret] :
       {std::tuple{"/standard", standard_hook, standard_secret}, std::tuple{"/plain", plain_hook, plain}}) {
    SCOPED_TRACE(path);
    auto got = receiver.received(path);
    ASSERT_EQ(got.size(), 1u);
    const auto& r = got[0];
    EXPECT_EQ(r.request.method, "POST");
    EXPECT_EQ(signature_problems(r, secret), "") << r.request.body;
    ASSERT_TRUE(r.body.is_object()) << r.request.body;
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u) << r.header("Content-Type");
    EXPECT_EQ(r.body["event"], "campaign.created");
    EXPECT_EQ(r.header("X-Webhook-Event"), "campaign.created");
    EXPECT_TRUE(std::regex_match(r.body["timestamp"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")))
        << r.body["timestamp"];
    EXPECT_EQ(r.body["data"]["campaign_id"], campaign_id) << r.body;
    EXPECT_EQ(r.body["webhook_id"], hook["id"]);
    EXPECT_TRUE(is_delivery_id(r.delivery_id())) << r.delivery_id();
    EXPECT_EQ(r.header("X-Webhook-Delivery"), r.delivery_id());
    EXPECT_EQ(r.header("webhook-id"), r.delivery_id());
    EXPECT_EQ(r.body["retry_count"], 0);
    auto ts = std::stoll(r.header("webhook-timestamp"));
    EXPECT_GE(ts, before - 60);
    EXPECT_LE(ts, after + 60);
  }
  // The Standard Webhooks key of a whsec_ secret is its decoded base64, not the secret's text.
  auto r = receiver.received("/standard")[0];
  auto with_text_key = "v1," + to_base64(hmac_sha256_raw(standard_secret, r.header("webhook-id") + "." +
                                                                              r.header("webhook-timestamp") +
                                                                              "." + r.request.body));
  EXPECT_NE(r.header("webhook-signature"), with_text_key);
  EXPECT_NE(receiver.received("/plain")[0].delivery_id(), r.delivery_id()) << "one delivery per webhook";
}

// ---------------------------------------------------------------------------------------------
// 2. Retries: the same delivery again, with its retry count, logged newest first.

TEST(Webhooks, AFailedDeliveryIsRetriedWithTheSameDeliveryId) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>& before) {
    return before.size() < 2 ? status(500) : status(200);
  });
  auto hook = w.hook(receiver.url(), {"campaign.created"}, whsec_secret());
  w.create_campaign(unique_name("Retried"));

  ASSERT_TRUE(receiver.wait_count(3, 15s));
  ASSERT_TRUE(w.wait_attempts(hook["id"], 3, 10s));
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].delivery_id(), got[0].delivery_id());
    EXPECT_EQ(got[i].header("X-Webhook-Delivery"), got[0].delivery_id());
    EXPECT_EQ(got[i].body["retry_count"], i) << got[i].request.body;
  }
  // WEBHOOK_RETRY_BASE_MS=100: 100 ms then 600 ms, each -20 % at most.
  EXPECT_GE(got[1].at - got[0].at, 80ms);
  EXPECT_GE(got[2].at - got[1].at, 480ms);

  auto log = w.attempts(hook["id"]);
  ASSERT_EQ(log.size(), 3u) << log;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(log[i]["delivery_id"], got[0].delivery_id());
    EXPECT_EQ(log[i]["event"], "campaign.created");
    EXPECT_EQ(log[i]["attempt"], 3 - i) << "newest first: " << log;
    EXPECT_EQ(log[i]["retry_count"], 2 - i);
    EXPECT_TRUE(log[i]["duration_ms"].is_number());
  }
  EXPECT_EQ(log[0]["status_code"], 200);
  EXPECT_EQ(log[0]["outcome"], "delivered");
  EXPECT_TRUE(log[0]["error"].is_null()) << log[0];
  for (size_t i : {1, 2}) {
    EXPECT_EQ(log[i]["status_code"], 500);
    EXPECT_EQ(log[i]["outcome"], "failed");
    EXPECT_NE(log[i]["error"].get<std::string>().find("500"), std::string::npos) << log[i];
  }
}

// The waits between attempts are WEBHOOK_RETRY_BASE_MS x 1, 6, ... spread by +-20 %: with a base
// of 100 ms, 80-120 ms then 480-720 ms (plus 200 ms of slack for a busy machine).
TEST(Webhooks, RetriesFollowTheScheduleWithinItsJitter) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>& before) {
    return before.size() < 2 ? status(500) : status(200);
  });
  w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("Scheduled"));
  ASSERT_TRUE(receiver.wait_count(3, 15s));
  auto got = receiver.received();
  auto gap = [&](size_t i) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(got[i].at - got[i - 1].at);
  };
  EXPECT_GE(gap(1), 80ms);
  EXPECT_LE(gap(1), 120ms + 200ms) << "the first retry is due 80-120 ms after the failure";
  EXPECT_GE(gap(2), 480ms);
  EXPECT_LE(gap(2), 720ms + 200ms) << "the second retry is due 480-720 ms after the failure";
}

// A receiver that does not answer within WEBHOOK_TIMEOUT_SECONDS fails the attempt; the
// delivery is retried.
TEST(Webhooks, AnAttemptThatTimesOutIsRetried) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>& before) {
    return before.empty() ? StubReply{.hang = true} : status(200);
  });
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("Slow"));
  ASSERT_TRUE(receiver.wait_count(2, 20s));
  ASSERT_TRUE(w.wait_attempts(hook["id"], 2, 10s));
  auto got = receiver.received();
  EXPECT_EQ(got[1].delivery_id(), got[0].delivery_id());
  EXPECT_EQ(got[1].body["retry_count"], 1);
  auto log = w.attempts(hook["id"]);
  EXPECT_EQ(log[0]["outcome"], "delivered");
  EXPECT_EQ(log[1]["outcome"], "failed");
  EXPECT_TRUE(log[1]["status_code"].is_null()) << log[1];
  EXPECT_NE(log[1]["error"].get<std::string>().find("timeout"), std::string::npos) << log[1];
  EXPECT_GE(log[1]["duration_ms"].get<double>(), 1900) << log[1];
  EXPECT_LT(log[1]["duration_ms"].get<double>(), 10000) << log[1];
}

// After its last attempt a delivery has failed for good, and the webhook's next one goes.
TEST(Webhooks, ADeliveryFailedForGoodLetsTheNextOneGo) {
  HookWorld w(EnvOverrides{{"WEBHOOK_MAX_ATTEMPTS", "2"}});
  auto campaign_id = w.create_campaign(unique_name("Blocked"));
  Receiver receiver([](const Received& now, const std::vector<Received>&) {
    return now.body["data"].value("name", "") == "A" ? status(500) : status(200);
  });
  auto hook = w.hook(receiver.url(), {"campaign.updated"}, plain_secret());
  ASSERT_EQ(w.update_campaign(campaign_id, {{"name", "A"}}).status, 200);
  ASSERT_EQ(w.update_campaign(campaign_id, {{"name", "B"}}).status, 200);
  ASSERT_TRUE(receiver.wait_count(3, 20s));
  ASSERT_TRUE(w.wait_quiet());
  std::string sequence;
  for (const auto& r : receiver.received()) sequence += r.body["data"].value("name", "?");
  EXPECT_EQ(sequence, "AAB");
  auto log = w.attempts(hook["id"]);
  ASSERT_EQ(log.size(), 3u) << log;
  EXPECT_EQ(log[0]["outcome"], "delivered");
  EXPECT_EQ(log[1]["attempt"], 2);
  EXPECT_EQ(log[1]["outcome"], "failed");
  EXPECT_EQ(w.get_hook(hook["id"])["active"], true) << "one failed delivery does not switch it off";
}

// A webhook gets the events it subscribed to and no others.
TEST(Webhooks, AWebhookReceivesOnlyTheEventsItSubscribedTo) {
  HookWorld w;
  Receiver receiver;
  w.hook(receiver.url(), {"campaign.updated"}, plain_secret());
  auto campaign_id = w.create_campaign(unique_name("Selective"));  // campaign.created: not sent
  ASSERT_EQ(w.update_campaign(campaign_id, {{"name", "changed"}}).status, 200);
  // The update comes after the create in commit order: once it arrived, the create would have.
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  ASSERT_TRUE(w.wait_quiet());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event(), "campaign.updated");
  EXPECT_EQ(got[0].body["data"]["campaign_id"], campaign_id);
}

// ---------------------------------------------------------------------------------------------
// 3. Order per webhook: a later event waits for the earlier one's success.

TEST(Webhooks, ALaterEventWaitsUntilTheEarlierOneIsDelivered) {
  HookWorld w;
  auto campaign_id = w.create_campaign(unique_name("Ordered"));
  std::atomic<bool> b_committed{false};
  // A fails twice, and at least until B is committed: B is pending while A is retried.
  Receiver receiver([&](const Received& now, const std::vector<Received>& before) {
    if (now.body["data"].value("name", "") != "A") return status(200);
    size_t a_before = 0;
    for (const auto& r : before) a_before += r.body["data"].value("name", "") == "A";
    return a_before >= 2 && b_committed ? status(200) : status(500);
  });
  w.hook(receiver.url(), {"campaign.updated"}, plain_secret());

  auto a = w.update_campaign(campaign_id, {{"name", "A"}});
  ASSERT_EQ(a.status, 200) << a.describe();
  auto b = w.update_campaign(campaign_id, {{"name", "B"}});
  ASSERT_EQ(b.status, 200) << b.describe();
  b_committed = true;

  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& r : receiver.received()) {
          if (r.body["data"].value("name", "") == "B") return true;
        }
        return false;
      },
      20s));
  auto got = receiver.received();
  std::string sequence;
  for (const auto& r : got) sequence += r.body["data"].value("name", "?");
  // A, A, A (or one more A when the third came before B was committed), then B once.
  EXPECT_TRUE(std::regex_match(sequence, std::regex("AAA+B"))) << sequence;
  ASSERT_GE(got.size(), 4u);
  const auto& last_a = got[got.size() - 2];
  EXPECT_EQ(last_a.answered, 200) << "B only after A succeeded";
  EXPECT_EQ(got.back().body["data"]["changes"]["name"]["to"], "B");
  EXPECT_NE(got.back().delivery_id(), last_a.delivery_id());
}

// ---------------------------------------------------------------------------------------------
// 4. Inactive webhooks receive nothing, and get nothing queued for later.

TEST(Webhooks, AnInactiveWebhookReceivesNothing) {
  HookWorld w;
  Receiver receiver;
  auto on = w.hook(receiver.url("/on"), {"campaign.created"}, plain_secret());
  auto off_from_start =
      w.hook(receiver.url("/off-created"), {"campaign.created"}, plain_secret(), {{"active", false}});
  EXPECT_EQ(off_from_start["active"], false);
  auto switched_off = w.hook(receiver.url("/off-updated"), {"campaign.created"}, plain_secret());
  auto put = w.call("PUT", "/api/webhooks/" + switched_off["id"].get<std::string>(), {{"active", false}});
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_EQ(put.json()["data"]["active"], false);

  auto first = w.create_campaign(unique_name("Quiet"));
  ASSERT_TRUE(receiver.wait_count(1, 15s, "/on"));
  ASSERT_TRUE(w.wait_quiet());
  EXPECT_EQ(receiver.received("/off-created").size(), 0u);
  EXPECT_EQ(receiver.received("/off-updated").size(), 0u);
  EXPECT_EQ(w.attempts(off_from_start["id"]).size(), 0u);

  // Switched on again, it gets what happens from then on, not what it missed.
  put = w.call("PUT", "/api/webhooks/" + switched_off["id"].get<std::string>(), {{"active", true}});
  ASSERT_EQ(put.status, 200) << put.describe();
  auto second = w.create_campaign(unique_name("Loud"));
  ASSERT_TRUE(receiver.wait_count(1, 15s, "/off-updated"));
  ASSERT_TRUE(receiver.wait_count(2, 15s, "/on"));
  ASSERT_TRUE(w.wait_quiet());
  auto got = receiver.received("/off-updated");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body["data"]["campaign_id"], second);
  EXPECT_NE(first, second);
  EXPECT_EQ(receiver.received("/off-created").size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 5. A change that rolls back announces nothing.

TEST(Webhooks, AChangeThatRollsBackSendsNothing) {
  HookWorld w;
  auto campaign_id = w.create_campaign(unique_name("Kept"));
  Receiver receiver;
  w.hook(receiver.url(), {"campaign.created", "campaign.updated"}, plain_secret());

  // The campaign row and its audit entry (which the trigger turns into an event) are written
  // before the unknown creative is found: the transaction rolls back.
  auto body = campaign_body(unique_name("RolledBack"));
  body["creative_ids"] = {"crv_000000000000"};
  auto refused = w.call("POST", "/api/campaigns", body);
  EXPECT_EQ(refused.status, 404) << refused.describe();
  auto invalid = w.update_campaign(campaign_id, {{"budget", -5}});
  EXPECT_EQ(invalid.status, 422) << invalid.describe();

  // The marker comes after both in commit order, and deliveries of a webhook go in that order.
  auto marker = w.update_campaign(campaign_id, {{"name", "marker"}});
  ASSERT_EQ(marker.status, 200) << marker.describe();
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  ASSERT_TRUE(w.wait_quiet());
  auto got = receiver.received();
  std::string bodies;
  for (const auto& r : got) bodies += r.request.body + "\n";
  ASSERT_EQ(got.size(), 1u) << bodies;
  EXPECT_EQ(got[0].event(), "campaign.updated");
  EXPECT_EQ(got[0].body["data"]["name"], "marker");
}

// ---------------------------------------------------------------------------------------------
// 6. A sender killed mid-delivery: another process sends the delivery again.

TEST(Webhooks, ADeliveryOfAKilledProcessIsSentByAnother) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>& before) {
    return before.empty() ? StubReply{.hang = true} : status(200);
  });
  auto hook = w.hook(receiver.url(), {"campaign.created"}, whsec_secret());
  auto campaign_id = w.create_campaign(unique_name("Orphan"));

  // The first request is held while its sender is killed (well within the 2 s attempt timeout).
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  w.server->kill();
  ASSERT_EQ(receiver.received().size(), 1u);

  // The lease (3 x WEBHOOK_TIMEOUT_SECONDS = 6 s) expires and the worker takes the webhook over.
  ServerProcess rescuer({.mode = "worker", .env = w.env});
  ASSERT_TRUE(receiver.wait_count(2, 30s));
  auto got = receiver.received();
  EXPECT_EQ(got[1].delivery_id(), got[0].delivery_id());
  EXPECT_EQ(got[1].header("webhook-id"), got[0].delivery_id());
  EXPECT_EQ(got[1].body["data"]["campaign_id"], campaign_id);
  EXPECT_EQ(got[1].body["webhook_id"], hook["id"]);
  EXPECT_TRUE(wait_until(
      [&] {
        return w.query("SELECT status FROM webhook_deliveries WHERE id = '" + got[0].delivery_id() + "'") ==
               "delivered";
      },
      10s));
  ASSERT_TRUE(w.wait_quiet());
  EXPECT_EQ(receiver.received().size(), 2u);
}

// SIGTERM lets the attempt in flight end (at most WEBHOOK_TIMEOUT_SECONDS), records it, and the
// delivery is sent by the next process.
TEST(Webhooks, AStoppedProcessLeavesItsDeliveryToTheNext) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>& before) {
    return before.empty() ? StubReply{.hang = true} : status(200);
  });
  w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("Stopped"));
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  const auto stopping = Clock::now();
  EXPECT_EQ(w.server->stop(15s), 0);
  EXPECT_LT(Clock::now() - stopping, 10s);
  EXPECT_EQ(w.query("SELECT count(*) FROM webhook_attempts"), "1") << "the attempt in flight is recorded";

  ServerProcess next({.mode = "worker", .env = w.env});
  ASSERT_TRUE(receiver.wait_count(2, 20s));
  auto got = receiver.received();
  EXPECT_EQ(got[1].delivery_id(), got[0].delivery_id());
  EXPECT_EQ(got[1].body["retry_count"], 1);
}

// ---------------------------------------------------------------------------------------------
// 7. Two processes on one database: every delivery once.

TEST(Webhooks, TwoProcessesDeliverEveryEventExactlyOnce) {
  HookWorld w;
  ServerProcess worker({.mode = "worker", .env = w.env});
  Receiver receiver;
  const std::vector<std::string> paths = {"/one", "/two", "/three"};
  for (const auto& p : paths) w.hook(receiver.url(p), {"campaign.created"}, plain_secret());

  constexpr size_t kCampaigns = 30;
  std::set<std::string> campaign_ids;
  for (size_t i = 0; i < kCampaigns; ++i) campaign_ids.insert(w.create_campaign(unique_name("Many")));

  ASSERT_TRUE(receiver.wait_count(kCampaigns * paths.size(), 60s)) << receiver.received().size();
  ASSERT_TRUE(w.wait_quiet());
  auto got = receiver.received();
  EXPECT_EQ(got.size(), kCampaigns * paths.size());
  std::map<std::string, int> per_delivery;
  for (const auto& r : got) ++per_delivery[r.delivery_id()];
  for (const auto& [id, n] : per_delivery) EXPECT_EQ(n, 1) << id << " received " << n << " times";
  EXPECT_EQ(per_delivery.size(), kCampaigns * paths.size());
  for (const auto& p : paths) {
    std::set<std::string> seen;
    for (const auto& r : receiver.received(p)) seen.insert(r.body["data"]["campaign_id"]);
    EXPECT_EQ(seen, campaign_ids) << p;
  }
  EXPECT_TRUE(worker.running());
}

// ---------------------------------------------------------------------------------------------
// 8. Server-side request forgery: the URL at create, the address at delivery, no redirects.

TEST(Webhooks, CreateRefusesUrlsThatAreNotHttp) {
  HookWorld w;
  for (const std::string url : {"ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://127.0.0.1:70/",
                                "http://user:pw@hooks.example.com/", "not a url"}) {
    auto res = w.create_hook({{"url", url}, {"events", {"campaign.created"}}, {"secret", plain_secret()}});
    EXPECT_EQ(res.status, 422) << url << ": " << res.describe();
    EXPECT_EQ(invalid_fields(res), std::set<std::string>{"url"}) << url;
  }
}

TEST(Webhooks, LinkLocalTargetsAreRefusedEvenWithAllowPrivate) {
  HookWorld w;  // WEBHOOK_ALLOW_PRIVATE=true
  for (const std::string url : {"http://169.254.169.254/latest/meta-data/", "http://169.254.1.1:8080/hook",
                                "http://[fe80::1]/hook", "http://[::ffff:169.254.169.254]/"}) {
    auto res = w.create_hook({{"url", url}, {"events", {"campaign.created"}}, {"secret", plain_secret()}});
    EXPECT_EQ(res.status, 422) << url << ": " << res.describe();
    EXPECT_EQ(invalid_fields(res), std::set<std::string>{"url"}) << url;
  }
  // Nor by changing the URL of an existing webhook.
  Receiver receiver;
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  auto put = w.call("PUT", "/api/webhooks/" + hook["id"].get<std::string>(),
                    {{"url", "http://169.254.169.254/latest/meta-data/"}});
  EXPECT_EQ(put.status, 422) << put.describe();
  EXPECT_EQ(w.get_hook(hook["id"])["url"], receiver.url());
}

TEST(Webhooks, PrivateTargetsNeedAllowPrivate) {
  HookWorld w(EnvOverrides{{"WEBHOOK_ALLOW_PRIVATE", "false"}});
  const std::vector<std::string> urls = {"http://10.0.0.1/hook", "http://192.168.1.20:8080/hook",
                                         "http://127.0.0.1:9/hook", "http://localhost:9/hook",
                                         "http://[::1]:9/"};
  for (const auto& url : urls) {
    auto res = w.create_hook({{"url", url}, {"events", {"campaign.created"}}, {"secret", plain_secret()}});
    EXPECT_EQ(res.status, 422) << url << ": " << res.describe();
    EXPECT_EQ(invalid_fields(res), std::set<std::string>{"url"}) << url;
  }

  ServerProcess allowing({.env = hook_env(w.db), .admin = w.admin});
  HttpClient http(allowing.port());
  auto token = login(http, w.admin);
  for (const auto& url : urls) {
    auto res = http.post_json("/api/webhooks",
                              {{"url", url}, {"events", {"campaign.created"}}, {"secret", plain_secret()}},
                              bearer(token));
    EXPECT_EQ(res.status, 201) << url << ": " << res.describe();
  }
}

// A host name is not an address: it is resolved, and its addresses checked, at delivery
// (DeliveryRefusesALoopbackAddressWithoutAllowPrivate). At create it is accepted with either
// setting, and so is a public address literal.
TEST(Webhooks, CreateAcceptsAHostNameWithOrWithoutAllowPrivate) {
  for (const std::string allow : {"false", "true"}) {
    SCOPED_TRACE("WEBHOOK_ALLOW_PRIVATE=" + allow);
    HookWorld w(EnvOverrides{{"WEBHOOK_ALLOW_PRIVATE", allow}});
    for (const std::string url : {"https://hooks.example.com/kargo", "http://8.8.8.8/hook"}) {
      auto res = w.create_hook({{"url", url}, {"events", {"campaign.created"}}, {"secret", plain_secret()}});
      EXPECT_EQ(res.status, 201) << url << ": " << res.describe();
    }
  }
}

// The address a name resolves to is checked at delivery: a webhook for localhost accepted by a
// process that allows private targets is not delivered by one that does not.
TEST(Webhooks, DeliveryRefusesALoopbackAddressWithoutAllowPrivate) {
  HookWorld w(EnvOverrides{{"WEBHOOK_CONCURRENCY", "0"}});  // this `serve` only takes requests
  ServerProcess strict({.mode = "worker", .env = hook_env(w.db, {{"WEBHOOK_ALLOW_PRIVATE", "false"}})});
  Receiver receiver;
  auto hook = w.hook(receiver.url("/hook", "localhost"), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("Refused"));

  ASSERT_TRUE(w.wait_attempts(hook["id"], 1, 15s));
  auto attempt = w.attempts(hook["id"])[0];
  EXPECT_EQ(attempt["outcome"], "failed");
  EXPECT_TRUE(attempt["status_code"].is_null()) << attempt;
  std::string error = attempt["error"].is_string() ? attempt["error"].get<std::string>() : "";
  EXPECT_NE(error.find("refused_address"), std::string::npos) << attempt;
  EXPECT_NE(error.find("loopback"), std::string::npos) << attempt;
  EXPECT_EQ(receiver.received().size(), 0u);
  EXPECT_TRUE(strict.running());
}

TEST(Webhooks, RedirectsAreNotFollowed) {
  HookWorld w(EnvOverrides{{"WEBHOOK_MAX_ATTEMPTS", "1"}});
  Receiver elsewhere;
  Receiver receiver([&](const Received&, const std::vector<Received>&) {
    return StubReply{.status = 302, .headers = {{"Location", elsewhere.url("/landed")}}};
  });
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("Redirected"));

  ASSERT_TRUE(w.wait_attempts(hook["id"], 1, 15s));
  auto log = w.attempts(hook["id"]);
  ASSERT_EQ(log.size(), 1u) << log;
  EXPECT_EQ(log[0]["status_code"], 302);
  EXPECT_EQ(log[0]["outcome"], "failed");
  EXPECT_EQ(receiver.received().size(), 1u);
  EXPECT_EQ(elsewhere.received().size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 9. The secret is write-only.

TEST(Webhooks, TheSecretIsNeverShownNorLogged) {
  HookWorld w;
  Receiver receiver;
  const auto first = whsec_secret();
  const auto second = plain_secret();
  const std::string refused = "whsec_%%not-base64%%" + unique_name("x");
  std::vector<std::pair<std::string, std::string>> bodies;  // what was answered, for the check

  auto res = w.create_hook({{"url", receiver.url()},
                            {"events", {"campaign.created"}},
                            {"secret", first},
                            {"description", "secret test"}});
  ASSERT_EQ(res.status, 201) << res.describe();
  bodies.emplace_back("create", res.body);
  std::string id = res.json()["data"]["id"];
  for (const auto& key : {"url", "events", "description", "active", "created_by", "created_at"}) {
    EXPECT_TRUE(res.json()["data"].contains(key)) << key;
  }
  EXPECT_FALSE(res.json()["data"].contains("secret"));
  // With an Idempotency-Key the answer is stored, and a replay answers it again.
  const Headers keyed_headers = bearer(w.token, {{"Idempotency-Key", unique_name("key")}});
  const json keyed_body{{"url", receiver.url("/keyed")}, {"events", {"campaign.created"}}, {"secret", first}};
  auto keyed = w.http->post_json("/api/webhooks", keyed_body, keyed_headers);
  EXPECT_EQ(keyed.status, 201) << keyed.describe();
  auto replayed = w.http->post_json("/api/webhooks", keyed_body, keyed_headers);
  EXPECT_EQ(replayed.status, 201) << replayed.describe();
  EXPECT_EQ(replayed.json()["data"]["id"], keyed.json()["data"]["id"]);
  bodies.emplace_back("create with a key", keyed.body);
  bodies.emplace_back("replayed create", replayed.body);
  bodies.emplace_back(
      "refused create",
      w.create_hook({{"url", receiver.url()}, {"events", {"campaign.created"}}, {"secret", refused}}).body);
  bodies.emplace_back("get", w.call("GET", "/api/webhooks/" + id).body);
  bodies.emplace_back("list", w.call("GET", "/api/webhooks").body);
  auto put = w.call("PUT", "/api/webhooks/" + id, {{"secret", second}});
  ASSERT_EQ(put.status, 200) << put.describe();
  bodies.emplace_back("update", put.body);

  // Deliveries are signed with the new secret from then on.
  auto ping = w.call("POST", "/api/webhooks/" + id + "/ping");
  ASSERT_EQ(ping.status, 202) << ping.describe();
  bodies.emplace_back("ping", ping.body);
  ASSERT_TRUE(receiver.wait_count(1, 15s, "/hook"));
  EXPECT_EQ(signature_problems(receiver.received("/hook")[0], second), "");
  ASSERT_TRUE(w.wait_attempts(id, 1, 10s));
  bodies.emplace_back("deliveries", w.call("GET", "/api/webhooks/" + id + "/deliveries").body);
  bodies.emplace_back("get after", w.call("GET", "/api/webhooks/" + id).body);

  for (const auto& [what, body] : bodies) {
    for (const auto& secret : {first, first.substr(6), second, refused}) {
      EXPECT_EQ(body.find(secret), std::string::npos) << what << " shows " << secret << ": " << body;
    }
  }
  const std::string log = w.server->stdout_text() + w.server->stderr_text();
  ASSERT_FALSE(log.empty());
  for (const auto& secret : {first, first.substr(6), second, refused}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the server log holds " << secret;
  }
}

// ---------------------------------------------------------------------------------------------
// 10. The routes.

TEST(Webhooks, OnlyAdminsReachTheWebhookRoutes) {
  HookWorld w;
  Receiver receiver;
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  const std::string id = hook["id"];
  const json body{{"url", receiver.url()}, {"events", {"campaign.created"}}, {"secret", plain_secret()}};
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/api/webhooks"},
      {"GET", "/api/webhooks"},
      {"GET", "/api/webhooks/" + id},
      {"PUT", "/api/webhooks/" + id},
      {"DELETE", "/api/webhooks/" + id},
      {"GET", "/api/webhooks/" + id + "/deliveries"},
      {"POST", "/api/webhooks/" + id + "/ping"},
      {"POST", "/api/webhooks/" + id + "/deliveries/dlv_00000000000000000000000000000000/redeliver"},
  };
  for (const std::string role : {"viewer", "editor"}) {
    auto token = login(*w.http, create_user(*w.http, w.token, role));
    for (const auto& [method, target] : routes) {
      bool with_body = method == "POST" || method == "PUT";
      auto res = w.call(method, target, with_body ? body : json(nullptr), token);
      EXPECT_EQ(res.status, 403) << role << " " << method << " " << target << ": " << res.describe();
    }
  }
  for (const auto& [method, target] : routes) {
    EXPECT_EQ(w.http->request(method, target).status, 401) << method << " " << target;
  }
  EXPECT_EQ(w.get_hook(id)["active"], true) << "untouched";
  EXPECT_EQ(receiver.received().size(), 0u) << "no ping was queued";
}

TEST(Webhooks, CreateValidatesEventsAndSecret) {
  HookWorld w;
  Receiver receiver;
  auto with = [&](json patch) {
    json body{{"url", receiver.url()}, {"events", {"campaign.created"}}, {"secret", plain_secret()}};
    body.merge_patch(patch);
    return w.create_hook(body);
  };
  auto unknown = with({{"events", {"campaign.created", "campaign.exploded"}}});
  EXPECT_EQ(unknown.status, 422) << unknown.describe();
  EXPECT_EQ(invalid_fields(unknown), std::set<std::string>{"events[1]"});
  EXPECT_NE(unknown.body.find("campaign.exploded"), std::string::npos) << unknown.describe();

  EXPECT_EQ(invalid_fields(with({{"events", json::array()}})), std::set<std::string>{"events"});
  EXPECT_EQ(invalid_fields(with({{"events", nullptr}})), std::set<std::string>{"events"});
  EXPECT_EQ(invalid_fields(with({{"secret", nullptr}})), std::set<std::string>{"secret"});
  EXPECT_EQ(invalid_fields(with({{"secret", "short"}})), std::set<std::string>{"secret"});
  EXPECT_EQ(invalid_fields(with({{"secret", "whsec_!!!!not*base64!!!!"}})), std::set<std::string>{"secret"});
  EXPECT_EQ(invalid_fields(with({{"url", nullptr}})), std::set<std::string>{"url"});

  auto ok = with({{"secret", whsec_secret()}, {"events", {"report.generated", "error.critical"}}});
  ASSERT_EQ(ok.status, 201) << ok.describe();
  EXPECT_EQ(ok.json()["data"]["events"], json({"report.generated", "error.critical"}));
  EXPECT_EQ(ok.json()["data"]["active"], true);
  EXPECT_TRUE(ok.json()["data"]["deactivated_reason"].is_null());
  // An update is validated the same way.
  auto put = w.call("PUT", "/api/webhooks/" + ok.json()["data"]["id"].get<std::string>(),
                    {{"events", {"nope.never"}}});
  EXPECT_EQ(invalid_fields(put), std::set<std::string>{"events[0]"});
}

TEST(Webhooks, UnknownWebhooksAndDeliveriesAre404) {
  HookWorld w;
  Receiver receiver;
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  const json change{{"description", "x"}};
  for (const std::string id : {"wh_000000000000", "nope", "wh_ZZZ"}) {
    EXPECT_EQ(w.call("GET", "/api/webhooks/" + id).status, 404) << id;
    EXPECT_EQ(w.call("PUT", "/api/webhooks/" + id, change).status, 404) << id;
    EXPECT_EQ(w.call("DELETE", "/api/webhooks/" + id).status, 404) << id;
    EXPECT_EQ(w.call("GET", "/api/webhooks/" + id + "/deliveries").status, 404) << id;
    EXPECT_EQ(w.call("POST", "/api/webhooks/" + id + "/ping").status, 404) << id;
    EXPECT_EQ(
        w.call("POST", "/api/webhooks/" + id + "/deliveries/dlv_00000000000000000000000000000000/redeliver")
            .status,
        404)
        << id;
  }
  const std::string base = "/api/webhooks/" + hook["id"].get<std::string>() + "/deliveries/";
  EXPECT_EQ(w.call("POST", base + "dlv_00000000000000000000000000000000/redeliver").status, 404);
  EXPECT_EQ(w.call("POST", base + "bogus/redeliver").status, 404);
}

TEST(Webhooks, PingDeliversAPingEvent) {
  HookWorld w;
  Receiver receiver;
  const auto secret = whsec_secret();
  auto hook = w.hook(receiver.url(), {"campaign.deleted"}, secret);
  const std::string id = hook["id"];
  auto ping = w.call("POST", "/api/webhooks/" + id + "/ping");
  ASSERT_EQ(ping.status, 202) << ping.describe();
  std::string delivery_id = ping.json()["data"]["delivery_id"];
  EXPECT_TRUE(is_delivery_id(delivery_id)) << delivery_id;
  EXPECT_EQ(ping.json()["data"]["event"], "ping");

  ASSERT_TRUE(receiver.wait_count(1, 15s));
  auto r = receiver.received()[0];
  EXPECT_EQ(r.event(), "ping");
  EXPECT_EQ(r.header("X-Webhook-Event"), "ping");
  EXPECT_EQ(r.delivery_id(), delivery_id);
  EXPECT_EQ(r.header("X-Webhook-Delivery"), delivery_id);
  EXPECT_EQ(r.body["webhook_id"], id);
  EXPECT_EQ(r.body["data"]["webhook_id"], id);
  EXPECT_EQ(signature_problems(r, secret), "");
  ASSERT_TRUE(w.wait_attempts(id, 1, 10s));
  auto log = w.attempts(id);
  EXPECT_EQ(log[0]["event"], "ping");
  EXPECT_EQ(log[0]["outcome"], "delivered");

  // An inactive webhook is not pinged.
  ASSERT_EQ(w.call("PUT", "/api/webhooks/" + id, {{"active", false}}).status, 200);
  EXPECT_EQ(w.call("POST", "/api/webhooks/" + id + "/ping").status, 409);
}

TEST(Webhooks, RedeliverSendsTheDeliveryAgainWithItsId) {
  HookWorld w;
  Receiver receiver;
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  const std::string id = hook["id"];
  auto campaign_id = w.create_campaign(unique_name("Again"));
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  ASSERT_TRUE(w.wait_attempts(id, 1, 10s));
  const auto first = receiver.received()[0];

  auto res = w.call("POST", "/api/webhooks/" + id + "/deliveries/" + first.delivery_id() + "/redeliver");
  ASSERT_EQ(res.status, 202) << res.describe();
  EXPECT_EQ(res.json()["data"]["delivery_id"], first.delivery_id());
  ASSERT_TRUE(receiver.wait_count(2, 15s));
  auto again = receiver.received()[1];
  EXPECT_EQ(again.delivery_id(), first.delivery_id());
  EXPECT_EQ(again.header("X-Webhook-Delivery"), first.delivery_id());
  EXPECT_EQ(again.event(), "campaign.created");
  EXPECT_EQ(again.body["data"]["campaign_id"], campaign_id);
  EXPECT_EQ(again.body["timestamp"], first.body["timestamp"]) << "the event's time, not the resend's";
  EXPECT_GT(again.body["retry_count"].get<int>(), first.body["retry_count"].get<int>());
  ASSERT_TRUE(w.wait_attempts(id, 2, 10s));
  auto log = w.attempts(id);
  EXPECT_EQ(log[0]["delivery_id"], first.delivery_id());
  EXPECT_EQ(log[0]["attempt"], 2);
  EXPECT_EQ(log[0]["outcome"], "delivered");
}

TEST(Webhooks, RedeliverIsRefusedWhilePendingOrInactive) {
  HookWorld w;
  Receiver receiver([](const Received&, const std::vector<Received>&) { return status(503); });
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  const std::string id = hook["id"];
  w.create_campaign(unique_name("Pending"));
  // After its first failure the delivery waits for its retries (ten attempts over seconds).
  ASSERT_TRUE(w.wait_attempts(id, 1, 15s));
  std::string delivery_id = w.attempts(id)[0]["delivery_id"];
  const std::string target = "/api/webhooks/" + id + "/deliveries/" + delivery_id + "/redeliver";
  auto pending = w.call("POST", target);
  EXPECT_EQ(pending.status, 409) << pending.describe();

  ASSERT_EQ(w.call("PUT", "/api/webhooks/" + id, {{"active", false}}).status, 200);
  auto inactive = w.call("POST", target);
  EXPECT_EQ(inactive.status, 409) << inactive.describe();
}

TEST(Webhooks, ADeletedWebhookIsGone) {
  HookWorld w;
  Receiver receiver;
  auto hook = w.hook(receiver.url(), {"campaign.created"}, plain_secret());
  const std::string id = hook["id"];
  auto listed = w.call("GET", "/api/webhooks").json()["data"];
  EXPECT_EQ(listed["total"], 1);
  EXPECT_EQ(listed["webhooks"][0]["id"], id);

  auto del = w.call("DELETE", "/api/webhooks/" + id);
  ASSERT_EQ(del.status, 200) << del.describe();
  EXPECT_EQ(w.call("GET", "/api/webhooks/" + id).status, 404);
  EXPECT_EQ(w.call("DELETE", "/api/webhooks/" + id).status, 404);
  EXPECT_EQ(w.call("GET", "/api/webhooks/" + id + "/deliveries").status, 404);
  EXPECT_EQ(w.call("GET", "/api/webhooks").json()["data"]["total"], 0);

  // It receives nothing any more (a second webhook's delivery bounds the wait).
  Receiver other;
  w.hook(other.url(), {"campaign.created"}, plain_secret());
  w.create_campaign(unique_name("AfterDelete"));
  ASSERT_TRUE(other.wait_count(1, 15s));
  ASSERT_TRUE(w.wait_quiet());
  EXPECT_EQ(receiver.received().size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 11. Events from other sources.

TEST(Webhooks, DeletingACampaignSendsCampaignDeleted) {
  HookWorld w;
  auto campaign_id = w.create_campaign(unique_name("Doomed"));
  Receiver receiver;
  w.hook(receiver.url(), {"campaign.deleted"}, plain_secret());
  auto del = w.call("DELETE", "/api/campaigns/" + campaign_id);
  ASSERT_EQ(del.status, 200) << del.describe();
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  auto r = receiver.received()[0];
  EXPECT_EQ(r.event(), "campaign.deleted");
  EXPECT_EQ(r.body["data"]["campaign_id"], campaign_id);
  EXPECT_EQ(r.body["data"]["action"], "delete");
  EXPECT_EQ(r.body["data"]["actor"], w.admin.username);
}

TEST(Webhooks, ProcessingACreativeSendsCreativeProcessed) {
  HookWorld w;
  Receiver receiver;
  w.hook(receiver.url(), {"creative.processed"}, plain_secret());
  auto creative_id = create_creative(*w.http, w.token, "runway", "runway_81298.html", dimensions("320x50"));
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  auto r = receiver.received()[0];
  EXPECT_EQ(r.event(), "creative.processed");
  EXPECT_EQ(r.body["data"]["creative_id"], creative_id);
  EXPECT_EQ(r.body["data"]["action"], "create");
}

TEST(Webhooks, GeneratingABulkSheetSendsBulkSheetGenerated) {
  HookWorld w;
  auto campaign_id = w.create_campaign(unique_name("Sheet"));
  Receiver receiver;
  w.hook(receiver.url(), {"bulk.sheet.generated"}, plain_secret());
  auto res = w.call("POST", "/api/bulk/generate-sheet", {{"campaign_ids", {campaign_id}}, {"format", "csv"}});
  ASSERT_EQ(res.status, 201) << res.describe();
  ASSERT_TRUE(receiver.wait_count(1, 15s));
  auto r = receiver.received()[0];
  EXPECT_EQ(r.event(), "bulk.sheet.generated");
  EXPECT_EQ(r.body["data"]["sheet_id"], res.json()["data"]["sheet_id"]);
  EXPECT_EQ(r.body["data"]["created_by"], w.admin.username);
}

// A job whose attempts are spent announces error.critical. The job is queued with SQL (one
// attempt, an upload that does not exist) and run by the server's job runner.
TEST(Webhooks, AJobFailingForGoodSendsErrorCritical) {
  HookWorld w;
  Receiver receiver;
  w.hook(receiver.url(), {"error.critical"}, plain_secret());
  const std::string job_id = "job_" + unique_name("j").substr(2);
  w.db.sql("INSERT INTO jobs (id, kind, payload, max_attempts, created_by) VALUES ('" + job_id +
           "', 'bulk_import', '{\"upload_id\": \"upl_000000000000\"}', 1, 'webhook-test')");
  ASSERT_TRUE(receiver.wait_count(1, 30s));
  auto r = receiver.received()[0];
  EXPECT_EQ(r.event(), "error.critical");
  EXPECT_EQ(r.body["data"]["source"], "job");
  EXPECT_EQ(r.body["data"]["job_id"], job_id);
  EXPECT_EQ(r.body["data"]["kind"], "bulk_import");
}

// ---------------------------------------------------------------------------------------------
// 12. A webhook failing for too long is switched off.

TEST(Webhooks, AWebhookFailingTooLongIsDeactivated) {
  HookWorld w(EnvOverrides{{"WEBHOOK_DEACTIVATE_AFTER_SECONDS", "1"}, {"WEBHOOK_MAX_ATTEMPTS", "10"}});
  Receiver failing([](const Received&, const std::vector<Received>&) { return status(500); });
  Receiver watcher;
  auto hook = w.hook(failing.url(), {"campaign.created"}, plain_secret());
  const std::string id = hook["id"];
  auto watch = w.hook(watcher.url(), {"error.critical"}, plain_secret());
  w.create_campaign(unique_name("Failing"));

  json doc;
  ASSERT_TRUE(wait_until(
      [&] {
        doc = w.get_hook(id);
        return doc["active"] == false;
      },
      30s, 50ms))
      << doc;
  ASSERT_TRUE(doc["deactivated_reason"].is_string()) << doc;
  EXPECT_NE(doc["deactivated_reason"].get<std::string>().find("HTTP 500"), std::string::npos) << doc;
  auto tries = failing.received();
  ASSERT_GE(tries.size(), 2u);
  EXPECT_GE(tries.back().at - tries.front().at, 1s) << "failing for more than a second before";
  EXPECT_TRUE(w.server->wait_for_log(
      [](const json& line) { return line.dump().find("error.critical") != std::string::npos; }, 10s));

  // The subscribers of error.critical are told which webhook was switched off.
  ASSERT_TRUE(watcher.wait_count(1, 15s));
  auto alert = watcher.received()[0];
  EXPECT_EQ(alert.event(), "error.critical");
  EXPECT_EQ(alert.body["data"]["source"], "webhook");
  EXPECT_EQ(alert.body["data"]["webhook_id"], id);
  EXPECT_EQ(w.get_hook(watch["id"])["active"], true);

  // Switched off, it receives nothing more.
  const size_t before = failing.received().size();
  w.create_campaign(unique_name("Ignored"));
  ASSERT_TRUE(w.wait_quiet());
  EXPECT_EQ(failing.received().size(), before);
}

}  // namespace
}  // namespace kargo::itest
