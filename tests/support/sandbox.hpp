#pragma once
// `kargo-dsp sandbox` as the integration tests see it: the real binary on a free port (it picks
// one with --port 0 and logs it), started without DATABASE_URL, REDIS_URL or SECRET_KEY to prove
// it needs none of them, plus helpers for the headers every Amazon call carries.
//
//   SandboxProcess sandbox({"--token-ttl", "1"});
//   HttpClient http(sandbox.port());
//   auto token = sandbox_token(http);
//   auto res = http.post_json("/dsp/v1/campaigns/list", {}, amazon_headers(token));

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace kargo::itest {

class SandboxProcess {
 public:
  explicit SandboxProcess(std::vector<std::string> args = {}, EnvOverrides env = {});
  ~SandboxProcess();
  SandboxProcess(const SandboxProcess&) = delete;
  SandboxProcess& operator=(const SandboxProcess&) = delete;

  uint16_t port() const { return port_; }
  // SIGTERM, then the exit code; kills and throws past the deadline.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string stdout_text() const;
  std::vector<nlohmann::json> log_lines() const;

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> child_;
  uint16_t port_ = 0;
};

// The sandbox's Login with Amazon credentials.
inline constexpr const char* kSandboxClientId = "sandbox-client";
inline constexpr const char* kSandboxClientSecret = "sandbox-secret";
inline constexpr const char* kSandboxRefreshToken = "sandbox-refresh";
inline constexpr const char* kReportContentType = "application/vnd.createasyncreportrequest.v3+json";

// POST /auth/o2/token with these form fields (values are not encoded: tests pass plain ones).
HttpResponse request_token(const HttpClient& http, const std::string& refresh_token = kSandboxRefreshToken,
                           const std::string& client_id = kSandboxClientId,
                           const std::string& client_secret = kSandboxClientSecret);
// An access token for the sandbox credentials; throws unless the grant succeeds.
std::string sandbox_token(const HttpClient& http);
// Authorization, ClientId, Scope, AccountId and Content-Type: application/json.
Headers amazon_headers(const std::string& token, const std::string& account = "adv-1001");
// Sends `body` as JSON with `headers` (Amazon's PATCH/POST batch calls).
HttpResponse send_json(const HttpClient& http, std::string_view method, std::string_view target,
                       const nlohmann::json& body, const Headers& headers);
// --- the sandbox's test knobs (docs/UPSTREAMS.md section 12) ---
// POST /_sandbox/faults; throws unless the sandbox accepted the fault.
void add_fault(const HttpClient& http, const nlohmann::json& fault);
// GET /_sandbox/requests?path_prefix=...: the logged requests, oldest first.
std::vector<nlohmann::json> sandbox_requests(const HttpClient& http, const std::string& path_prefix = "/");
// Whether the sandbox has received a `method` request on any path under `path_prefix` (a fault's
// own matching rule: the first such request is the one a fault applies to).
bool received_under(const HttpClient& http, std::string_view method, const std::string& path_prefix);
// How many logged requests had exactly this method and path (query ignored).
size_t count_requests(const HttpClient& http, std::string_view method, std::string_view path);
// POST /_sandbox/tokens/expire: every issued access token stops working now.
void expire_tokens(const HttpClient& http);
// "http://127.0.0.1:<port>" of a sandbox.
std::string sandbox_url(uint16_t port, std::string_view path = "");

// Inflates a gzip stream (throws when it is not gzip); stops with an exception past `limit` bytes.
std::string gunzip(std::string_view data, size_t limit = 64u << 20);
// Counts the bytes a gzip stream inflates to, up to `limit` (for the gzip-bomb fault).
size_t gunzip_size(std::string_view data, size_t limit);

}  // namespace kargo::itest
