// Bulk sheet generation and download (contract section 5) through the real binary: campaigns and
// creatives made with the API, sheets generated as xlsx and csv zips, downloaded and read back.
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <pugixml.hpp>
#include <set>

#include "kargo/bulk/sheet.hpp"
#include "kargo/store/database.hpp"
#include "support/amazon.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kXlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
constexpr uint64_t kReadLimit = 64 << 20;
std::map<std::string, std::string> unzip(const std::string& bytes) {
  std::map<std::string, std::string> files;
  for (auto& e : bulk::read_zip(bytes, kReadLimit)) files[e.name] = std::move(e.data);
  return files;
}

// The rows of `<sheet>.csv` in a downloaded csv zip, header first.
using Table = std::vector<std::vector<std::string>>;
std::map<std::string, Table> csv_sheets(const std::string& zip) {
  std::map<std::string, Table> sheets;
  for (const auto& [name, data] : unzip(zip)) sheets[name.substr(0, name.size() - 4)] = bulk::parse_csv(data);
  return sheets;
}

// Column `name` of every data row of `table`.
std::vector<std::string> column(const Table& table, const std::string& name) {
  const auto& header = table.at(0);
  auto at = static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  if (at == header.size()) throw std::runtime_error("no column " + name);
  std::vector<std::string> out;
  for (size_t r = 1; r < table.size(); ++r) out.push_back(table[r].at(at));
  return out;
}

class BulkSheetTest : public ServerTest {
 protected:
  std::string campaign(const std::string& name, double budget) {
    auto res = http().post_json(
        "/api/campaigns",
        {{"name", name},
         {"advertiser_id", "adv_bulk"},
         {"budget", budget},
         {"start_date", "2030-03-01"},
         {"end_date", "2030-03-31"},
         {"bidding", {{"max_bid", 3.25}}},
         {"targeting", {{"locations", {"US", "DE"}}, {"device_types", {"mobile", "tablet"}}}}},
        bearer(admin_token()));
    EXPECT_EQ(res.status, 201) << res.describe();
    return res.json()["data"]["id"];
  }
  std::string creative(const std::string& format, const std::string& file) {
    std::string extra = format == "runway" ? dimensions("320x50") : duration("15");
    if (format == "instream_video") extra += dimensions("640x360");
    return create_creative(http(), admin_token(), format, file, extra);
  }
  void associate(const std::string& campaign_id, const std::vector<std::string>& creative_ids) {
    auto res = http().post_json("/api/campaigns/" + campaign_id + "/creatives",
                                {{"creative_ids", creative_ids}}, bearer(admin_token()));
    ASSERT_EQ(res.status, 200) << res.describe();
  }
  HttpResponse generate(const json& body, const std::string& token) {
    return http().post_json("/api/bulk/generate-sheet", body, bearer(token));
  }
  json generate_ok(const json& body) {
    auto res = generate(body, admin_token());
    EXPECT_EQ(res.status, 201) << res.describe();
    return res.status == 201 ? res.json()["data"] : json::object();
  }
  HttpResponse download(const json& sheet, const HttpClient& client) {
    return client.get(sheet["download_url"].get<std::string>(), bearer(admin_token()));
  }
  // Two campaigns: the first with a display, a video and an audio line item, the second with none.
  std::pair<std::string, std::string> two_campaigns() {
    auto first = campaign("Bulk, \"first\"", 100);
    auto second = campaign("Bulk second", 250.5);
    associate(first,
              {creative("runway", "runway_81298.html"), creative("instream_video", "instream_81400.xml"),
               creative("audio", "audio_81510.xml")});
    return {first, second};
  }
};

