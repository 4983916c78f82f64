#pragma once
// What the tests of the Amazon DSP jobs share: a service environment pointed at a sandbox,
// creatives made through the real POST /api/creatives, and waiting for a job to finish.
//
//   SandboxProcess sandbox;
//   ServerProcess server({.env = amazon_env(sandbox), .admin = admin});
//   auto id = create_creative(http, token, "runway", "runway_81298.html", dimensions("320x50"));
//   auto job = wait_job(http, token, job_id);   // its resource once succeeded or failed

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

namespace kargo::itest {

// AMAZON_* pointing at the sandbox with its credentials, UPSTREAM_MAX_RETRIES=1, plus `extra`.
EnvOverrides amazon_env(const SandboxProcess& sandbox, EnvOverrides extra = {});

// Multipart fields for create_creative's `extra`.
std::string dimensions(const std::string& d);
std::string duration(const std::string& s);
// POST /api/creatives with a fixture snippet (fixtures/snippets/<file>); the new creative's id.
std::string create_creative(const HttpClient& http, const std::string& token, const std::string& format,
                            const std::string& file, const std::string& extra);

// Polls GET /api/jobs/{id} until the job succeeded or failed; returns the resource.
nlohmann::json wait_job(const HttpClient& http, const std::string& token, const std::string& job_id,
                        std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace kargo::itest
