#include "kargo/service/health.hpp"

#include <cmath>
#include <mutex>

#include "kargo/core/metrics.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/migrations.hpp"
#include "kargo/store/redis.hpp"
#include "kargo/upstream/upstream_health.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;

// Health checks answer quickly even when a dependency hangs.
constexpr std::chrono::milliseconds kCheckTimeout{2000};

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// {status, latency_ms[, error]} for PostgreSQL; also whether the schema is current.
json check_database(store::Database& db, bool& healthy) {
  try {
    double ms = db.ping_ms(kCheckTimeout);
    bool current = store::migrations_current(db, kCheckTimeout);
    healthy = current;
    json out = {{"status", current ? "healthy" : "unhealthy"}, {"latency_ms", round3(ms)}};
    if (!current) out["error"] = "migrations pending: run `kargo-dsp migrate up`";
    return out;
  } catch (const Error& e) {
    healthy = false;
    return {{"status", "unhealthy"}, {"latency_ms", nullptr}, {"error", e.external_message()}};
  }
}

json check_redis(store::Redis& redis, bool& healthy) {
  double ms = redis.ping_ms();
  healthy = ms >= 0;
  if (!healthy) return {{"status", "unhealthy"}, {"latency_ms", nullptr}, {"error", "redis unavailable"}};
  return {{"status", "healthy"}, {"latency_ms", round3(ms)}};
}

// {status: ok|degraded|down|not_configured, configured, latency_ms, circuit_state[, error]}.
json upstream_check(const upstream::UpstreamCheck& c, bool& down) {
  down = c.status == "down" || c.status == "degraded";
  json out = {{"status", c.status},
              {"configured", c.configured},
              {"latency_ms", c.latency_ms ? json(round3(*c.latency_ms)) : json()},
              {"circuit_state", upstream::to_string(c.circuit)}};
  if (!c.error.empty()) out["error"] = c.error;
  return out;
}

}  // namespace

HealthService::HealthService(store::Database& db, store::Redis& redis, upstream::UpstreamHealth& upstreams,
                             JobService& jobs, BlockingPool& pool)
    : db_(db), redis_(redis), upstreams_(upstreams), jobs_(jobs), pool_(pool) {}

HealthReport HealthService::ready() {
  bool db_ok = false, redis_ok = false;
  auto db = check_database(db_, db_ok);
  auto redis = check_redis(redis_, redis_ok);
  bool draining = draining_;
  const char* status = !db_ok || draining ? "not_ready" : redis_ok ? "ready" : "degraded";
  HealthReport report{{{"status", status}, {"checks", {{"database", db}, {"redis", redis}}}}, db_ok && !draining};
  if (draining) report.body["draining"] = true;
  return report;
}

void HealthService::detailed(const Call& call, double uptime_seconds, std::function<void(HealthReport)> done) {
  // The two upstream checks (cached, asynchronous), then the rest on the database pool.
  struct Join {
    std::mutex mutex;
    int left = 2;
    std::optional<upstream::UpstreamCheck> amazon, kargo;
  };
  auto join = std::make_shared<Join>();
  auto finish = [this, join, call, uptime_seconds, done] {
    on_database<HealthReport>(
        pool_, call,
        [this, join, uptime_seconds] {
          bool db_ok = false, redis_ok = false, amazon_down = false, kargo_down = false;
          auto db = check_database(db_, db_ok);
          auto redis = check_redis(redis_, redis_ok);
          auto amazon = upstream_check(*join->amazon, amazon_down);
          auto kargo = upstream_check(*join->kargo, kargo_down);
          json jobs = {{"queued", nullptr}, {"running", nullptr}};
          try {
            int64_t queued = 0, running = 0;
            for (const auto& c : jobs_.counts()) {
              queued += c.queued;
              running += c.running;
            }
            jobs = {{"queued", queued}, {"running", running}};
          } catch (const std::exception&) {
            // The database does not answer: the database check says so.
          }
          auto pool = db_.stats();
          auto proc = read_process_stats();
          // An upstream in trouble degrades the service (Amazon and Kargo features fail) but does
          // not make it unhealthy: everything else still works.
          const char* status = !db_ok                                    ? "unhealthy"
                               : redis_ok && !amazon_down && !kargo_down ? "healthy"
                                                                         : "degraded";
          json body = {
              {"status", status},
              {"checks", {{"database", db}, {"redis", redis}, {"amazon_dsp", amazon}, {"kargo", kargo}}},
              {"pool", {{"size", pool.size}, {"open", pool.open}, {"in_use", pool.in_use}}},
              {"blocking_pool", {{"threads", pool_.size()}, {"busy", pool_.busy()}, {"queued", pool_.queued()}}},
              {"jobs", jobs},
              {"system",
               {{"rss_bytes", proc.rss_bytes},
                {"threads", proc.threads},
                {"open_fds", proc.open_fds},
                {"uptime_seconds", round3(uptime_seconds)}}}};
          return HealthReport{std::move(body), db_ok};
        },
        [done](Result<HealthReport> r) {
          if (auto* e = std::get_if<Error>(&r)) {
            return done({{{"status", "unhealthy"}, {"error", e->external_message()}}, false});
          }
          done(std::move(std::get<HealthReport>(r)));
        });
  };
  auto settle = [join, finish](bool is_amazon, upstream::UpstreamCheck c) {
    bool last = false;
    {
      std::lock_guard lock(join->mutex);
      (is_amazon ? join->amazon : join->kargo) = std::move(c);
      last = --join->left == 0;
    }
    if (last) finish();
  };
  upstreams_.amazon_dsp([settle](upstream::UpstreamCheck c) { settle(true, std::move(c)); });
  upstreams_.kargo([settle](upstream::UpstreamCheck c) { settle(false, std::move(c)); });
}

}  // namespace kargo::service
