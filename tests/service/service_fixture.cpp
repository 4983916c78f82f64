#include "service/service_fixture.hpp"

#include <random>

namespace kargo::stest {

std::unique_ptr<itest::FreshDatabase> ServiceTest::db_;

void ServiceTest::SetUpTestSuite() {
  db_ = std::make_unique<itest::FreshDatabase>();
  db_->migrate();
}

void ServiceTest::TearDownTestSuite() { db_.reset(); }

void ServiceTest::SetUp() {
  metrics_ = std::make_unique<Metrics>();
  database_ = std::make_unique<store::Database>(db_->url(), 4, std::chrono::seconds(5), metrics_.get());
  redis_ = std::make_unique<store::Redis>(itest::required_env("REDIS_URL"), metrics_.get());
  cache_ = std::make_unique<store::ResourceCache>(*redis_, itest::unique_name("campaign"), std::chrono::seconds(60));
  campaign_store_ = std::make_unique<store::CampaignStore>(*database_);
  job_store_ = std::make_unique<store::JobStore>(*database_);
  campaigns_ = std::make_unique<service::CampaignService>(*database_, *campaign_store_, *cache_);
  jobs_ = std::make_unique<service::JobService>(*job_store_, [] {});
}

std::string ServiceTest::insert_creative(bool ready, const std::string& status) {
  static std::mt19937_64 gen{std::random_device{}()};
  char hex[13];
  std::snprintf(hex, sizeof hex, "%012llx", static_cast<unsigned long long>(gen() & 0xffffffffffffULL));
  std::string id = std::string("crv_") + hex;
  sql("INSERT INTO creatives (id, name, format, media_type, dimensions, width, height, snippet_url, "
      "viewability_config, status, creative_type, amazon_dsp_ready, processed_code, created_by) VALUES ('" +
      id + "', 'Runway " + hex + "', 'runway', 'display', '320x50', 320, 50, 'https://snippet.kargo.com/x', " +
      "'{\"phase\":\"phase_1\"}', '" + status + "', 'CUSTOM_HTML', " + (ready ? "true" : "false") + ", " +
      (status == "failed" ? "NULL" : "'<div></div>'") + ", 'test')");
  return id;
}

nlohmann::json ServiceTest::campaign_body(const std::string& name) const {
  auto year = std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()))
                  .year();
  std::string next = std::to_string(static_cast<int>(year) + 1);
  return {{"name", name},
          {"advertiser_id", "adv_1"},
          {"budget", 1000},
          {"start_date", next + "-03-01"},
          {"end_date", next + "-03-31"}};
}

}  // namespace kargo::stest
