// The sandbox's dispatcher: request log and faults first, then the route, all in memory under
// one mutex; fault delays wait on a timer thread, never on an I/O thread.
#include "kargo/sandbox/sandbox.hpp"

#include <zlib.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"
#include "kargo/http/router.hpp"
#include "kargo/sandbox/routes.hpp"
#include "kargo/sandbox/state.hpp"

namespace kargo::sandbox {
namespace {

constexpr size_t kBodyLimit = 8u << 20;
constexpr size_t kBombInflatedBytes = 128u << 20;

// Runs callbacks at their deadlines on one thread of its own (fault delays). The callbacks only
// post work back to a connection, so they are quick.
class DelayQueue {
 public:
  DelayQueue() : thread_([this] { loop(); }) {}
  ~DelayQueue() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void schedule(Clock::time_point at, std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      pending_.emplace(at, std::move(fn));
    }
    cv_.notify_all();
  }

  // Runs everything still waiting, now.
  void flush() {
    {
      std::lock_guard lock(mutex_);
      flush_ = true;
    }
    cv_.notify_all();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (pending_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto next = pending_.begin();
      if (!flush_ && next->first > Clock::now()) {
        cv_.wait_until(lock, next->first);
        continue;
      }
      auto fn = std::move(next->second);
      pending_.erase(next);
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::function<void()>> pending_;
  bool stop_ = false;
  bool flush_ = false;
  std::thread thread_;
};

// A gzip stream that inflates to 128 MiB of zeros (about 128 KiB on the wire), built once.
const std::string& gzip_bomb() {
  static const std::string kBomb = [] {
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
    std::string zeros(1u << 20, '\0'), out, chunk(1u << 16, '\0');
    for (size_t fed = 0; fed < kBombInflatedBytes; fed += zeros.size()) {
      zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
      zs.avail_in = static_cast<uInt>(zeros.size());
      int flush = fed + zeros.size() >= kBombInflatedBytes ? Z_FINISH : Z_NO_FLUSH;
      do {
        zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
        zs.avail_out = static_cast<uInt>(chunk.size());
        deflate(&zs, flush);
        out.append(chunk.data(), chunk.size() - zs.avail_out);
      } while (zs.avail_out == 0);
    }
    deflateEnd(&zs);
    return out;
  }();
  return kBomb;
}

std::string new_request_id() { return "sbx-" + random_hex(16); }

bool is_knob(std::string_view path) {
  // Report downloads live under /_sandbox/ (no auth) but are upstream traffic: logged, faultable.
  return path.rfind("/_sandbox/", 0) == 0 && path.rfind("/_sandbox/downloads/", 0) != 0;
}

http::Response fault_response(const Fault& f, const http::Request& req) {
  http::Response res;
  res.status = f.status == 0 ? 200 : f.status;
  if (f.gzip_bomb) {
    res.content_type = "application/json";
    res.body = gzip_bomb();
    res.header("Content-Encoding", "gzip");
  } else {
    res.content_type = f.body_content_type;
    res.body = f.body ? *f.body
                      : nlohmann::json{{"code", "SANDBOX_FAULT"},
                                       {"details", "injected fault"},
                                       {"requestId", req.request_id}}
                            .dump();
  }
  if (f.truncate) res.declared_length = res.body.size() + 1024;
  if (f.retry_after) res.header("Retry-After", *f.retry_after);
  return res;
}

}  // namespace

struct SandboxDispatcher::Impl {
  explicit Impl(const SandboxOptions& options) : state(Settings{options.token_ttl, options.port}) {
    register_lwa_routes(router, state);
    register_amazon_routes(router, state);
    register_report_routes(router, state);
    register_kargo_routes(router, state);
    register_knob_routes(router, state);
    register_webhook_sink_routes(router, state);
  }

