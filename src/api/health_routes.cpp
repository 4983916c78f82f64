// Health, readiness, status and metrics routes (contract section 8). No authentication and no
// rate limit; /health/live touches no dependency.
#include <charconv>

#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/router.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/migrations.hpp"
#include "kargo/store/redis.hpp"
#include "kargo/upstream/upstream_health.hpp"

namespace kargo::api {
namespace {

constexpr const char* kServiceName = "kargo-amazon-dsp-integration";
constexpr http::RouteOptions kPublicInline{.authenticated = false, .execution = http::Execution::kInline};
constexpr http::RouteOptions kPublicBlocking{.authenticated = false, .execution = http::Execution::kBlocking};

// Health checks answer quickly even when a dependency hangs.
constexpr std::chrono::milliseconds kCheckTimeout{2000};

std::string now_iso() { return format_timestamp(std::chrono::system_clock::now()); }

double uptime_seconds(const AppContext& ctx) {
  return std::chrono::duration<double>(std::chrono::system_clock::now() - ctx.started_at).count();
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// {queued, running} over every job kind; nulls when the database does not answer.
nlohmann::json job_counts(AppContext& ctx) {
  try {
    int64_t queued = 0, running = 0;
    for (const auto& c : ctx.jobs.counts()) {
      queued += c.queued;
      running += c.running;
    }
    return {{"queued", queued}, {"running", running}};
  } catch (const std::exception&) {
    return {{"queued", nullptr}, {"running", nullptr}};
  }
}

// {status, latency_ms[, error]} for PostgreSQL; also whether the schema is current.
nlohmann::json check_database(AppContext& ctx, bool& healthy) {
  try {
    double ms = ctx.db.ping_ms(kCheckTimeout);
    bool current = store::migrations_current(ctx.db, kCheckTimeout);
    healthy = current;
    nlohmann::json out = {{"status", current ? "healthy" : "unhealthy"}, {"latency_ms", round3(ms)}};
    if (!current) out["error"] = "migrations pending: run `kargo-dsp migrate up`";
    return out;
  } catch (const Error& e) {
    healthy = false;
    return {{"status", "unhealthy"}, {"latency_ms", nullptr}, {"error", e.external_message()}};
  }
}

// {status: ok|degraded|down|not_configured, configured, latency_ms, circuit_state[, error]}; the
// probes behind it are cached by UpstreamHealth, so polling this route does not hammer upstreams.
nlohmann::json upstream_check(const upstream::UpstreamCheck& c, bool& down) {
  down = c.status == "down" || c.status == "degraded";
  nlohmann::json out = {
      {"status", c.status},
      {"configured", c.configured},
      {"latency_ms", c.latency_ms ? nlohmann::json(round3(*c.latency_ms)) : nlohmann::json()},
      {"circuit_state", upstream::to_string(c.circuit)}};
  if (!c.error.empty()) out["error"] = c.error;
  return out;
}

nlohmann::json check_redis(AppContext& ctx, bool& healthy) {
  double ms = ctx.redis.ping_ms();
  healthy = ms >= 0;
  if (!healthy) return {{"status", "unhealthy"}, {"latency_ms", nullptr}, {"error", "redis unavailable"}};
  return {{"status", "healthy"}, {"latency_ms", round3(ms)}};
}

}  // namespace

void register_health_routes(http::Router& router, AppContext& ctx) {
  router.add("GET", "/health", kPublicInline, [](http::Request&) {
    return http::plain_json({{"status", "healthy"},
                             {"service", kServiceName},
                             {"version", KARGO_VERSION},
                             {"timestamp", now_iso()}});
  });

  // The liveness probe is the hottest route: its fixed-shape body is formatted directly.
  router.add("GET", "/health/live", kPublicInline, [&ctx](http::Request&) {
    auto now = std::chrono::system_clock::now();
    char uptime[32];
    auto written = std::to_chars(uptime, uptime + sizeof uptime,
                                 std::chrono::duration<double>(now - ctx.started_at).count(),
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

  router.add("GET", "/health/ready", kPublicBlocking, [&ctx](http::Request&) {
    bool db_ok = false, redis_ok = false;
    auto db = check_database(ctx, db_ok);
    auto redis = check_redis(ctx, redis_ok);
    const char* status = !db_ok ? "not_ready" : redis_ok ? "ready" : "degraded";
    return http::plain_json(
        {{"status", status}, {"timestamp", now_iso()}, {"checks", {{"database", db}, {"redis", redis}}}},
        db_ok ? 200 : 503);
  });

  router.add("GET", "/health/detailed", kPublicBlocking, [&ctx](http::Request&) {
    bool db_ok = false, redis_ok = false;
    auto db = check_database(ctx, db_ok);
    auto redis = check_redis(ctx, redis_ok);
    auto pool = ctx.db.stats();
    auto proc = read_process_stats();
    bool amazon_down = false, kargo_down = false;
    auto amazon = upstream_check(ctx.upstream_health.amazon_dsp(), amazon_down);
    auto kargo = upstream_check(ctx.upstream_health.kargo(), kargo_down);
    // An upstream in trouble degrades the service (Amazon and Kargo features fail) but does not
    // make it unhealthy: everything else still works.
    const char* status = !db_ok                                    ? "unhealthy"
                         : redis_ok && !amazon_down && !kargo_down ? "healthy"
                                                                   : "degraded";
    return http::plain_json(
        {{"status", status},
         {"timestamp", now_iso()},
         {"service", kServiceName},
         {"version", KARGO_VERSION},
         {"checks", {{"database", db}, {"redis", redis}, {"amazon_dsp", amazon}, {"kargo", kargo}}},
         {"pool", {{"size", pool.size}, {"open", pool.open}, {"in_use", pool.in_use}}},
         {"blocking_pool",
          {{"threads", ctx.blocking.size()},
           {"busy", ctx.blocking.busy()},
           {"queued", ctx.blocking.queued()}}},
         {"jobs", job_counts(ctx)},
         {"system",
          {{"rss_bytes", proc.rss_bytes},
           {"threads", proc.threads},
           {"open_fds", proc.open_fds},
           {"uptime_seconds", round3(uptime_seconds(ctx))}}}},
        db_ok ? 200 : 503);
  });

  router.add("GET", "/health/status", kPublicInline, [&ctx](http::Request&) {
    return http::plain_json({{"service", kServiceName},
                             {"version", KARGO_VERSION},
                             {"build", KARGO_BUILD_INFO},
                             {"process", ctx.process_role},
                             {"started_at", format_timestamp(ctx.started_at)},
                             {"uptime_seconds", round3(uptime_seconds(ctx))},
                             {"environment", ctx.config.environment},
                             {"config", ctx.config.public_summary()}});
  });

  router.add("GET", "/health/metrics", kPublicInline, [&ctx](http::Request&) {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx.metrics.serialize();
    return r;
  });
}

}  // namespace kargo::api
