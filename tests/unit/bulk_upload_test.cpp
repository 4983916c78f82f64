// Reading uploaded bulk sheets (bulk/sheet_reader) and the upload rules (bulk/upload) without a
// database: workbooks written by the project's own writers, and hand-made parts for what
// libxlsxwriter never writes (inline strings, the 1904 date system, missing cell references).
#include <gtest/gtest.h>

#include "bulk_support.hpp"
#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/bulk/sheet_reader.hpp"
#include "kargo/bulk/upload.hpp"
#include "kargo/domain/campaign.hpp"

using namespace kargo;
using namespace kargo::bulk;
using namespace std::chrono_literals;
using kargo::bulk_test::hand_made_xlsx;
using nlohmann::json;

namespace {

// A sheet of 30 columns (past Z) with every kind of cell, an empty cell in the middle of a row and
// an empty row between two data rows.
Workbook every_cell_kind() {
  Workbook book;
  std::vector<std::string> columns;
  for (int i = 0; i < 30; ++i) columns.push_back("Col " + std::to_string(i));
  auto& s = book.add_sheet("Kinds", columns);
  Row first(30);
  first[0] = std::string("text, \"quoted\"");
  first[1] = Number{1234.5, 2};
  first[2] = Number{15, -1};
  first[3] = Date{2026y / 3 / 1};
  first[4] = true;
  first[5] = std::string();  // empty text: no cell
  first[6] = std::string("after the gap");
  first[27] = std::string("in AB");
  first[29] = Number{-0.25, -1};
  s.rows.push_back(first);
  s.rows.push_back(Row(30));  // all empty
  Row third(30);
  third[0] = std::string("text, \"quoted\"");  // the same shared string again
  third[28] = Date{1999y / 12 / 31};
  s.rows.push_back(third);
  book.add_sheet("Second", {"A"}).rows.push_back({std::string("x")});
  return book;
}

}  // namespace

TEST(BulkSheetReader, ReadsEveryCellKindTheWriterProducesWithExcelRowNumbers) {
  auto book = read_workbook(write_xlsx(every_cell_kind()));
  ASSERT_TRUE(book.xlsx);
  ASSERT_EQ(book.sheets.size(), 2u);
  const auto& s = book.sheets[0];
  EXPECT_EQ(s.name, "Kinds");
  ASSERT_EQ(s.header.size(), 30u);
  EXPECT_EQ(s.header[29], "Col 29");
  EXPECT_EQ(s.column("Col 27"), 27u);
  ASSERT_EQ(s.rows.size(), 2u);  // the empty row is not a data row
  EXPECT_EQ(s.rows[0].number, 2u);
  EXPECT_EQ(s.rows[1].number, 4u);  // numbering keeps the gap
  const auto& c = s.rows[0].cells;
  ASSERT_EQ(c.size(), 30u);
  EXPECT_EQ(std::get<std::string>(c[0]), "text, \"quoted\"");
  EXPECT_DOUBLE_EQ(std::get<Number>(c[1]).value, 1234.5);
  EXPECT_DOUBLE_EQ(std::get<Number>(c[2]).value, 15);
  EXPECT_EQ(std::get<Date>(c[3]).day, 2026y / 3 / 1);  // a number shown yyyy-mm-dd is a date
  EXPECT_TRUE(std::get<bool>(c[4]));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c[5]));
  EXPECT_EQ(std::get<std::string>(c[6]), "after the gap");
  EXPECT_EQ(std::get<std::string>(c[27]), "in AB");
  EXPECT_DOUBLE_EQ(std::get<Number>(c[29]).value, -0.25);
  EXPECT_EQ(std::get<std::string>(s.rows[1].cells[0]), "text, \"quoted\"");
  EXPECT_EQ(std::get<Date>(s.rows[1].cells[28]).day, 1999y / 12 / 31);
  EXPECT_EQ(book.sheets[1].name, "Second");
  EXPECT_EQ(book.data_rows(), 3u);
}

