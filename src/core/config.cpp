#include "kargo/core/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "kargo/core/digest.hpp"
#include "kargo/core/principal.hpp"

namespace kargo {
namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Reads typed values from the lookup; every parse failure names its variable.
class Reader {
 public:
  explicit Reader(const EnvLookup& env) : env_(env) {}

  std::optional<std::string> raw(const std::string& name) const {
    auto v = env_(name);
    if (v && trim(*v).empty()) return std::nullopt;
    return v;
  }
  void str(const std::string& name, std::string& out) const {
    if (auto v = raw(name)) out = trim(*v);
  }
  void opt(const std::string& name, std::optional<std::string>& out) const {
    if (auto v = raw(name)) out = trim(*v);
  }
  void list(const std::string& name, std::vector<std::string>& out) const {
    if (auto v = env_(name)) out = split_list(*v);
  }
  template <typename T>
  void number(const std::string& name, T& out, uint64_t min, uint64_t max) const {
    auto v = raw(name);
    if (!v) return;
    std::string s = trim(*v);
    uint64_t parsed = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      throw ConfigError(name, "must be a whole number, got '" + s + "'");
    }
    if (parsed < min || parsed > max) {
      throw ConfigError(
          name, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    }
    out = static_cast<T>(parsed);
  }
  void boolean(const std::string& name, bool& out) const {
    auto v = raw(name);
    if (!v) return;
    std::string s = trim(*v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "1" || s == "yes") {
      out = true;
    } else if (s == "false" || s == "0" || s == "no") {
      out = false;
    } else {
      throw ConfigError(name, "must be true or false, got '" + *v + "'");
    }
  }

 private:
  const EnvLookup& env_;
};

void require_url(const std::string& name, const std::string& value,
                 std::initializer_list<const char*> schemes) {
  for (const char* scheme : schemes) {
    std::string prefix = std::string(scheme) + "://";
    if (value.rfind(prefix, 0) == 0 && value.size() > prefix.size()) return;
  }
  std::string allowed;
  for (const char* scheme : schemes) allowed += (allowed.empty() ? "" : " or ") + std::string(scheme);
  throw ConfigError(name, "must be a " + allowed + ":// URL, got '" + value + "'");
}

std::string random_secret() {
  // Only used in development; 48 bytes from the OS, hex-encoded.
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char buf[48];
  urandom.read(reinterpret_cast<char*>(buf), sizeof buf);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(buf), sizeof buf));
}

void read_log_level(const Reader& r, std::string& level) {
  r.str("LOG_LEVEL", level);
  static const std::vector<std::string> kLevels{"trace", "debug", "info",    "warning",
                                                "warn",  "error", "critical"};
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  if (std::find(kLevels.begin(), kLevels.end(), level) == kLevels.end()) {
    throw ConfigError("LOG_LEVEL",
                      "must be one of debug, info, warning, error, critical, got '" + level + "'");
  }
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = trim(value.substr(0, hash));
    }
    out[key] = value;
  }
  return out;
}

EnvLookup process_environment(const std::vector<std::string>& files) {
  std::map<std::string, std::string> settings;
  for (const auto& path : files) {
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream buf;
    buf << in.rdbuf();
    settings.merge(parse_dotenv(buf.str()));  // keeps what an earlier file set
  }
  return [settings = std::move(settings)](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    if (auto it = settings.find(name); it != settings.end()) return it->second;
    return std::nullopt;
  };
}

EnvLookup process_environment(const std::string& dotenv_path) {
  return process_environment(std::vector<std::string>{dotenv_path});
}

