// The streaming side of bulk::read_workbook: only the shared strings the kept cells name, the
// cell length cap, NUL and invalid UTF-8 refused in csv and xlsx cells, the inflate and kept-bytes
// limits checked mid-stream, hostile XML (DTDs, deep nesting, endless tags), csv split across
// inflate pieces, and the large-read slots (WorkbookBusy).
#include <gtest/gtest.h>

#include <functional>
#include <latch>
#include <optional>
#include <random>
#include <thread>

#include "bulk_support.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/bulk/sheet_reader.hpp"

using namespace kargo;
using namespace kargo::bulk;
using kargo::bulk_test::hand_made_xlsx;

namespace {

std::string inline_cell(const std::string& ref, const std::string& text) {
  return R"(<x:c r=")" + ref + R"(" t="inlineStr"><x:is><x:t>)" + text + "</x:t></x:is></x:c>";
}
std::string shared_cell(const std::string& ref, size_t index) {
  return R"(<x:c r=")" + ref + R"(" t="s"><x:v>)" + std::to_string(index) + "</x:v></x:c>";
}
std::string row(size_t number, const std::string& cells) {
  return R"(<x:row r=")" + std::to_string(number) + R"(">)" + cells + "</x:row>";
}
// Row 1 "Name", "Value" and row 2 holding `cells`.
std::string header_and(const std::string& cells) {
  return row(1, inline_cell("A1", "Name") + inline_cell("B1", "Value")) + row(2, cells);
}
std::string si(const std::string& text) { return "<si><t>" + text + "</t></si>"; }

// The WorkbookError's message, or why there was none.
std::string error_of(const std::function<void()>& read) {
  try {
    read();
  } catch (const WorkbookError& e) {
    return e.what();
  }
  return "no WorkbookError";
}
std::string error_reading(const std::string& bytes, const ReadLimits& limits = {}) {
  return error_of([&] { read_workbook(bytes, limits); });
}

// A hand-made workbook with one part replaced.
std::string with_part(const std::string& xlsx, const std::string& name, const std::string& content) {
  auto entries = read_zip(xlsx, 64 << 20);
  for (auto& e : entries) {
    if (e.name == name) e.data = content;
  }
  return write_zip(entries);
}

// The zip with every entry's uncompressed size set to 1 in the central directory and the local
// headers (a forged archive: the data still inflates to its real size).
std::string understate_sizes(std::string zip) {
  auto u16 = [&zip](size_t at) {
    return static_cast<size_t>(static_cast<unsigned char>(zip[at])) |
           static_cast<size_t>(static_cast<unsigned char>(zip[at + 1])) << 8;
  };
  auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  auto set_one = [&zip](size_t at) { zip.replace(at, 4, std::string("\x01\0\0\0", 4)); };
  size_t end = zip.rfind(std::string("PK\x05\x06"));
  size_t entries = u16(end + 10), at = u32(end + 16);
  for (size_t i = 0; i < entries; ++i) {
    set_one(at + 24);            // central directory: uncompressed size
    set_one(u32(at + 42) + 22);  // local header: uncompressed size
    at += 46 + u16(at + 28) + u16(at + 30) + u16(at + 32);
  }
  return zip;
}

std::string utf8_repeat(const std::string& piece, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

}  // namespace

TEST(BulkStreamReader, KeepsTheSharedStringsTheCellsNameAndStopsReadingOnceAllAreKnown) {
  std::string strings =
      si("Name") + si("Value") +
      "<si><r><rPr><b/></rPr><t>Bold</t></r><r><t xml:space=\"preserve\"> &amp; plain</t></r>"
      "<rPh sb=\"0\" eb=\"1\"><t>phonetic</t></rPh></si>";
  for (int i = 3; i < 1000; ++i) strings += si("unused " + std::to_string(i));
  strings += si("last");
  // Never parsed: every named string is known by then.
  std::string broken = "<si><t>&undefined;</t></si>";
  std::string sheet = row(1, shared_cell("A1", 0) + shared_cell("B1", 1)) +
                      row(2, shared_cell("A2", 2) + shared_cell("B2", 1000));
  auto book = read_workbook(hand_made_xlsx("", sheet, strings + broken));
  ASSERT_EQ(book.sheets.size(), 1u);
  const auto& s = book.sheets[0];
  EXPECT_EQ(s.header, (std::vector<std::string>{"Name", "Value"}));
  ASSERT_EQ(s.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(s.rows[0].cells[0]), "Bold & plain");  // rich-text runs joined
  EXPECT_EQ(std::get<std::string>(s.rows[0].cells[1]), "last");

  // A string past the broken one has to be read, and the broken part is refused.
  std::string names_past = row(1, shared_cell("A1", 0)) + row(2, shared_cell("A2", 1002));
  auto error = error_reading(hand_made_xlsx("", names_past, strings + broken + si("past")));
  EXPECT_NE(error.find("xl/sharedStrings.xml is not valid XML"), std::string::npos) << error;
}

TEST(BulkStreamReader, ASharedStringThatDoesNotExistIsAnErrorNamingTheCell) {
  std::string sheet = header_and(shared_cell("B2", 5));
  EXPECT_EQ(error_reading(hand_made_xlsx("", sheet, si("a") + si("b"))),
            "cell B2 of sheet Hand names a shared string that does not exist");
  EXPECT_EQ(error_reading(hand_made_xlsx("", sheet)),  // no sharedStrings.xml at all
            "cell B2 of sheet Hand names a shared string that does not exist");
}

TEST(BulkStreamReader, RefusesACellLongerThanExcelsLimitNamingTheCell) {
  std::string at_limit(kMaxCellChars, 'x');
  std::string two_byte_at_limit = utf8_repeat("\xC3\xA9", kMaxCellChars);  // é: characters, not bytes
  auto book = read_workbook(
      hand_made_xlsx("", header_and(inline_cell("A2", at_limit) + inline_cell("B2", two_byte_at_limit))));
  EXPECT_EQ(std::get<std::string>(book.sheets[0].rows[0].cells[0]).size(), kMaxCellChars);
  EXPECT_EQ(std::get<std::string>(book.sheets[0].rows[0].cells[1]).size(), 2 * kMaxCellChars);

  std::string over = at_limit + "x";
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(inline_cell("A2", "ok") + inline_cell("B2", over)))),
            "cell B2 of sheet Hand is longer than 32767 characters");
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(R"(<x:c r="B2"><x:v>)" + over + "</x:v></x:c>"))),
            "cell B2 of sheet Hand is longer than 32767 characters");
  // A shared string: the error names the first cell that uses it; an unused one does not matter.
  std::string strings = si(over) + si("short") + si(over);
  EXPECT_EQ(error_reading(
                hand_made_xlsx("", header_and(shared_cell("A2", 1)) + row(3, shared_cell("C3", 2)), strings)),
            "cell C3 of sheet Hand is longer than 32767 characters");
  EXPECT_NO_THROW(read_workbook(hand_made_xlsx("", header_and(shared_cell("A2", 1)), strings)));

  EXPECT_EQ(error_reading(write_zip({{"S.csv", "A,B\r\nok," + over + "\r\n"}})),
            "cell B2 of sheet S is longer than 32767 characters");
  EXPECT_NO_THROW(read_workbook(write_zip({{"S.csv", "A,B\r\nok," + at_limit + "\r\n"}})));
}