TEST(BulkSheetReader, ReadsInlineStringsFormulaTextBuiltInDateStylesAndThe1904System) {
  auto bytes = hand_made_xlsx(
      R"(<workbookPr date1904="1"/>)",
      R"(<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Name</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>When</x:t></x:is></x:c>)"
      R"(<x:c t="inlineStr"><x:is><x:t>Score</x:t></x:is></x:c></x:row>)"
      R"(<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:r><x:t>rich </x:t></x:r><x:r><x:t>text</x:t></x:r></x:is></x:c>)"
      R"(<x:c r="B3" s="1"><x:v>0</x:v></x:c><x:c r="C3" s="2"><x:v>7.5</x:v></x:c><x:c r="D3" t="str"><x:v>formula</x:v></x:c>)"
      R"(<x:c r="E3" t="b"><x:v>0</x:v></x:c></x:row>)");
  auto book = read_workbook(bytes);
  ASSERT_EQ(book.sheets.size(), 1u);
  const auto& s = book.sheets[0];
  EXPECT_EQ(s.header, (std::vector<std::string>{"Name", "When", "Score"}));  // cells without r follow on
  ASSERT_EQ(s.rows.size(), 1u);
  EXPECT_EQ(s.rows[0].number, 3u);
  const auto& c = s.rows[0].cells;
  EXPECT_EQ(std::get<std::string>(c[0]), "rich text");
  EXPECT_EQ(std::get<Date>(c[1]).day, 1904y / 1 / 1);   // numFmtId 14, 1904 system
  EXPECT_DOUBLE_EQ(std::get<Number>(c[2]).value, 7.5);  // "day" is quoted text: not a date format
  EXPECT_EQ(std::get<std::string>(c[3]), "formula");
  EXPECT_FALSE(std::get<bool>(c[4]));
}

TEST(BulkSheetReader, ReadsCsvZipsWithRowNumbersAndWithoutTheByteOrderMark) {
  std::string csv = "\xEF\xBB\xBFOrder ID,Name\r\ncamp_1,\"two\r\nlines\"\r\n,\r\ncamp_2,x\r\n";
  auto book = read_workbook(write_zip({{"folder/Orders.csv", csv}, {"__MACOSX/._Orders.csv", "junk"}}));
  EXPECT_FALSE(book.xlsx);
  ASSERT_EQ(book.sheets.size(), 1u);
  const auto& s = book.sheets[0];
  EXPECT_EQ(s.name, "Orders");
  EXPECT_EQ(s.header[0], "Order ID");
  ASSERT_EQ(s.rows.size(), 2u);
  EXPECT_EQ(s.rows[0].number, 2u);
  EXPECT_EQ(std::get<std::string>(s.rows[0].cells[1]), "two\r\nlines");
  EXPECT_EQ(s.rows[1].number, 4u);  // record 3 is empty
}

TEST(BulkSheetReader, RefusesWhatIsNotAWorkbookAndTooManyRowsAndABombWhileInflating) {
  EXPECT_THROW(read_workbook("not a zip at all"), WorkbookError);
  EXPECT_THROW(read_workbook(write_zip({{"readme.txt", "hello"}})), WorkbookError);
  std::string rows = "A\r\n1\r\n2\r\n3\r\n4\r\n";
  EXPECT_NO_THROW(read_workbook(write_zip({{"S.csv", rows}}), {.max_data_rows = 4}));
  EXPECT_THROW(read_workbook(write_zip({{"S.csv", rows}}), {.max_data_rows = 3}), WorkbookError);
  std::string zeros(4 << 20, '0');
  try {
    read_workbook(write_zip({{"S.csv", zeros}}), {.max_inflated_bytes = 1 << 20});
    FAIL() << "no error";
  } catch (const WorkbookError& e) {
    EXPECT_NE(std::string(e.what()).find("inflates"), std::string::npos) << e.what();
  }
}

TEST(BulkSheetDates, AcceptsIsoAndUsTextAndRefusesImpossibleDates) {
  EXPECT_EQ(parse_sheet_date("2026-03-01"), 2026y / 3 / 1);
  EXPECT_EQ(parse_sheet_date("03/01/2026"), 2026y / 3 / 1);
  EXPECT_EQ(parse_sheet_date("3/1/2026"), 2026y / 3 / 1);
  EXPECT_EQ(parse_sheet_date("12/31/1999"), 1999y / 12 / 31);
  for (const char* bad :
       {"2026-02-30", "13/01/2026", "02/30/2026", "03/01/26", "3//2026", "2026/03/01", ""}) {
    EXPECT_FALSE(parse_sheet_date(bad).has_value()) << bad;
  }
  EXPECT_EQ(cell_date(Date{2026y / 2 / 1}), 2026y / 2 / 1);
  EXPECT_EQ(cell_date(std::string(" 02/01/2026 ")), 2026y / 2 / 1);
  EXPECT_FALSE(cell_date(Number{46054, -1}).has_value());  // a plain number is no date
}