TEST_F(BulkSheetTest, CsvZipHoldsEverySheetWithTheCampaignsRows) {
  auto [first, second] = two_campaigns();
  auto sheet = generate_ok({{"campaign_ids", {first, second}}, {"format", "csv"}});
  std::string id = sheet["sheet_id"];
  EXPECT_EQ(id.rfind("sheet_", 0), 0u);
  EXPECT_EQ(id.size(), 6u + 32u) << "128 random bits";
  EXPECT_EQ(sheet["download_url"], "/api/bulk/download/" + id);
  EXPECT_EQ(sheet["sheets"],
            json({"Orders", "Line Items", "Creatives", "Creative Associations", "Targeting"}));
  EXPECT_TRUE(is_iso8601_utc(sheet["expires_at"])) << sheet;

  auto res = download(sheet, http());
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.header("content-type").value_or(""), "application/zip");
  auto disposition = res.header("content-disposition").value_or("");
  EXPECT_EQ(disposition.rfind("attachment; filename=\"", 0), 0u) << disposition;
  EXPECT_EQ(disposition.substr(disposition.size() - 5), ".zip\"") << disposition;
  EXPECT_EQ(res.header("cache-control").value_or(""), "no-store");
  EXPECT_EQ(sheet["file_size"].get<size_t>(), res.body.size());

  auto sheets = csv_sheets(res.body);
  ASSERT_EQ(sheets.size(), 5u);
  const auto& orders = sheets.at("Orders");
  EXPECT_EQ(orders[0], (std::vector<std::string>{"Order ID", "Order Name", "Advertiser ID", "Status", "Phase",
                                                 "Viewability Phase", "Goal KPI", "Budget", "Currency",
                                                 "Start Date", "End Date", "Amazon Campaign ID"}));
  EXPECT_EQ(column(orders, "Order ID"), (std::vector<std::string>{first, second}));
  EXPECT_EQ(column(orders, "Order Name"), (std::vector<std::string>{"Bulk, \"first\"", "Bulk second"}));
  EXPECT_EQ(column(orders, "Budget"), (std::vector<std::string>{"100.00", "250.50"}));
  EXPECT_EQ(column(orders, "Start Date"), (std::vector<std::string>{"2030-03-01", "2030-03-01"}));
  EXPECT_EQ(column(orders, "Status"), (std::vector<std::string>{"ready", "draft"}));

  const auto& items = sheets.at("Line Items");
  EXPECT_EQ(items[0], (std::vector<std::string>{"Line Item ID", "Order ID", "Line Item Name",
                                                "Line Item Type", "Creative ID", "Budget", "Bid (CPM)",
                                                "Start Date", "End Date", "Device Type", "Status"}));
  EXPECT_EQ(column(items, "Order ID"), (std::vector<std::string>{first, first, first}));
  EXPECT_EQ(column(items, "Line Item Type"), (std::vector<std::string>{"DISPLAY", "ONLINE_VIDEO", "AUDIO"}));
  EXPECT_EQ(column(items, "Budget"), (std::vector<std::string>{"33.34", "33.33", "33.33"}));
  EXPECT_EQ(column(items, "Bid (CPM)"), (std::vector<std::string>{"3.25", "3.25", "3.25"}));
  auto creative_ids = column(items, "Creative ID");
  for (size_t i = 0; i < creative_ids.size(); ++i) {
    EXPECT_EQ(column(items, "Line Item ID")[i], first + ":" + creative_ids[i]);
  }

  EXPECT_EQ(column(sheets.at("Creatives"), "Creative ID"), creative_ids);
  EXPECT_EQ(column(sheets.at("Creatives"), "Format"),
            (std::vector<std::string>{"runway", "instream_video", "audio"}));
  EXPECT_EQ(column(sheets.at("Creative Associations"), "Line Item ID"), column(items, "Line Item ID"));
  EXPECT_EQ(column(sheets.at("Creative Associations"), "Weight"),
            (std::vector<std::string>{"100", "100", "100"}));

  // Per campaign: 2 locations, 2 device types, 1 default supply source, threshold, brand safety.
  const auto& targeting = sheets.at("Targeting");
  EXPECT_EQ(targeting[0],
            (std::vector<std::string>{"Order ID", "Targeting Type", "Targeting Value", "Include/Exclude"}));
  EXPECT_EQ(targeting.size() - 1, 14u);
  std::multiset<std::string> of_first;
  for (size_t r = 1; r < targeting.size(); ++r) {
    if (targeting[r][0] == first) of_first.insert(targeting[r][1] + "=" + targeting[r][2]);
  }
  EXPECT_EQ(of_first, (std::multiset<std::string>{"locations=US", "locations=DE", "device_types=mobile",
                                                  "device_types=tablet", "supply_sources=amazon_publishers",
                                                  "viewability_threshold=70", "brand_safety_level=high"}));

  size_t rows = 0;
  for (const auto& [name, table] : sheets) rows += table.size() - 1;
  EXPECT_EQ(sheet["record_count"].get<size_t>(), rows);
  EXPECT_EQ(rows, 2u + 3u + 3u + 3u + 14u);
}

