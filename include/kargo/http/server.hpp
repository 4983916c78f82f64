#pragma once
// The HTTP/1.1 server (Boost.Beast): async accept on IO_THREADS threads, keep-alive, header-read
// and idle deadlines, body limits checked before the body is read, graceful shutdown on
// SIGTERM/SIGINT. Everything after parsing is the Pipeline's job.
//
//   http::Server server(opts, pipeline);
//   server.run();  // returns after a signal, once in-flight requests finished (or 20 s passed)

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace kargo::http {

class Pipeline;

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;
  unsigned io_threads = 1;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds shutdown_grace{20};
  size_t header_limit = 16 * 1024;
};

class Server {
 public:
  Server(ServerOptions options, Pipeline& pipeline);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws std::runtime_error naming the address on failure.
  void bind();
  // Serves until SIGINT/SIGTERM or stop(); then drains in-flight requests.
  void run();
  // Asks run() to begin a graceful shutdown (thread-safe).
  void stop();
  // Runs `fn` every `period` on an I/O thread until shutdown (cheap, non-blocking work only).
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  // Called once when shutdown begins (e.g. to stop background workers).
  void on_shutdown(std::function<void()> fn);
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::http
