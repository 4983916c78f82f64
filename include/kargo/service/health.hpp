#pragma once
// The checks behind /health/ready and /health/detailed (contract section 8): PostgreSQL (answers,
// migrations current), Redis, the upstreams (cached probes, upstream/upstream_health), the pools,
// the job queue and the process. The upstream probes are asynchronous; the database and Redis
// checks are blocking and run on the database pool, each within 2 s.
//
//   auto ready = health.ready();                       // {body, healthy}; on the database pool
//   health.detailed(call, [](HealthReport r) { ... }); // upstream probes first, then the pool

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>

#include "kargo/service/call.hpp"

namespace kargo::store {
class Database;
class Redis;
}  // namespace kargo::store
namespace kargo::upstream {
class UpstreamHealth;
}

namespace kargo::service {

class JobService;

struct HealthReport {
  nlohmann::json body;  // status and checks (the route adds timestamp, service, version)
  bool healthy = false; // PostgreSQL answers and the schema is current
};

class HealthService {
 public:
  HealthService(store::Database& db, store::Redis& redis, upstream::UpstreamHealth& upstreams, JobService& jobs,
                BlockingPool& pool);

  // {status: ready | degraded (Redis down) | not_ready, checks: {database, redis}}, plus
  // draining: true (and not_ready) once the process is shutting down. Blocking.
  HealthReport ready();
  // The process is shutting down: readiness answers 503 from now on, so load balancers take it
  // out of rotation while in-flight requests finish.
  void set_draining() { draining_ = true; }
  // Everything of /health/detailed but the route's own fields; `uptime_seconds` of the process.
  void detailed(const Call& call, double uptime_seconds, std::function<void(HealthReport)> done);

 private:
  store::Database& db_;
  store::Redis& redis_;
  upstream::UpstreamHealth& upstreams_;
  JobService& jobs_;
  BlockingPool& pool_;
  std::atomic<bool> draining_{false};
};

}  // namespace kargo::service
