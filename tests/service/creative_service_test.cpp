// service::CreativeService against PostgreSQL: the creative rules that need no upstream (an
// uploaded snippet is processed in place): one 422 with every problem, the association made in
// the creating transaction, and the 409 while a creative serves an active campaign.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kargo/core/config.hpp"
#include "kargo/domain/creative/macros.hpp"
#include "kargo/service/creatives.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "service/service_fixture.hpp"

namespace kargo::stest {
namespace {

using nlohmann::json;

std::string runway_snippet() {
  std::ifstream in(std::string(KARGO_SOURCE_DIR) + "/fixtures/snippets/runway_81298.html", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CreativeServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    channel_ = std::make_unique<upstream::UpstreamChannel>(client_, *metrics_,
                                                           upstream::ChannelOptions::from_config("kargo", Config{}));
    kargo_ = std::make_unique<upstream::KargoClient>(*channel_, upstream::KargoOptions::from_config(Config{}));
    creative_store_ = std::make_unique<store::CreativeStore>(*database_);
    service_ = std::make_unique<service::CreativeService>(*database_, *creative_store_, *cache_, *campaigns_, *jobs_,
                                                          *kargo_, pool_, macros_, *metrics_, service::CreativeOptions{});
  }
  json config(const std::string& name) const {
    return {{"name", name},
            {"format", "runway"},
            {"dimensions", "320x50"},
            {"viewability_config", {{"phase", "phase_1"}, {"vendors", {"double_verify"}}}}};
  }
  service::UploadedFile file() const { return {"runway.html", runway_snippet()}; }

  upstream::HttpClient client_;
  BlockingPool pool_{2, std::chrono::seconds(5)};
  domain::MacroTable macros_ = domain::MacroTable::defaults();
  std::unique_ptr<upstream::UpstreamChannel> channel_;
  std::unique_ptr<upstream::KargoClient> kargo_;
  std::unique_ptr<store::CreativeStore> creative_store_;
  std::unique_ptr<service::CreativeService> service_;
};

TEST_F(CreativeServiceTest, AnUploadWithoutAFileAndWithABadFieldIsOne422NamingBoth) {
  auto bad = config("Bad");
  bad["dimensions"] = "0x50";
  auto e = itest::expect_error([&] { service_->create_uploaded(bad, std::nullopt, std::nullopt, "tester"); });
  EXPECT_EQ(e.http_status(), 422);
  std::set<std::string> fields;
  for (const auto& d : e.details()) fields.insert(d.field);
  EXPECT_EQ(fields, (std::set<std::string>{"file", "dimensions"}));
}

TEST_F(CreativeServiceTest, AnUploadIsProcessedStoredAndAssociatedInOneTransaction) {
  std::string campaign = json::parse(campaigns_->create(campaign_body("Holder"), "tester"))["id"];
  auto doc = json::parse(service_->create_uploaded(config("Uploaded"), file(), campaign, "tester"));
  EXPECT_EQ(doc["snippet_url"], "upload://runway.html");
  EXPECT_EQ(doc["status"], "processed");
  EXPECT_EQ(doc["campaign_ids"], json::array({campaign}));
  EXPECT_EQ(json::parse(campaigns_->get(campaign))["status"], "ready") << "a ready creative makes it ready";
  // An unknown campaign rolls the whole upload back: no creative without its association.
  auto before = sql("SELECT count(*) FROM creatives");
  auto e = itest::expect_error(
      [&] { service_->create_uploaded(config("Orphan"), file(), std::string("camp_000000000000"), "tester"); });
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(sql("SELECT count(*) FROM creatives"), before);
}

TEST_F(CreativeServiceTest, ACreativeInAnActiveCampaignCannotBeDeletedAndOtherwiseLeavesItsCampaignsSettled) {
  std::string campaign = json::parse(campaigns_->create(campaign_body("Active holder"), "tester"))["id"];
  std::string id = json::parse(service_->create_uploaded(config("Serving"), file(), campaign, "tester"))["id"];
  campaigns_->activate(campaign, "tester");
  EXPECT_EQ(itest::expect_error([&] { service_->remove(id, "tester"); }).http_status(), 409);
  campaigns_->pause(campaign, "tester");
  service_->remove(id, "tester");
  EXPECT_EQ(itest::expect_error([&] { service_->get(id); }).http_status(), 404);
  auto doc = json::parse(campaigns_->get(campaign));
  EXPECT_EQ(doc["creative_count"], 0);
  EXPECT_EQ(doc["status"], "paused") << "a paused campaign keeps its status when it loses its creative";
}

}  // namespace
}  // namespace kargo::stest