TEST_F(BulkSheetTest, XlsxIsTheDefaultAndCarriesTheChosenSheets) {
  auto [first, second] = two_campaigns();
  auto sheet = generate_ok(
      {{"campaign_ids", {second, first}}, {"include_targeting", false}, {"include_creatives", false}});
  EXPECT_EQ(sheet["sheets"], json({"Orders", "Line Items", "Creative Associations"}));
  EXPECT_EQ(sheet["record_count"], 2 + 3 + 3);
  auto res = download(sheet, http());
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.header("content-type").value_or(""), kXlsxType);
  auto disposition = res.header("content-disposition").value_or("");
  EXPECT_EQ(disposition.substr(disposition.size() - 6), ".xlsx\"") << disposition;

  auto files = unzip(res.body);
  pugi::xml_document workbook;
  ASSERT_TRUE(workbook.load_string(files.at("xl/workbook.xml").c_str()));
  std::vector<std::string> names;
  for (auto s : workbook.child("workbook").child("sheets").children("sheet"))
    names.push_back(s.attribute("name").value());
  EXPECT_EQ(names, (std::vector<std::string>{"Orders", "Line Items", "Creative Associations"}));
  pugi::xml_document strings;
  ASSERT_TRUE(strings.load_string(files.at("xl/sharedStrings.xml").c_str()));
  std::vector<std::string> texts;
  for (auto si : strings.child("sst").children("si")) texts.push_back(si.child("t").text().get());
  auto position = [&](const std::string& s) {
    return std::find(texts.begin(), texts.end(), s) - texts.begin();
  };
  EXPECT_LT(position(second), position(first)) << "orders in the order asked for";
  EXPECT_LT(position(first), static_cast<long>(texts.size()));
  EXPECT_NE(files.at("xl/worksheets/sheet1.xml").find("<autoFilter ref=\"A1:L3\""), std::string::npos);

  // "excel" is xlsx too.
  auto excel = generate_ok({{"campaign_ids", {first}}, {"format", "excel"}});
  EXPECT_EQ(download(excel, http()).header("content-type").value_or(""), kXlsxType);
}

