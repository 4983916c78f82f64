#include "support/amazon.hpp"

#include "support/forms.hpp"
#include "support/helpers.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;

std::string upload_form(const std::string& name, const std::string& format, const std::string& file,
                        const std::string& extra_fields) {
  return form_field("name", name) + form_field("format", format) +
         form_field("viewability_config", R"({"phase":"phase_1","vendors":["double_verify"]})") +
         extra_fields + form_file("file", file, snippet_fixture(file)) + form_end();
}

}  // namespace

EnvOverrides amazon_env(const SandboxProcess& sandbox, EnvOverrides extra) {
  std::string base = "http://127.0.0.1:" + std::to_string(sandbox.port());
  EnvOverrides env = {{"AMAZON_DSP_BASE_URL", base},
                      {"AMAZON_LWA_TOKEN_URL", base + "/auth/o2/token"},
                      {"AMAZON_CLIENT_ID", kSandboxClientId},
                      {"AMAZON_CLIENT_SECRET", kSandboxClientSecret},
                      {"AMAZON_REFRESH_TOKEN", kSandboxRefreshToken},
                      {"AMAZON_PROFILE_ID", "profile-1"},
                      {"UPSTREAM_MAX_RETRIES", "1"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

std::string dimensions(const std::string& d) { return form_field("dimensions", d); }
std::string duration(const std::string& s) { return form_field("duration", s); }

std::string create_creative(const HttpClient& http, const std::string& token, const std::string& format,
                            const std::string& file, const std::string& extra) {
  auto res = http.request("POST", "/api/creatives", upload_form("Upload " + file, format, file, extra),
                          multipart_headers(token));
  if (res.status != 201) throw std::runtime_error("creative upload failed: " + res.describe());
  return res.json()["data"]["id"];
}

json wait_job(const HttpClient& http, const std::string& token, const std::string& job_id,
              std::chrono::seconds timeout) {
  json job;
  wait_until(
      [&] {
        job = http.get("/api/jobs/" + job_id, bearer(token)).json()["data"];
        return job["status"] == "succeeded" || job["status"] == "failed";
      },
      timeout, std::chrono::milliseconds(100));
  return job;
}

}  // namespace kargo::itest
