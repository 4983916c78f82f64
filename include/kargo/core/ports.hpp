#pragma once
// The interfaces the HTTP pipeline needs from lower layers, with no protocol types: the rate
// limiter (store/rate_limiter), the token verifier (auth/auth_service) and the Idempotency-Key
// records (store/idempotency) implement them; the pipeline (http/pipeline) calls them; the
// composition root hands one to the other. So store/ and auth/ include nothing of http/.
//
//   class RedisLimiter final : public RateLimiter { void acquire(...) override; };
//   http::Pipeline pipeline(router, options, metrics, errors, pool, auth, limiter, &idempotency);

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/core/principal.hpp"

namespace kargo {

struct RateDecision {
  bool allowed = true;
  uint64_t limit = 0;
  uint64_t remaining = 0;
  int64_t reset_epoch = 0;  // when the bucket is full again
  int64_t retry_after_seconds = 0;
};

// Decides whether `key` may make one more request. `done` may run on any thread, exactly once.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual void acquire(const std::string& key, std::function<void(RateDecision)> done) = 0;
};

// Checks a bearer token. On failure returns nullopt and says why in `reason`.
class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  virtual std::optional<Principal> verify(std::string_view token, std::string& reason) const = 0;
};

// The Idempotency-Key a POST create runs under, once claimed: a store records the answer in the
// transaction that makes the change (so a crash after the commit cannot make a retry create twice).
struct IdempotencyClaim {
  std::string actor;
  std::string key;
};

// An answer kept for replays: the status and the body as sent.
struct StoredAnswer {
  int status = 0;
  std::string body;
};

// Turns a created resource (JSON text) into the answer stored for replays, inside the creating
// transaction.
using RenderAnswer = std::function<StoredAnswer(const std::string& resource_json)>;

// Remembers the answers to POST creates sent with an Idempotency-Key (contract section 2).
// Blocking: called on the database pool around the handler.
class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;
  // First use of (actor, key): nullopt, run the handler. A completed earlier request with the
  // same method, route and body: its stored answer. Anything else throws Error 409.
  virtual std::optional<StoredAnswer> begin(const std::string& actor, const std::string& key,
                                            std::string_view method, std::string_view route,
                                            const std::string& body_sha256) = 0;
  // Stores the answer (below 500) for replays, or forgets the key (500 and up) so the request can
  // be retried.
  virtual void complete(const std::string& actor, const std::string& key, const StoredAnswer& answer) = 0;
};

}  // namespace kargo
