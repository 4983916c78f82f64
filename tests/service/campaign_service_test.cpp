// service::CampaignService against PostgreSQL: the rules of contract section 3 applied in one
// transaction per change (validation, versions, the status machine, readiness), with no HTTP.
#include <nlohmann/json.hpp>

#include "service/service_fixture.hpp"

namespace kargo::stest {
namespace {

using nlohmann::json;

std::set<std::string> fields_of(const Error& e) {
  std::set<std::string> out;
  for (const auto& d : e.details()) out.insert(d.field);
  return out;
}

class CampaignServiceTest : public ServiceTest {};

TEST_F(CampaignServiceTest, CreateReportsEveryBadFieldAndCreativeIdsTogether) {
  auto body = campaign_body("x");
  body["budget"] = -1;
  body["creative_ids"] = json::array({""});
  auto e = itest::expect_error([&] { campaigns_->create(body, "tester"); });
  EXPECT_EQ(e.http_status(), 422);
  EXPECT_EQ(fields_of(e), (std::set<std::string>{"budget", "creative_ids[0]"}));
}

TEST_F(CampaignServiceTest, CreateWritesTheRowAndItsAuditEntryInOneTransaction) {
  auto doc = json::parse(campaigns_->create(campaign_body("Created"), "tester"));
  EXPECT_EQ(doc["status"], "draft");
  EXPECT_EQ(doc["version"], 1);
  auto history = json::parse(campaigns_->history(doc["id"], 20, 0));
  ASSERT_EQ(history["total"], 1);
  EXPECT_EQ(history["history"][0]["action"], "create");
  EXPECT_EQ(history["history"][0]["actor"], "tester");
}

TEST_F(CampaignServiceTest, AStaleVersionIs409AndChangesNothing) {
  auto doc = json::parse(campaigns_->create(campaign_body("Versioned"), "tester"));
  std::string id = doc["id"];
  campaigns_->update(id, {{"name", "Renamed"}}, 1, "tester");
  auto e = itest::expect_error([&] { campaigns_->update(id, {{"name", "Stale"}}, 1, "tester"); });
  EXPECT_EQ(e.http_status(), 409);
  auto now = json::parse(campaigns_->get(id));
  EXPECT_EQ(now["name"], "Renamed");
  EXPECT_EQ(now["version"], 2);
}

TEST_F(CampaignServiceTest, TheStatusMachineRefusesWhatItDoesNotList) {
  auto doc = json::parse(campaigns_->create(campaign_body("Machine"), "tester"));
  std::string id = doc["id"];
  auto e = itest::expect_error([&] { campaigns_->activate(id, "tester"); });  // draft -> active
  EXPECT_EQ(e.http_status(), 409);
  EXPECT_NE(e.external_message().find("'draft' to 'active'"), std::string::npos) << e.external_message();
  EXPECT_EQ(itest::expect_error([&] { campaigns_->update(id, {{"status", "active"}}, std::nullopt, "tester"); }).http_status(),
            409);
}

TEST_F(CampaignServiceTest, AReadyCreativeMakesTheCampaignReadyAndRemovingItMakesItDraft) {
  auto ready = insert_creative(true);
  auto unprocessed = insert_creative(false, "failed");
  auto doc = json::parse(campaigns_->create(campaign_body("Readiness"), "tester"));
  std::string id = doc["id"];
  auto e = itest::expect_error([&] { campaigns_->associate(id, {unprocessed}, "tester"); });
  EXPECT_EQ(e.http_status(), 422);
  EXPECT_EQ(fields_of(e), (std::set<std::string>{"creative_ids[0]"}));
  EXPECT_EQ(itest::expect_error([&] { campaigns_->associate(id, {"crv_000000000000"}, "tester"); }).http_status(), 404);
  EXPECT_EQ(json::parse(campaigns_->associate(id, {ready}, "tester"))["status"], "ready");
  EXPECT_EQ(json::parse(campaigns_->dissociate(id, ready, "tester"))["status"], "draft");
}

TEST_F(CampaignServiceTest, AnActiveCampaignCannotBeDeletedAndAnEndedOneCompletes) {
  auto ready = insert_creative(true);
  auto body = campaign_body("Active");
  body["creative_ids"] = {ready};
  std::string id = json::parse(campaigns_->create(body, "tester"))["id"];
  EXPECT_EQ(json::parse(campaigns_->activate(id, "tester"))["status"], "active");
  EXPECT_EQ(itest::expect_error([&] { campaigns_->remove(id, "tester"); }).http_status(), 409);
  sql("UPDATE campaigns SET start_date = '2020-01-01', end_date = '2020-01-31' WHERE id = '" + id + "'");
  auto ended = campaigns_->complete_ended();
  EXPECT_NE(std::find(ended.begin(), ended.end(), id), ended.end());
  EXPECT_EQ(json::parse(campaigns_->get(id))["status"], "completed");
}

TEST_F(CampaignServiceTest, ARollbackLeavesNoRowNoAuditEntryAndNoAssociation) {
  auto ready = insert_creative(true);
  auto body = campaign_body(itest::unique_name("Rolled back"));
  body["creative_ids"] = {ready, "crv_000000000000"};  // the second is unknown: 404, all rolled back
  EXPECT_EQ(itest::expect_error([&] { campaigns_->create(body, "tester"); }).http_status(), 404);
  EXPECT_EQ(sql("SELECT count(*) FROM campaigns WHERE name = '" + body["name"].get<std::string>() + "'"), "0\n");
  EXPECT_EQ(sql("SELECT count(*) FROM campaign_creatives WHERE creative_id = '" + ready + "'"), "0\n");
}

}  // namespace
}  // namespace kargo::stest
