// POST /api/bulk/upload-sheet through the real binary with cells PostgreSQL could not store (NUL,
// invalid UTF-8) or longer than Excel allows: each is a 422 on field `file` naming the cell, and
// nothing is written (never a 500 from the database).
#include <gtest/gtest.h>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/bulk/sheet_reader.hpp"
#include "support/fixtures.hpp"
#include "support/forms.hpp"

namespace kargo::itest {
namespace {

// An Orders csv zip with one new campaign whose Order Name is `name`.
std::string orders_csv(const std::string& name) {
  std::string csv;
  for (const auto& column : bulk::columns_of(bulk::kOrdersSheet)) {
    if (!csv.empty()) csv += ',';
    csv += column;
  }
  csv += "\r\n," + name + ",adv_cells,,,,,10,USD,2030-03-01,2030-03-31,\r\n";
  return bulk::write_zip({{"Orders.csv", csv}});
}

class BulkUploadCellsTest : public ServerTest {};

TEST_F(BulkUploadCellsTest, NulInvalidUtf8AndOverlongCellsAre422OnFileNamingTheCell) {
  std::string name = unique_name("cells");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {name + std::string("\0x", 2), "cell B2 of sheet Orders holds a NUL character"},
      {name + "caf\xE9", "cell B2 of sheet Orders is not UTF-8 text"},
      {name + std::string(bulk::kMaxCellChars, 'x'),
       "cell B2 of sheet Orders is longer than 32767 characters"},
  };
  for (const auto& [order_name, message] : cases) {
    auto res = http().request("POST", "/api/bulk/upload-sheet",
                              form_file("file", "orders.zip", orders_csv(order_name)) + form_end(),
                              multipart_headers(admin_token()));
    ASSERT_EQ(res.status, 422) << res.describe();
    EXPECT_EQ(invalid_fields(res), std::set<std::string>{"file"});
    EXPECT_NE(res.body.find(message), std::string::npos) << res.body;
  }
  auto list = http().get("/api/campaigns?limit=1&q=" + name, bearer(admin_token()));
  EXPECT_EQ(list.json()["data"]["total"], 0) << list.describe();
  // The same sheet with a plain name is applied.
  auto ok = http().request("POST", "/api/bulk/upload-sheet",
                           form_file("file", "orders.zip", orders_csv(name)) + form_end(),
                           multipart_headers(admin_token()));
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(ok.json()["data"]["created"]["campaigns"], 1);
}

}  // namespace
}  // namespace kargo::itest