  // Runs the matched route (or answers 404/405) with the state locked; `fault` is the fault the
  // request matched that lets it through (State::route_fault), or null.
  http::Response route(http::Request& req, const Fault* fault) {
    auto match = router.match(req.method, req.path);
    if (match.kind == http::RouteMatch::Kind::kNotFound) {
      return json_response(404, {{"code", "NOT_FOUND"},
                                 {"details", "no route for " + req.method + " " + req.path},
                                 {"requestId", req.request_id}});
    }
    if (match.kind == http::RouteMatch::Kind::kMethodNotAllowed) {
      auto res = json_response(405, {{"code", "METHOD_NOT_ALLOWED"},
                                     {"details", req.method + " is not allowed here"},
                                     {"requestId", req.request_id}});
      res.header("Allow", match.allow);
      return res;
    }
    req.route = match.route->path;
    req.path_params = std::move(match.params);
    std::lock_guard lock(state.mutex);
    state.route_fault = fault;
    http::Response res;
    try {
      res = match.route->handler(req);
    } catch (const std::exception& e) {
      log::error("sandbox handler failed", {{"path", req.path}, {"error", e.what()}});
      res = json_response(500,
                          {{"code", "INTERNAL_ERROR"}, {"details", e.what()}, {"requestId", req.request_id}});
    }
    state.route_fault = nullptr;
    return res;
  }

  State state;
  http::Router router;
  DelayQueue delays;
};

SandboxDispatcher::SandboxDispatcher(const SandboxOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
SandboxDispatcher::~SandboxDispatcher() = default;

size_t SandboxDispatcher::body_limit(const http::Request&) const { return kBodyLimit; }

void SandboxDispatcher::set_port(uint16_t port) {
  std::lock_guard lock(impl_->state.mutex);
  impl_->state.settings.port = port;
}

void SandboxDispatcher::flush_delays() { impl_->delays.flush(); }

void SandboxDispatcher::handle(std::shared_ptr<http::Request> req, Post post, Done done,
                               std::optional<Error> refused) {
  req->request_id = new_request_id();
  req->received_at = std::chrono::steady_clock::now();
  Impl* impl = impl_.get();

  if (refused) {
    auto res = json_response(
        refused->http_status(),
        {{"code", "BAD_REQUEST"}, {"details", refused->external_message()}, {"requestId", req->request_id}});
    return post([done = std::move(done), res = std::move(res)]() mutable { done(std::move(res)); });
  }

  const bool knob = is_knob(req->path);
  int64_t seq = 0;
  std::optional<Fault> fault;
  if (!knob) {
    std::lock_guard lock(impl->state.mutex);
    seq = impl->state.requests.append(*req, format_timestamp_millis(std::chrono::system_clock::now()));
    fault = impl->state.faults.take(req->method, req->path);
  }

  auto answer = [impl, req, done, knob, seq, fault]() {
    http::Response res = !fault                   ? impl->route(*req, nullptr)
                         : fault->reaches_route() ? impl->route(*req, &*fault)
                                                  : fault_response(*fault, *req);
    res.header("x-amzn-RequestId", req->request_id);
    if (!knob) {
      std::lock_guard lock(impl->state.mutex);
      impl->state.requests.set_status(seq, res.status);
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - req->received_at);
    log::info("request", {{"method", req->method},
                          {"path", req->path},
                          {"status", res.status},
                          {"duration_ms", ms.count()},
                          {"fault", fault.has_value()}});
    done(std::move(res));
  };
  if (fault && fault->delay.count() > 0) {
    impl->delays.schedule(Clock::now() + fault->delay,
                          [post = std::move(post), answer = std::move(answer)]() { post(answer); });
  } else {
    post(std::move(answer));
  }
}

int run_sandbox(const SandboxOptions& options) {
  SandboxDispatcher dispatcher(options);
  http::ServerOptions server_options;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.io_threads = std::max(1u, options.io_threads);
  server_options.shutdown_grace = std::chrono::seconds(5);
  http::Server server(server_options, dispatcher);
  try {
    server.bind();
  } catch (const std::exception& e) {
    log::critical("cannot start", {{"error", e.what()}});
    return 1;
  }
  dispatcher.set_port(server.port());
  server.on_shutdown([&dispatcher] { dispatcher.flush_delays(); });
  log::info("sandbox listening", {{"host", options.host},
                                  {"port", server.port()},
                                  {"io_threads", server_options.io_threads},
                                  {"token_ttl_seconds", static_cast<long>(options.token_ttl.count())}});
  server.run();
  log::info("stopped");
  return 0;
}

}  // namespace kargo::sandbox
