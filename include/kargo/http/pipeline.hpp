#pragma once
// The one middleware chain every request goes through, in this order:
//   request id -> route match (404/405) -> CORS (preflight 204) -> bearer token ->
//   rate limit (/api/*) -> authentication/role check -> handler (inline or on the blocking pool)
//   -> error mapping -> security/CORS/rate-limit headers -> metrics, error stats, access log.
// It has no Beast types: the server hands it a Request and a way to post back to the
// connection, and gets a Response.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kargo/core/error.hpp"
#include "kargo/http/message.hpp"
#include "kargo/http/router.hpp"
#include "kargo/http/server.hpp"

namespace kargo {
class BlockingPool;
class ErrorStats;
class Metrics;
}  // namespace kargo

namespace kargo::http {

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

// Remembers the answers to POST creates sent with an Idempotency-Key (contract section 2).
// Blocking: called on the blocking pool around the handler.
class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;
  // First use of (actor, key): nullopt, run the handler. A completed earlier request with the
  // same method, route and body: its stored response. Anything else throws Error 409.
  virtual std::optional<Response> begin(const std::string& actor, const std::string& key,
                                        std::string_view method, std::string_view route,
                                        const std::string& body_sha256) = 0;
  // Stores the handler's response (below 500) for replays, or forgets the key (500 and up) so
  // the request can be retried.
  virtual void complete(const std::string& actor, const std::string& key, const Response& response) = 0;
};

struct PipelineOptions {
  size_t max_body_bytes = 1u << 20;
  size_t max_upload_bytes = 20u << 20;
  std::vector<std::string> cors_allowed_origins;  // "*" allowed (development only)
};

class Pipeline final : public Dispatcher {
 public:
  Pipeline(const Router& router, PipelineOptions options, Metrics& metrics, ErrorStats& errors,
           BlockingPool& blocking, const TokenVerifier& tokens, RateLimiter& limiter,
           IdempotencyStore* idempotency = nullptr);

  // `done` is always called exactly once, through `post`. `refused` is set for requests the
  // server will not read to the end (malformed HTTP, 413): they get that error, with the usual
  // request id, rate-limit accounting, headers, metrics and log line.
  void handle(std::shared_ptr<Request> req, Post post, Done done,
              std::optional<Error> refused = std::nullopt);
  // MAX_UPLOAD_BYTES for routes that take multipart uploads, MAX_BODY_BYTES for all others
  // (whatever Content-Type the client claims).
  size_t body_limit(const Request& header) const override;

 private:
  struct State;
  struct Reply;
  void after_rate_limit(const std::shared_ptr<State>& st, const RateDecision& decision);
  void dispatch(const std::shared_ptr<State>& st);
  void route(const std::shared_ptr<State>& st);
  void run_handler(const std::shared_ptr<State>& st);
  Response call_handler(const Route& route, Request& req);
  // Runs `fn`, turning a thrown Error (or anything else) into the error response.
  Response guarded(Request& req, const std::function<Response()>& fn);
  void run_async(const std::shared_ptr<State>& st);
  // Runs `work` on the blocking pool and finishes the request with its answer (503 when the
  // pool is full or the task expires in the queue).
  void finish_on_pool(const std::shared_ptr<State>& st, std::function<Response()> work);
  void finish(const std::shared_ptr<State>& st, Response response);
  Response finalize(Request& req, Response response, const std::optional<RateDecision>& rate);
  void add_cors(const Request& req, Response& res) const;
  bool origin_allowed(const Request& req) const;

  const Router& router_;
  PipelineOptions options_;
  Metrics& metrics_;
  ErrorStats& errors_;
  BlockingPool& blocking_;
  const TokenVerifier& tokens_;
  RateLimiter& limiter_;
  IdempotencyStore* idempotency_;
};

// "req_" + 16 hex digits.
std::string new_request_id();
bool valid_request_id(std::string_view id);

}  // namespace kargo::http
