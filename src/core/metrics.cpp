#include "kargo/core/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace kargo {

namespace {

const std::vector<double> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

std::string_view canonical_method(std::string_view m) {
  static constexpr std::string_view kKnown[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"};
  for (auto k : kKnown) {
    if (k == m) return k;
  }
  return "OTHER";
}

// Linear interpolation inside the bucket that holds the q-th observation.
double bucket_quantile(double q, const std::vector<prometheus::ClientMetric::Bucket>& buckets) {
  if (buckets.empty()) return 0;
  uint64_t total = buckets.back().cumulative_count;
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  double prev_bound = 0;
  uint64_t prev_count = 0;
  for (const auto& b : buckets) {
    if (static_cast<double>(b.cumulative_count) >= rank) {
      if (std::isinf(b.upper_bound)) return prev_bound;
      uint64_t in_bucket = b.cumulative_count - prev_count;
      if (in_bucket == 0) return b.upper_bound;
      double frac = (rank - static_cast<double>(prev_count)) / static_cast<double>(in_bucket);
      return prev_bound + (b.upper_bound - prev_bound) * frac;
    }
    prev_bound = b.upper_bound;
    prev_count = b.cumulative_count;
  }
  return prev_bound;
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& http_requests =
      prometheus::BuildCounter().Name("http_requests_total").Help("HTTP requests served").Register(*registry);
  prometheus::Family<prometheus::Histogram>& http_duration =
      prometheus::BuildHistogram()
          .Name("http_request_duration_seconds")
          .Help("HTTP request latency from headers read to response queued")
          .Register(*registry);
  prometheus::Gauge& in_flight = prometheus::BuildGauge()
                                     .Name("http_requests_in_flight")
                                     .Help("HTTP requests being served")
                                     .Register(*registry)
                                     .Add({});
  prometheus::Family<prometheus::Counter>& external_requests = prometheus::BuildCounter()
                                                                   .Name("external_api_requests_total")
                                                                   .Help("Calls to upstream APIs")
                                                                   .Register(*registry);
  prometheus::Family<prometheus::Histogram>& external_duration =
      prometheus::BuildHistogram()
          .Name("external_api_request_duration_seconds")
          .Help("Upstream call latency, per attempt")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& circuit_state =
      prometheus::BuildGauge()
          .Name("external_api_circuit_state")
          .Help("Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& db_pool = prometheus::BuildGauge()
                                                       .Name("db_pool_connections")
                                                       .Help("PostgreSQL pool connections")
                                                       .Register(*registry);
  prometheus::Gauge& db_in_use = db_pool.Add({{"state", "in_use"}});
  prometheus::Gauge& db_idle = db_pool.Add({{"state", "idle"}});
  prometheus::Histogram& db_query = prometheus::BuildHistogram()
                                        .Name("db_query_duration_seconds")
                                        .Help("PostgreSQL transaction latency")
                                        .Register(*registry)
                                        .Add({}, kLatencyBuckets);
  prometheus::Counter& redis_errors = prometheus::BuildCounter()
                                          .Name("redis_errors_total")
                                          .Help("Failed Redis commands")
                                          .Register(*registry)
                                          .Add({});
  prometheus::Family<prometheus::Counter>& creative_total = prometheus::BuildCounter()
                                                                .Name("creative_processing_total")
                                                                .Help("Creatives processed")
                                                                .Register(*registry);
  prometheus::Histogram& creative_duration = prometheus::BuildHistogram()
                                                 .Name("creative_processing_duration_seconds")
                                                 .Help("Creative transformation time")
                                                 .Register(*registry)
                                                 .Add({}, kLatencyBuckets);
  prometheus::Family<prometheus::Gauge>& jobs_depth =
      prometheus::BuildGauge().Name("jobs_queue_depth").Help("Queued jobs per kind").Register(*registry);
  prometheus::Family<prometheus::Counter>& jobs_processed = prometheus::BuildCounter()
                                                                .Name("jobs_processed_total")
                                                                .Help("Finished job attempts")
                                                                .Register(*registry);
  prometheus::Family<prometheus::Counter>& webhook_deliveries = prometheus::BuildCounter()
                                                                    .Name("webhook_deliveries_total")
                                                                    .Help("Webhook delivery attempts")
                                                                    .Register(*registry);
  prometheus::Histogram& webhook_latency =
      prometheus::BuildHistogram()
          .Name("webhook_delivery_latency_seconds")
          .Help("Time from the commit of a change to the first attempt of its webhook delivery")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                            10, 30, 60});
  prometheus::Gauge& webhook_outbox = prometheus::BuildGauge()
                                          .Name("webhook_outbox_depth")
                                          .Help("Webhook events not yet fanned out plus deliveries pending")
                                          .Register(*registry)
                                          .Add({});
  prometheus::Family<prometheus::Counter>& report_rows = prometheus::BuildCounter()
                                                             .Name("report_rows_ingested_total")
                                                             .Help("Report rows written by report pulls")
                                                             .Register(*registry);
  prometheus::Gauge& report_age = prometheus::BuildGauge()
                                      .Name("report_age_seconds")
                                      .Help("Seconds since the newest pulled day of the stalest campaign in flight")
                                      .Register(*registry)
                                      .Add({});
  prometheus::Gauge& report_pull_age =
      prometheus::BuildGauge()
          .Name("report_pull_age_seconds")
          .Help(
              "Seconds since the least recently pulled campaign of the periodic report pull was last pulled")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& ready =
      prometheus::BuildGauge()
          .Name("health_ready")
          .Help("1 while /health/ready answers 200 (ready or degraded), 0 while it answers 503")
          .Register(*registry)
          .Add({});
  prometheus::Counter& ready_transitions = prometheus::BuildCounter()
                                               .Name("health_ready_transitions_total")
                                               .Help("Changes of health_ready between ready and not ready")
                                               .Register(*registry)
                                               .Add({});
  std::atomic<int> ready_state{-1};  // -1 until the first check: the first result is no transition
  prometheus::Gauge& db_pool_max =
      prometheus::BuildGauge()
          .Name("db_pool_max_connections")
          .Help("The most connections the PostgreSQL pool opens (DATABASE_POOL_SIZE)")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& start_time = prometheus::BuildGauge()
                                      .Name("process_start_time_seconds")
                                      .Help("Start time of the process since unix epoch in seconds")
                                      .Register(*registry)
                                      .Add({});
  prometheus::Counter& rate_limited = prometheus::BuildCounter()
                                          .Name("rate_limited_requests_total")
                                          .Help("Requests refused by the rate limiter")
                                          .Register(*registry)
                                          .Add({});
  prometheus::Gauge& rss = prometheus::BuildGauge()
                               .Name("process_resident_memory_bytes")
                               .Help("Resident memory")
                               .Register(*registry)
                               .Add({});
  prometheus::Gauge& fds = prometheus::BuildGauge()
                               .Name("process_open_fds")
                               .Help("Open file descriptors")
                               .Register(*registry)
                               .Add({});

  // Family::Add takes a lock and hashes labels; the hot path remembers handles per thread.
  struct HttpHandles {
    prometheus::Counter* counter;
    prometheus::Histogram* histogram;
  };
  // Keyed by the route string's address (router-owned, stable), the method and the status,
  // so a lookup allocates nothing.
  struct HttpKey {
    const char* route;
    size_t route_size;
    const char* method;
    int status;
    bool operator==(const HttpKey&) const = default;
  };
  struct HttpKeyHash {
    size_t operator()(const HttpKey& k) const {
      return std::hash<const void*>()(k.route) ^ (std::hash<const void*>()(k.method) << 1) ^
             (static_cast<size_t>(k.status) << 20) ^ k.route_size;
    }
  };
  struct HttpCache {
    uint64_t owner = 0;  // Impl::id: an address could be reused by a later Metrics object
    std::unordered_map<HttpKey, HttpHandles, HttpKeyHash> handles;
  };
  // Upstream series by "service\0endpoint\0status", built in a reused buffer, so a lookup
  // allocates nothing once warm. `histogram` is per (service, endpoint).
  struct ExternalCache {
    uint64_t owner = 0;
    std::unordered_map<std::string, HttpHandles> handles;
    std::string key;
  };
  HttpHandles& external_handles(std::string_view service, std::string_view endpoint,
                                std::string_view status) {
    thread_local ExternalCache cache;
    if (cache.owner != id) {
      cache.handles.clear();
      cache.owner = id;
    }
    cache.key.assign(service).push_back('\0');
    cache.key.append(endpoint).push_back('\0');
    cache.key.append(status);
    auto it = cache.handles.find(cache.key);
    if (it == cache.handles.end()) {
      std::lock_guard lock(add_mutex);
      HttpHandles h{
          &external_requests.Add({{"service", std::string(service)},
                                  {"endpoint", std::string(endpoint)},
                                  {"status", std::string(status)}}),
          &external_duration.Add({{"service", std::string(service)}, {"endpoint", std::string(endpoint)}},
                                 kLatencyBuckets)};
      it = cache.handles.emplace(cache.key, h).first;
    }
    return it->second;
  }
  static uint64_t next_id() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }
  const uint64_t id = next_id();
  std::mutex add_mutex;  // serialises Family::Add for the same labels across threads
  // The same handles by (method, route), for route_summaries(): reading a handle is cheaper than
  // Family::Collect(), which copies every series with its labels. Guarded by add_mutex.
  struct RouteSeries {
    prometheus::Histogram* histogram = nullptr;
    std::map<int, prometheus::Counter*> by_status;
  };
  std::map<std::pair<std::string, std::string>, RouteSeries> route_series;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  // The process builds its Metrics first thing at start; a restart shows as a new value.
  impl_->start_time.Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  // The attempt outcomes of webhook_deliveries_total are fixed: all exist from the start.
  for (const char* status : {"delivered", "retried", "failed"}) impl_->webhook_deliveries.Add({{"status", status}});
  for (const char* report : {"campaign", "creative", "viewability"}) impl_->report_rows.Add({{"report", report}});
}

