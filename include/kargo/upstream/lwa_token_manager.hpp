#pragma once
// Login with Amazon access tokens for the Amazon DSP client (contract section 9,
// docs/UPSTREAMS.md section 2): the refresh-token grant, sent form-encoded through its own
// UpstreamChannel ("amazon_lwa"), the token cached and renewed a little before it expires, and ONE
// refresh in flight however many callers need a token at that moment: blocking waiters and async
// callbacks all get the result of the same request.
//
// Credentials that LWA refuses (invalid_grant, invalid_client, unauthorized_client) are a
// configuration problem, not an outage: callers get 503 EXTERNAL_API_ERROR "Amazon credentials
// rejected: ...", the refusal is logged once (not once per caller), and LWA is asked again at most
// once per `rejection_backoff`, so a wrong refresh token never turns into a retry storm.
// Tokens and secrets are never logged.
//
//   LwaTokenManager tokens(lwa_channel, LwaCredentials::from_config(config));
//   std::string bearer = std::get<AccessToken>(tokens.token_sync()).value;  // job / blocking threads
//   tokens.token([](TokenResult r) { ... });            // from anywhere; see token() for the thread
//   // The API answered 401 to `bearer`: drop it, so the next token() refreshes (once, even when
//   // fifty calls saw the same 401).
//   tokens.invalidate(bearer);

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "kargo/core/error.hpp"

namespace kargo {
struct Config;
}

namespace kargo::upstream {

class UpstreamChannel;

struct LwaCredentials {
  std::string token_url;  // AMAZON_LWA_TOKEN_URL
  std::string client_id, client_secret, refresh_token;
  bool configured = false;  // all four Amazon credentials set (Config::amazon_configured())

  static LwaCredentials from_config(const Config& config);
};

struct LwaOptions {
  // Renew this long before the token runs out, or at half its lifetime for short-lived tokens
  // (the sandbox's --token-ttl 1). A renewal that fails before the old token expired is not an
  // error: callers keep getting the old token until it really expires.
  std::chrono::milliseconds renew_margin{60000};
  // After LWA refused the credentials, answer that refusal without asking again for this long.
  std::chrono::milliseconds rejection_backoff{60000};
};

struct AccessToken {
  std::string value;
  std::chrono::system_clock::time_point expires_at;
};

// A token, or the kargo::Error why there is none (EXTERNAL_API_ERROR 502/503).
using TokenResult = std::variant<AccessToken, Error>;

class LwaTokenManager {
 public:
  using Callback = std::function<void(TokenResult)>;

  // `channel` must outlive the manager; a refresh in flight keeps the manager's state alive.
  LwaTokenManager(UpstreamChannel& channel, LwaCredentials credentials, LwaOptions options = {});
  ~LwaTokenManager();
  LwaTokenManager(const LwaTokenManager&) = delete;
  LwaTokenManager& operator=(const LwaTokenManager&) = delete;

  // A valid token. With a cached one (or a refusal still in its back-off, or no credentials)
  // `done` runs at once on the calling thread; otherwise it runs on an upstream client thread when
  // the one shared refresh ends (keep it short, never block in it).
  void token(Callback done);
  // Blocking form for job workers and BlockingPool threads. On an upstream client thread it
  // answers an internal error instead of deadlocking when a refresh is needed.
  TokenResult token_sync();
  // The API refused `token` (401): forget it if it is still the cached one, so the next caller
  // refreshes. A token already replaced by a newer one is left alone.
  void invalidate(const std::string& token);

  bool configured() const;
  // Expiry of the cached token (for the integration status route); nullopt when there is none.
  std::optional<std::chrono::system_clock::time_point> token_expires_at() const;
  // The refusal of the credentials, while it is the last word from LWA.
  std::optional<Error> rejection() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// 503 EXTERNAL_API_ERROR "Amazon DSP is not configured" (the four AMAZON_* credentials).
Error amazon_not_configured();

}  // namespace kargo::upstream
