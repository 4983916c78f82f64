#include "kargo/upstream/retry_policy.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <random>

namespace kargo::upstream {

namespace {

using std::chrono::milliseconds;

double thread_uniform01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// HTTP-date in the three forms RFC 9110 section 5.6.7 says a recipient must accept. strptime
// in the "C" locale (the service never calls setlocale) reads English day and month names.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  static constexpr std::array<const char*, 3> kFormats = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT
      "%a %b %e %H:%M:%S %Y",       // asctime:     Sun Nov  6 08:49:37 1994
  };
  std::string s(text);
  for (const char* format : kFormats) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), format, &tm);
    if (end == nullptr || *end != '\0') continue;
    time_t t = ::timegm(&tm);
    if (t == static_cast<time_t>(-1)) continue;
    return std::chrono::system_clock::from_time_t(t);
  }
  return std::nullopt;
}

}  // namespace

bool idempotent_method(std::string_view method) {
  static constexpr std::array<std::string_view, 6> kIdempotent = {"GET", "HEAD",   "OPTIONS",
                                                                  "PUT", "DELETE", "TRACE"};
  return std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end();
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    uint64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ptr != value.data() + value.size()) return std::nullopt;
    // Huge values saturate instead of overflowing; the policy caps them anyway.
    if (ec == std::errc::result_out_of_range || seconds > 86400ull * 365) seconds = 86400ull * 365;
    return std::chrono::seconds(seconds);
  }
  auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds(0);
  return std::chrono::duration_cast<milliseconds>(*when - now);
}

RetryPolicy::RetryPolicy(RetryOptions options, std::function<double()> uniform01)
    : options_(options), uniform01_(uniform01 ? std::move(uniform01) : thread_uniform01) {}

bool RetryPolicy::retryable(const HttpResult& outcome, bool idempotent) {
  if (outcome.ok()) {
    int status = outcome.response().status;
    // The server answered, so the request reached it: an unsafe write may have been applied
    // (a 5xx after the write, a 429 from a gateway after the backend saw it).
    return (status == 429 || status >= 500) && idempotent;
  }
  const auto& error = outcome.error();
  switch (error.kind) {
    case FailureKind::kConnect:
    case FailureKind::kTimeout:
    case FailureKind::kConnectionLost:
    case FailureKind::kMalformed:
      return idempotent || !error.request_sent;
    case FailureKind::kInvalidRequest:
    case FailureKind::kTls:
    case FailureKind::kTooLarge:
    case FailureKind::kDecode:
    case FailureKind::kRedirect:
    case FailureKind::kCancelled:
    case FailureKind::kRefusedAddress:
      return false;
  }
  return false;
}

milliseconds RetryPolicy::backoff(unsigned retry) const {
  // base * 2^retry, saturating at max_delay without overflowing for large retry numbers.
  auto ceiling = options_.base_delay;
  for (unsigned i = 0; i < retry && ceiling < options_.max_delay; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, options_.max_delay);
  double r = std::clamp(uniform01_(), 0.0, 1.0);
  return milliseconds(static_cast<int64_t>(r * static_cast<double>(ceiling.count())));
}

std::optional<milliseconds> RetryPolicy::next_delay(unsigned retries_done, const HttpResult& outcome,
                                                    bool idempotent,
                                                    std::chrono::system_clock::time_point now) const {
  if (retries_done >= options_.max_retries || !retryable(outcome, idempotent)) return std::nullopt;
  if (outcome.ok()) {
    if (auto value = outcome.response().header("retry-after")) {
      if (auto wait = parse_retry_after(*value, now)) return std::min(*wait, options_.max_retry_after);
    }
  }
  return backoff(retries_done);
}

}  // namespace kargo::upstream