TEST(BulkSheetDates, ConvertsExcelSerialsInBothDateSystems) {
  EXPECT_EQ(excel_serial_day(1), 1900y / 1 / 1);
  EXPECT_EQ(excel_serial_day(59), 1900y / 2 / 28);
  EXPECT_FALSE(excel_serial_day(60).has_value());  // Lotus's 1900-02-29
  EXPECT_EQ(excel_serial_day(61), 1900y / 3 / 1);
  EXPECT_EQ(excel_serial_day(45658), 2025y / 1 / 1);
  EXPECT_EQ(excel_serial_day(45658.75), 2025y / 1 / 1);  // the time of day is dropped
  EXPECT_EQ(excel_serial_day(0, true), 1904y / 1 / 1);
  EXPECT_FALSE(excel_serial_day(-1).has_value());
  EXPECT_TRUE(is_date_format(14, ""));
  EXPECT_TRUE(is_date_format(164, "yyyy-mm-dd"));
  EXPECT_TRUE(is_date_format(165, "[$-409]d-mmm"));
  EXPECT_FALSE(is_date_format(164, "0.00"));
  EXPECT_FALSE(is_date_format(164, "[Red]0.00"));
  EXPECT_FALSE(is_date_format(20, ""));  // h:mm, a time
  EXPECT_FALSE(is_date_format(2, ""));
}

TEST(BulkUploadMoney, ReadsNumbersAndTextInCents) {
  EXPECT_EQ(money_cents(Number{33.33, 2}), 3333);
  EXPECT_EQ(money_cents(Number{0.1 + 0.2, -1}), 30);
  EXPECT_EQ(money_cents(std::string("1000")), 100000);
  EXPECT_EQ(money_cents(std::string("1000.5")), 100050);
  EXPECT_EQ(money_cents(std::string("$12.34")), 1234);
  for (const char* bad : {"12.345", "abc", "1,000", "12.", "", "-"}) {
    EXPECT_FALSE(money_cents(std::string(bad)).has_value()) << bad;
  }
}

namespace {

constexpr const char* kCamp = "camp_0000000000aa";
// The plans are made on a fixed day, so the end date rule gives the same answer every day.
constexpr std::chrono::year_month_day kToday = 2026y / 12 / 4;
constexpr const char* kCreative = "crv_0000000000aa";

// One campaign as the sheet shows it and as GET /api/campaigns/{id} does.
OrderSource order_source() {
  OrderSource o;
  o.id = kCamp;
  o.name = "Order one";
  o.advertiser_id = "adv_1";
  o.status = "draft";
  o.phase = "awareness";
  o.viewability_phase = "phase_1";
  o.goal_kpi = "viewability";
  o.currency = "USD";
  o.budget_cents = 10000;
  o.start_date = 2030y / 3 / 1;
  o.end_date = 2030y / 3 / 31;
  o.max_bid = 3.25;
  o.targeting = {{"locations", {"US", "DE"}},     {"demographics", json::array()},
                 {"interests", json::array()},    {"device_types", {"mobile"}},
                 {"audiences", json::array()},    {"keywords", json::array()},
                 {"categories", json::array()},   {"supply_sources", {"amazon_publishers"}},
                 {"viewability_threshold", 70.0}, {"brand_safety_level", "high"}};
  CreativeSource c;
  c.id = kCreative;
  c.name = "Runway";
  c.format = "runway";
  c.device_type = "mobile";
  o.associations.push_back({c, "Order one - Runway", "active"});
  return o;
}

json campaign_doc(const OrderSource& o) {
  return {{"id", o.id},
          {"name", o.name},
          {"advertiser_id", o.advertiser_id},
          {"status", o.status},
          {"phase", o.phase},
          {"viewability_phase", o.viewability_phase},
          {"goal_kpi", o.goal_kpi},
          {"currency", o.currency},
          {"budget", 100.0},
          {"spent", 0.0},
          {"start_date", "2030-03-01"},
          {"end_date", "2030-03-31"},
          {"targeting", o.targeting},
          {"bidding", {{"strategy_type", "cpm"}, {"max_bid", 3.25}}},
          {"creatives", {{{"id", kCreative}, {"ad_group", {{"budget", nullptr}, {"status", "active"}}}}}}};
}

UploadPlan plan_for(const Workbook& book, bool csv, const json& campaign = campaign_doc(order_source())) {
  auto parsed = parse_upload(read_workbook(csv ? write_csv_zip(book) : write_xlsx(book)));
  return plan_upload(parsed, {{kCamp, campaign}},
                     {{"crv_0000000000bb", {"processed", true}}, {"crv_0000000000cc", {"pending", false}}},
                     kToday);
}

Workbook generated() { return build_bulk_sheet({order_source()}, {}); }

Sheet& sheet_of(Workbook& book, const char* name) {
  for (auto& s : book.sheets) {
    if (s.name == name) return s;
  }
  throw std::runtime_error(name);
}

}  // namespace

