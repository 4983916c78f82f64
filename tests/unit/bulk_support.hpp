#pragma once
// Hand-made xlsx workbooks for the reader tests: what libxlsxwriter never writes (inline strings,
// the 1904 date system, missing cell references, chosen shared strings, broken parts).
//
//   auto bytes = hand_made_xlsx("", R"(<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c></x:row>)",
//                               "<si><t>Order ID</t></si>");

#include <optional>
#include <string>

namespace kargo::bulk_test {

// A workbook of one sheet, "Hand" (prefixed x: elements, as some writers do), whose sheetData
// holds `sheet_data`. workbook.xml gets `workbook_pr` before <sheets>. Cell styles: 0 general,
// 1 numFmtId 14 (a date), 2 a custom `"day" 0.0` (a number). With `shared_strings`,
// xl/sharedStrings.xml is <sst> holding it.
std::string hand_made_xlsx(const std::string& workbook_pr, const std::string& sheet_data,
                           const std::optional<std::string>& shared_strings = std::nullopt);

}  // namespace kargo::bulk_test
