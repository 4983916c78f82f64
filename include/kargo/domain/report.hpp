#pragma once
// The rules of report ranges (contract section 6, docs/REPORTS.md), pure: a date range as the API
// takes it (YYYY-MM-DD, end not before start, at most 366 days), cut into the windows Amazon
// accepts (at most 31 days each), and Amazon's vendor names mapped to ours.
//
//   Validator v(body);
//   auto range = domain::read_date_range(v, v.string("start_date", {.required = true}),
//                                        v.string("end_date", {.required = true}));
//   v.check();
//   for (const auto& w : domain::windows(*range)) pull(w.start_text(), w.end_text());

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/core/validator.hpp"

namespace kargo::domain {

inline constexpr int kMaxReportRangeDays = 366;  // one year, leap day included
inline constexpr int kMaxReportWindowDays = 31;  // Amazon's limit per report

struct DateRange {
  std::chrono::year_month_day start, end;  // inclusive
  int days() const;
  std::string start_text() const;
  std::string end_text() const;
};

// The range of two texts; adds to `v` (fields start_field / end_field) when a date is not a valid
// YYYY-MM-DD, when end is before start, or when the range is longer than kMaxReportRangeDays. A
// missing text (nullopt) is left to the caller's `required` rule.
std::optional<DateRange> read_date_range(Validator& v, const std::optional<std::string>& start,
                                         const std::optional<std::string>& end,
                                         std::string_view start_field = "start_date",
                                         std::string_view end_field = "end_date");

// Consecutive windows of at most `max_days` covering the range, from its start.
std::vector<DateRange> windows(const DateRange& range, int max_days = kMaxReportWindowDays);

// The last `days` days up to and including `today`.
DateRange last_days(std::chrono::year_month_day today, int days);

// DOUBLE_VERIFY -> double_verify, IAS -> ias; nullopt for a vendor we do not keep.
std::optional<std::string> vendor_from_amazon(std::string_view amazon_vendor);

}  // namespace kargo::domain