TEST(BulkUploadPlan, AGeneratedSheetUploadedUnchangedPlansNoWrite) {
  for (bool csv : {false, true}) {
    auto plan = plan_for(generated(), csv);
    EXPECT_TRUE(plan.valid()) << plan.report().dump();
    EXPECT_EQ(plan.unchanged, 1u);
    EXPECT_TRUE(plan.creates.empty() && plan.updates.empty() && plan.associations.empty() &&
                plan.line_items.empty());
    // Orders 1 + Line Items 1 + Associations 1 + Targeting (2 + 1 + 1 + 2) = 9 (Creatives is not read)
    EXPECT_EQ(plan.rows_processed, 9u);
    auto report = plan.report();
    EXPECT_EQ(report["rows_valid"], 9);
    EXPECT_EQ(report["unchanged"]["campaigns"], 1);
  }
}

TEST(BulkUploadPlan, TargetingInAnotherOrderAndUsDatesAreUnchanged) {
  auto book = generated();
  auto& targeting = sheet_of(book, kTargetingSheet);
  std::swap(targeting.rows[0], targeting.rows[1]);  // DE before US
  auto& orders = sheet_of(book, kOrdersSheet);
  orders.rows[0][9] = std::string("03/01/2030");
  orders.rows[0][7] = std::string("100");
  auto plan = plan_for(book, true);
  EXPECT_TRUE(plan.valid()) << plan.report().dump();
  EXPECT_EQ(plan.unchanged, 1u);
}

TEST(BulkUploadPlan, PlansCreatesUpdatesAssociationsAndLineItems) {
  auto book = generated();
  auto& orders = sheet_of(book, kOrdersSheet);
  orders.rows[0][1] = std::string("Renamed");
  Row fresh = orders.rows[0];
  fresh[0] = std::string();
  fresh[3] = std::string();
  fresh[1] = std::string("Brand new");
  orders.rows.push_back(fresh);
  auto& line_items = sheet_of(book, kLineItemsSheet);
  line_items.rows[0][5] = Number{40, 2};  // own budget
  line_items.rows[0][10] = std::string("paused");
  sheet_of(book, kAssociationsSheet)
      .rows.push_back({std::string("adv_1"), std::string("ASSOCIATE"),
                       std::string(std::string(kCamp) + ":crv_0000000000bb"), std::string("crv_0000000000bb"),
                       std::string("x"), std::string("active"), Number{100, -1}});
  auto plan = plan_for(book, false);
  ASSERT_TRUE(plan.valid()) << plan.report().dump();
  ASSERT_EQ(plan.creates.size(), 1u);
  EXPECT_EQ(plan.creates[0].fields["name"], "Brand new");
  EXPECT_EQ(plan.creates[0].fields["budget"], 100.0);
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].body, json({{"name", "Renamed"}}));
  ASSERT_EQ(plan.associations.size(), 1u);
  EXPECT_EQ(plan.associations[0].creative_id, "crv_0000000000bb");
  ASSERT_EQ(plan.line_items.size(), 1u);
  EXPECT_EQ(plan.line_items[0].budget_cents, 4000);
  EXPECT_EQ(plan.line_items[0].status, "paused");
  EXPECT_EQ(plan.unchanged, 0u);
}

