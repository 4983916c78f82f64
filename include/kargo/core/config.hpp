#pragma once
// Service configuration: the one config loader (contract section 1).
//
// Values come from the process environment, then from settings files for variables the
// environment does not set: by default `.env` and then `.local/run.env` (the settings
// ./scripts/run.sh generates) in the working directory, or the files given with `--env-file`.
// A missing or malformed value raises ConfigError naming the variable; main() prints it as one
// line (saying where it looked when the variable is set nowhere) and exits 2.
//
//   auto cfg = kargo::load_config(kargo::process_environment(kargo::kDefaultSettingsFiles));

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kargo {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string variable, const std::string& message)
      : std::runtime_error(variable + ": " + message), variable_(std::move(variable)) {}
  const std::string& variable() const noexcept { return variable_; }

 private:
  std::string variable_;
};

struct Config {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;
  uint16_t worker_port = 8001;
  unsigned io_threads = 0;  // 0 = number of cores

  std::string database_url = "postgresql://kargo:kargo@127.0.0.1:5433/kargo_dsp";
  unsigned database_pool_size = 10;
  unsigned database_acquire_timeout_ms = 5000;     // wait for a pooled connection, then 503
  unsigned database_statement_timeout_ms = 10000;  // a transaction's deadline, then 503
  std::string redis_url = "redis://127.0.0.1:6380/0";

  std::string secret_key;  // HS256 key, >= 32 bytes
  bool secret_key_generated = false;
  unsigned jwt_expire_minutes = 60;
  std::optional<std::string> admin_username;
  std::optional<std::string> admin_password;

  unsigned rate_limit_per_minute = 60;
  unsigned rate_limit_burst = 10;
  std::size_t max_body_bytes = 1u << 20;
  std::size_t max_upload_bytes = 20u << 20;
  std::vector<std::string> cors_allowed_origins;
  unsigned request_timeout_ms = 30000;  // a request's deadline (bulk sheet routes have longer ones)

  std::string amazon_dsp_base_url = "https://advertising-api.amazon.com";
  std::string amazon_lwa_token_url = "https://api.amazon.com/auth/o2/token";
  std::optional<std::string> amazon_client_id, amazon_client_secret, amazon_refresh_token, amazon_profile_id;
  std::string kargo_api_base_url = "https://api.kargo.com";
  std::optional<std::string> kargo_api_key;
  std::vector<std::string> kargo_snippet_hosts{"snippet.kargo.com"};
  unsigned upstream_timeout_ms = 10000;
  unsigned upstream_max_retries = 4;
  unsigned upstream_max_concurrency = 64;  // calls in flight per upstream; more wait in line
  std::optional<std::string> upstream_ca_file;  // PEM CA bundle for outbound TLS; none = system store
  unsigned sync_interval_seconds = 300;
  unsigned sync_max_attempts = 3;            // amazon_sync attempts before campaigns show `error`
  unsigned sync_retry_backoff_seconds = 30;  // first retry delay of amazon_sync, doubled per attempt
  unsigned report_interval_seconds = 3600;    // the periodic report pull; 0 disables
  unsigned report_max_attempts = 5;           // report_refresh attempts before the job fails
  unsigned report_retry_backoff_seconds = 30; // first retry delay of report_refresh, doubled
  unsigned report_poll_initial_ms = 2000;     // first wait before polling a report again, doubled
  unsigned report_poll_max_ms = 30000;        // longest wait between two polls
  unsigned report_timeout_seconds = 900;      // a report not COMPLETED by then fails the attempt
  unsigned campaign_end_check_seconds = 60;  // how often ended campaigns become completed
  unsigned job_concurrency = 2;              // job worker threads per process
  unsigned job_lease_seconds = 30;           // a dead worker's job is taken over after this
  bool webhook_allow_private = false;          // loopback and private webhook targets allowed
  unsigned webhook_timeout_seconds = 10;        // one delivery attempt
  unsigned webhook_retry_base_ms = 5000;        // retry waits: base x 1, 6, 24, 120 ... 5760
  unsigned webhook_max_attempts = 10;           // attempts of one delivery before it fails
  unsigned webhook_deactivate_after_seconds = 259200;  // failing this long switches a webhook off
  unsigned webhook_concurrency = 8;             // webhooks sent to at once per process; 0: none
  unsigned webhook_poll_ms = 50;                // how often the outbox is read
  unsigned retention_interval_seconds = 3600;  // the retention tick; 0 disables
  unsigned retention_batch_size = 1000;        // rows per delete statement
  unsigned retention_files_days = 30;          // generated files, after they expired
  unsigned retention_jobs_days = 30;           // finished jobs
  unsigned retention_uploads_days = 7;         // stored bulk uploads no job still needs
  unsigned retention_ticks_days = 7;           // periodic_ticks rows
  unsigned retention_webhooks_days = 30;       // finished webhook deliveries and their attempts
  unsigned shutdown_delay_seconds = 0;   // on SIGTERM: readiness 503, still accepting, this long
  unsigned shutdown_grace_seconds = 20;  // then in-flight requests get this long to finish
  std::string log_level = "info";
  std::string environment = "production";
  std::optional<std::string> amazon_macros_file;
  unsigned sandbox_token_ttl_seconds = 3600;

  bool development() const { return environment == "development"; }
  bool amazon_configured() const {
    return amazon_client_id && amazon_client_secret && amazon_refresh_token && amazon_profile_id;
  }
  // Summary without secrets, for /health/status.
  std::map<std::string, std::string> public_summary() const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The settings files read when no --env-file is given, in order.
inline const std::vector<std::string> kDefaultSettingsFiles = {".env", ".local/run.env"};
// Environment first, then each file in order (a missing one is skipped): the first that sets a
// variable wins.
EnvLookup process_environment(const std::vector<std::string>& files);
EnvLookup process_environment(const std::string& dotenv_path = ".env");
// Parses `.env` text: KEY=VALUE lines, `#` comments, optional `export `, single/double quotes.
std::map<std::string, std::string> parse_dotenv(const std::string& text);

Config load_config(const EnvLookup& env);

// The few settings `kargo-dsp sandbox` reads. The sandbox needs no database, Redis or
// SECRET_KEY, so it does not run the full loader (which would demand SECRET_KEY).
struct SandboxConfig {
  std::string log_level = "info";
  unsigned token_ttl_seconds = 3600;  // SANDBOX_TOKEN_TTL_SECONDS
};
SandboxConfig load_sandbox_config(const EnvLookup& env);

}  // namespace kargo
