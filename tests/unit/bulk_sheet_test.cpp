// The bulk sheet of contract section 5 without a database: the layout (bulk_sheet) and the files
// (sheet), read back with libzip and pugixml the way a spreadsheet program would.
#include <gtest/gtest.h>

#include <map>
#include <pugixml.hpp>
#include <random>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/core/digest.hpp"

using namespace kargo;
using namespace kargo::bulk;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr uint64_t kReadLimit = 64 << 20;

CreativeSource creative(const std::string& id, const std::string& format,
                        std::optional<double> duration = {}) {
  CreativeSource c;
  c.id = id;
  c.name = "Creative " + id;
  c.format = format;
  c.creative_type = format == "runway" ? "CUSTOM_HTML" : "VAST_4_2";
  c.dimensions = format == "audio" ? "" : "320x50";
  c.device_type = "mobile";
  c.viewability_phase = "phase_2";
  c.viewability_vendors = {"ias", "double_verify"};
  c.status = "processed";
  c.duration = duration;
  c.amazon_dsp_ready = true;
  return c;
}

OrderSource order(const std::string& id, int64_t budget_cents, std::vector<CreativeSource> creatives) {
  OrderSource o;
  o.id = id;
  o.name = "Order, \"quoted\" " + id;
  o.advertiser_id = "adv_1";
  o.status = "draft";
  o.phase = "awareness";
  o.viewability_phase = "phase_1";
  o.goal_kpi = "viewability";
  o.currency = "USD";
  o.budget_cents = budget_cents;
  o.start_date = 2026y / 2 / 1;
  o.end_date = 2026y / 2 / 28;
  o.max_bid = 2.5;
  o.targeting = {{"locations", {"US", "CA"}},     {"demographics", json::array()},
                 {"device_types", {"mobile"}},    {"supply_sources", {"amazon_publishers"}},
                 {"viewability_threshold", 72.5}, {"brand_safety_level", "high"}};
  for (auto& c : creatives) o.associations.push_back({std::move(c), "Line " + id, "active"});
  return o;
}

// Two campaigns sharing one creative: 3 line items in the first, 1 in the second.
std::vector<OrderSource> two_orders() {
  return {order("camp_00000000000a", 10000,
                {creative("crv_00000000000a", "runway"), creative("crv_00000000000b", "instream_video", 15),
                 creative("crv_00000000000c", "audio", 30.5)}),
          order("camp_00000000000b", 5001, {creative("crv_00000000000a", "runway")})};
}

const Sheet& sheet_named(const Workbook& book, const std::string& name) {
  for (const auto& s : book.sheets) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no sheet " + name);
}

std::map<std::string, std::string> unzip(const std::string& bytes) {
  std::map<std::string, std::string> files;
  for (auto& e : read_zip(bytes, kReadLimit)) files[e.name] = std::move(e.data);
  return files;
}

pugi::xml_document parse_xml(const std::string& text) {
  pugi::xml_document doc;
  EXPECT_TRUE(doc.load_string(text.c_str())) << text.substr(0, 200);
  return doc;
}

// An xlsx read back: shared strings resolved, cells by reference ("A1"), style of each cell.
struct XlsxSheet {
  std::map<std::string, std::string> values;  // "A1" -> text or number as written
  std::map<std::string, std::string> types;   // "A1" -> t attribute ("s", "b", "" for numbers)
  std::map<std::string, int> styles;          // "A1" -> s attribute
  std::string xml;
};

XlsxSheet read_sheet(const std::map<std::string, std::string>& files, int index) {
  std::vector<std::string> strings;
  auto sst = parse_xml(files.at("xl/sharedStrings.xml"));
  for (auto si : sst.child("sst").children("si")) strings.push_back(si.child("t").text().get());
  XlsxSheet out;
  out.xml = files.at("xl/worksheets/sheet" + std::to_string(index) + ".xml");
  auto doc = parse_xml(out.xml);
  for (auto row : doc.child("worksheet").child("sheetData").children("row")) {
    for (auto c : row.children("c")) {
      std::string ref = c.attribute("r").value();
      std::string type = c.attribute("t").value();
      std::string v = c.child("v").text().get();
      out.values[ref] = type == "s" ? strings.at(std::stoul(v)) : v;
      out.types[ref] = type;
      out.styles[ref] = c.attribute("s").as_int(0);
    }
  }
  return out;
}

std::string column_letter(size_t i) { return std::string(1, static_cast<char>('A' + i)); }

}  // namespace

