// The series the alert rules (deploy/prometheus/alerts.yaml) need beyond the request metrics:
// readiness and its changes, the pool's maximum, the process start time and the report pull age,
// read back from the text /health/metrics serves.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>

#include "kargo/core/metrics.hpp"

using namespace kargo;

namespace {

// The value of the sample line `series` (name plus labels, as serialised), if there is one.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST(Metrics, ReadinessIsAGaugeAndItsChangesAreCountedButNotTheFirstCheck) {
  Metrics m;
  EXPECT_EQ(sample(m.serialize(), "health_ready"), 0.0) << "not known to be ready before the first check";
  EXPECT_EQ(sample(m.serialize(), "health_ready_transitions_total"), 0.0);
  m.set_ready(true);
  EXPECT_EQ(sample(m.serialize(), "health_ready"), 1.0);
  EXPECT_EQ(sample(m.serialize(), "health_ready_transitions_total"), 0.0);
  m.set_ready(true);
  m.set_ready(false);
  m.set_ready(false);
  EXPECT_EQ(sample(m.serialize(), "health_ready"), 0.0);
  EXPECT_EQ(sample(m.serialize(), "health_ready_transitions_total"), 1.0);
  m.set_ready(true);
  EXPECT_EQ(sample(m.serialize(), "health_ready_transitions_total"), 2.0);
}

TEST(Metrics, ProcessStartTimeIsWhenTheMetricsWereBuilt) {
  const double before = now_epoch();
  Metrics m;
  const double after = now_epoch();
  auto start = sample(m.serialize(), "process_start_time_seconds");
  ASSERT_TRUE(start);
  EXPECT_GE(*start, before - 0.001);
  EXPECT_LE(*start, after + 0.001);
  EXPECT_NE(m.serialize().find("# TYPE process_start_time_seconds gauge"), std::string::npos);
}

TEST(Metrics, PoolMaximumAndReportPullAgeAreExportedFromTheStart) {
  Metrics m;
  EXPECT_EQ(sample(m.serialize(), "db_pool_max_connections"), 0.0);
  EXPECT_EQ(sample(m.serialize(), "report_pull_age_seconds"), 0.0);
  m.set_db_pool_size(12);
  m.set_db_pool(3, 2);
  m.set_report_pull_age(7200.5);
  auto text = m.serialize();
  EXPECT_EQ(sample(text, "db_pool_max_connections"), 12.0);
  EXPECT_EQ(sample(text, "db_pool_connections{state=\"in_use\"}"), 3.0);
  EXPECT_EQ(sample(text, "report_pull_age_seconds"), 7200.5);
}