Config load_config(const EnvLookup& env) {
  Config c;
  Reader r(env);
  r.str("ENVIRONMENT", c.environment);
  if (c.environment != "production" && c.environment != "development" && c.environment != "staging" &&
      c.environment != "test") {
    throw ConfigError("ENVIRONMENT",
                      "must be production, staging, test or development, got '" + c.environment + "'");
  }
  r.str("HOST", c.host);
  {
    in6_addr addr6;
    in_addr addr4;
    if (inet_pton(AF_INET, c.host.c_str(), &addr4) != 1 && inet_pton(AF_INET6, c.host.c_str(), &addr6) != 1) {
      throw ConfigError("HOST", "must be an IPv4 or IPv6 address to listen on, got '" + c.host + "'");
    }
  }
  r.number("PORT", c.port, 1, 65535);
  r.number("WORKER_PORT", c.worker_port, 1, 65535);
  r.number("IO_THREADS", c.io_threads, 1, 256);
  if (c.io_threads == 0) c.io_threads = std::max(1u, std::thread::hardware_concurrency());

  r.str("DATABASE_URL", c.database_url);
  require_url("DATABASE_URL", c.database_url, {"postgresql", "postgres"});
  r.number("DATABASE_POOL_SIZE", c.database_pool_size, 1, 500);
  r.number("DATABASE_ACQUIRE_TIMEOUT_MS", c.database_acquire_timeout_ms, 1, 600000);
  r.number("DATABASE_STATEMENT_TIMEOUT_MS", c.database_statement_timeout_ms, 100, 3600000);
  r.str("REDIS_URL", c.redis_url);
  require_url("REDIS_URL", c.redis_url, {"redis"});

  r.str("SECRET_KEY", c.secret_key);
  if (c.secret_key.empty()) {
    if (!c.development()) throw ConfigError("SECRET_KEY", "is required outside ENVIRONMENT=development");
    c.secret_key = random_secret();
    c.secret_key_generated = true;
  } else if (c.secret_key.size() < 32) {
    throw ConfigError("SECRET_KEY", "must be at least 32 bytes long");
  }
  r.number("JWT_EXPIRE_MINUTES", c.jwt_expire_minutes, 1, 60 * 24 * 30);
  r.opt("ADMIN_USERNAME", c.admin_username);
  if (c.admin_username && !valid_username(*c.admin_username))
    throw ConfigError("ADMIN_USERNAME", kUsernameRule);
  r.opt("ADMIN_PASSWORD", c.admin_password);
  if (c.admin_password && c.admin_password->size() < 8) {
    throw ConfigError("ADMIN_PASSWORD", "must be at least 8 characters");
  }

  r.number("RATE_LIMIT_PER_MINUTE", c.rate_limit_per_minute, 1, 100000000);
  r.number("RATE_LIMIT_BURST", c.rate_limit_burst, 0, 100000000);
  r.number("MAX_BODY_BYTES", c.max_body_bytes, 1024, 1ull << 30);
  r.number("MAX_UPLOAD_BYTES", c.max_upload_bytes, 1024, 1ull << 32);
  r.list("CORS_ALLOWED_ORIGINS", c.cors_allowed_origins);
  r.number("REQUEST_TIMEOUT_MS", c.request_timeout_ms, 100, 600000);
  for (const auto& origin : c.cors_allowed_origins) {
    if (origin == "*") {
      if (!c.development()) {
        throw ConfigError("CORS_ALLOWED_ORIGINS", "'*' is allowed only with ENVIRONMENT=development");
      }
    } else {
      require_url("CORS_ALLOWED_ORIGINS", origin, {"http", "https"});
    }
  }

  r.str("AMAZON_DSP_BASE_URL", c.amazon_dsp_base_url);
  require_url("AMAZON_DSP_BASE_URL", c.amazon_dsp_base_url, {"http", "https"});
  r.str("AMAZON_LWA_TOKEN_URL", c.amazon_lwa_token_url);
  require_url("AMAZON_LWA_TOKEN_URL", c.amazon_lwa_token_url, {"http", "https"});
  r.opt("AMAZON_CLIENT_ID", c.amazon_client_id);
  r.opt("AMAZON_CLIENT_SECRET", c.amazon_client_secret);
  r.opt("AMAZON_REFRESH_TOKEN", c.amazon_refresh_token);
  r.opt("AMAZON_PROFILE_ID", c.amazon_profile_id);
  r.str("KARGO_API_BASE_URL", c.kargo_api_base_url);
  require_url("KARGO_API_BASE_URL", c.kargo_api_base_url, {"http", "https"});
  r.opt("KARGO_API_KEY", c.kargo_api_key);
  r.list("KARGO_SNIPPET_HOSTS", c.kargo_snippet_hosts);
  if (c.kargo_snippet_hosts.empty()) throw ConfigError("KARGO_SNIPPET_HOSTS", "must name at least one host");
  r.number("UPSTREAM_TIMEOUT_MS", c.upstream_timeout_ms, 1, 600000);
  r.number("UPSTREAM_MAX_RETRIES", c.upstream_max_retries, 0, 20);
  r.number("UPSTREAM_MAX_CONCURRENCY", c.upstream_max_concurrency, 1, 10000);
  r.opt("UPSTREAM_CA_FILE", c.upstream_ca_file);
  if (c.upstream_ca_file) {
    // Checked here so a typo stops start-up naming the variable, not the first upstream call.
    std::ifstream ca(*c.upstream_ca_file);
    std::stringstream text;
    if (ca) text << ca.rdbuf();
    if (!ca) throw ConfigError("UPSTREAM_CA_FILE", "cannot read '" + *c.upstream_ca_file + "'");
    if (text.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      throw ConfigError("UPSTREAM_CA_FILE", "'" + *c.upstream_ca_file + "' holds no PEM certificate");
    }
  }
  r.number("SYNC_INTERVAL_SECONDS", c.sync_interval_seconds, 0, 86400 * 7);
  r.number("SYNC_MAX_ATTEMPTS", c.sync_max_attempts, 1, 20);
  r.number("SYNC_RETRY_BACKOFF_SECONDS", c.sync_retry_backoff_seconds, 1, 3600);
  r.number("REPORT_INTERVAL_SECONDS", c.report_interval_seconds, 0, 86400 * 7);
  r.number("REPORT_MAX_ATTEMPTS", c.report_max_attempts, 1, 20);
  r.number("REPORT_RETRY_BACKOFF_SECONDS", c.report_retry_backoff_seconds, 1, 3600);
  r.number("REPORT_POLL_INITIAL_MS", c.report_poll_initial_ms, 10, 600000);
  r.number("REPORT_POLL_MAX_MS", c.report_poll_max_ms, 10, 600000);
  r.number("REPORT_TIMEOUT_SECONDS", c.report_timeout_seconds, 1, 86400);
  r.number("CAMPAIGN_END_CHECK_SECONDS", c.campaign_end_check_seconds, 1, 86400);
  r.number("JOB_CONCURRENCY", c.job_concurrency, 1, 64);
  r.number("JOB_LEASE_SECONDS", c.job_lease_seconds, 2, 3600);
  r.boolean("WEBHOOK_ALLOW_PRIVATE", c.webhook_allow_private);
  r.number("WEBHOOK_TIMEOUT_SECONDS", c.webhook_timeout_seconds, 1, 60);
  r.number("WEBHOOK_RETRY_BASE_MS", c.webhook_retry_base_ms, 10, 600000);
  r.number("WEBHOOK_MAX_ATTEMPTS", c.webhook_max_attempts, 1, 10);
  r.number("WEBHOOK_DEACTIVATE_AFTER_SECONDS", c.webhook_deactivate_after_seconds, 1, 86400 * 30);
  r.number("WEBHOOK_CONCURRENCY", c.webhook_concurrency, 0, 256);
  r.number("WEBHOOK_POLL_MS", c.webhook_poll_ms, 5, 10000);
  r.number("RETENTION_INTERVAL_SECONDS", c.retention_interval_seconds, 0, 86400 * 7);
  r.number("RETENTION_BATCH_SIZE", c.retention_batch_size, 1, 100000);
  r.number("RETENTION_FILES_DAYS", c.retention_files_days, 0, 3650);
  r.number("RETENTION_JOBS_DAYS", c.retention_jobs_days, 1, 3650);
  r.number("RETENTION_UPLOADS_DAYS", c.retention_uploads_days, 1, 3650);
  r.number("RETENTION_TICKS_DAYS", c.retention_ticks_days, 1, 3650);
  r.number("RETENTION_WEBHOOKS_DAYS", c.retention_webhooks_days, 1, 3650);
  r.number("SHUTDOWN_DELAY_SECONDS", c.shutdown_delay_seconds, 0, 300);
  r.number("SHUTDOWN_GRACE_SECONDS", c.shutdown_grace_seconds, 1, 3600);
  read_log_level(r, c.log_level);
  r.opt("AMAZON_MACROS_FILE", c.amazon_macros_file);
  r.number("SANDBOX_TOKEN_TTL_SECONDS", c.sandbox_token_ttl_seconds, 1, 86400);
  return c;
}

