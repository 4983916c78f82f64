#include "kargo/core/time.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

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

namespace {

void put2(char* out, unsigned v) {
  out[0] = static_cast<char>('0' + v / 10 % 10);
  out[1] = static_cast<char>('0' + v % 10);
}

// "YYYY-MM-DDTHH:MM:SS" of the second containing `t`. Every log line and most responses carry a
// timestamp, so the text of the current second is kept per thread and only rebuilt when the
// second changes (fmt and the calendar arithmetic cost more than the rest of a log line).
std::string_view second_text(SystemTime t) {
  struct Cache {
    int64_t second = INT64_MIN;
    char text[20];
  };
  thread_local Cache cache;
  int64_t second = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  if (second != cache.second) {
    auto p = split(t);
    char* o = cache.text;
    int y = p.year;
    if (y < 0 || y > 9999) y = 0;
    put2(o, static_cast<unsigned>(y / 100));
    put2(o + 2, static_cast<unsigned>(y % 100));
    o[4] = '-';
    put2(o + 5, p.month);
    o[7] = '-';
    put2(o + 8, p.day);
    o[10] = 'T';
    put2(o + 11, p.hour);
    o[13] = ':';
    put2(o + 14, p.minute);
    o[16] = ':';
    put2(o + 17, p.second);
    cache.second = second;
  }
  return {cache.text, 19};
}

}  // namespace

std::string format_timestamp(SystemTime t) {
  std::string out;
  out.reserve(20);
  out += second_text(t);
  out += 'Z';
  return out;
}

std::string format_timestamp_millis(SystemTime t) {
  std::string out;
  out.reserve(24);
  append_timestamp_millis(out, t);
  return out;
}

void append_timestamp_millis(std::string& out, SystemTime t) {
  auto ms = std::chrono::floor<std::chrono::milliseconds>(t).time_since_epoch().count() % 1000;
  if (ms < 0) ms += 1000;
  out += second_text(t);
  char frac[5] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10), 'Z'};
  out.append(frac, 5);
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

std::chrono::year_month_day today_utc() {
  return std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()));
}

}  // namespace kargo
