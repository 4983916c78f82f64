#include "support/sandbox.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <csignal>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "support/helpers.hpp"

namespace kargo::itest {

SandboxProcess::SandboxProcess(std::vector<std::string> args, EnvOverrides env) {
  // The sandbox must not need the service's dependencies.
  EnvOverrides all{{"DATABASE_URL", std::nullopt},
                   {"REDIS_URL", std::nullopt},
                   {"SECRET_KEY", std::nullopt},
                   {"LOG_LEVEL", "info"}};
  for (auto& [k, v] : env) all[k] = v;
  std::vector<std::string> argv{KARGO_BIN_PATH, "sandbox", "--host", "127.0.0.1", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_ = std::make_unique<ChildProcess>(ChildProcess::Spec{argv, all, dir_.path(), dir_.file("stdout.log"),
                                                             dir_.file("stderr.log"), std::nullopt});
  bool up = wait_until(
      [&] {
        if (!child_->running()) return true;
        for (const auto& line : log_lines()) {
          if (json_string(line, "msg") == "sandbox listening" && line.contains("port")) {
            port_ = line["port"].get<uint16_t>();
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(15), std::chrono::milliseconds(10));
  if (!up || port_ == 0) {
    throw std::runtime_error("kargo-dsp sandbox did not log 'sandbox listening':\n" + stdout_text() +
                             read_file(dir_.file("stderr.log")));
  }
}

SandboxProcess::~SandboxProcess() {
  if (::testing::Test::HasFailure()) {
    std::string out = stdout_text();
    if (out.size() > 6000) out = "..." + out.substr(out.size() - 6000);
    std::cerr << "---- kargo-dsp sandbox on port " << port_ << ": stdout (tail) ----\n" << out << "\n----\n";
  }
  if (child_) child_->kill();
}

int SandboxProcess::stop(std::chrono::milliseconds timeout) {
  child_->signal(SIGTERM);
  auto code = child_->wait(timeout);
  if (!code) {
    child_->kill();
    throw std::runtime_error("kargo-dsp sandbox did not exit after SIGTERM");
  }
  return *code;
}

std::string SandboxProcess::stdout_text() const { return read_file(dir_.file("stdout.log")); }

std::vector<nlohmann::json> SandboxProcess::log_lines() const {
  std::vector<nlohmann::json> out;
  std::stringstream in(stdout_text());
  std::string line;
  while (std::getline(in, line)) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (!doc.is_discarded()) out.push_back(std::move(doc));
  }
  return out;
}

HttpResponse request_token(const HttpClient& http, const std::string& refresh_token,
                           const std::string& client_id, const std::string& client_secret) {
  std::string form = "grant_type=refresh_token&refresh_token=" + refresh_token + "&client_id=" + client_id +
                     "&client_secret=" + client_secret;
  return http.request("POST", "/auth/o2/token", form,
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
}

std::string sandbox_token(const HttpClient& http) {
  auto res = request_token(http);
  if (res.status != 200) throw std::runtime_error("sandbox token grant failed: " + res.describe());
  return res.json()["access_token"].get<std::string>();
}

Headers amazon_headers(const std::string& token, const std::string& account) {
  return {{"Authorization", "Bearer " + token},
          {"Amazon-Advertising-API-ClientId", kSandboxClientId},
          {"Amazon-Advertising-API-Scope", "1234567890"},
          {"Amazon-Ads-AccountId", account},
          {"Content-Type", "application/json"}};
}

HttpResponse send_json(const HttpClient& http, std::string_view method, std::string_view target,
                       const nlohmann::json& body, const Headers& headers) {
  return http.request(method, target, body.dump(), headers);
}

void add_fault(const HttpClient& http, const nlohmann::json& fault) {
  auto res = http.post_json("/_sandbox/faults", fault);
  if (res.status != 201)
    throw std::runtime_error("the sandbox refused the fault " + fault.dump() + ": " + res.describe());
}

std::vector<nlohmann::json> sandbox_requests(const HttpClient& http, const std::string& path_prefix) {
  auto res = http.get("/_sandbox/requests?path_prefix=" + path_prefix);
  if (res.status != 200) throw std::runtime_error("GET /_sandbox/requests: " + res.describe());
  auto doc = res.json();
  return doc["requests"].get<std::vector<nlohmann::json>>();
}

bool received_under(const HttpClient& http, std::string_view method, const std::string& path_prefix) {
  for (const auto& r : sandbox_requests(http, path_prefix)) {
    if (r["method"] == method) return true;
  }
  return false;
}

size_t count_requests(const HttpClient& http, std::string_view method, std::string_view path) {
  size_t n = 0;
  for (const auto& r : sandbox_requests(http, std::string(path))) {
    if (r["method"] == method && r["path"] == path) ++n;
  }
  return n;
}

void expire_tokens(const HttpClient& http) {
  auto res = http.post_json("/_sandbox/tokens/expire", nlohmann::json::object());
  if (res.status / 100 != 2) throw std::runtime_error("POST /_sandbox/tokens/expire: " + res.describe());
}

std::string sandbox_url(uint16_t port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

namespace {

// Inflates, handing each chunk to `sink`; throws past `limit` or on a broken stream.
template <typename Sink>
size_t inflate_gzip(std::string_view data, size_t limit, Sink sink) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string chunk(1u << 16, '\0');
  size_t total = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("not a complete gzip stream");
    }
    size_t n = chunk.size() - zs.avail_out;
    total += n;
    if (total > limit) break;
    sink(std::string_view(chunk.data(), n));
  }
  inflateEnd(&zs);
  return total;
}

}  // namespace

std::string gunzip(std::string_view data, size_t limit) {
  std::string out;
  size_t total = inflate_gzip(data, limit, [&](std::string_view part) { out.append(part); });
  if (total > limit) throw std::runtime_error("gzip stream inflates past the limit");
  return out;
}

size_t gunzip_size(std::string_view data, size_t limit) {
  return inflate_gzip(data, limit, [](std::string_view) {});
}

}  // namespace kargo::itest
