#pragma once
// The middle tier of the tests: service classes called directly, against a PostgreSQL database of
// their own (FreshDatabase, migrated) and the shared Redis, with no HTTP in between. They check
// the rules the services hold: validation, the status machine, readiness, the 409s.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/redis.hpp"
#include "kargo/store/resource_cache.hpp"
#include "support/helpers.hpp"

namespace kargo::stest {

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // A creative row as the creatives service stores one; returns its id.
  std::string insert_creative(bool ready, const std::string& status = "processed");
  nlohmann::json campaign_body(const std::string& name) const;
  std::string sql(const std::string& text) const { return db_->sql(text); }

  static std::unique_ptr<itest::FreshDatabase> db_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::Redis> redis_;
  std::unique_ptr<store::ResourceCache> cache_;
  std::unique_ptr<store::CampaignStore> campaign_store_;
  std::unique_ptr<store::JobStore> job_store_;
  std::unique_ptr<service::CampaignService> campaigns_;
  std::unique_ptr<service::JobService> jobs_;
};

}  // namespace kargo::stest