TEST_F(BulkSheetTest, UnknownCampaignIs404NamingIt) {
  auto known = campaign("Known", 10);
  auto res = generate({{"campaign_ids", {known, "camp_00000000dead", "camp_00000000beef"}}}, admin_token());
  ASSERT_EQ(res.status, 404) << res.describe();
  auto message = res.json()["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("camp_00000000dead"), std::string::npos) << message;
  EXPECT_NE(message.find("camp_00000000beef"), std::string::npos) << message;
  EXPECT_EQ(message.find(known), std::string::npos) << message;
}

TEST_F(BulkSheetTest, InvalidBodiesNameEveryBadField) {
  std::vector<std::string> thousand_and_one(1001, "camp_000000000001");
  struct Case {
    json body;
    std::set<std::string> fields;
  };
  std::vector<Case> cases = {
      {json::object(), {"campaign_ids"}},
      {{{"campaign_ids", json::array()}}, {"campaign_ids"}},
      {{{"campaign_ids", "camp_000000000001"}}, {"campaign_ids"}},
      {{{"campaign_ids", thousand_and_one}}, {"campaign_ids"}},
      {{{"campaign_ids", {"camp_000000000001", 7, "crv_000000000001", "camp_XYZ"}}},
       {"campaign_ids[1]", "campaign_ids[2]", "campaign_ids[3]"}},
      {{{"campaign_ids", {"camp_000000000001"}}, {"format", "pdf"}}, {"format"}},
      {{{"campaign_ids", {"camp_000000000001"}}, {"format", 1}}, {"format"}},
      {{{"campaign_ids", {"camp_000000000001"}},
        {"include_creatives", "yes"},
        {"include_line_items", 1},
        {"include_targeting", json::array()}},
       {"include_creatives", "include_line_items", "include_targeting"}},
      // Everything wrong at once is reported at once.
      {{{"campaign_ids", json::array()}, {"format", "doc"}, {"include_targeting", "no"}},
       {"campaign_ids", "format", "include_targeting"}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(invalid_fields(generate(c.body, admin_token())), c.fields) << c.body.dump();
  auto not_json = http().request("POST", "/api/bulk/generate-sheet", "nope",
                                 bearer(admin_token(), {{"Content-Type", "application/json"}}));
  EXPECT_EQ(not_json.status, 400) << not_json.describe();
}

TEST_F(BulkSheetTest, UnknownMalformedAndExpiredSheets) {
  auto unknown = http().get("/api/bulk/download/sheet_" + std::string(32, '0'), bearer(admin_token()));
  EXPECT_EQ(unknown.status, 404) << unknown.describe();
  EXPECT_EQ(unknown.json()["error"]["code"], "RESOURCE_NOT_FOUND");
  EXPECT_EQ(http().get("/api/bulk/download/sheet_123", bearer(admin_token())).status, 404);
  EXPECT_EQ(http().get("/api/bulk/download/sheet_" + std::string(32, 'A'), bearer(admin_token())).status,
            404);

  auto sheet = generate_ok({{"campaign_ids", {campaign("Expiring", 10)}}});
  ASSERT_EQ(download(sheet, http()).status, 200);
  store::Database db(required_env("DATABASE_URL"), 1, 5000ms, nullptr);
  db.transact([&](pqxx::transaction_base& tx) {
    tx.exec_params("UPDATE generated_files SET expires_at = now() - interval '1 minute' WHERE id = $1",
                   sheet["sheet_id"].get<std::string>());
  });
  auto gone = download(sheet, http());
  EXPECT_EQ(gone.status, 410) << gone.describe();
  EXPECT_EQ(gone.json()["error"]["code"], "RESOURCE_GONE");
  // (The retention job drops the bytes of expired files: tests/integration/retention_test.cpp.)
}

TEST_F(BulkSheetTest, AnotherInstanceServesTheDownload) {
  auto sheet = generate_ok({{"campaign_ids", {campaign("Shared sheet", 10)}}, {"format", "csv"}});
  auto here = download(sheet, http());
  ASSERT_EQ(here.status, 200) << here.describe();
  ServerProcess other({.admin = admin()});
  HttpClient other_http(other.port());
  auto there = download(sheet, other_http);
  ASSERT_EQ(there.status, 200) << there.describe();
  EXPECT_EQ(there.body, here.body);
}

TEST_F(BulkSheetTest, ViewersDownloadButCannotGenerate) {
  auto id = campaign("Viewer", 10);
  auto sheet = generate_ok({{"campaign_ids", {id}}});
  auto viewer = login(http(), create_user(http(), admin_token(), "viewer"));
  EXPECT_EQ(generate({{"campaign_ids", {id}}}, viewer).status, 403);
  EXPECT_EQ(http().post_json("/api/campaigns/" + id + "/bulk-sheet", json::object(), bearer(viewer)).status,
            403);
  auto res = http().get(sheet["download_url"].get<std::string>(), bearer(viewer));
  EXPECT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(http().get(sheet["download_url"].get<std::string>()).status, 401);
  auto editor = login(http(), create_user(http(), admin_token(), "editor"));
  EXPECT_EQ(generate({{"campaign_ids", {id}}}, editor).status, 201);
}

TEST_F(BulkSheetTest, CampaignBulkSheetIsTheSameForOneCampaign) {
  auto [first, second] = two_campaigns();
  auto res = http().request("POST", "/api/campaigns/" + first + "/bulk-sheet", "", bearer(admin_token()));
  ASSERT_EQ(res.status, 201) << res.describe();
  auto sheet = res.json()["data"];
  EXPECT_EQ(sheet["sheets"],
            json({"Orders", "Line Items", "Creatives", "Creative Associations", "Targeting"}));
  EXPECT_EQ(download(sheet, http()).header("content-type").value_or(""), kXlsxType);

  auto csv = http().post_json("/api/campaigns/" + first + "/bulk-sheet",
                              {{"format", "csv"}, {"include_targeting", false}}, bearer(admin_token()));
  ASSERT_EQ(csv.status, 201) << csv.describe();
  auto sheets = csv_sheets(download(csv.json()["data"], http()).body);
  EXPECT_EQ(column(sheets.at("Orders"), "Order ID"), std::vector<std::string>{first});
  EXPECT_EQ(column(sheets.at("Line Items"), "Budget"), (std::vector<std::string>{"33.34", "33.33", "33.33"}));
  EXPECT_FALSE(sheets.count("Targeting"));

  EXPECT_EQ(
      http()
          .post_json("/api/campaigns/camp_00000000dead/bulk-sheet", json::object(), bearer(admin_token()))
          .status,
      404);
  EXPECT_EQ(
      http().post_json("/api/campaigns/not-an-id/bulk-sheet", json::object(), bearer(admin_token())).status,
      404);
  EXPECT_EQ(invalid_fields(http().post_json("/api/campaigns/" + first + "/bulk-sheet", {{"format", "pdf"}},
                                            bearer(admin_token()))),
            std::set<std::string>{"format"});
}

TEST_F(BulkSheetTest, IdempotencyKeyReplaysTheSameSheet) {
  auto id = campaign("Idempotent", 10);
  Headers key = {{"Idempotency-Key", unique_name("bulk")}};
  auto a = http().post_json("/api/bulk/generate-sheet", {{"campaign_ids", {id}}}, bearer(admin_token(), key));
  auto b = http().post_json("/api/bulk/generate-sheet", {{"campaign_ids", {id}}}, bearer(admin_token(), key));
  ASSERT_EQ(a.status, 201) << a.describe();
  ASSERT_EQ(b.status, 201) << b.describe();
  EXPECT_EQ(a.json()["data"]["sheet_id"], b.json()["data"]["sheet_id"]);
}

}  // namespace
}  // namespace kargo::itest