TEST(BulkUploadPlan, ReportsEveryBadRowWithItsSheetRowAndColumn) {
  auto book = generated();
  auto& orders = sheet_of(book, kOrdersSheet);
  orders.rows[0][7] = std::string("lots");           // Budget
  orders.rows[0][4] = std::string("consideration");  // Phase cannot change
  Row unknown = orders.rows[0];
  unknown[0] = std::string("camp_0000000000ff");
  orders.rows.push_back(unknown);
  Row bad_new = orders.rows[0];
  bad_new[0] = std::string();
  bad_new[3] = std::string();
  bad_new[4] = std::string();
  bad_new[7] = Number{100, 2};
  bad_new[10] = std::string("02/30/2026");  // End Date
  orders.rows.push_back(bad_new);
  sheet_of(book, kTargetingSheet).rows[0][2] = std::string("XX");  // not a country
  sheet_of(book, kAssociationsSheet)
      .rows.push_back({std::string("adv_1"), std::string("ASSOCIATE"),
                       std::string(std::string(kCamp) + ":crv_0000000000cc"), std::string("crv_0000000000cc"),
                       std::string("x"), std::string("active"), Number{100, -1}});
  auto plan = plan_for(book, false);
  ASSERT_FALSE(plan.valid());
  std::set<std::tuple<std::string, size_t, std::string>> got;
  for (const auto& e : plan.errors) got.insert({e.sheet, e.row, e.column});
  EXPECT_TRUE(got.count({"Orders", 2, "Budget"})) << plan.report().dump(1);
  EXPECT_TRUE(got.count({"Orders", 2, "Phase"}));
  EXPECT_TRUE(got.count({"Orders", 3, "Order ID"}));
  EXPECT_TRUE(got.count({"Orders", 4, "End Date"}));
  EXPECT_TRUE(got.count({"Targeting", 2, "Targeting Value"}));
  EXPECT_TRUE(got.count({"Creative Associations", 3, "Creative ID"}));
  EXPECT_EQ(plan.rows_invalid, 5u);
  auto report = plan.report();
  EXPECT_EQ(report["valid"], false);
  EXPECT_EQ(report["created"]["campaigns"], 0);
}

TEST(BulkUploadPlan, RefusesABadTargetingValueOnItsOwnRow) {
  auto book = generated();
  sheet_of(book, kTargetingSheet).rows[1][2] = std::string("XX");  // second location
  auto plan = plan_for(book, true);
  ASSERT_EQ(plan.errors.size(), 1u) << plan.report().dump();
  EXPECT_EQ(plan.errors[0].sheet, "Targeting");
  EXPECT_EQ(plan.errors[0].row, 3u);
  EXPECT_EQ(plan.errors[0].column, "Targeting Value");
}

TEST(BulkUploadParse, RequiresTheOrdersSheetAndEveryColumnOfAReadSheet) {
  Workbook no_orders;
  no_orders.add_sheet("Targeting", columns_of(kTargetingSheet));
  EXPECT_THROW(parse_upload(read_workbook(write_csv_zip(no_orders))), WorkbookError);
  auto book = generated();
  auto& li = sheet_of(book, kLineItemsSheet);
  li.columns[6] = "Bid";
  try {
    parse_upload(read_workbook(write_xlsx(book)));
    FAIL() << "no error";
  } catch (const WorkbookError& e) {
    EXPECT_NE(std::string(e.what()).find("Bid (CPM)"), std::string::npos) << e.what();
  }
}

// Column indexes of the Orders sheet (contract order).
constexpr size_t kOrderName = 1, kOrderBudget = 7, kOrderStart = 9, kOrderEnd = 10;

// A new order: a copy of the generated row without Order ID, Status and Amazon id.
Row new_order_row(const Workbook& book) {
  Row row = book.sheets[0].rows[0];
  row[0] = std::string();
  row[3] = std::string();
  row[11] = std::string();
  return row;
}

std::string only_message(const UploadPlan& plan, const std::string& column) {
  EXPECT_EQ(plan.errors.size(), 1u) << plan.report().dump(1);
  if (plan.errors.size() != 1) return {};
  EXPECT_EQ(plan.errors[0].column, column);
  return plan.errors[0].message;
}

TEST(BulkUploadPlan, RefusesANewOrderThatEndsBeforeToday) {
  for (bool csv : {false, true}) {
    auto book = generated();
    Row row = new_order_row(book);
    row[kOrderStart] = Date{2026y / 11 / 1};
    row[kOrderEnd] = csv ? Cell(std::string("12/03/2026")) : Cell(Date{2026y / 12 / 3});
    sheet_of(book, kOrdersSheet).rows.push_back(row);
    EXPECT_EQ(only_message(plan_for(book, csv), "End Date"),
              "must not be in the past (today is 2026-12-04 UTC)");
  }
}

