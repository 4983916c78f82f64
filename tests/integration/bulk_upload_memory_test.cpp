// POST /api/bulk/upload-sheet with a shared-strings bomb through the real binary: an xlsx of about
// half a megabyte whose xl/sharedStrings.xml inflates to 190 MiB (under the 200 MiB limit), of
// which the Orders sheet names a handful of strings, the last one at the very end of the part.
// The server must answer it as any other sheet, keep its peak RSS near what it started with, and
// give the memory back afterwards (uploaded three times).
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/bulk/sheet.hpp"
#include "support/fixtures.hpp"
#include "support/forms.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBombInflatedBytes = 190 * kMiB;
// What one upload may add to the server's RSS at its peak, and what may stay afterwards. The
// reader holds the kept rows, one 64 KiB inflate buffer and one expat parser. Measured (Release,
// 2 I/O threads, pool of 4): RSS 20 MiB before, peak 22-23 MiB, 21-22 MiB after each of the three
// uploads; a reader that held the part as a DOM peaked near 3 GB.
constexpr uint64_t kMaxPeakRise = 48 * kMiB;
constexpr uint64_t kMaxRetained = 24 * kMiB;

// A field of /proc/<pid>/status in bytes ("VmRSS", "VmHWM").
uint64_t proc_status_bytes(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field + ":")) {
      std::istringstream value(line.substr(field.size() + 1));
      uint64_t kib = 0;
      value >> kib;
      return kib * 1024;
    }
  }
  throw std::runtime_error("no " + field + " in /proc/" + std::to_string(pid) + "/status");
}

// Resets VmHWM to the current RSS (proc(5), clear_refs "5"), so the next reading is this upload's
// peak.
void reset_peak_rss(pid_t pid) {
  std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
  clear << "5";
  clear.flush();
  ASSERT_TRUE(clear.good()) << "cannot write /proc/" << pid << "/clear_refs";
}

std::string xml_cell(const std::string& ref, const std::string& type, const std::string& value) {
  if (type == "inlineStr") return "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t>" + value + "</t></is></c>";
  return "<c r=\"" + ref + "\"" + (type.empty() ? "" : " t=\"" + type + "\"") + "><v>" + value + "</v></c>";
}

// The bomb: Orders has the contract's header (shared strings 0..11) and one new campaign whose
// Order Name is the last shared string, after 190 MiB of strings nobody names.
std::string shared_strings_bomb(const std::string& order_name) {
  const std::string ns = R"(xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main")";
  const auto& columns = bulk::columns_of(bulk::kOrdersSheet);
  std::string header, sst = "<sst " + ns + ">";
  for (size_t i = 0; i < columns.size(); ++i) {
    header += xml_cell(std::string(1, static_cast<char>('A' + i)) + "1", "s", std::to_string(i));
    sst += "<si><t>" + columns[i] + "</t></si>";
  }
  const std::string filler = "<si><t>filler text nobody uses</t></si>";
  size_t fillers = (kBombInflatedBytes - sst.size()) / filler.size();
  sst.reserve(kBombInflatedBytes + 4096);
  for (size_t i = 0; i < fillers; ++i) sst += filler;
  sst += "<si><t>" + order_name + "</t></si></sst>";
  size_t last = columns.size() + fillers;

  std::string order = xml_cell("B2", "s", std::to_string(last)) + xml_cell("C2", "inlineStr", "adv_bomb") +
                      xml_cell("H2", "", "10") + xml_cell("I2", "inlineStr", "USD") +
                      xml_cell("J2", "inlineStr", "2030-03-01") + xml_cell("K2", "inlineStr", "2030-03-31");
  std::vector<bulk::ZipEntry> parts;
  parts.push_back({"xl/workbook.xml",
                   "<workbook " + ns +
                       R"( xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">)"
                       R"(<sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>)"});
  parts.push_back(
      {"xl/_rels/workbook.xml.rels",
       R"(<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">)"
       R"(<Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/></Relationships>)"});
  parts.push_back({"xl/worksheets/sheet1.xml", "<worksheet " + ns + "><sheetData><row r=\"1\">" + header +
                                                   "</row><row r=\"2\">" + order +
                                                   "</row></sheetData></worksheet>"});
  parts.push_back({"xl/sharedStrings.xml", std::move(sst)});
  return bulk::write_zip(parts);
}

class BulkUploadMemoryTest : public ServerTest {};

TEST_F(BulkUploadMemoryTest, ASharedStringsBombIsReadInLittleMemoryThatIsGivenBack) {
  std::string name = unique_name("bomb_order");
  std::string bomb = shared_strings_bomb(name);
  EXPECT_LT(bomb.size(), 1 * kMiB) << "a small archive: no large-read slot, yet a 190 MiB part";
  std::cout << "bomb: " << bomb.size() << " bytes, sharedStrings.xml " << (kBombInflatedBytes >> 20)
            << " MiB\n";

  std::string body = form_file("file", "bomb.xlsx", bomb) + form_field("validate_only", "true") + form_end();
  pid_t pid = server().pid();
  // One small request first, so the RSS before counts a warmed-up server (pool threads, arenas).
  ASSERT_EQ(http().get("/api/campaigns?limit=1", bearer(admin_token())).status, 200);
  uint64_t before = proc_status_bytes(pid, "VmRSS");
  for (int round = 1; round <= 3; ++round) {
    reset_peak_rss(pid);
    auto res = http().request("POST", "/api/bulk/upload-sheet", body, multipart_headers(admin_token()));
    ASSERT_EQ(res.status, 200) << res.describe();
    auto report = res.json()["data"];
    EXPECT_EQ(report["valid"], true) << report;
    EXPECT_EQ(report["rows_processed"], 1) << report;
    EXPECT_EQ(report["created"]["campaigns"], 1) << report;  // validate_only: what would be created
    uint64_t peak = proc_status_bytes(pid, "VmHWM");
    uint64_t after = proc_status_bytes(pid, "VmRSS");
    std::cout << "upload " << round << ": RSS before " << (before >> 20) << " MiB, peak " << (peak >> 20)
              << " MiB, after " << (after >> 20) << " MiB\n";
    EXPECT_LT(peak, before + kMaxPeakRise) << "round " << round;
    EXPECT_LT(after, before + kMaxRetained) << "round " << round;
  }
  EXPECT_EQ(http().get("/api/campaigns?q=" + name, bearer(admin_token())).json()["data"]["total"], 0);
}

}  // namespace
}  // namespace kargo::itest