TEST(BulkStreamReader, RefusesNulAndInvalidUtf8InCsvCells) {
  auto csv = [](const std::string& text) { return write_zip({{"S.csv", text}}); };
  EXPECT_EQ(error_reading(csv(std::string("A,B\r\nx,y\0z\r\n", 13))),
            "cell B2 of sheet S holds a NUL character");
  EXPECT_EQ(error_reading(csv("A,B\r\n\"caf\xE9\",x\r\n")),  // Latin-1, as some spreadsheet programs save
            "cell A2 of sheet S is not UTF-8 text (save the csv file as UTF-8)");
  EXPECT_EQ(error_reading(csv("A,B\r\nok,\xED\xA0\x80\r\n")),  // a surrogate
            "cell B2 of sheet S is not UTF-8 text (save the csv file as UTF-8)");
  auto book = read_workbook(csv("A,B\r\nok,caf\xC3\xA9 \xF0\x9F\x93\x88\r\n"));
  EXPECT_EQ(std::get<std::string>(book.sheets[0].rows[0].cells[1]), "caf\xC3\xA9 \xF0\x9F\x93\x88");
}

TEST(BulkStreamReader, RefusesNulAndInvalidUtf8InXlsxCells) {
  std::string nul("a\0b", 3);
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(inline_cell("B2", nul)))),
            "cell B2 of sheet Hand holds a NUL character");
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(inline_cell("B2", "a&#0;b")))),
            "cell B2 of sheet Hand holds a character reference to a character XML does not allow");
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(inline_cell("B2", "caf\xE9")))),
            "cell B2 of sheet Hand is not UTF-8 text");
  // In a shared string, the error names the cell that uses it.
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(shared_cell("B2", 1)), si("ok") + si("caf\xE9"))),
            "cell B2 of sheet Hand is not UTF-8 text");
  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(shared_cell("B2", 1)), si("ok") + si(nul))),
            "cell B2 of sheet Hand holds a NUL character");
}