TEST(BulkSheetBudget, SplitsEvenlyInCentsWithTheRemainderToTheFirst) {
  EXPECT_EQ(split_cents(1000, 3), (std::vector<int64_t>{334, 333, 333}));
  EXPECT_EQ(split_cents(10000, 3), (std::vector<int64_t>{3334, 3333, 3333}));
  EXPECT_EQ(split_cents(5001, 1), (std::vector<int64_t>{5001}));
  EXPECT_EQ(split_cents(2, 3), (std::vector<int64_t>{2, 0, 0}));
  EXPECT_EQ(split_cents(600, 4), (std::vector<int64_t>{150, 150, 150, 150}));
  EXPECT_TRUE(split_cents(1000, 0).empty());
  std::mt19937_64 gen(7);
  for (int i = 0; i < 1000; ++i) {
    int64_t total = static_cast<int64_t>(gen() % 100000000000ULL) + 1;
    size_t parts = gen() % 50 + 1;
    auto shares = split_cents(total, parts);
    ASSERT_EQ(shares.size(), parts);
    int64_t sum = 0;
    for (auto s : shares) sum += s;
    EXPECT_EQ(sum, total) << total << " / " << parts;
    for (size_t k = 1; k < parts; ++k) EXPECT_EQ(shares[k], total / static_cast<int64_t>(parts));
  }
}

TEST(BulkSheetCsv, QuotesFieldsWithCommaQuoteCrOrLfAndDoublesQuotes) {
  std::string out;
  for (const char* f : {"plain", "a,b", "say \"hi\"", "line\nbreak", "cr\rhere", "", "trailing space "}) {
    append_csv_field(out, f);
    out += '|';
  }
  EXPECT_EQ(out, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"line\nbreak\"|\"cr\rhere\"||trailing space |");
}

TEST(BulkSheetCsv, SheetIsCrlfSeparatedAndParsesBackToTheSameFields) {
  Sheet sheet{"Orders", {"Order ID", "Name", "Budget", "Start Date", "Ready"}, {}};
  sheet.rows.push_back({std::string("camp_1"), std::string("Sale, \"big\"\r\nnow"), Number{3333.4, 2},
                        Date{2026y / 2 / 1}, true});
  sheet.rows.push_back({std::string("camp_2"), Cell(), Number{15, -1}, Date{2026y / 12 / 31}, false});
  auto text = to_csv(sheet);
  EXPECT_EQ(text,
            "Order ID,Name,Budget,Start Date,Ready\r\n"
            "camp_1,\"Sale, \"\"big\"\"\r\nnow\",3333.40,2026-02-01,TRUE\r\n"
            "camp_2,,15,2026-12-31,FALSE\r\n");
  auto records = parse_csv(text);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], sheet.columns);
  EXPECT_EQ(records[1],
            (std::vector<std::string>{"camp_1", "Sale, \"big\"\r\nnow", "3333.40", "2026-02-01", "TRUE"}));
  EXPECT_EQ(records[2], (std::vector<std::string>{"camp_2", "", "15", "2026-12-31", "FALSE"}));
  EXPECT_THROW(parse_csv("a,\"open"), std::runtime_error);
}

TEST(BulkSheetLayout, OrdersAlwaysAndTheIncludesDecideTheOtherSheets) {
  auto orders = two_orders();
  EXPECT_EQ(
      build_bulk_sheet(orders, {}).sheet_names(),
      (std::vector<std::string>{"Orders", "Line Items", "Creatives", "Creative Associations", "Targeting"}));
  EXPECT_EQ(
      build_bulk_sheet(orders, {.creatives = false, .line_items = false, .targeting = false}).sheet_names(),
      (std::vector<std::string>{"Orders"}));
  EXPECT_EQ(
      build_bulk_sheet(orders, {.creatives = false, .line_items = true, .targeting = false}).sheet_names(),
      (std::vector<std::string>{"Orders", "Line Items", "Creative Associations"}));
  EXPECT_EQ(
      build_bulk_sheet(orders, {.creatives = true, .line_items = false, .targeting = true}).sheet_names(),
      (std::vector<std::string>{"Orders", "Creatives", "Targeting"}));
  for (const auto& s : build_bulk_sheet(orders, {}).sheets) EXPECT_EQ(s.columns, columns_of(s.name));
}

