#pragma once
// UTC time formatting used by envelopes, logs and resources (contract: ISO 8601 with `Z`).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kargo {

using SystemTime = std::chrono::system_clock::time_point;

// 2026-01-01T00:00:00Z
std::string format_timestamp(SystemTime t);
// 2026-01-01T00:00:00.123Z
std::string format_timestamp_millis(SystemTime t);
void append_timestamp_millis(std::string& out, SystemTime t);
// Parses "YYYY-MM-DD" into a valid calendar date, or nullopt.
std::optional<std::chrono::year_month_day> parse_date(std::string_view text);
std::string format_date(std::chrono::year_month_day d);
// Today's date in UTC.
std::chrono::year_month_day today_utc();
int64_t unix_seconds(SystemTime t);

}  // namespace kargo