void Metrics::declare_http_route(std::string_view method, std::string_view route) {
  std::lock_guard lock(impl_->add_mutex);
  auto m = std::string(canonical_method(method));
  impl_->http_requests.Add({{"method", m}, {"route", std::string(route)}, {"status", "200"}});
  impl_->http_duration.Add({{"method", m}, {"route", std::string(route)}}, kLatencyBuckets);
}

void Metrics::declare_external(std::string_view service, std::string_view endpoint) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->external_requests.Add(
      {{"service", std::string(service)}, {"endpoint", std::string(endpoint)}, {"status", "200"}});
  impl_->external_duration.Add({{"service", std::string(service)}, {"endpoint", std::string(endpoint)}},
                               kLatencyBuckets);
}

void Metrics::declare_job_kind(std::string_view kind) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->jobs_depth.Add({{"kind", std::string(kind)}});
  for (const char* status : {"succeeded", "failed", "retried"}) {
    impl_->jobs_processed.Add({{"kind", std::string(kind)}, {"status", status}});
  }
}

void Metrics::declare_creative(std::string_view format, std::string_view phase) {
  std::lock_guard lock(impl_->add_mutex);
  for (const char* status : {"success", "failed"}) {
    impl_->creative_total.Add({{"format", std::string(format)}, {"phase", std::string(phase)}, {"status", status}});
  }
}
Metrics::~Metrics() = default;