TEST(BulkUploadPlan, ANewOrderMayEndToday) {
  auto book = generated();
  Row row = new_order_row(book);
  row[kOrderStart] = Date{2026y / 11 / 1};
  row[kOrderEnd] = Date{kToday};
  sheet_of(book, kOrdersSheet).rows.push_back(row);
  auto plan = plan_for(book, false);
  ASSERT_TRUE(plan.valid()) << plan.report().dump(1);
  ASSERT_EQ(plan.creates.size(), 1u);
  EXPECT_EQ(plan.creates[0].fields["end_date"], "2026-12-04");
}

TEST(BulkUploadPlan, AnEndedOrderAcceptsOtherChangesButNotDatesInThePast) {
  // The campaign ended on 2026-11-30: the generated sheet shows those dates.
  OrderSource ended = order_source();
  ended.start_date = 2026y / 11 / 1;
  ended.end_date = 2026y / 11 / 30;
  json doc = campaign_doc(ended);
  doc["start_date"] = "2026-11-01";
  doc["end_date"] = "2026-11-30";
  doc["status"] = "completed";
  ended.status = "completed";
  auto book = build_bulk_sheet({ended}, {});
  EXPECT_TRUE(plan_for(book, true, doc).valid()) << "uploaded unchanged";

  sheet_of(book, kOrdersSheet).rows[0][kOrderName] = std::string("Renamed after the end");
  auto renamed = plan_for(book, true, doc);
  ASSERT_TRUE(renamed.valid()) << renamed.report().dump(1);
  ASSERT_EQ(renamed.updates.size(), 1u);
  EXPECT_EQ(renamed.updates[0].body, json({{"name", "Renamed after the end"}}));

  sheet_of(book, kOrdersSheet).rows[0][kOrderStart] = Date{2026y / 10 / 1};  // moves, end still past
  EXPECT_EQ(only_message(plan_for(book, false, doc), "End Date"),
            "must not be in the past (today is 2026-12-04 UTC)");
  sheet_of(book, kOrdersSheet).rows[0][kOrderEnd] = Date{2027y / 1 / 31};  // extended: fine again
  EXPECT_TRUE(plan_for(book, false, doc).valid());
}

TEST(BulkUploadPlan, OneRuleReadsTheSameInCsvAndXlsxAndOnEveryMoneyColumn) {
  // A negative budget is text in a csv sheet and a number in an xlsx one; a line item's budget and
  // the bid follow the same money rule.
  std::string money_rule(domain::kMoneyRule);
  for (bool csv : {false, true}) {
    SCOPED_TRACE(csv ? "csv" : "xlsx");
    auto book = generated();
    sheet_of(book, kOrdersSheet).rows[0][kOrderBudget] = Number{-500, 2};
    EXPECT_EQ(only_message(plan_for(book, csv), "Budget"), money_rule);

    book = generated();
    sheet_of(book, kOrdersSheet).rows[0][kOrderBudget] = std::string("lots");
    EXPECT_EQ(only_message(plan_for(book, csv), "Budget"), money_rule);

    book = generated();
    sheet_of(book, kLineItemsSheet).rows[0][5] = Number{-5, 2};
    EXPECT_EQ(only_message(plan_for(book, csv), "Budget"), money_rule);

    book = generated();
    sheet_of(book, kLineItemsSheet).rows[0][6] = Number{0, 2};
    EXPECT_EQ(only_message(plan_for(book, csv), "Bid (CPM)"), money_rule);

    book = generated();
    sheet_of(book, kOrdersSheet).rows[0][kOrderEnd] = std::string("someday");
    EXPECT_EQ(only_message(plan_for(book, csv), "End Date"), domain::kDateRule);

    book = generated();
    Row row = new_order_row(book);
    row[6] = std::string("profit");  // Goal KPI
    sheet_of(book, kOrdersSheet).rows.push_back(row);
    EXPECT_EQ(only_message(plan_for(book, csv), "Goal KPI"),
              "must be one of: viewability, ctr, conversions, reach, video_completion");
  }
}
