#include "kargo/http/pipeline.hpp"

#include <atomic>
#include <charconv>
#include <system_error>
#include <random>

#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/error_stats.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"

namespace kargo::http {
namespace {

constexpr std::string_view kUnmatchedRoute = "unmatched";

bool is_api(std::string_view path) { return path == "/api" || path.starts_with("/api/"); }

uint64_t next_random() {
  // Request ids need to be unique, not secret: a per-thread generator seeded from the OS.
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

}  // namespace

std::string new_request_id() {
  uint64_t v = next_random();
  return "req_" + hex_encode(std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

struct Pipeline::State {
  std::shared_ptr<Request> req;
  Post post;
  Done done;
  const Route* route = nullptr;
  std::optional<RateDecision> rate;
  std::string auth_failure;  // why the token was refused, if one was sent
  bool token_present = false;
  RouteMatch match;
  std::optional<Error> refused;  // the server will not read this request to the end
  std::string idempotency_key;   // claimed for this request: its answer is recorded before it is sent
};

Pipeline::Pipeline(const Router& router, PipelineOptions options, Metrics& metrics, ErrorStats& errors,
                   BlockingPool& blocking, const TokenVerifier& tokens, RateLimiter& limiter,
                   IdempotencyStore* idempotency)
    : router_(router),
      options_(std::move(options)),
      metrics_(metrics),
      errors_(errors),
      blocking_(blocking),
      tokens_(tokens),
      limiter_(limiter),
      idempotency_(idempotency) {}

size_t Pipeline::body_limit(const Request& header) const {
  auto m = router_.match(header.method, header.path);
  return m.route && m.route->options.multipart_upload ? options_.max_upload_bytes : options_.max_body_bytes;
}

void Pipeline::handle(std::shared_ptr<Request> req, Post post, Done done, std::optional<Error> refused) {
  metrics_.http_in_flight(1);
  auto st = std::make_shared<State>();
  st->req = std::move(req);
  st->post = std::move(post);
  st->done = std::move(done);
  st->refused = std::move(refused);
  Request& r = *st->req;

  auto incoming = r.header("x-request-id");
  r.request_id = incoming && valid_request_id(*incoming) ? std::string(*incoming) : new_request_id();

  st->match = router_.match(r.method, r.path);
  r.route = st->match.path_template.empty() ? kUnmatchedRoute : st->match.path_template;
  r.deadline = request_deadline(r, st->match.route);

  if (auto auth = r.header("authorization"); auth && !st->refused) {
    st->token_present = true;
    std::string_view value = *auth;
    if (value.size() > 7 && ascii_lower(value.substr(0, 7)) == "bearer ") {
      std::string_view token = value.substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      r.principal = tokens_.verify(token, st->auth_failure);
    } else {
      st->auth_failure = "Authorization header must be 'Bearer <token>'";
    }
  }

  // Every /api/* request counts against the caller's bucket (known route or not, refused or
  // preflight), so every /api/* response carries the X-RateLimit-* headers.
  if (!is_api(r.path)) return dispatch(st);
  std::string key = r.principal ? "user:" + r.principal->subject : "addr:" + r.remote_address;
  limiter_.acquire(key, [this, st](RateDecision d) { st->post([this, st, d] { after_rate_limit(st, d); }); });
}

void Pipeline::dispatch(const std::shared_ptr<State>& st) {
  Request& r = *st->req;
  if (st->refused) return finish(st, error_response(r.request_id, *st->refused));
  // CORS preflight: answered before authentication, for any path.
  if (r.method == "OPTIONS" && r.header("access-control-request-method")) {
    Response res;
    res.status = 204;
    res.content_type.clear();
    if (origin_allowed(r)) {
      res.header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
      res.header("Access-Control-Allow-Headers",
                 "Authorization, Content-Type, X-Request-ID, Idempotency-Key, If-Match");
      res.header("Access-Control-Max-Age", "600");
    }
    return finish(st, std::move(res));
  }
  route(st);
}

void Pipeline::route(const std::shared_ptr<State>& st) {
  Request& r = *st->req;
  auto& m = st->match;
  if (m.kind == RouteMatch::Kind::kNotFound) {
    return finish(st, error_response(r.request_id, Error(codes::kNotFound, "no route for " + r.path)));
  }
  if (m.kind == RouteMatch::Kind::kMethodNotAllowed) {
    return finish(st, error_response(r.request_id, Error(codes::kMethodNotAllowed,
                                                         "method " + r.method + " is not allowed on " +
                                                             std::string(m.path_template))
                                                       .with_header("Allow", m.allow)));
  }
  st->route = m.route;
  r.path_params = std::move(m.params);
  run_handler(st);
}

void Pipeline::after_rate_limit(const std::shared_ptr<State>& st, const RateDecision& decision) {
  st->rate = decision;
  Request& r = *st->req;
  if (!decision.allowed) {
    metrics_.rate_limited();
    return finish(
        st, error_response(r.request_id,
                           Error(codes::kRateLimited, "rate limit exceeded; retry in " +
                                                          std::to_string(decision.retry_after_seconds) + " s")
                               .with_header("Retry-After", std::to_string(decision.retry_after_seconds))));
  }
  dispatch(st);
}

Response Pipeline::guarded(Request& req, const std::function<Response()>& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    if (e.http_status() >= 500) {
      log::error("request failed", {{"code", e.code().name}, {"error", e.what()}});
    }
    return error_response(req.request_id, e);
  } catch (const std::exception& e) {
    log::error("unhandled exception", {{"error", e.what()}, {"route", req.route}});
    return error_response(req.request_id, Error(codes::kInternal, "internal error", e.what()));
  }
}

Response Pipeline::call_handler(const Route& route, Request& req) {
  return guarded(req, [&] { return route.handler(req); });
}

Deadline Pipeline::request_deadline(const Request& req, const Route* route) const {
  auto timeout = route && route->options.timeout.count() > 0 ? route->options.timeout : options_.request_timeout;
  // A caller may be less patient than we are (never more): X-Request-Timeout-Ms.
  if (auto asked = req.header("x-request-timeout-ms")) {
    int64_t ms = 0;
    auto [ptr, ec] = std::from_chars(asked->data(), asked->data() + asked->size(), ms);
    if (ec == std::errc() && ptr == asked->data() + asked->size() && ms > 0 && ms < timeout.count()) {
      timeout = std::chrono::milliseconds(ms);
    }
  }
  return Deadline::at(req.received_at + timeout);
}

// The reply object of a kAsync handler: the first of respond/fail/blocking wins.
struct Pipeline::Reply final : AsyncReply {
  Reply(Pipeline& pipeline, std::shared_ptr<State> state) : p(pipeline), st(std::move(state)) {}
  bool claim() { return !used.exchange(true); }
  void respond(Response response) override {
    if (!claim()) return;
    p.answer(st, std::move(response));
  }
  void fail(const Error& error) override {
    if (used.load()) return;
    if (error.http_status() >= 500) {
      log::RequestScope scope(st->req->request_id);
      log::error("request failed", {{"code", error.code().name}, {"error", error.what()}});
    }
    respond(error_response(st->req->request_id, error));
  }
  void blocking(std::function<Response()> work) override {
    if (!claim()) return;
    p.on_pool(st, [pipeline = &p, st = st, work = std::move(work)] {
      pipeline->answer(st, pipeline->guarded(*st->req, work));
    });
  }
  Pipeline& p;
  std::shared_ptr<State> st;
  std::atomic<bool> used{false};
};

void Pipeline::run_async(const std::shared_ptr<State>& st) {
  auto reply = std::make_shared<Reply>(*this, st);
  Request& req = *st->req;
  log::RequestScope scope(req.request_id);
  try {
    st->route->async_handler(req, reply);
  } catch (const Error& e) {
    reply->fail(e);
  } catch (const std::exception& e) {
    log::error("unhandled exception", {{"error", e.what()}, {"route", req.route}});
    reply->fail(Error(codes::kInternal, "internal error", e.what()));
  }
}

void Pipeline::on_pool(const std::shared_ptr<State>& st, std::function<void()> work) {
  // Not run: the pool's queue is full, or the task waited past the request's deadline (or the
  // pool's queue timeout) without a free thread.
  auto busy = [this, st] {
    bool late = st->req->deadline.passed();
    st->post([this, st, late] {
      finish(st, error_response(st->req->request_id,
                                Error(codes::kServiceUnavailable,
                                      late ? "request deadline passed while waiting for the database"
                                           : "server is busy; retry shortly")
                                    .with_header("Retry-After", "1")));
    });
  };
  bool queued = blocking_.submit(
      [st, work = std::move(work)] {
        log::RequestScope scope(st->req->request_id);
        work();
      },
      busy, st->req->deadline);
  if (!queued) busy();
}

void Pipeline::answer(const std::shared_ptr<State>& st, Response response) {
  auto res = std::make_shared<Response>(std::move(response));
  auto send = [this, st, res] { st->post([this, st, res] { finish(st, std::move(*res)); }); };
  if (st->idempotency_key.empty() || (st->req->idempotency_recorded && res->status < 500)) return send();
  // Recorded (or forgotten, for a 5xx) before the client sees the answer, so a retry that follows
  // the answer finds it. On the pool: it is a database write.
  auto record = [this, st, res, send] {
    try {
      idempotency_->complete(st->req->principal->subject, st->idempotency_key, {res->status, res->body});
    } catch (const std::exception& e) {
      // The change is made; only the replay record is missing. A repeat would run again.
      log::error("idempotency record not stored", {{"error", e.what()}});
    }
    send();
  };
  // No thread for the record (a full pool): answer anyway; the claim stays "in progress" and a
  // retry after 60 s runs again. Never written on the monitor thread, which only posts.
  if (!blocking_.submit(record, send, {})) send();
}

void Pipeline::run_handler(const std::shared_ptr<State>& st) {
  Request& r = *st->req;
  const RouteOptions& opts = st->route->options;
  if (opts.authenticated) {
    if (!r.principal) {
      std::string why = st->token_present ? st->auth_failure : "missing bearer token";
      return finish(
          st, error_response(r.request_id, Error(codes::kAuthentication, "authentication failed: " + why)
                                               .with_header("WWW-Authenticate", "Bearer")));
    }
    if (static_cast<int>(r.principal->role) < static_cast<int>(opts.min_role)) {
      return finish(st, error_response(r.request_id,
                                       Error(codes::kAuthorization,
                                             "role '" + std::string(role_name(r.principal->role)) +
                                                 "' may not " + r.method + " " + std::string(r.route) +
                                                 "; needs '" + std::string(role_name(opts.min_role)) + "'")));
    }
  }
  if (auto bad = query_text_error(r)) return finish(st, error_response(r.request_id, *bad));

  auto key = r.header("idempotency-key");
  if (key && opts.idempotent_create && idempotency_ && r.principal) {
    if (key->empty() || key->size() > 128) {
      return finish(st, error_response(r.request_id,
                                       Error::validation({{"Idempotency-Key", "must be 1-128 characters"}})));
    }
    // The key is stored in PostgreSQL: the one text rule, like every other client text.
    if (auto problem = text_problem(*key)) {
      return finish(st, error_response(r.request_id, Error::validation({{"Idempotency-Key", *problem}})));
    }
    st->idempotency_key = std::string(*key);
    // Claim the key (a database write), then run the handler as its route says.
    return on_pool(st, [this, st] {
      Request& req = *st->req;
      try {
        if (auto stored = idempotency_->begin(req.principal->subject, st->idempotency_key, req.method,
                                              req.route, sha256_hex(req.body))) {
          st->idempotency_key.clear();  // a replay records nothing
          return answer(st, replay(req, *stored));
        }
      } catch (const Error& e) {
        st->idempotency_key.clear();
        return answer(st, error_response(req.request_id, e));
      }
      req.idempotency = IdempotencyClaim{req.principal->subject, st->idempotency_key};
      if (st->route->options.execution == Execution::kAsync) return run_async(st);
      answer(st, call_handler(*st->route, req));
    });
  }

  if (opts.execution == Execution::kInline) {
    log::RequestScope scope(r.request_id);
    return finish(st, call_handler(*st->route, r));
  }
  if (opts.execution == Execution::kAsync) return run_async(st);
  on_pool(st, [this, st] { answer(st, call_handler(*st->route, *st->req)); });
}

void Pipeline::finish(const std::shared_ptr<State>& st, Response response) {
  auto out = finalize(*st->req, std::move(response), st->rate);
  metrics_.http_in_flight(-1);
  auto done = std::move(st->done);
  done(std::move(out));
}

bool Pipeline::origin_allowed(const Request& req) const {
  auto origin = req.header("origin");
  if (!origin) return false;
  for (const auto& o : options_.cors_allowed_origins) {
    if (o == "*" || o == *origin) return true;
  }
  return false;
}

void Pipeline::add_cors(const Request& req, Response& res) const {
  if (!origin_allowed(req)) return;
  // The origin is echoed (also under "*") so that caches keep answers per origin.
  res.header("Access-Control-Allow-Origin", std::string(*req.header("origin")));
  res.header("Vary", "Origin");
  res.header("Access-Control-Expose-Headers",
             "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After");
}

Response Pipeline::finalize(Request& req, Response res, const std::optional<RateDecision>& rate) {
  std::string& head = res.head_lines;
  head.reserve(256);
  head += "X-Request-ID: ";
  head += req.request_id;  // generated, or a client's id that passed valid_request_id()
  head += "\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: ";
  head += res.framing == Response::Framing::kSameOrigin ? "SAMEORIGIN" : "DENY";
  head += "\r\nReferrer-Policy: no-referrer\r\n";
  if (is_api(req.path)) head += "Cache-Control: no-store\r\n";
  if (rate) {
    auto number = [&head](std::string_view name, auto value) {
      char buf[24];
      head += name;
      head.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
      head += "\r\n";
    };
    number("X-RateLimit-Limit: ", rate->limit);
    number("X-RateLimit-Remaining: ", rate->remaining);
    number("X-RateLimit-Reset: ", rate->reset_epoch);
  }
  add_cors(req, res);

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - req.received_at).count();
  metrics_.observe_http(req.method, req.route, res.status, seconds);
  if (!res.error_code.empty()) errors_.record(req.request_id, res.error_code, res.error_message, req.route);
  if (log::enabled(log::Level::kInfo)) {
    log::RequestScope scope(req.request_id);
    log::info("request", {{"method", req.method},
                          {"route", req.route},
                          {"status", res.status},
                          {"duration_ms", seconds * 1000.0},
                          {"client", req.remote_address}});
  }
  return res;
}

}  // namespace kargo::http