SandboxConfig load_sandbox_config(const EnvLookup& env) {
  SandboxConfig c;
  Reader r(env);
  read_log_level(r, c.log_level);
  r.number("SANDBOX_TOKEN_TTL_SECONDS", c.token_ttl_seconds, 1, 86400);
  return c;
}

std::map<std::string, std::string> Config::public_summary() const {
  auto yes_no = [](bool b) { return std::string(b ? "true" : "false"); };
  auto strip_credentials = [](const std::string& url) {
    // scheme://user:pass@host/... -> scheme://***@host/...
    auto scheme = url.find("://");
    auto at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
    return url.substr(0, scheme + 3) + "***" + url.substr(at);
  };
  std::string origins;
  for (const auto& o : cors_allowed_origins) origins += (origins.empty() ? "" : ",") + o;
  std::string hosts;
  for (const auto& h : kargo_snippet_hosts) hosts += (hosts.empty() ? "" : ",") + h;
  return {
      {"host", host},
      {"port", std::to_string(port)},
      {"io_threads", std::to_string(io_threads)},
      {"database_url", strip_credentials(database_url)},
      {"database_pool_size", std::to_string(database_pool_size)},
      {"redis_url", strip_credentials(redis_url)},
      {"jwt_expire_minutes", std::to_string(jwt_expire_minutes)},
      {"rate_limit_per_minute", std::to_string(rate_limit_per_minute)},
      {"rate_limit_burst", std::to_string(rate_limit_burst)},
      {"max_body_bytes", std::to_string(max_body_bytes)},
      {"max_upload_bytes", std::to_string(max_upload_bytes)},
      {"cors_allowed_origins", origins},
      {"request_timeout_ms", std::to_string(request_timeout_ms)},
      {"amazon_dsp_base_url", amazon_dsp_base_url},
      {"amazon_lwa_token_url", amazon_lwa_token_url},
      {"amazon_configured", yes_no(amazon_configured())},
      {"kargo_api_base_url", kargo_api_base_url},
      {"kargo_configured", yes_no(kargo_api_key.has_value())},
      {"kargo_snippet_hosts", hosts},
      {"upstream_timeout_ms", std::to_string(upstream_timeout_ms)},
      {"upstream_max_retries", std::to_string(upstream_max_retries)},
      {"upstream_max_concurrency", std::to_string(upstream_max_concurrency)},
      {"upstream_ca_file", upstream_ca_file.value_or("")},
      {"sync_interval_seconds", std::to_string(sync_interval_seconds)},
      {"sync_max_attempts", std::to_string(sync_max_attempts)},
      {"sync_retry_backoff_seconds", std::to_string(sync_retry_backoff_seconds)},
      {"report_interval_seconds", std::to_string(report_interval_seconds)},
      {"report_max_attempts", std::to_string(report_max_attempts)},
      {"report_retry_backoff_seconds", std::to_string(report_retry_backoff_seconds)},
      {"report_poll_initial_ms", std::to_string(report_poll_initial_ms)},
      {"report_poll_max_ms", std::to_string(report_poll_max_ms)},
      {"report_timeout_seconds", std::to_string(report_timeout_seconds)},
      {"campaign_end_check_seconds", std::to_string(campaign_end_check_seconds)},
      {"job_concurrency", std::to_string(job_concurrency)},
      {"job_lease_seconds", std::to_string(job_lease_seconds)},
      {"webhook_allow_private", yes_no(webhook_allow_private)},
      {"webhook_timeout_seconds", std::to_string(webhook_timeout_seconds)},
      {"webhook_retry_base_ms", std::to_string(webhook_retry_base_ms)},
      {"webhook_max_attempts", std::to_string(webhook_max_attempts)},
      {"webhook_deactivate_after_seconds", std::to_string(webhook_deactivate_after_seconds)},
      {"webhook_concurrency", std::to_string(webhook_concurrency)},
      {"webhook_poll_ms", std::to_string(webhook_poll_ms)},
      {"retention_interval_seconds", std::to_string(retention_interval_seconds)},
      {"retention_batch_size", std::to_string(retention_batch_size)},
      {"retention_files_days", std::to_string(retention_files_days)},
      {"retention_jobs_days", std::to_string(retention_jobs_days)},
      {"retention_uploads_days", std::to_string(retention_uploads_days)},
      {"retention_ticks_days", std::to_string(retention_ticks_days)},
      {"retention_webhooks_days", std::to_string(retention_webhooks_days)},
      {"shutdown_delay_seconds", std::to_string(shutdown_delay_seconds)},
      {"shutdown_grace_seconds", std::to_string(shutdown_grace_seconds)},
      {"log_level", log_level},
      {"environment", environment},
  };
}

}  // namespace kargo
