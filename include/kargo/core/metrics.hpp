#pragma once
// The service's Prometheus metrics (contract section 8), one owner for the registry.
//
// prometheus-cpp stays behind this pimpl so its templates are compiled in one file. Callers use
// the narrow methods below; hot-path methods cache metric handles per thread.
//
//   metrics.observe_http("GET", "/api/campaigns/{id}", 200, 0.0012);
//   std::string text = metrics.serialize();  // for /health/metrics

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kargo {

struct RouteLatencySummary {
  std::string_view method;  // valid as long as the Metrics object (series are never removed)
  std::string_view route;
  uint64_t count = 0;
  uint64_t errors = 0;         // 5xx responses
  uint64_t client_errors = 0;  // 4xx responses
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // HTTP server. `route` must be a string with static or router lifetime.
  void observe_http(std::string_view method, std::string_view route, int status, double seconds);
  void http_in_flight(int delta);

  // Upstreams: one observation per attempt. `endpoint` is the caller's route template; `status` the
  // HTTP status or the failure kind ("timeout", "connect_error", ...).
  void observe_external(std::string_view service, std::string_view endpoint, std::string_view status,
                        double seconds);
  // A call that never became an attempt (status "circuit_open"): counted, no latency.
  void count_external(std::string_view service, std::string_view endpoint, std::string_view status);
  void set_circuit_state(std::string_view service, int state);  // 0 closed, 1 half-open, 2 open

  // Storage.
  void set_db_pool(unsigned in_use, unsigned idle);
  void set_db_pool_size(unsigned size);  // db_pool_max_connections: the pool's configured maximum
  void observe_db_query(double seconds);
  void redis_error();
  void rate_limited();

  // Domain.
  void observe_creative(std::string_view format, std::string_view phase, std::string_view status,
                        double seconds);
  void set_jobs_queue_depth(std::string_view kind, double depth);
  void job_processed(std::string_view kind, std::string_view status);
  // webhook_deliveries_total{status="delivered"|"retried"|"failed"}: one per attempt ("failed":
  // the last attempt failed, the delivery is given up).
  void webhook_delivery(std::string_view status);
  // webhook_delivery_latency_seconds: commit of the change -> first attempt of its delivery.
  void observe_webhook_latency(double seconds);
  void set_webhook_outbox_depth(double depth);
  // report_rows_ingested_total{report="campaign"|"creative"|"viewability"}: rows written by pulls.
  void report_rows_ingested(std::string_view report, double rows);
  // report_age_seconds: seconds since the newest pulled day of the stalest campaign in flight
  // (one series: a label per campaign would grow without bound).
  void set_report_age(double seconds);
  // report_pull_age_seconds: seconds since the least recently pulled campaign that the periodic
  // pull covers was last pulled (0 when there is none, or the periodic pull is off).
  void set_report_pull_age(double seconds);

  // health_ready (1 ready or degraded, 0 not ready) from the periodic readiness check;
  // health_ready_transitions_total counts its changes (the first check is not one).
  void set_ready(bool ready);

  // Zero series, so every family of contract section 8 is in the first scrape (alerts on absent()
  // or rate() behave on a fresh process). Declared where the label values become known: the
  // routes, the upstream endpoints, the job kinds, the creative formats and phases.
  void declare_http_route(std::string_view method, std::string_view route);
  void declare_external(std::string_view service, std::string_view endpoint);
  void declare_job_kind(std::string_view kind);
  void declare_creative(std::string_view format, std::string_view phase);

  // Prometheus text format 0.0.4; refreshes process_* gauges first. process_start_time_seconds is
  // the construction time of this object (the process builds it at start).
  std::string serialize();
  // Per (method, route): count, error rates and latency percentiles from the histograms.
  std::vector<RouteLatencySummary> route_summaries() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Process figures from /proc, also used by /health/detailed.
struct ProcessStats {
  uint64_t rss_bytes = 0;
  double cpu_seconds = 0;
  unsigned threads = 0;
  unsigned open_fds = 0;
};
ProcessStats read_process_stats();

}  // namespace kargo