TEST(BulkSheetLayout, OneLineItemPerAssociationWithTheBudgetSplitAndTheCampaignBid) {
  auto book = build_bulk_sheet(two_orders(), {});
  const auto& items = sheet_named(book, "Line Items");
  ASSERT_EQ(items.rows.size(), 4u);
  std::vector<std::string> ids, types, budgets, bids;
  for (const auto& r : items.rows) {
    ids.push_back(cell_text(r[0]));
    types.push_back(cell_text(r[3]));
    budgets.push_back(cell_text(r[5]));
    bids.push_back(cell_text(r[6]));
    EXPECT_TRUE(std::holds_alternative<Number>(r[5]));
    EXPECT_TRUE(std::holds_alternative<Number>(r[6]));
    EXPECT_TRUE(std::holds_alternative<Date>(r[7]));
  }
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "camp_00000000000a:crv_00000000000a", "camp_00000000000a:crv_00000000000b",
                     "camp_00000000000a:crv_00000000000c", "camp_00000000000b:crv_00000000000a"}));
  EXPECT_EQ(types, (std::vector<std::string>{"DISPLAY", "ONLINE_VIDEO", "AUDIO", "DISPLAY"}));
  EXPECT_EQ(budgets, (std::vector<std::string>{"33.34", "33.33", "33.33", "50.01"}));
  EXPECT_EQ(bids, (std::vector<std::string>{"2.50", "2.50", "2.50", "2.50"}));
  EXPECT_EQ(cell_text(items.rows[0][1]), "camp_00000000000a");
  EXPECT_EQ(cell_text(items.rows[0][4]), "crv_00000000000a");
  EXPECT_EQ(cell_text(items.rows[0][7]), "2026-02-01");
  EXPECT_EQ(cell_text(items.rows[0][8]), "2026-02-28");

  const auto& assoc = sheet_named(book, "Creative Associations");
  ASSERT_EQ(assoc.rows.size(), 4u);
  EXPECT_EQ(cell_text(assoc.rows[1][2]), ids[1]) << "associations name their line item";
  EXPECT_EQ(cell_text(assoc.rows[1][1]), "ASSOCIATE");
  EXPECT_EQ(cell_text(assoc.rows[1][6]), "100");

  const auto& creatives = sheet_named(book, "Creatives");
  ASSERT_EQ(creatives.rows.size(), 3u) << "a creative shared by two campaigns is listed once";
  EXPECT_EQ(cell_text(creatives.rows[1][6]), "15");
  EXPECT_EQ(cell_text(creatives.rows[2][6]), "30.5");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(creatives.rows[0][6])) << "display has no duration";
  EXPECT_EQ(cell_text(creatives.rows[0][8]), "ias, double_verify");
  EXPECT_EQ(cell_text(creatives.rows[0][11]), "TRUE");

  const auto& orders = sheet_named(book, "Orders");
  ASSERT_EQ(orders.rows.size(), 2u);
  EXPECT_EQ(cell_text(orders.rows[0][7]), "100.00");
  EXPECT_EQ(cell_text(orders.rows[1][7]), "50.01");

  // One row per list value plus the two scalars, per campaign: (2 + 1 + 1 + 2) * 2.
  const auto& targeting = sheet_named(book, "Targeting");
  ASSERT_EQ(targeting.rows.size(), 12u);
  std::vector<std::string> first;
  for (size_t i = 0; i < 6; ++i) {
    first.push_back(cell_text(targeting.rows[i][1]) + "=" + cell_text(targeting.rows[i][2]));
    EXPECT_EQ(cell_text(targeting.rows[i][3]), "INCLUDE");
  }
  EXPECT_EQ(first, (std::vector<std::string>{"locations=US", "locations=CA", "device_types=mobile",
                                             "supply_sources=amazon_publishers", "viewability_threshold=72.5",
                                             "brand_safety_level=high"}));
  EXPECT_EQ(book.record_count(), 2u + 4u + 3u + 4u + 12u);
}