void Metrics::observe_http(std::string_view method, std::string_view route, int status, double seconds) {
  thread_local Impl::HttpCache cache;
  if (cache.owner != impl_->id) {
    cache.handles.clear();
    cache.owner = impl_->id;
  }
  auto m = canonical_method(method);
  Impl::HttpKey key{route.data(), route.size(), m.data(), status};
  auto it = cache.handles.find(key);
  if (it == cache.handles.end()) {
    std::lock_guard lock(impl_->add_mutex);
    Impl::HttpHandles h{
        &impl_->http_requests.Add(
            {{"method", std::string(m)}, {"route", std::string(route)}, {"status", std::to_string(status)}}),
        &impl_->http_duration.Add({{"method", std::string(m)}, {"route", std::string(route)}},
                                  kLatencyBuckets)};
    auto& series = impl_->route_series[{std::string(m), std::string(route)}];
    series.histogram = h.histogram;
    series.by_status[status] = h.counter;
    it = cache.handles.emplace(key, h).first;
  }
  it->second.counter->Increment();
  it->second.histogram->Observe(seconds);
}

void Metrics::http_in_flight(int delta) { impl_->in_flight.Increment(delta); }

void Metrics::observe_external(std::string_view service, std::string_view endpoint, std::string_view status,
                               double seconds) {
  auto& h = impl_->external_handles(service, endpoint, status);
  h.counter->Increment();
  h.histogram->Observe(seconds);
}

void Metrics::count_external(std::string_view service, std::string_view endpoint, std::string_view status) {
  impl_->external_handles(service, endpoint, status).counter->Increment();
}

void Metrics::set_circuit_state(std::string_view service, int state) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->circuit_state.Add({{"service", std::string(service)}}).Set(state);
}

void Metrics::set_db_pool(unsigned in_use, unsigned idle) {
  impl_->db_in_use.Set(in_use);
  impl_->db_idle.Set(idle);
}

void Metrics::set_db_pool_size(unsigned size) { impl_->db_pool_max.Set(size); }

void Metrics::set_ready(bool ready) {
  const int now = ready ? 1 : 0;
  impl_->ready.Set(now);
  const int before = impl_->ready_state.exchange(now);
  if (before != -1 && before != now) impl_->ready_transitions.Increment();
}

