// POST /api/bulk/upload-sheet (contract section 5) through the real binary: generated sheets
// uploaded back unchanged, edited sheets that create and update campaigns, invalid sheets that
// write nothing, the workbook limits and the async job.
#include <gtest/gtest.h>

#include <map>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/core/time.hpp"
#include "support/amazon.hpp"
#include "support/fixtures.hpp"
#include "support/forms.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr uint64_t kReadLimit = 64 << 20;

using Table = std::vector<std::vector<std::string>>;

// A csv zip as tables by sheet name, and back.
std::map<std::string, Table> unzip_csv(const std::string& zip) {
  std::map<std::string, Table> out;
  for (auto& e : bulk::read_zip(zip, kReadLimit))
    out[e.name.substr(0, e.name.size() - 4)] = bulk::parse_csv(e.data);
  return out;
}
std::string zip_csv(const std::map<std::string, Table>& sheets) {
  std::vector<bulk::ZipEntry> entries;
  for (const auto& [name, table] : sheets) {
    std::string text;
    for (const auto& row : table) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (i) text += ',';
        bulk::append_csv_field(text, row[i]);
      }
      text += "\r\n";
    }
    entries.push_back({name + ".csv", text});
  }
  return bulk::write_zip(entries);
}
size_t col(const Table& t, const std::string& name) {
  auto it = std::find(t[0].begin(), t[0].end(), name);
  if (it == t[0].end()) throw std::runtime_error("no column " + name);
  return static_cast<size_t>(it - t[0].begin());
}
// The tables as a workbook of text cells (row 0 is the header), to write as xlsx.
bulk::Workbook workbook_of(const std::map<std::string, Table>& sheets) {
  bulk::Workbook book;
  for (const auto& [name, table] : sheets) {
    auto& sheet = book.add_sheet(name, table[0]);
    for (size_t r = 1; r < table.size(); ++r) sheet.rows.emplace_back(table[r].begin(), table[r].end());
  }
  return book;
}
bulk::Sheet& sheet_named(bulk::Workbook& book, const std::string& name) {
  for (auto& s : book.sheets) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no sheet " + name);
}
// A day relative to today (UTC), YYYY-MM-DD.
std::string days_from_today(int days) {
  return format_date(
      std::chrono::year_month_day(std::chrono::sys_days(today_utc()) + std::chrono::days(days)));
}