TEST(BulkStreamReader, RefusesAnArchiveWhoseEntriesDeclareMoreThanTheInflateLimit) {
  // Before inflating anything: the limit counts every entry, read or not.
  auto bytes = write_zip({{"S.csv", "A\r\n1\r\n"}, {"unread.bin", std::string(2 << 20, '0')}});
  EXPECT_EQ(error_reading(bytes, {.max_inflated_bytes = 1 << 20}), "the archive inflates to more than 1 MiB");
  EXPECT_EQ(read_workbook(bytes, {.max_inflated_bytes = 3 << 20}).data_rows(), 1u);
}

TEST(BulkStreamReader, StopsAtTheInflateLimitWhileStreamingWhenTheArchiveUnderstatesItsSizes) {
  // 2 MiB of white space between rows, then broken XML. The directory claims 1 byte per entry,
  // so only the count while inflating stops the read: at the limit, before the parser gets to
  // the break.
  std::string padding(2 << 20, ' ');
  auto bytes =
      understate_sizes(hand_made_xlsx("", header_and(inline_cell("A2", "x")) + padding + "<x:row><<<"));
  EXPECT_EQ(error_reading(bytes, {.max_inflated_bytes = 1 << 20}), "the archive inflates to more than 1 MiB");
  EXPECT_NE(error_reading(bytes).find("is not valid XML"), std::string::npos) << error_reading(bytes);

  // The count covers the parts read together: 700 KiB of worksheet and 700 KiB of shared strings.
  std::string half(700 << 10, ' ');
  auto two_parts =
      understate_sizes(hand_made_xlsx("", header_and(shared_cell("A2", 1)) + half, si("a") + half + si("b")));
  EXPECT_EQ(error_reading(two_parts, {.max_inflated_bytes = 1 << 20}),
            "the archive inflates to more than 1 MiB");
  // libzip itself does not mind the understated sizes (the CRCs match): within the limit it reads.
  EXPECT_EQ(read_workbook(two_parts, {.max_inflated_bytes = 2 << 20}).data_rows(), 1u);
}

TEST(BulkStreamReader, StopsAtTheKeptBytesLimitWhileReadingRows) {
  // One 30 000-character shared string used by 200 cells: 6 MB of cells from a tiny archive.
  std::string cells;
  for (int c = 0; c < 100; ++c) cells += R"(<x:c t="s"><x:v>1</x:v></x:c>)";
  auto bytes = hand_made_xlsx("", header_and(cells) + row(3, cells), si("a") + si(std::string(30000, 'x')));
  EXPECT_EQ(error_reading(bytes, {.max_kept_bytes = 1 << 20}), "the workbook holds more than 1 MiB of cells");
  EXPECT_EQ(read_workbook(bytes).data_rows(), 2u);
}

TEST(BulkStreamReader, RefusesDtdsDeepNestingEndlessTagsAndCellsPastColumnXfd) {
  auto plain = hand_made_xlsx("", header_and(inline_cell("A2", "x")));
  auto laughs = with_part(
      plain, "xl/worksheets/custom.xml",
      R"(<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>)"
      R"(<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>)");
  EXPECT_EQ(error_reading(laughs), "the workbook part xl/worksheets/custom.xml declares a DTD");

  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<x:a>";
  EXPECT_EQ(error_reading(hand_made_xlsx("", deep)),
            "the workbook part xl/worksheets/custom.xml nests elements deeper than 64");

  std::string endless_tag =
      R"(<x:row r="1"><x:c r="A1" junk=")" + std::string(17 << 20, 'j') + R"("/></x:row>)";
  EXPECT_EQ(error_reading(hand_made_xlsx("", endless_tag)),
            "the workbook part xl/worksheets/custom.xml holds an XML tag longer than 16 MiB");

  EXPECT_EQ(error_reading(hand_made_xlsx("", header_and(inline_cell("XFE2", "x")))),
            "cell XFE2 of sheet Hand lies past column XFD");
  EXPECT_NO_THROW(read_workbook(hand_made_xlsx("", header_and(inline_cell("XFD2", "x")))));
}

