#include "bulk_support.hpp"

#include "kargo/bulk/sheet.hpp"

namespace kargo::bulk_test {

std::string hand_made_xlsx(const std::string& workbook_pr, const std::string& sheet_data,
                           const std::optional<std::string>& shared_strings) {
  std::string workbook =
      R"(<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" )"
      R"(xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">)" +
      workbook_pr + R"(<sheets><sheet name="Hand" sheetId="1" r:id="rId7"/></sheets></workbook>)";
  std::string rels =
      R"(<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">)"
      R"(<Relationship Id="rId7" Type="worksheet" Target="/xl/worksheets/custom.xml"/></Relationships>)";
  std::string styles =
      R"(<styleSheet><numFmts count="1"><numFmt numFmtId="170" formatCode="&quot;day&quot; 0.0"/></numFmts>)"
      R"(<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="170"/></cellXfs></styleSheet>)";
  std::string sheet =
      R"(<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>)" +
      sheet_data + "</x:sheetData></x:worksheet>";
  std::vector<bulk::ZipEntry> entries{{"xl/workbook.xml", workbook},
                                      {"xl/_rels/workbook.xml.rels", rels},
                                      {"xl/styles.xml", styles},
                                      {"xl/worksheets/custom.xml", sheet}};
  if (shared_strings) {
    entries.push_back({"xl/sharedStrings.xml",
                       R"(<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">)" +
                           *shared_strings + "</sst>"});
  }
  return bulk::write_zip(entries);
}

}  // namespace kargo::bulk_test
