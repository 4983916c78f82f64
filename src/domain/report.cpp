#include "kargo/domain/report.hpp"

#include "kargo/core/time.hpp"

namespace kargo::domain {

using std::chrono::sys_days;

int DateRange::days() const { return static_cast<int>((sys_days(end) - sys_days(start)).count()) + 1; }
std::string DateRange::start_text() const { return format_date(start); }
std::string DateRange::end_text() const { return format_date(end); }

std::optional<DateRange> read_date_range(Validator& v, const std::optional<std::string>& start,
                                         const std::optional<std::string>& end, std::string_view start_field,
                                         std::string_view end_field) {
  std::optional<std::chrono::year_month_day> from, to;
  if (start && !(from = parse_date(*start))) {
    v.add(v.field_name(start_field), "must be a date YYYY-MM-DD");
  }
  if (end && !(to = parse_date(*end))) v.add(v.field_name(end_field), "must be a date YYYY-MM-DD");
  if (!from || !to) return std::nullopt;
  DateRange range{*from, *to};
  if (sys_days(*to) < sys_days(*from)) {
    v.add(v.field_name(end_field), "must not be before " + std::string(start_field));
    return std::nullopt;
  }
  if (range.days() > kMaxReportRangeDays) {
    v.add(v.field_name(end_field), "the range is " + std::to_string(range.days()) + " days; at most " +
                                       std::to_string(kMaxReportRangeDays) + " are allowed");
    return std::nullopt;
  }
  return range;
}

std::vector<DateRange> windows(const DateRange& range, int max_days) {
  std::vector<DateRange> out;
  for (sys_days from = range.start; from <= sys_days(range.end); from += std::chrono::days(max_days)) {
    sys_days to = std::min(from + std::chrono::days(max_days - 1), sys_days(range.end));
    out.push_back({std::chrono::year_month_day(from), std::chrono::year_month_day(to)});
  }
  return out;
}

DateRange last_days(std::chrono::year_month_day today, int days) {
  return {std::chrono::year_month_day(sys_days(today) - std::chrono::days(days - 1)), today};
}

std::optional<std::string> vendor_from_amazon(std::string_view amazon_vendor) {
  if (amazon_vendor == "DOUBLE_VERIFY") return "double_verify";
  if (amazon_vendor == "IAS") return "ias";
  return std::nullopt;
}

}  // namespace kargo::domain