TEST(BulkStreamReader, EnforcesTheRowLimitInXlsxToo) {
  std::string rows = row(1, inline_cell("A1", "Name"));
  for (size_t r = 2; r <= 6; ++r) rows += row(r, R"(<x:c t="inlineStr"><x:is><x:t>x</x:t></x:is></x:c>)");
  EXPECT_NO_THROW(read_workbook(hand_made_xlsx("", rows), {.max_data_rows = 5}));
  EXPECT_EQ(error_reading(hand_made_xlsx("", rows), {.max_data_rows = 4}),
            "the workbook has more than 4 data rows");
}

// Random csv of a few hundred KB, read in 64 KiB pieces, must come out as parse_csv reads it whole:
// quotes, doubled quotes, CR, LF and CRLF fall on every kind of piece boundary.
TEST(BulkStreamReader, ReadsCsvSplitAcrossInflatePiecesAsParseCsvReadsItWhole) {
  std::mt19937 random(20240607);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  const std::vector<std::string> plain = {"a", "bc", "\xC3\xA9t\xC3\xA9", " x ", "12.5", ""};
  const std::vector<std::string> quoted = {"a,b", "line\r\nbreak", "say \"\"hi\"\"", "\r", "\n", "\"\"", ""};
  const std::vector<std::string> line_ends = {"\r\n", "\n", "\r"};
  std::string text = "\xEF\xBB\xBF";
  while (text.size() < (400 << 10)) {
    size_t fields = pick(8);
    for (size_t f = 0; f < fields; ++f) {
      if (f) text += ',';
      text += pick(3) == 0 ? "\"" + quoted[pick(quoted.size())] + "\"" : plain[pick(plain.size())];
    }
    text += line_ends[pick(line_ends.size())];
  }
  auto records = parse_csv(std::string_view(text).substr(3));
  auto book = read_workbook(write_zip({{"Random.csv", text}}));
  const auto& sheet = book.sheets.at(0);
  size_t kept = 0;
  for (size_t r = 1; r < records.size(); ++r) {
    auto fields = records[r];
    while (!fields.empty() && fields.back().empty()) fields.pop_back();
    if (fields.empty()) continue;
    ASSERT_LT(kept, sheet.rows.size());
    const auto& got = sheet.rows[kept++];
    ASSERT_EQ(got.number, r + 1);
    ASSERT_EQ(got.cells.size(), fields.size()) << "record " << r + 1;
    for (size_t f = 0; f < fields.size(); ++f) EXPECT_EQ(std::get<std::string>(got.cells[f]), fields[f]);
  }
  EXPECT_EQ(kept, sheet.rows.size());
  EXPECT_EQ(sheet.header.size(), records[0].size());
}

namespace {

// More than kLargeArchiveBytes of archive (an incompressible entry a csv zip ignores) around one
// small sheet.
std::string large_archive() {
  std::mt19937 random(7);
  std::string noise(kLargeArchiveBytes + (64 << 10), '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  auto bytes = write_zip({{"S.csv", "A\r\n1\r\n"}, {"__MACOSX/noise", noise}});
  EXPECT_GT(bytes.size(), kLargeArchiveBytes);
  return bytes;
}

}  // namespace

TEST(BulkStreamReader, ALargeArchiveWaitsForAFreeSlotAndIsBusyWhenNoneFreesUp) {
  auto large = large_archive();
  auto small = write_zip({{"S.csv", "A\r\n1\r\n"}});
  ASSERT_EQ(kLargeReadSlots, 2);
  std::optional<LargeReadSlot> first(std::in_place, std::chrono::milliseconds(0));
  LargeReadSlot second(std::chrono::milliseconds(0));

  EXPECT_THROW(read_workbook(large, {.slot_wait = std::chrono::milliseconds(20)}), WorkbookBusy);
  EXPECT_EQ(read_workbook(small, {.slot_wait = std::chrono::milliseconds(0)}).data_rows(),
            1u);  // never waits

  // A read waiting for a slot gets the one freed while it waits.
  std::latch started(1);
  std::optional<size_t> rows;
  std::thread reader([&] {
    started.count_down();
    rows = read_workbook(large, {.slot_wait = std::chrono::seconds(60)}).data_rows();
  });
  started.wait();
  first.reset();
  reader.join();
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(*rows, 1u);
}
