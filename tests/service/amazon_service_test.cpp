// service::AmazonService against PostgreSQL: the sync's side of the status machine (processing
// while a sync runs, error after the last attempt, back from error), and the periodic tick that
// exactly one instance wins. No Amazon call is made: these are the rules around them.
#include <nlohmann/json.hpp>

#include "kargo/core/config.hpp"
#include "kargo/service/amazon.hpp"
#include "kargo/store/campaign_sync.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"
#include "service/service_fixture.hpp"

namespace kargo::stest {
namespace {

using nlohmann::json;

class AmazonServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    Config config;
    lwa_channel_ = std::make_unique<upstream::UpstreamChannel>(client_, *metrics_,
                                                               upstream::ChannelOptions::from_config("amazon_lwa", config));
    amazon_channel_ = std::make_unique<upstream::UpstreamChannel>(
        client_, *metrics_, upstream::ChannelOptions::from_config("amazon_dsp", config));
    tokens_ = std::make_unique<upstream::LwaTokenManager>(*lwa_channel_, upstream::LwaCredentials::from_config(config));
    amazon_ = std::make_unique<upstream::AmazonDspClient>(*amazon_channel_, *tokens_,
                                                          upstream::AmazonDspOptions::from_config(config));
    sync_store_ = std::make_unique<store::CampaignSyncStore>(*database_);
    creative_store_ = std::make_unique<store::CreativeStore>(*database_);
    service_ = std::make_unique<service::AmazonService>(
        *database_, *sync_store_, *campaign_store_, *creative_store_, *cache_, *campaigns_, *jobs_, *amazon_, pool_,
        service::AmazonOptions{.configured = true, .sync_max_attempts = 3, .sync_interval_seconds = 3600});
  }
  std::string status_of(const std::string& id) { return json::parse(campaigns_->get(id))["status"]; }

  upstream::HttpClient client_;
  BlockingPool pool_{2, std::chrono::seconds(5)};
  std::unique_ptr<upstream::UpstreamChannel> lwa_channel_, amazon_channel_;
  std::unique_ptr<upstream::LwaTokenManager> tokens_;
  std::unique_ptr<upstream::AmazonDspClient> amazon_;
  std::unique_ptr<store::CampaignSyncStore> sync_store_;
  std::unique_ptr<store::CreativeStore> creative_store_;
  std::unique_ptr<service::AmazonService> service_;
};

TEST_F(AmazonServiceTest, ASyncShowsProcessingThenErrorAndALaterSyncStartsFromTheRememberedStatus) {
  std::string id = json::parse(campaigns_->create(campaign_body("Synced"), "tester"))["id"];
  EXPECT_EQ(service_->begin_sync(id, "system:test"), "draft");
  EXPECT_EQ(status_of(id), "processing");
  EXPECT_EQ(service_->begin_sync(id, "system:test"), "draft") << "a retried job keeps the remembered status";
  service_->fail_sync(id, "sync failed after retries: boom");
  EXPECT_EQ(status_of(id), "error");
  auto history = json::parse(campaigns_->history(id, 1, 0))["history"][0];
  EXPECT_EQ(history["action"], "sync_failed");
  EXPECT_EQ(history["changes"]["reason"], "sync failed after retries: boom");
  EXPECT_EQ(service_->begin_sync(id, "system:test"), "draft") << "from error, back to what it was before";
  EXPECT_EQ(status_of(id), "processing");
}

TEST_F(AmazonServiceTest, ACompletedOrUnknownCampaignIsNotSynced) {
  std::string id = json::parse(campaigns_->create(campaign_body("Done"), "tester"))["id"];
  sql("UPDATE campaigns SET status = 'completed' WHERE id = '" + id + "'");
  EXPECT_EQ(service_->begin_sync(id, "system:test"), std::nullopt);
  EXPECT_EQ(status_of(id), "completed");
  EXPECT_EQ(service_->begin_sync("camp_000000000000", "system:test"), std::nullopt);
}

TEST_F(AmazonServiceTest, OneTickEnqueuesOneJobForTheActiveCampaigns) {
  sql("UPDATE campaigns SET status = 'paused' WHERE status = 'active'");
  EXPECT_EQ(service_->tick(), std::nullopt) << "nothing active: nothing to enqueue";
  sql("DELETE FROM periodic_ticks");
  auto ready = insert_creative(true);
  auto body = campaign_body("Ticked");
  body["creative_ids"] = {ready};
  std::string id = json::parse(campaigns_->create(body, "tester"))["id"];
  campaigns_->activate(id, "tester");
  auto job = service_->tick();
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(service_->tick(), std::nullopt) << "the same tick is never enqueued twice";
  auto doc = json::parse(jobs_->get(*job));
  EXPECT_EQ(doc["kind"], "amazon_sync");
  EXPECT_EQ(sql("SELECT payload->'campaign_ids' ? '" + id + "' FROM jobs WHERE id = '" + *job + "'"), "t\n");
}

}  // namespace
}  // namespace kargo::stest
