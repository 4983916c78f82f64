#pragma once
// Reading an uploaded bulk sheet (contract section 5): an xlsx workbook or a zip of
// `<sheet name>.csv` files, as sheets of cells that keep their Excel row numbers. Pure: bytes in,
// sheets out; no database, no clock.
//
//   auto book = bulk::read_workbook(bytes, {.max_inflated_bytes = 200 << 20, .max_data_rows = 50000});
//   if (const auto* orders = book.find("Orders"))
//     for (const auto& row : orders->rows) use(row.number, row.cells);   // number 2 = first data row
//
// The xlsx part is hand-written on libzip and expat: Debian packages no C++ library that reads
// xlsx (libxlsxwriter only writes; OpenXLSX, xlnt and the like are not packaged), and a bulk sheet
// needs only a small part of SpreadsheetML: shared and inline strings, numbers, booleans, and
// dates told apart from numbers by their cell style's number format.
//
// Memory. An upload's archive may inflate to hundreds of MiB of XML from a few hundred KB, so
// nothing is held whole: each zip entry is inflated in 64 KiB pieces straight into a streaming
// parser (expat for xlsx parts, an incremental RFC 4180 reader for csv). The worksheets are read
// first, a cell holding a shared string keeping only the string's index; then sharedStrings.xml
// is streamed and only the strings those cells name are kept (it stops once all are found). So a
// read holds the rows it returns, charged against ReadLimits::max_kept_bytes as they are built,
// plus one parser of at most 16 MiB (the longest XML tag it accepts), one 64 KiB buffer and
// libzip's directory: never the inflated text. A cell holds at most kMaxCellChars characters
// (Excel's own limit); a longer one is a WorkbookError naming the cell. After a large read (an
// archive over kLargeArchiveBytes, or more than 16 MiB inflated) the freed memory is returned to
// the system (malloc_trim).
//
// Text. Every cell is UTF-8 without NUL (PostgreSQL cannot store NUL): expat refuses anything
// else in xlsx and the csv reader checks each field, both with a WorkbookError naming the cell.
//
// Concurrency. At most kLargeReadSlots reads of archives over kLargeArchiveBytes run at once in a
// process; a further one waits up to ReadLimits::slot_wait for a slot and then throws
// WorkbookBusy (the caller answers 503 with Retry-After). Smaller archives never wait.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/bulk/sheet.hpp"

namespace kargo::bulk {

// The longest cell text, in characters (Unicode code points), as in Excel.
inline constexpr size_t kMaxCellChars = 32767;
// An archive larger than this takes one of kLargeReadSlots to be read.
inline constexpr size_t kLargeArchiveBytes = 1 << 20;
inline constexpr int kLargeReadSlots = 2;

struct ReadLimits {
  // All entries together: the sizes the zip declares, before anything is read, and the bytes
  // really inflated, while reading (a forged zip can understate its sizes).
  uint64_t max_inflated_bytes = 200ull << 20;
  size_t max_data_rows = 50000;  // data rows over all sheets (headers not counted)
  // What the returned sheets may take in memory (cells, their text, rows), checked while reading.
  // 50 000 rows of a generated Orders sheet take about 45 MiB (xlsx) or 38 MiB (csv).
  uint64_t max_kept_bytes = 128ull << 20;
  // How long a read of a large archive waits for a free slot before WorkbookBusy.
  std::chrono::milliseconds slot_wait = std::chrono::seconds(10);
};

struct ReadRow {
  size_t number = 0;        // the Excel row number: the header is row 1, the first data row 2
  std::vector<Cell> cells;  // column A first; Cell{} (monostate) for an empty cell
};

struct ReadSheet {
  std::string name;
  std::vector<std::string> header;  // row 1 as text, trimmed; empty when row 1 is empty
  std::vector<ReadRow> rows;        // data rows that hold at least one cell, in row order
  // The column index of a header name, or nullopt.
  std::optional<size_t> column(std::string_view name) const;
};

struct ReadBook {
  bool xlsx = false;              // false: a csv zip (every cell is text)
  std::vector<ReadSheet> sheets;  // in workbook order (csv: archive order)
  const ReadSheet* find(std::string_view name) const;
  size_t data_rows() const;
};

// The file is not a workbook, is too big, has too many rows or a bad cell: the message is for the
// client.
class WorkbookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every large-read slot stayed taken for ReadLimits::slot_wait: try again later (503). Not a
// WorkbookError: nothing is wrong with the file.
class WorkbookBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One of the process's kLargeReadSlots, held for its lifetime. read_workbook takes one itself for
// an archive over kLargeArchiveBytes; callers need it only to hold slots on purpose (tests).
class LargeReadSlot {
 public:
  // Waits up to `wait` for a free slot; throws WorkbookBusy when none frees up.
  explicit LargeReadSlot(std::chrono::milliseconds wait);
  ~LargeReadSlot();
  LargeReadSlot(const LargeReadSlot&) = delete;
  LargeReadSlot& operator=(const LargeReadSlot&) = delete;
};

// Reads an xlsx workbook (a zip holding xl/workbook.xml) or a zip of .csv files. Throws
// WorkbookError for anything else, for an archive that inflates past the limit, for more data
// rows or kept bytes than allowed, and for a cell that is too long, holds NUL or is not UTF-8;
// WorkbookBusy when a large archive found no free slot in time.
ReadBook read_workbook(std::string_view bytes, const ReadLimits& limits = {});

// A date typed as text: YYYY-MM-DD or MM/DD/YYYY (month and day may have one digit); nullopt for
// anything else, including impossible dates.
std::optional<std::chrono::year_month_day> parse_sheet_date(std::string_view text);
// The day of an Excel date serial (the fraction is the time of day and is dropped). The 1900
// system counts from 1899-12-31 and has Lotus 1-2-3's fictitious 1900-02-29 (serial 60); the 1904
// system counts from 1904-01-01. nullopt when the serial is not a day of years 1900-9999.
std::optional<std::chrono::year_month_day> excel_serial_day(double serial, bool date1904 = false);
// Whether a cell style's number format shows a date: the built-in ids 14-17, 22, 27-36 and 50-58,
// or a custom format code with a day or year part (outside quoted text and [..] sections).
bool is_date_format(int num_fmt_id, std::string_view format_code);

}  // namespace kargo::bulk
