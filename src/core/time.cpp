#include "kargo/core/time.hpp"

#include <fmt/format.h>

#include <charconv>

namespace kargo {
namespace {

struct Parts {
  int year;
  unsigned month, day, hour, minute, second, millis;
};

Parts split(SystemTime t) {
  using namespace std::chrono;
  auto ms = time_point_cast<milliseconds>(t);
  auto days = floor<std::chrono::days>(ms);
  year_month_day ymd{days};
  auto in_day = ms - days;
  auto h = duration_cast<hours>(in_day);
  auto m = duration_cast<minutes>(in_day - h);
  auto s = duration_cast<seconds>(in_day - h - m);
  auto milli = duration_cast<milliseconds>(in_day - h - m - s);
  return {int(ymd.year()),     unsigned(ymd.month()), unsigned(ymd.day()),    unsigned(h.count()),
          unsigned(m.count()), unsigned(s.count()),   unsigned(milli.count())};
}

}  // namespace

std::string format_timestamp(SystemTime t) {
  auto p = split(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", p.year, p.month, p.day, p.hour, p.minute,
                     p.second);
}

std::string format_timestamp_millis(SystemTime t) {
  auto p = split(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", p.year, p.month, p.day, p.hour, p.minute,
                     p.second, p.millis);
}

std::optional<std::chrono::year_month_day> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto num = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
    }
    std::from_chars(text.data() + pos, text.data() + pos + len, v);
    return v;
  };
  auto y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (!y || !m || !d) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(*y), std::chrono::month(unsigned(*m)),
                                  std::chrono::day(unsigned(*d))};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

std::string format_date(std::chrono::year_month_day d) {
  return fmt::format("{:04}-{:02}-{:02}", int(d.year()), unsigned(d.month()), unsigned(d.day()));
}

int64_t unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace kargo