TEST(BulkSheetXlsx, HeadersInOrderBoldFrozenFilteredAndDateCells) {
  auto book = build_bulk_sheet(two_orders(), {});
  auto files = unzip(write_xlsx(book));
  // Sheet names in order.
  auto workbook = parse_xml(files.at("xl/workbook.xml"));
  std::vector<std::string> names;
  for (auto s : workbook.child("workbook").child("sheets").children("sheet"))
    names.push_back(s.attribute("name").value());
  EXPECT_EQ(names, book.sheet_names());

  auto orders = read_sheet(files, 1);
  const auto& columns = columns_of("Orders");
  for (size_t i = 0; i < columns.size(); ++i)
    EXPECT_EQ(orders.values[column_letter(i) + "1"], columns[i]) << i;
  EXPECT_EQ(orders.values["A2"], "camp_00000000000a");
  EXPECT_EQ(orders.values["B2"], "Order, \"quoted\" camp_00000000000a");
  EXPECT_EQ(orders.types["H2"], "") << "budget is a number cell";
  EXPECT_DOUBLE_EQ(std::stod(orders.values["H2"]), 100.0);
  EXPECT_DOUBLE_EQ(std::stod(orders.values["H3"]), 50.01);
  // 2026-02-01 as an Excel serial day number.
  EXPECT_EQ(orders.types["J2"], "");
  EXPECT_DOUBLE_EQ(std::stod(orders.values["J2"]), 46054.0);

  auto pane = parse_xml(orders.xml).child("worksheet").child("sheetViews").child("sheetView").child("pane");
  ASSERT_TRUE(pane) << "a frozen pane";
  EXPECT_STREQ(pane.attribute("state").value(), "frozen");
  EXPECT_STREQ(pane.attribute("topLeftCell").value(), "A2");
  EXPECT_EQ(pane.attribute("ySplit").as_int(), 1);
  EXPECT_STREQ(parse_xml(orders.xml).child("worksheet").child("autoFilter").attribute("ref").value(),
               "A1:L3");

  // Styles: the header's font is bold, the date cells' number format is yyyy-mm-dd.
  auto styles = parse_xml(files.at("xl/styles.xml")).child("styleSheet");
  std::vector<pugi::xml_node> xfs, fonts;
  for (auto xf : styles.child("cellXfs").children("xf")) xfs.push_back(xf);
  for (auto f : styles.child("fonts").children("font")) fonts.push_back(f);
  std::map<int, std::string> formats;
  for (auto f : styles.child("numFmts").children("numFmt")) {
    formats[f.attribute("numFmtId").as_int()] = f.attribute("formatCode").value();
  }
  auto header_xf = xfs.at(static_cast<size_t>(orders.styles["A1"]));
  EXPECT_TRUE(fonts.at(header_xf.attribute("fontId").as_uint()).child("b")) << "header font is bold";
  auto data_xf = xfs.at(static_cast<size_t>(orders.styles["A2"]));
  EXPECT_FALSE(fonts.at(data_xf.attribute("fontId").as_uint()).child("b")) << "data rows are not bold";
  for (const char* ref : {"J2", "K2", "J3"}) {
    auto date_xf = xfs.at(static_cast<size_t>(orders.styles[ref]));
    EXPECT_EQ(formats[date_xf.attribute("numFmtId").as_int()], "yyyy-mm-dd") << ref;
  }
  // "0.00" is Excel's built-in number format 2, so it has no numFmt entry of its own.
  auto money_format = xfs.at(static_cast<size_t>(orders.styles["H2"])).attribute("numFmtId").as_int();
  EXPECT_TRUE(money_format == 2 || formats[money_format] == "0.00") << money_format;

  // Every sheet has its header row, frozen and filtered.
  for (size_t s = 0; s < book.sheets.size(); ++s) {
    auto sheet = read_sheet(files, static_cast<int>(s + 1));
    const auto& cols = book.sheets[s].columns;
    for (size_t i = 0; i < cols.size(); ++i) EXPECT_EQ(sheet.values[column_letter(i) + "1"], cols[i]);
    EXPECT_NE(sheet.xml.find("state=\"frozen\""), std::string::npos) << book.sheets[s].name;
    EXPECT_NE(sheet.xml.find("<autoFilter"), std::string::npos) << book.sheets[s].name;
  }
  auto associations = read_sheet(files, 4);
  EXPECT_EQ(associations.types["G2"], "") << "weight is a number cell";
  EXPECT_EQ(associations.values["G2"], "100");
}

TEST(BulkSheetCsvZip, OneCsvPerSheetWithTheSameRows) {
  auto book = build_bulk_sheet(two_orders(), {.creatives = false});
  auto entries = read_zip(write_csv_zip(book), kReadLimit);
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Orders.csv", "Line Items.csv", "Creative Associations.csv",
                                             "Targeting.csv"}));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].data, to_csv(book.sheets[i])) << names[i];
    auto records = parse_csv(entries[i].data);
    ASSERT_EQ(records.size(), book.sheets[i].rows.size() + 1);
    EXPECT_EQ(records[0], book.sheets[i].columns);
  }
  auto orders = parse_csv(entries[0].data);
  EXPECT_EQ(orders[1][9], "2026-02-01") << "csv dates are YYYY-MM-DD";
}

TEST(BulkSheetZip, ReadingStopsAtTheInflateLimit) {
  Workbook book;
  auto& big = book.add_sheet("Big", {"x"});
  for (int i = 0; i < 20000; ++i) big.rows.push_back({std::string(100, 'a')});
  auto zip = write_csv_zip(book);
  EXPECT_LT(zip.size(), 100000u) << "compresses well";
  EXPECT_THROW(read_zip(zip, 1000000), std::runtime_error);
  EXPECT_EQ(read_zip(zip, 4000000).size(), 1u);
  EXPECT_THROW(read_zip("not a zip at all", kReadLimit), std::runtime_error);
}

TEST(BulkSheetId, SheetIdsCarry128RandomBits) {
  auto id = random_id("sheet_", 16);
  EXPECT_EQ(id.size(), 6u + 32u);
  EXPECT_TRUE(is_resource_id(id, "sheet_", 16));
  EXPECT_FALSE(is_resource_id(id, "sheet_")) << "not the 12-digit shape of resource ids";
  EXPECT_NE(random_id("sheet_", 16), id);
  EXPECT_TRUE(is_resource_id(random_id("camp_"), "camp_"));
}