class BulkUploadTest : public ServerTest {
 protected:
  std::string campaign(const std::string& name, double budget) {
    auto res = http().post_json(
        "/api/campaigns",
        {{"name", name},
         {"advertiser_id", "adv_upload"},
         {"budget", budget},
         {"start_date", "2030-03-01"},
         {"end_date", "2030-03-31"},
         {"bidding", {{"max_bid", 3.25}}},
         {"targeting", {{"locations", {"US", "DE"}}, {"device_types", {"mobile", "tablet"}}}}},
        bearer(admin_token()));
    EXPECT_EQ(res.status, 201) << res.describe();
    return res.json()["data"]["id"];
  }
  std::string creative() {
    return create_creative(http(), admin_token(), "runway", "runway_81298.html", dimensions("320x50"));
  }
  // Two campaigns, the first with two creatives; returns {first, second}.
  std::pair<std::string, std::string> setup() {
    auto first = campaign("Upload first " + unique_name("c"), 100);
    auto second = campaign("Upload second " + unique_name("c"), 250.5);
    auto res = http().post_json("/api/campaigns/" + first + "/creatives",
                                {{"creative_ids", {creative(), creative()}}}, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return {first, second};
  }
  std::string generated(const std::vector<std::string>& ids, const std::string& format) {
    auto res = http().post_json("/api/bulk/generate-sheet", {{"campaign_ids", ids}, {"format", format}},
                                bearer(admin_token()));
    EXPECT_EQ(res.status, 201) << res.describe();
    auto file = http().get(res.json()["data"]["download_url"].get<std::string>(), bearer(admin_token()));
    EXPECT_EQ(file.status, 200) << file.describe();
    return file.body;
  }
  HttpResponse upload(const std::string& bytes, const std::string& extra_query = "",
                      bool validate_only = false, const std::string& token = "") {
    std::string body = form_file("file", "sheet.bin", bytes);
    if (validate_only) body += form_field("validate_only", "true");
    return http().request("POST", "/api/bulk/upload-sheet" + extra_query, body + form_end(),
                          multipart_headers(token.empty() ? admin_token() : token));
  }
  json campaign_doc(const std::string& id) {
    auto res = http().get("/api/campaigns/" + id, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json()["data"];
  }
  size_t history_size(const std::string& id) {
    auto res = http().get("/api/campaigns/" + id + "/history?limit=100", bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json()["data"]["total"].get<size_t>();
  }
  // Campaigns whose name holds `text` (tests run in parallel on one database: never count all).
  size_t campaigns_named(const std::string& text) {
    auto res = http().get("/api/campaigns?limit=1&q=" + text, bearer(admin_token()));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.json()["data"]["total"].get<size_t>();
  }
  static json report_of(const HttpResponse& res) {
    auto body = res.json();
    return body["success"] == true ? body["data"] : body["error"]["data"];
  }
  static void expect_nothing_written(const json& report) {
    EXPECT_EQ(report["created"], json({{"campaigns", 0}, {"associations", 0}})) << report;
    EXPECT_EQ(report["updated"], json({{"campaigns", 0}, {"line_items", 0}})) << report;
  }
};

TEST_F(BulkUploadTest, AnUnchangedGeneratedSheetChangesNothingInXlsxAndCsv) {
  auto [first, second] = setup();
  for (const char* format : {"xlsx", "csv"}) {
    auto before = campaign_doc(first);
    auto res = upload(generated({first, second}, format));
    ASSERT_EQ(res.status, 200) << format << " " << res.describe();
    auto report = report_of(res);
    EXPECT_EQ(report["valid"], true);
    EXPECT_EQ(report["errors"], json::array());
    expect_nothing_written(report);
    EXPECT_EQ(report["unchanged"]["campaigns"], 2) << report;
    // Orders 2 + Line Items 2 + Associations 2 + Targeting 7 per campaign.
    EXPECT_EQ(report["rows_processed"], 2 + 2 + 2 + 14) << report;
    EXPECT_EQ(report["rows_valid"], report["rows_processed"]);
    EXPECT_EQ(campaign_doc(first)["version"], before["version"]) << format;
  }
}

TEST_F(BulkUploadTest, CreatesOneCampaignAndUpdatesAnotherWithAuditEntries) {
  auto [first, second] = setup();
  auto sheets = unzip_csv(generated({first, second}, "csv"));
  auto& orders = sheets.at("Orders");
  orders[2][col(orders, "Order Name")] = "Renamed by sheet";
  orders[2][col(orders, "Budget")] = "300.00";
  orders[2][col(orders, "End Date")] = "04/15/2030";
  auto fresh = orders[1];
  fresh[col(orders, "Order ID")] = "";
  fresh[col(orders, "Status")] = "";
  fresh[col(orders, "Order Name")] = "Created by sheet " + unique_name("n");
  fresh[col(orders, "Amazon Campaign ID")] = "";
  orders.push_back(fresh);
  auto& items = sheets.at("Line Items");
  items[1][col(items, "Status")] = "paused";
  auto& targeting = sheets.at("Targeting");
  targeting.push_back({second, "locations", "FR", "INCLUDE"});
  size_t history_before = history_size(second);

  auto res = upload(zip_csv(sheets));
  ASSERT_EQ(res.status, 200) << res.describe();
  auto report = report_of(res);
  EXPECT_EQ(report["created"], json({{"campaigns", 1}, {"associations", 0}})) << report;
  EXPECT_EQ(report["updated"], json({{"campaigns", 1}, {"line_items", 1}})) << report;
  EXPECT_EQ(report["unchanged"]["campaigns"], 0) << report;  // the first's line item changed

  auto doc = campaign_doc(second);
  EXPECT_EQ(doc["name"], "Renamed by sheet");
  EXPECT_EQ(doc["budget"], 300.0);
  EXPECT_EQ(doc["end_date"], "2030-04-15");
  EXPECT_EQ(doc["targeting"]["locations"], json({"US", "DE", "FR"}));
  EXPECT_EQ(history_size(second), history_before + 1);
  auto history =
      http().get("/api/campaigns/" + second + "/history", bearer(admin_token())).json()["data"]["history"];
  EXPECT_EQ(history[0]["action"], "update");
  EXPECT_EQ(history[0]["changes"]["budget"], json({{"from", 250.5}, {"to", 300.0}}));
  EXPECT_EQ(campaign_doc(first)["creatives"][0]["ad_group"]["status"], "paused");

  auto list =
      http().get("/api/campaigns?q=" + fresh[col(orders, "Order Name")].substr(17), bearer(admin_token()));
  ASSERT_EQ(list.json()["data"]["total"], 1) << list.describe();
  auto created = list.json()["data"]["campaigns"][0];
  EXPECT_EQ(created["budget"], 100.0);
  EXPECT_EQ(created["status"], "draft");
  EXPECT_EQ(history_size(created["id"]), 1u);

  // The sheet generated now reads back unchanged, the paused line item included.
  auto again = upload(generated({first, second}, "xlsx"));
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(report_of(again)["unchanged"]["campaigns"], 2) << again.body;
}

TEST_F(BulkUploadTest, AnInvalidRowAmongValidOnesIsA422ListingEveryErrorAndWritesNothing) {
  auto [first, second] = setup();
  auto sheets = unzip_csv(generated({first, second}, "csv"));
  auto& orders = sheets.at("Orders");
  orders[1][col(orders, "Order Name")] = "Would be renamed";  // valid
  orders[2][col(orders, "Budget")] = "-5";
  auto fresh = orders[1];
  std::string fresh_name = unique_name("never_created");
  fresh[col(orders, "Order ID")] = "";
  fresh[col(orders, "Status")] = "";
  fresh[col(orders, "Order Name")] = fresh_name;
  fresh[col(orders, "Start Date")] = "2030-13-01";
  orders.push_back(fresh);
  auto valid_new = fresh;
  valid_new[col(orders, "Start Date")] = "2030-03-01";
  orders.push_back(valid_new);  // valid, but the sheet as a whole is not
  auto& targeting = sheets.at("Targeting");
  targeting[1][col(targeting, "Targeting Type")] = "planets";
  auto before = campaign_doc(first);

  auto res = upload(zip_csv(sheets));
  ASSERT_EQ(res.status, 422) << res.describe();
  auto body = res.json();
  EXPECT_EQ(body["error"]["code"], "VALIDATION_ERROR");
  auto report = body["error"]["data"];
  EXPECT_EQ(report["valid"], false);
  std::set<std::string> errors;
  for (const auto& e : report["errors"]) {
    errors.insert(e["sheet"].get<std::string>() + "/" + std::to_string(e["row"].get<int>()) + "/" +
                  e["column"].get<std::string>());
  }
  EXPECT_EQ(errors,
            (std::set<std::string>{"Orders/3/Budget", "Orders/4/Start Date", "Targeting/2/Targeting Type"}))
      << report;
  EXPECT_EQ(report["rows_invalid"], 3);
  EXPECT_EQ(body["error"]["details"].size(), 3u);
  expect_nothing_written(report);
  EXPECT_EQ(campaigns_named(fresh_name), 0u);
  EXPECT_EQ(campaign_doc(first)["name"], before["name"]);
  EXPECT_EQ(campaign_doc(first)["version"], before["version"]);
}

// A bad value gets the same words through POST /api/campaigns, a csv sheet (where every cell is
// text) and an xlsx sheet (where it is a typed cell: a number, a date): the rules are the campaign
// validator's, whatever the door.
TEST_F(BulkUploadTest, EachRuleReadsTheSameThroughTheApiACsvSheetAndAnXlsxSheet) {
  struct Case {
    json api_patch;         // merged into a valid POST /api/campaigns body
    std::string api_field;  // where the API reports it
    std::string sheet, column;
    std::string text;                 // the csv cell
    bulk::Cell typed;                 // the xlsx cell
    std::string targeting_type = {};  // Targeting rows: the row of this type, whose message it prefixes
  };
  const std::string yesterday = days_from_today(-1);
  const std::vector<Case> cases = {
      {{{"budget", -500}}, "budget", "Orders", "Budget", "-500.00", bulk::Number{-500, 2}},
      {{{"budget", 0}}, "budget", "Orders", "Budget", "0.00", bulk::Number{0, 2}},
      {{{"budget", "lots"}}, "budget", "Orders", "Budget", "lots", std::string("lots")},
      {{{"budget", 2e9}}, "budget", "Orders", "Budget", "2000000000.00", bulk::Number{2e9, 2}},
      {{{"budget", -5}}, "budget", "Line Items", "Budget", "-5.00", bulk::Number{-5, 2}},
      {{{"bidding", {{"max_bid", 0}}}},
       "bidding.max_bid",
       "Line Items",
       "Bid (CPM)",
       "0",
       bulk::Number{0, 2}},
      {{{"end_date", yesterday}},
       "end_date",
       "Orders",
       "End Date",
       yesterday,
       bulk::Date{*parse_date(yesterday)}},
      {{{"end_date", "2030-02-30"}},
       "end_date",
       "Orders",
       "End Date",
       "2030-02-30",
       std::string("2030-02-30")},
      {{{"goal_kpi", "profit"}}, "goal_kpi", "Orders", "Goal KPI", "profit", std::string("profit")},
      {{{"phase", "launch"}}, "phase", "Orders", "Phase", "launch", std::string("launch")},
      {{{"targeting", {{"device_types", {"phone"}}}}},
       "targeting.device_types[0]",
       "Targeting",
       "Targeting Value",
       "phone",
       std::string("phone"),
       "device_types"},
      {{{"targeting", {{"viewability_threshold", "high"}}}},
       "targeting.viewability_threshold",
       "Targeting",
       "Targeting Value",
       "high",
       std::string("high"),
       "viewability_threshold"},
  };
  auto [first, second] = setup();
  const auto generated_tables = unzip_csv(generated({first}, "csv"));
  // The message of the one error a 422 upload reports, which must be at sheet / row / column.
  auto sheet_message = [](const HttpResponse& res, const std::string& sheet, size_t row,
                          const std::string& column) -> std::string {
    EXPECT_EQ(res.status, 422) << res.describe();
    auto errors = report_of(res)["errors"];
    if (errors.size() != 1) {
      ADD_FAILURE() << "one error expected: " << errors;
      return "";
    }
    EXPECT_EQ(errors[0]["sheet"], sheet) << errors;
    EXPECT_EQ(errors[0]["row"], row) << errors;
    EXPECT_EQ(errors[0]["column"], column) << errors;
    return errors[0]["message"];
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.api_patch.dump() + " / " + c.sheet + " " + c.column + " " + c.text);
    json body = {{"name", "Wording"},
                 {"advertiser_id", "adv_upload"},
                 {"budget", 100},
                 {"start_date", "2030-03-01"},
                 {"end_date", "2030-03-31"}};
    body.merge_patch(c.api_patch);
    auto api = http().post_json("/api/campaigns", body, bearer(admin_token()));
    ASSERT_EQ(invalid_fields(api), std::set<std::string>{c.api_field});
    std::string api_message = api.json()["error"]["details"][0]["message"];

    auto tables = generated_tables;
    auto& table = tables.at(c.sheet);
    size_t row = 1;             // the first data row (Line Items: the first line item)
    if (c.sheet == "Orders") {  // a new order: the generated one without its ids and status
      auto fresh = table[1];
      for (const char* cleared : {"Order ID", "Status", "Amazon Campaign ID"})
        fresh[col(table, cleared)] = "";
      table.push_back(fresh);
      row = table.size() - 1;
    } else if (c.sheet == "Targeting") {
      while (table[row][col(table, "Targeting Type")] != c.targeting_type) ++row;
    }
    size_t column = col(table, c.column);
    table[row][column] = c.text;
    std::string csv_message = sheet_message(upload(zip_csv(tables)), c.sheet, row + 1, c.column);
    auto book = workbook_of(tables);
    sheet_named(book, c.sheet).rows[row - 1][column] = c.typed;
    std::string xlsx_message = sheet_message(upload(bulk::write_xlsx(book)), c.sheet, row + 1, c.column);

    std::string prefix = c.targeting_type.empty() ? "" : c.targeting_type + ": ";
    EXPECT_EQ(csv_message, prefix + api_message);
    EXPECT_EQ(xlsx_message, prefix + api_message);
  }
}

// Moving an order's dates so that it ends before today is a row error on End Date, in either format.
TEST_F(BulkUploadTest, AnOrderMovedToEndBeforeTodayIsARowErrorInBothFormats) {
  auto [first, second] = setup();
  for (const char* format : {"csv", "xlsx"}) {
    auto tables = unzip_csv(generated({first}, "csv"));
    auto& orders = tables.at("Orders");
    orders[1][col(orders, "Start Date")] = days_from_today(-30);
    orders[1][col(orders, "End Date")] = days_from_today(-1);
    auto res = upload(std::string(format) == "csv" ? zip_csv(tables) : bulk::write_xlsx(workbook_of(tables)));
    ASSERT_EQ(res.status, 422) << format << " " << res.describe();
    auto errors = report_of(res)["errors"];
    ASSERT_EQ(errors.size(), 1u) << errors;
    EXPECT_EQ(errors[0],
              json({{"sheet", "Orders"},
                    {"row", 2},
                    {"column", "End Date"},
                    {"message", "must not be in the past (today is " + days_from_today(0) + " UTC)"}}));
  }
}

TEST_F(BulkUploadTest, ValidateOnlyReportsWhatWouldChangeAndWritesNothing) {
  auto [first, second] = setup();
  auto sheets = unzip_csv(generated({first}, "csv"));
  auto& orders = sheets.at("Orders");
  orders[1][col(orders, "Goal KPI")] = "ctr";
  auto bytes = zip_csv(sheets);
  for (bool in_query : {false, true}) {
    auto res = in_query ? upload(bytes, "?validate_only=true") : upload(bytes, "", true);
    ASSERT_EQ(res.status, 200) << res.describe();
    auto report = report_of(res);
    EXPECT_EQ(report["valid"], true);
    EXPECT_EQ(report["updated"]["campaigns"], 1) << report;
    EXPECT_EQ(campaign_doc(first)["goal_kpi"], "viewability");
  }
  EXPECT_EQ(upload(bytes, "?validate_only=maybe").status, 422);
}

TEST_F(BulkUploadTest, RefusesWhatIsNotAWorkbookOrLacksASheetOrAColumn) {
  auto not_zip = upload("this is not a spreadsheet");
  EXPECT_EQ(not_zip.status, 422) << not_zip.describe();
  EXPECT_EQ(invalid_fields(not_zip), std::set<std::string>{"file"});

  auto [first, second] = setup();
  auto sheets = unzip_csv(generated({first}, "csv"));
  auto without_orders = sheets;
  without_orders.erase("Orders");
  auto missing_sheet = upload(zip_csv(without_orders));
  EXPECT_EQ(missing_sheet.status, 422) << missing_sheet.describe();
  EXPECT_NE(missing_sheet.body.find("Orders"), std::string::npos);

  auto& items = sheets.at("Line Items");
  items[0][col(items, "Bid (CPM)")] = "Bid";
  auto missing_column = upload(zip_csv(sheets));
  EXPECT_EQ(missing_column.status, 422) << missing_column.describe();
  EXPECT_NE(missing_column.body.find("Bid (CPM)"), std::string::npos) << missing_column.body;

  auto no_file =
      http().request("POST", "/api/bulk/upload-sheet", form_field("validate_only", "true") + form_end(),
                     multipart_headers(admin_token()));
  EXPECT_EQ(invalid_fields(no_file), std::set<std::string>{"file"});
}

TEST_F(BulkUploadTest, RefusesMoreThanFiftyThousandDataRows) {
  std::string csv =
      "Order ID,Order Name,Advertiser ID,Status,Phase,Viewability Phase,Goal KPI,Budget,Currency,"
      "Start Date,End Date,Amazon Campaign ID\r\n";
  // Valid rows but one too many: nothing is written, whatever the rows say.
  std::string name = unique_name("too_many");
  for (int i = 0; i < 50001; ++i) {
    csv += "," + name + " " + std::to_string(i) + ",adv,,,,,10,USD,2030-03-01,2030-03-31,\r\n";
  }
  auto res = upload(bulk::write_zip({{"Orders.csv", csv}}));
  ASSERT_EQ(res.status, 422) << res.describe();
  EXPECT_EQ(invalid_fields(res), std::set<std::string>{"file"});
  EXPECT_NE(res.body.find("more than 50000 data rows"), std::string::npos) << res.body;
  EXPECT_EQ(campaigns_named(name), 0u);
}

TEST_F(BulkUploadTest, AsyncUploadRunsAsAJobWhoseResultIsTheReport) {
  auto [first, second] = setup();
  auto sheets = unzip_csv(generated({first, second}, "csv"));
  auto& orders = sheets.at("Orders");
  orders[2][col(orders, "Order Name")] = "Renamed by job";
  auto res = upload(zip_csv(sheets), "?async=true");
  ASSERT_EQ(res.status, 202) << res.describe();
  std::string job_id = res.json()["data"]["job_id"];
  json job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = http().get("/api/jobs/" + job_id, bearer(admin_token())).json()["data"];
        return job["status"] == "succeeded" || job["status"] == "failed";
      },
      60s, 100ms))
      << job;
  ASSERT_EQ(job["status"], "succeeded") << job;
  EXPECT_EQ(job["kind"], "bulk_import");
  EXPECT_EQ(job["result"]["valid"], true);
  EXPECT_EQ(job["result"]["updated"]["campaigns"], 1) << job;
  EXPECT_EQ(job["result"]["unchanged"]["campaigns"], 1) << job;
  EXPECT_EQ(job["progress"]["done"], job["progress"]["total"]) << job;
  EXPECT_GT(job["progress"]["total"].get<int>(), 0) << job;
  EXPECT_EQ(campaign_doc(second)["name"], "Renamed by job");
}

TEST_F(BulkUploadTest, ViewersCannotUpload) {
  auto viewer = login(http(), create_user(http(), admin_token(), "viewer"));
  auto res = upload("irrelevant", "", false, viewer);
  EXPECT_EQ(res.status, 403) << res.describe();
}

class BulkUploadLimitTest : public ServerTest {
 protected:
  EnvOverrides server_env() override { return {{"MAX_UPLOAD_BYTES", std::to_string(kLimit)}}; }
  static constexpr size_t kLimit = 64 * 1024;
};

TEST_F(BulkUploadLimitTest, ABodyOverMaxUploadBytesIs413) {
  std::string big(kLimit + 1024, 'x');
  auto res = http().request("POST", "/api/bulk/upload-sheet", form_file("file", "a.xlsx", big) + form_end(),
                            multipart_headers(admin_token()));
  EXPECT_EQ(res.status, 413) << res.describe();
}

}  // namespace
}  // namespace kargo::itest
