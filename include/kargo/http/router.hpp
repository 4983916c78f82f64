#pragma once
// Routes requests by method and path template.
//
//   router.add("GET", "/api/campaigns/{id}", {.min_role = Role::kViewer}, handler);
//   auto m = router.match("GET", "/api/campaigns/camp_1");  // m.route->path == "/api/campaigns/{id}"
//
// A literal segment wins over a `{param}` segment, so "/api/creatives/process" and
// "/api/creatives/{id}" can coexist. The template string (never the raw path) is what metrics
// and logs label requests with.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/core/error.hpp"
#include "kargo/http/message.hpp"

namespace kargo::http {

using Handler = std::function<Response(Request&)>;

// How an asynchronous handler answers. It may call exactly one of these, from any thread.
class AsyncReply {
 public:
  virtual ~AsyncReply() = default;
  virtual void respond(Response response) = 0;
  // Answers with the error envelope of `error`, as if a handler had thrown it.
  virtual void fail(const Error& error) = 0;
  // Finishes the request on the blocking pool: `work` runs there like a kBlocking handler
  // (thrown errors become error responses; a full pool answers 503).
  virtual void blocking(std::function<Response()> work) = 0;
};
// Starts non-blocking work (an async Redis command, say) and answers later through the reply.
// Throwing before using the reply is the same as reply->fail().
using AsyncHandler = std::function<void(Request&, std::shared_ptr<AsyncReply>)>;

enum class Execution {
  kInline,    // cheap, never blocks: runs on the I/O thread
  kBlocking,  // touches PostgreSQL/Redis/disk or burns CPU: runs on the blocking pool
  kAsync,     // starts non-blocking work on the I/O thread and answers later (Router::add_async)
};

struct RouteOptions {
  bool authenticated = true;      // needs a valid bearer token
  Role min_role = Role::kViewer;  // when authenticated
  Execution execution = Execution::kBlocking;
  bool idempotent_create = false;  // POST create: honours Idempotency-Key
  bool multipart_upload = false;   // body limit MAX_UPLOAD_BYTES instead of MAX_BODY_BYTES
  // The request's deadline, counted from its arrival; 0: REQUEST_TIMEOUT_MS. Routes that apply a
  // whole bulk sheet in one request need longer than an interactive read.
  std::chrono::milliseconds timeout{0};
};

struct Route {
  std::string method;
  std::string path;  // template
  RouteOptions options;
  Handler handler;                    // kInline and kBlocking routes
  AsyncHandler async_handler;         // kAsync routes
  std::vector<std::string> segments;  // split template
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
  const Route* route = nullptr;
  std::vector<std::pair<std::string_view, std::string>> params;
  std::string allow;               // for 405: "GET, POST"
  std::string_view path_template;  // best template for the path, even on 405
};

class Router {
 public:
  void add(std::string method, std::string path_template, RouteOptions options, Handler handler);
  // A kAsync route (options.execution is set to kAsync).
  void add_async(std::string method, std::string path_template, RouteOptions options, AsyncHandler handler);
  RouteMatch match(std::string_view method, std::string_view path) const;
  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace kargo::http
