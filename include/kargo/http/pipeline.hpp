#pragma once
// The one middleware chain every request goes through, in this order:
//   request id -> route match (404/405) -> CORS (preflight 204) -> bearer token ->
//   rate limit (/api/*) -> authentication/role check -> handler (inline or on the blocking pool)
//   -> error mapping -> security/CORS/rate-limit headers -> metrics, error stats, access log.
// It has no Beast types: the server hands it a Request and a way to post back to the
// connection, and gets a Response.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kargo/core/error.hpp"
#include "kargo/core/ports.hpp"
#include "kargo/http/message.hpp"
#include "kargo/http/router.hpp"
#include "kargo/http/server.hpp"

namespace kargo {
class BlockingPool;
class ErrorStats;
class Metrics;
}  // namespace kargo

namespace kargo::http {

// The pipeline's ports (core/ports.hpp): implemented by store/ and auth/, handed in by the
// composition root.
using kargo::IdempotencyStore;
using kargo::RateDecision;
using kargo::RateLimiter;
using kargo::TokenVerifier;

struct PipelineOptions {
  size_t max_body_bytes = 1u << 20;
  size_t max_upload_bytes = 20u << 20;
  std::vector<std::string> cors_allowed_origins;  // "*" allowed (development only)
  // A request's deadline (REQUEST_TIMEOUT_MS) unless its route sets its own; a client may ask for
  // less with X-Request-Timeout-Ms.
  std::chrono::milliseconds request_timeout{30000};
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
  // Runs `work` on the database pool under the request's deadline; answers 503 when the pool is
  // full or the task is still queued at the deadline.
  void on_pool(const std::shared_ptr<State>& st, std::function<void()> work);
  // The handler's answer, from any thread: recorded for Idempotency-Key replays when the request
  // claimed a key, then finished on the connection's thread.
  void answer(const std::shared_ptr<State>& st, Response response);
  Deadline request_deadline(const Request& req, const Route* route) const;
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
