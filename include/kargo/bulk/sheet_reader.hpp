#pragma once
// Reading an uploaded bulk sheet (contract section 5): an xlsx workbook or a zip of
// `<sheet name>.csv` files, as sheets of cells that keep their Excel row numbers. Pure: bytes in,
// sheets out; no database, no clock.
//
//   auto book = bulk::read_workbook(bytes, {.max_inflated_bytes = 200 << 20, .max_data_rows = 50000});
//   if (const auto* orders = book.find("Orders"))
//     for (const auto& row : orders->rows) use(row.number, row.cells);   // number 2 = first data row
//
// The xlsx part is hand-written on libzip (read_zip) and pugixml: Debian packages no C++ library
// that reads xlsx (libxlsxwriter only writes; OpenXLSX, xlnt and the like are not packaged), and a
// bulk sheet needs only a small part of SpreadsheetML: shared and inline strings, numbers,
// booleans, and dates told apart from numbers by their cell style's number format.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/bulk/sheet.hpp"

namespace kargo::bulk {

struct ReadLimits {
  uint64_t max_inflated_bytes = 200ull << 20;  // all archive entries together, checked while inflating
  size_t max_data_rows = 50000;                // data rows over all sheets (headers not counted)
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

// The file is not a workbook, is too big or has too many rows: the message is for the client.
class WorkbookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads an xlsx workbook (a zip holding xl/workbook.xml) or a zip of .csv files. Throws
// WorkbookError for anything else, for an archive that inflates past the limit and for more
// data rows than allowed.
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
