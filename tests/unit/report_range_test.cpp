// The report range rules (domain/report): dates, the 366-day cap, Amazon's 31-day windows.
#include "kargo/domain/report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace kargo;
using namespace std::chrono;

namespace {

std::optional<domain::DateRange> range_of(const std::string& start, const std::string& end,
                                          std::vector<FieldError>* errors = nullptr) {
  Validator v;
  auto range = domain::read_date_range(v, start, end);
  if (errors) *errors = v.errors();
  return range;
}

std::vector<std::string> texts(const std::vector<domain::DateRange>& windows) {
  std::vector<std::string> out;
  for (const auto& w : windows) out.push_back(w.start_text() + ".." + w.end_text());
  return out;
}

}  // namespace

TEST(ReportRange, AcceptsOneDayAndAFullLeapYear) {
  auto one = range_of("2026-03-01", "2026-03-01");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->days(), 1);
  auto leap = range_of("2028-01-01", "2028-12-31");  // 366 days
  ASSERT_TRUE(leap);
  EXPECT_EQ(leap->days(), 366);
}

TEST(ReportRange, RefusesEndBeforeStartLongRangesAndBadDates) {
  std::vector<FieldError> errors;
  EXPECT_FALSE(range_of("2026-03-02", "2026-03-01", &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "end_date");
  EXPECT_NE(errors[0].message.find("before start_date"), std::string::npos);

  EXPECT_FALSE(range_of("2026-01-01", "2027-01-02", &errors));  // 367 days
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("367 days"), std::string::npos);

  EXPECT_FALSE(range_of("2026-02-30", "2026-13-01", &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].field, "start_date");
  EXPECT_EQ(errors[1].field, "end_date");
}

TEST(ReportRange, FieldNamesFollowANestedValidator) {
  nlohmann::json body{{"date_range", {{"start_date", "2026-01-05"}, {"end_date", "2026-01-01"}}}};
  Validator v(body);
  Validator d = v.nested(body["date_range"], "date_range");
  EXPECT_FALSE(domain::read_date_range(d, d.string("start_date"), d.string("end_date")));
  ASSERT_EQ(v.errors().size(), 1u);
  EXPECT_EQ(v.errors()[0].field, "date_range.end_date");
}

TEST(ReportRange, WindowsAreAtMost31DaysAndCoverTheRangeExactly) {
  EXPECT_EQ(texts(domain::windows(*range_of("2026-01-01", "2026-01-31"))),
            (std::vector<std::string>{"2026-01-01..2026-01-31"}));
  EXPECT_EQ(texts(domain::windows(*range_of("2026-01-01", "2026-02-14"))),  // 45 days: two windows
            (std::vector<std::string>{"2026-01-01..2026-01-31", "2026-02-01..2026-02-14"}));
  EXPECT_EQ(texts(domain::windows(*range_of("2025-12-20", "2026-01-20"))),  // 32 days over a year end
            (std::vector<std::string>{"2025-12-20..2026-01-19", "2026-01-20..2026-01-20"}));
  auto year = domain::windows(*range_of("2028-01-01", "2028-12-31"));
  ASSERT_EQ(year.size(), 12u);  // 11 x 31 + 25
  int total = 0;
  for (size_t i = 0; i < year.size(); ++i) {
    EXPECT_LE(year[i].days(), domain::kMaxReportWindowDays);
    if (i) {
      EXPECT_EQ(sys_days(year[i].start), sys_days(year[i - 1].end) + std::chrono::days{1});
    }
    total += year[i].days();
  }
  EXPECT_EQ(total, 366);
  EXPECT_EQ(year.back().end_text(), "2028-12-31");
}

TEST(ReportRange, LastDaysEndToday) {
  auto r = domain::last_days(year_month_day(2026y / January / 2), 3);
  EXPECT_EQ(r.start_text(), "2025-12-31");
  EXPECT_EQ(r.end_text(), "2026-01-02");
}

TEST(ReportRange, VendorsMapToOurNamesAndOthersAreDropped) {
  EXPECT_EQ(domain::vendor_from_amazon("DOUBLE_VERIFY"), "double_verify");
  EXPECT_EQ(domain::vendor_from_amazon("IAS"), "ias");
  EXPECT_EQ(domain::vendor_from_amazon("MOAT"), std::nullopt);
  EXPECT_EQ(domain::vendor_from_amazon("ias"), std::nullopt);
}
