#pragma once
// `kargo-dsp sandbox`: local emulators of Login with Amazon, the Amazon DSP API (campaign
// management and reporting v3) and the Kargo API on one port, with test knobs under /_sandbox/
// (contract section 9; wire formats in docs/UPSTREAMS.md). It reuses http::Server with its own
// dispatcher: no Pipeline, no database, no Redis, no SECRET_KEY.
//
//   SandboxDispatcher dispatcher({.token_ttl = std::chrono::seconds(60)});
//   http::Server server({.host = "127.0.0.1", .port = 0}, dispatcher);
//   server.bind();
//   server.run();
//
// or simply `return run_sandbox({.port = 9100});` from main().

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kargo/http/server.hpp"

namespace kargo::sandbox {

struct SandboxOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9100;  // 0: any free port (logged)
  std::chrono::seconds token_ttl{3600};
  unsigned io_threads = 2;
};

class SandboxDispatcher final : public http::Dispatcher {
 public:
  explicit SandboxDispatcher(const SandboxOptions& options);
  ~SandboxDispatcher() override;
  SandboxDispatcher(const SandboxDispatcher&) = delete;
  SandboxDispatcher& operator=(const SandboxDispatcher&) = delete;

  size_t body_limit(const http::Request& header) const override;
  void handle(std::shared_ptr<http::Request> req, Post post, Done done,
              std::optional<Error> refused) override;

  // The port URLs point at when a request has no Host header (set once the server is bound).
  void set_port(uint16_t port);
  // Answers every delayed request now (at shutdown, so draining does not wait for fault delays).
  void flush_delays();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the sandbox until SIGTERM/SIGINT; returns the process exit code.
int run_sandbox(const SandboxOptions& options);

}  // namespace kargo::sandbox
