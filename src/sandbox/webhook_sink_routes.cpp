// A webhook receiver in the sandbox (docs/WEBHOOKS.md "Trying webhooks"; the bench's receiver):
// POST /_sandbox/webhooks/{sink} answers 200 and remembers the delivery; GET shows what arrived
// (count, latency from the event's commit, the latest deliveries with their headers); DELETE
// forgets. `?status=503` answers that status instead (a failing receiver). No auth, no signature
// check: the sandbox is a test tool and does not know the secrets.
#include <algorithm>
#include <charconv>

#include "kargo/core/time.hpp"
#include "kargo/sandbox/routes.hpp"

namespace kargo::sandbox {
namespace {

using nlohmann::json;

constexpr size_t kRecent = 20;

// "2026-12-04T16:13:16.123Z" (the body's timestamp) as a time point; nullopt when it is not one.
std::optional<std::chrono::system_clock::time_point> parse_millis(std::string_view text) {
  if (text.size() != 24 || text[10] != 'T' || text[19] != '.' || text[23] != 'Z') return std::nullopt;
  auto day = parse_date(text.substr(0, 10));
  int h = 0, m = 0, s = 0, ms = 0;
  auto number = [&](size_t at, size_t n, int& out) {
    auto [p, ec] = std::from_chars(text.data() + at, text.data() + at + n, out);
    return ec == std::errc() && p == text.data() + at + n;
  };
  if (!day || !number(11, 2, h) || !number(14, 2, m) || !number(17, 2, s) || !number(20, 3, ms)) return std::nullopt;
  return std::chrono::sys_days(*day) + std::chrono::hours(h) + std::chrono::minutes(m) + std::chrono::seconds(s) +
         std::chrono::milliseconds(ms);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  auto at = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

http::Response receive(State& state, const http::Request& req) {
  auto& sink = state.webhook_sinks[std::string(req.param("sink"))];
  const auto now = std::chrono::system_clock::now();
  int status = 200;
  if (auto s = req.query_param("status")) {
    if (std::from_chars(s->data(), s->data() + s->size(), status).ec != std::errc() || status < 200 || status > 599) {
      return json_response(400, {{"error", "status must be an HTTP status (200-599)"}});
    }
  }
  json entry{{"received_at", format_timestamp_millis(now)}, {"status", status}};
  for (const char* h : {"x-webhook-event", "x-webhook-delivery", "x-webhook-signature", "webhook-id",
                        "webhook-timestamp", "webhook-signature", "content-type", "user-agent"}) {
    if (auto v = req.header(h)) entry["headers"][h] = std::string(*v);
  }
  auto body = parse_json(req.body);
  if (body && body->is_object()) {
    entry["event"] = body->value("event", "");
    entry["delivery_id"] = body->value("delivery_id", "");
    entry["retry_count"] = body->value("retry_count", json());
    if (auto at = parse_millis(body->value("timestamp", ""))) {
      double latency = std::chrono::duration<double, std::milli>(now - *at).count();
      entry["latency_ms"] = latency;
      if (status < 300) sink.latencies_ms.push_back(latency);
    }
  }
  entry["body"] = req.body.size() <= 4096 ? req.body : req.body.substr(0, 4096);
  if (sink.count == 0) sink.first_at = now;
  sink.last_at = now;
  ++sink.count;
  sink.recent.push_back(std::move(entry));
  if (sink.recent.size() > kRecent) sink.recent.pop_front();
  return json_response(status, {{"received", status < 300}});
}

http::Response show(State& state, const http::Request& req) {
  auto it = state.webhook_sinks.find(std::string(req.param("sink")));
  if (it == state.webhook_sinks.end()) return json_response(200, {{"count", 0}, {"recent", json::array()}});
  const auto& sink = it->second;
  json recent = json::array();
  for (const auto& entry : sink.recent) recent.push_back(entry);
  return json_response(200, {{"count", sink.count},
                             {"first_received_at", format_timestamp_millis(sink.first_at)},
                             {"last_received_at", format_timestamp_millis(sink.last_at)},
                             {"latency_ms",
                              {{"measured", sink.latencies_ms.size()},
                               {"p50", percentile(sink.latencies_ms, 0.50)},
                               {"p99", percentile(sink.latencies_ms, 0.99)},
                               {"max", sink.latencies_ms.empty()
                                           ? 0.0
                                           : *std::max_element(sink.latencies_ms.begin(), sink.latencies_ms.end())}}},
                             {"recent", recent}});
}

}  // namespace

void register_webhook_sink_routes(http::Router& router, State& state) {
  router.add("POST", "/_sandbox/webhooks/{sink}", {}, [&state](http::Request& req) { return receive(state, req); });
  router.add("GET", "/_sandbox/webhooks/{sink}", {}, [&state](http::Request& req) { return show(state, req); });
  router.add("DELETE", "/_sandbox/webhooks/{sink}", {}, [&state](http::Request& req) {
    state.webhook_sinks.erase(std::string(req.param("sink")));
    return json_response(200, {{"cleared", true}});
  });
}

}  // namespace kargo::sandbox
