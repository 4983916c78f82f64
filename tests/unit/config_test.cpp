#include "kargo/core/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "kargo/upstream/amazon_dsp_client.hpp"

using namespace kargo;

namespace {
EnvLookup env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& k) -> std::optional<std::string> {
    auto it = values.find(k);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}
const std::string kKey = "0123456789abcdef0123456789abcdef";

std::string failing_variable(std::map<std::string, std::string> values) {
  try {
    load_config(env(std::move(values)));
  } catch (const ConfigError& e) {
    return e.variable();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsMatchTheContract) {
  auto c = load_config(env({{"SECRET_KEY", kKey}}));
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.database_url, "postgresql://kargo:kargo@127.0.0.1:5433/kargo_dsp");
  EXPECT_EQ(c.database_pool_size, 10u);
  EXPECT_EQ(c.redis_url, "redis://127.0.0.1:6380/0");
  EXPECT_EQ(c.jwt_expire_minutes, 60u);
  EXPECT_EQ(c.rate_limit_per_minute, 60u);
  EXPECT_EQ(c.rate_limit_burst, 10u);
  EXPECT_EQ(c.max_body_bytes, 1u << 20);
  EXPECT_EQ(c.max_upload_bytes, 20u << 20);
  EXPECT_EQ(c.upstream_timeout_ms, 10000u);
  EXPECT_EQ(c.upstream_max_retries, 4u);
  EXPECT_EQ(c.sync_interval_seconds, 300u);
  EXPECT_EQ(c.report_interval_seconds, 3600u);
  EXPECT_EQ(c.kargo_snippet_hosts, std::vector<std::string>{"snippet.kargo.com"});
  EXPECT_FALSE(c.webhook_allow_private);
  EXPECT_EQ(c.environment, "production");
  EXPECT_GE(c.io_threads, 1u);
  EXPECT_FALSE(c.amazon_configured());
}

TEST(Config, SecretKeyRequiredOutsideDevelopment) {
  EXPECT_EQ(failing_variable({}), "SECRET_KEY");
  auto dev = load_config(env({{"ENVIRONMENT", "development"}}));
  EXPECT_GE(dev.secret_key.size(), 32u);
  EXPECT_TRUE(dev.secret_key_generated);
}

TEST(Config, ShortSecretKeyIsRejected) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", "short"}}), "SECRET_KEY");
}

TEST(Config, MalformedNumbersNameTheirVariable) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"PORT", "abc"}}), "PORT");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"PORT", "70000"}}), "PORT");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"DATABASE_POOL_SIZE", "0"}}), "DATABASE_POOL_SIZE");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"RATE_LIMIT_PER_MINUTE", "-1"}}),
            "RATE_LIMIT_PER_MINUTE");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"WEBHOOK_ALLOW_PRIVATE", "maybe"}}),
            "WEBHOOK_ALLOW_PRIVATE");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"LOG_LEVEL", "loud"}}), "LOG_LEVEL");
}

TEST(Config, UrlsMustHaveTheRightScheme) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"DATABASE_URL", "mysql://x"}}), "DATABASE_URL");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"REDIS_URL", "http://x"}}), "REDIS_URL");
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"AMAZON_DSP_BASE_URL", "ftp://x"}}),
            "AMAZON_DSP_BASE_URL");
}

TEST(Config, CorsWildcardOnlyInDevelopment) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"CORS_ALLOWED_ORIGINS", "*"}}), "CORS_ALLOWED_ORIGINS");
  auto dev = load_config(env({{"ENVIRONMENT", "development"}, {"CORS_ALLOWED_ORIGINS", "*"}}));
  EXPECT_EQ(dev.cors_allowed_origins, std::vector<std::string>{"*"});
  auto list = load_config(
      env({{"SECRET_KEY", kKey}, {"CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example"}}));
  EXPECT_EQ(list.cors_allowed_origins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
}

