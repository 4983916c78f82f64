// Health, readiness, status and metrics routes (contract section 8). No authentication and no
// rate limit; /health/live touches no dependency. The checks are service/health.
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/health.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

constexpr const char* kServiceName = "kargo-amazon-dsp-integration";
constexpr http::RouteOptions kPublicBlocking{.authenticated = false, .execution = http::Execution::kBlocking};
constexpr http::RouteOptions kPublicAsync{.authenticated = false, .execution = http::Execution::kAsync};

std::string now_iso() { return format_timestamp(std::chrono::system_clock::now()); }

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

HealthRoutes::HealthRoutes(service::HealthService& health, const Config& config, Metrics& metrics,
                           SystemTime started_at, std::string process_role)
    : health_(health),
      config_(config),
      metrics_(metrics),
      started_at_(started_at),
      process_role_(std::move(process_role)) {}

void HealthRoutes::add_to(http::Router& router) {
  auto uptime = [this] {
    return std::chrono::duration<double>(std::chrono::system_clock::now() - started_at_).count();
  };

  router.add("GET", "/health", kPublicInline, [](http::Request&) {
    return http::plain_json({{"status", "healthy"},
                             {"service", kServiceName},
                             {"version", KARGO_VERSION},
                             {"timestamp", now_iso()}});
  });

  // The liveness probe is the hottest route: its fixed-shape body is formatted directly.
  router.add("GET", "/health/live", kPublicInline, [this](http::Request&) {
    auto now = std::chrono::system_clock::now();
    char uptime[32];
    auto written = std::to_chars(uptime, uptime + sizeof uptime,
                                 std::chrono::duration<double>(now - started_at_).count(),
                                 std::chars_format::fixed, 3);
    http::Response r;
    r.body.reserve(160);
    r.body += R"({"status":"healthy","timestamp":")";
    r.body += format_timestamp(now);
    r.body += R"(","service":")";
    r.body += kServiceName;
    r.body += R"(","version":")" KARGO_VERSION R"(","uptime_seconds":)";
    r.body.append(uptime, written.ptr);
    r.body += '}';
    return r;
  });

  router.add("GET", "/health/ready", kPublicBlocking, [this](http::Request&) {
    auto report = health_.ready();
    report.body["timestamp"] = now_iso();
    return http::plain_json(report.body, report.healthy ? 200 : 503);
  });

  // Asynchronous: the upstream probes never hold a thread; only the database and Redis checks run
  // on the database pool.
  router.add_async("GET", "/health/detailed", kPublicAsync,
                   [this, uptime](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     service::Call call{.actor = "", .request_id = req.request_id, .deadline = req.deadline};
                     health_.detailed(call, uptime(), [reply](service::HealthReport report) {
                       report.body["timestamp"] = now_iso();
                       report.body["service"] = kServiceName;
                       report.body["version"] = KARGO_VERSION;
                       reply->respond(http::plain_json(report.body, report.healthy ? 200 : 503));
                     });
                   });

  router.add("GET", "/health/status", kPublicInline, [this, uptime](http::Request&) {
    return http::plain_json({{"service", kServiceName},
                             {"version", KARGO_VERSION},
                             {"build", KARGO_BUILD_INFO},
                             {"process", process_role_},
                             {"started_at", format_timestamp(started_at_)},
                             {"uptime_seconds", round3(uptime())},
                             {"environment", config_.environment},
                             {"config", config_.public_summary()}});
  });

  router.add("GET", "/health/metrics", kPublicInline, [this](http::Request&) {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.serialize();
    return r;
  });
}

}  // namespace kargo::api
