// Operational read-outs: /api/errors/statistics, /api/errors/recent, /api/performance/summary.
// Per process, since its start; computed from the same counters Prometheus scrapes.
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/core/error_stats.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

double round_to(double v, double scale) { return std::round(v * scale) / scale; }

// Appends `,"key":value` (shortest round-trip form, as a JSON number).
template <typename Number>
void append_number(std::string& out, std::string_view key, Number value) {
  char buf[32];
  out += ",\"";
  out += key;
  out += "\":";
  out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

}  // namespace

void OpsRoutes::add_to(http::Router& router) {
  router.add("GET", "/api/errors/statistics", kViewerInline, [this](http::Request& req) {
    auto s = errors_.snapshot();
    nlohmann::json by_route = nlohmann::json::object();
    for (const auto& [route, codes] : s.by_route_and_code) by_route[route] = codes;
    return http::ok(req, {{"since", format_timestamp(s.since)},
                          {"total_errors", s.total},
                          {"by_code", s.by_code},
                          {"by_route", by_route}});
  });

  router.add("GET", "/api/errors/recent", kViewerInline, [this](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    v.check();
    auto items = nlohmann::json::array();
    auto [recent, total] = errors_.recent(page.limit, page.offset);
    for (const auto& e : recent) {
      items.push_back({{"request_id", e.request_id},
                       {"code", e.code},
                       {"message", e.message},
                       {"route", e.route},
                       {"at", format_timestamp(e.at)}});
    }
    return http::ok(req, http::list_data("errors", std::move(items), total, page));
  });

  // Written as text rather than through a JSON tree: this read-out is polled by dashboards and was
  // the most expensive authenticated route per request (docs/PERFORMANCE.md).
  router.add("GET", "/api/performance/summary", kViewerInline, [this](http::Request& req) {
    std::string routes;
    routes.reserve(1024);
    uint64_t total = 0, errors = 0;
    for (const auto& r : metrics_.route_summaries()) {
      total += r.count;
      errors += r.errors;
      double n = r.count ? static_cast<double>(r.count) : 1.0;
      routes += routes.empty() ? "[" : ",";
      routes += "{\"method\":";
      log::append_json_string(routes, r.method);
      routes += ",\"route\":";
      log::append_json_string(routes, r.route);
      append_number(routes, "count", r.count);
      append_number(routes, "error_rate", round_to(static_cast<double>(r.errors) / n, 1e4));
      append_number(routes, "client_error_rate", round_to(static_cast<double>(r.client_errors) / n, 1e4));
      append_number(routes, "p50_ms", round_to(r.p50_ms, 1e3));
      append_number(routes, "p95_ms", round_to(r.p95_ms, 1e3));
      append_number(routes, "p99_ms", round_to(r.p99_ms, 1e3));
      routes += '}';
    }
    routes += routes.empty() ? "[]" : "]";
    double uptime = std::chrono::duration<double>(std::chrono::system_clock::now() - started_at_).count();
    std::string data = "{\"since\":\"" + format_timestamp(started_at_) + '"';
    append_number(data, "uptime_seconds", round_to(uptime, 1e3));
    append_number(data, "total_requests", total);
    append_number(data, "error_rate", total ? round_to(static_cast<double>(errors) / total, 1e4) : 0.0);
    data += ",\"routes\":";
    data += routes;
    data += '}';
    return http::ok_serialized(req, data);
  });
}

}  // namespace kargo::api