TEST(Config, AmazonConfiguredNeedsAllFourCredentials) {
  auto c = load_config(env({{"SECRET_KEY", kKey},
                            {"AMAZON_CLIENT_ID", "a"},
                            {"AMAZON_CLIENT_SECRET", "b"},
                            {"AMAZON_REFRESH_TOKEN", "c"}}));
  EXPECT_FALSE(c.amazon_configured());
  c.amazon_profile_id = "d";
  EXPECT_TRUE(c.amazon_configured());
}

TEST(Config, PublicSummaryHasNoSecrets) {
  auto c = load_config(env({{"SECRET_KEY", kKey},
                            {"DATABASE_URL", "postgresql://user:hunter2@db:5432/x"},
                            {"ADMIN_PASSWORD", "adminsecret"},
                            {"KARGO_API_KEY", "kargo-key-value"}}));
  for (const auto& [k, v] : c.public_summary()) {
    EXPECT_EQ(v.find(kKey), std::string::npos) << k;
    EXPECT_EQ(v.find("hunter2"), std::string::npos) << k;
    EXPECT_EQ(v.find("adminsecret"), std::string::npos) << k;
    EXPECT_EQ(v.find("kargo-key-value"), std::string::npos) << k;
  }
}

TEST(Dotenv, ParsesCommentsQuotesAndExport) {
  auto m = parse_dotenv("# comment\nexport A=1\nB = \"two words\"\nC='x#y'\nD=val # trailing\n\nbad line\n");
  EXPECT_EQ(m["A"], "1");
  EXPECT_EQ(m["B"], "two words");
  EXPECT_EQ(m["C"], "x#y");
  EXPECT_EQ(m["D"], "val");
  EXPECT_EQ(m.count("bad line"), 0u);
}

TEST(Config, HostMustBeAnIpAddress) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"HOST", "not-an-address"}}), "HOST");
  EXPECT_EQ(load_config(env({{"SECRET_KEY", kKey}, {"HOST", "::1"}})).host, "::1");
  EXPECT_EQ(load_config(env({{"SECRET_KEY", kKey}, {"HOST", "127.0.0.1"}})).host, "127.0.0.1");
}

TEST(Config, AdminUsernameFollowsTheUsernameRule) {
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"ADMIN_USERNAME", "bad name!"}}), "ADMIN_USERNAME");
  EXPECT_EQ(load_config(env({{"SECRET_KEY", kKey}, {"ADMIN_USERNAME", "ops.admin@x"}})).admin_username,
            "ops.admin@x");
}

TEST(Config, UpstreamCaFileMustBeAReadablePemFile) {
  EXPECT_FALSE(load_config(env({{"SECRET_KEY", kKey}})).upstream_ca_file);
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"UPSTREAM_CA_FILE", "/nonexistent/ca.pem"}}),
            "UPSTREAM_CA_FILE");
  auto not_pem = std::filesystem::temp_directory_path() / ("kargo-not-pem-" + std::to_string(::getpid()));
  std::ofstream(not_pem) << "not a certificate\n";
  EXPECT_EQ(failing_variable({{"SECRET_KEY", kKey}, {"UPSTREAM_CA_FILE", not_pem.string()}}),
            "UPSTREAM_CA_FILE");
  std::filesystem::remove(not_pem);
  auto c =
      load_config(env({{"SECRET_KEY", kKey}, {"UPSTREAM_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"}}));
  EXPECT_EQ(c.upstream_ca_file, "/etc/ssl/certs/ca-certificates.crt");
}

TEST(Config, AmazonReportPollingComesFromTheReportVariables) {
  auto c = load_config(env({{"SECRET_KEY", kKey},
                            {"REPORT_POLL_INITIAL_MS", "250"},
                            {"REPORT_POLL_MAX_MS", "4000"},
                            {"REPORT_TIMEOUT_SECONDS", "120"}}));
  auto o = upstream::AmazonDspOptions::from_config(c);
  EXPECT_EQ(o.report_poll_initial, std::chrono::milliseconds(250));
  EXPECT_EQ(o.report_poll_max, std::chrono::milliseconds(4000));
  EXPECT_EQ(o.report_timeout, std::chrono::seconds(120));
}
