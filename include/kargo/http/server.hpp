#pragma once
// The HTTP/1.1 server (Boost.Beast): async accept on IO_THREADS threads, keep-alive, header-read
// and idle deadlines, body limits checked before the body is read, graceful shutdown on
// SIGTERM/SIGINT. Everything after parsing is the Dispatcher's job (the Pipeline, in the service).
//
//   http::Server server(opts, pipeline);
//   server.run();  // returns after a signal, once in-flight requests finished (or the grace passed)

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/core/error.hpp"
#include "kargo/http/message.hpp"

namespace kargo::http {

// What the server hands every request to: the service's Pipeline, or the sandbox's own
// dispatcher. Runs on the connection's strand.
class Dispatcher {
 public:
  using Post = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Response)>;
  virtual ~Dispatcher() = default;
  // Body limit for this request (method, path and headers are filled in), checked against
  // Content-Length before any body byte is read, and while a chunked body arrives.
  virtual size_t body_limit(const Request& header) const = 0;
  // Must call `done` exactly once, through `post`. `refused` is set for requests the server
  // will not read to the end (malformed HTTP, body or headers over the limit).
  virtual void handle(std::shared_ptr<Request> req, Post post, Done done, std::optional<Error> refused) = 0;
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;
  unsigned io_threads = 1;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds write_timeout{60};
  // On SIGTERM: `shutdown_delay` more of accepting (readiness already answers 503, so load
  // balancers stop sending), then the listener closes and in-flight requests get `shutdown_grace`.
  std::chrono::seconds shutdown_delay{0};
  std::chrono::seconds shutdown_grace{20};
  size_t header_limit = 16 * 1024;
};

class Server {
 public:
  Server(ServerOptions options, Dispatcher& dispatcher);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws std::runtime_error naming the address on failure.
  void bind();
  // Serves until SIGINT/SIGTERM or stop(); then drains in-flight requests. A second signal
  // during the shutdown delay closes the listener at once.
  void run();
  // Asks run() to begin a graceful shutdown (thread-safe).
  void stop();
  // Runs `fn` every `period` on an I/O thread until shutdown (cheap, non-blocking work only).
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  // Called once, on the I/O thread, when the signal arrives (before the shutdown delay), e.g.
  // to make readiness answer 503.
  void on_drain(std::function<void()> fn);
  // Called once when the listener closes (e.g. to stop background workers).
  void on_shutdown(std::function<void()> fn);
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::http
