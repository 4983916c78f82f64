#pragma once
// Everything `kargo-dsp sandbox` remembers, in memory: Login-with-Amazon tokens, the Amazon DSP
// objects and reports per advertiser account, Kargo campaigns, injected faults and the log of
// received requests. One mutex guards it all; handlers are short and never wait on I/O while
// they hold it (the sandbox's dispatcher takes the lock around each handler).
//
//   State state({.token_ttl = std::chrono::seconds(3600)});
//   std::lock_guard lock(state.mutex);
//   auto token = state.tokens.issue("sandbox-client", Clock::now(), state.settings.token_ttl);

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kargo/http/message.hpp"
#include "kargo/sandbox/faults.hpp"
#include "kargo/sandbox/report_rows.hpp"

namespace kargo::sandbox {

using Clock = std::chrono::steady_clock;

// The only credentials Login with Amazon accepts in the sandbox.
inline constexpr std::string_view kClientId = "sandbox-client";
inline constexpr std::string_view kClientSecret = "sandbox-secret";
inline constexpr std::string_view kRefreshToken = "sandbox-refresh";

struct Settings {
  std::chrono::seconds token_ttl{3600};
  uint16_t port = 0;  // the bound port, for URLs when a request has no Host header
};

// Access tokens issued by POST /auth/o2/token: random, and really expiring.
class TokenStore {
 public:
  enum class Check { kValid, kUnknown, kExpired };
  std::string issue(std::string client_id, Clock::time_point now, std::chrono::seconds ttl);
  // kValid also reports the client the token was issued to.
  Check check(std::string_view token, Clock::time_point now, std::string* client_id = nullptr) const;
  void expire_all(Clock::time_point now);
  void clear() { tokens_.clear(); }

 private:
  struct Token {
    std::string client_id;
    Clock::time_point expires_at;
  };
  std::map<std::string, Token, std::less<>> tokens_;
};

// A campaign, ad group or creative as stored: the advertiser account it belongs to and its JSON
// as the list calls return it.
struct StoredObject {
  std::string account;
  nlohmann::json body;
  int moderation_polls = 0;  // creatives only
};

struct Report {
  std::string account;
  std::string fingerprint;  // account + canonical request, for 425 duplicates
  nlohmann::json resource;  // what GET /reporting/reports/{id} answers (minus status fields)
  ReportSpec spec;
  int polls = 0;
  std::string file;            // gzip JSON rows, built when the report completes
  std::string failure_reason;  // set: the report ends FAILED with this reason instead
};

// Created objects get ids from a random starting point per sandbox start (and reset), so that a
// service database that outlives a sandbox run (./scripts/run.sh restarts, test suites sharing one
// PostgreSQL) never sees the same Amazon or Kargo id twice: its id columns are UNIQUE.
uint64_t random_id_offset(uint64_t range);
// Amazon ids stay 18 digits: base (581/582/583 * 10^15) + an offset below this + a counter.
inline constexpr uint64_t kAmazonIdSpread = 100000000000000ull;  // 10^14
// Kargo ids of created campaigns: 8 digits from here on, after the seeds 10001-10003 (so that they
// also sort after the seeds as strings).
inline constexpr uint64_t kKargoIdBase = 20000000ull;
inline constexpr uint64_t kKargoIdSpread = 70000000ull;

struct AmazonState {
  // Ordered maps keyed by fixed-width numeric ids: iteration order is creation order.
  std::map<std::string, StoredObject> campaigns, ad_groups, creatives;
  std::map<std::pair<std::string, std::string>, nlohmann::json> associations;  // (creative, ad group)
  std::map<std::string, Report> reports;
  std::map<std::string, std::string> report_by_fingerprint;
  uint64_t next_campaign = 1 + random_id_offset(kAmazonIdSpread);
  uint64_t next_ad_group = 1 + random_id_offset(kAmazonIdSpread);
  uint64_t next_creative = 1 + random_id_offset(kAmazonIdSpread);
};

struct KargoState {
  std::map<std::string, nlohmann::json> campaigns;  // id -> {id, name, status, ...}
  uint64_t next_id = 10001;
  void seed();  // the campaigns every fresh sandbox starts with
};

// What the sandbox received (GET /_sandbox/requests), newest last, bounded.
class RequestLog {
 public:
  static constexpr size_t kMaxEntries = 10000;
  static constexpr size_t kMaxBody = 4096;
  // Records the request and returns its sequence number.
  int64_t append(const http::Request& req, std::string at);
  void set_status(int64_t seq, int status);
  nlohmann::json to_json(std::string_view path_prefix, int64_t since) const;
  void clear() { entries_.clear(); }  // seq keeps counting

 private:
  struct Entry {
    int64_t seq;
    int status = 0;
    std::string path;
    nlohmann::json json;
  };
  std::deque<Entry> entries_;
  int64_t next_seq_ = 1;
};

// What a webhook receiver of the sandbox got (src/sandbox/webhook_sink_routes.cpp).
struct WebhookSink {
  uint64_t count = 0;
  std::vector<double> latencies_ms;  // commit of the event -> received, per 2xx answer
  std::chrono::system_clock::time_point first_at, last_at;
  std::deque<nlohmann::json> recent;  // the latest deliveries
};

struct State {
  explicit State(Settings s);

  std::mutex mutex;
  Settings settings;
  std::string signing_key;  // signs report download URLs; random per process
  TokenStore tokens;
  AmazonState amazon;
  KargoState kargo;
  FaultList faults;
  // The fault the request being handled matched when it lets the request reach its route (a
  // delay, fail_report): set by the dispatcher for the duration of the handler, so that a route
  // can apply what changes its own behaviour.
  const Fault* route_fault = nullptr;
  RequestLog requests;
  std::map<std::string, WebhookSink> webhook_sinks;

  // POST /_sandbox/reset: back to a fresh start (the request log's seq keeps counting).
  void reset();
};

// "Bearer abcdef1234" -> "Bearer …1234": enough to tell tokens apart in a log, useless to a thief.
std::string redact_authorization(std::string_view value);
// 16 random hex characters (request ids, tokens, report ids).
std::string random_hex(size_t chars);

}  // namespace kargo::sandbox