void Metrics::observe_db_query(double seconds) { impl_->db_query.Observe(seconds); }
void Metrics::redis_error() { impl_->redis_errors.Increment(); }
void Metrics::rate_limited() { impl_->rate_limited.Increment(); }

void Metrics::observe_creative(std::string_view format, std::string_view phase, std::string_view status,
                               double seconds) {
  {
    std::lock_guard lock(impl_->add_mutex);
    impl_->creative_total
        .Add(
            {{"format", std::string(format)}, {"phase", std::string(phase)}, {"status", std::string(status)}})
        .Increment();
  }
  impl_->creative_duration.Observe(seconds);
}

void Metrics::set_jobs_queue_depth(std::string_view kind, double depth) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->jobs_depth.Add({{"kind", std::string(kind)}}).Set(depth);
}

void Metrics::job_processed(std::string_view kind, std::string_view status) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->jobs_processed.Add({{"kind", std::string(kind)}, {"status", std::string(status)}}).Increment();
}

void Metrics::webhook_delivery(std::string_view status) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->webhook_deliveries.Add({{"status", std::string(status)}}).Increment();
}

void Metrics::report_rows_ingested(std::string_view report, double rows) {
  std::lock_guard lock(impl_->add_mutex);
  impl_->report_rows.Add({{"report", std::string(report)}}).Increment(rows);
}

void Metrics::set_report_age(double seconds) { impl_->report_age.Set(seconds); }
void Metrics::set_report_pull_age(double seconds) { impl_->report_pull_age.Set(seconds); }

void Metrics::observe_webhook_latency(double seconds) { impl_->webhook_latency.Observe(seconds); }

void Metrics::set_webhook_outbox_depth(double depth) { impl_->webhook_outbox.Set(depth); }

std::string Metrics::serialize() {
  auto stats = read_process_stats();
  impl_->rss.Set(static_cast<double>(stats.rss_bytes));
  impl_->fds.Set(stats.open_fds);
  prometheus::TextSerializer serializer;
  std::ostringstream out;
  auto families = impl_->registry->Collect();
  // A counter that only the kernel increments: prometheus-cpp's Counter cannot be set, so
  // this family is built by hand to keep the standard counter type.
  prometheus::MetricFamily cpu;
  cpu.name = "process_cpu_seconds_total";
  cpu.help = "Total user and system CPU time spent in seconds";
  cpu.type = prometheus::MetricType::Counter;
  cpu.metric.emplace_back();
  cpu.metric.back().counter.value = stats.cpu_seconds;
  families.push_back(std::move(cpu));
  serializer.Serialize(out, families);
  return out.str();
}

std::vector<RouteLatencySummary> Metrics::route_summaries() const {
  std::vector<RouteLatencySummary> out;
  // Read under add_mutex rather than copying the map out: new series are rare, and the map's
  // keys stay where they are, so the summaries can point at them.
  std::lock_guard lock(impl_->add_mutex);
  out.reserve(impl_->route_series.size());
  for (const auto& [key, s] : impl_->route_series) {
    RouteLatencySummary r;
    r.method = key.first;
    r.route = key.second;
    auto h = s.histogram->Collect().histogram;
    r.count = h.sample_count;
    r.p50_ms = bucket_quantile(0.50, h.bucket) * 1000.0;
    r.p95_ms = bucket_quantile(0.95, h.bucket) * 1000.0;
    r.p99_ms = bucket_quantile(0.99, h.bucket) * 1000.0;
    for (const auto& [status, counter] : s.by_status) {
      auto n = static_cast<uint64_t>(counter->Value());
      if (status >= 500) {
        r.errors += n;
      } else if (status >= 400) {
        r.client_errors += n;
      }
    }
    out.push_back(r);
  }
  return out;
}

ProcessStats read_process_stats() {
  ProcessStats s;
  long page = sysconf(_SC_PAGESIZE);
  long ticks = sysconf(_SC_CLK_TCK);
  if (std::ifstream statm("/proc/self/statm"); statm) {
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    s.rss_bytes = resident * static_cast<uint64_t>(page);
  }
  if (std::ifstream stat("/proc/self/stat"); stat) {
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15,
    // num_threads is 20 (1-based, counting pid as 1).
    auto close = content.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(content.substr(close + 2));
      std::vector<std::string> f((std::istream_iterator<std::string>(rest)),
                                 std::istream_iterator<std::string>());
      if (f.size() > 17) {
        s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
        s.threads = static_cast<unsigned>(std::stoul(f[17]));
      }
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (auto* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    closedir(dir);
    if (s.open_fds > 0) --s.open_fds;  // the directory handle itself
  }
  return s;
}

}  // namespace kargo
