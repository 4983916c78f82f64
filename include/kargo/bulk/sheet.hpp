#pragma once
// Workbooks as plain rows, and the two files they are written as (contract section 5): an xlsx
// workbook (libxlsxwriter) or a zip with one RFC 4180 `<sheet name>.csv` per sheet (libzip). Pure:
// rows in, bytes out; no database, no clock. Neither library appears in this header.
//
//   bulk::Workbook book;
//   auto& orders = book.add_sheet("Orders", {"Order ID", "Budget", "Start Date"});
//   orders.rows.push_back({std::string("camp_1"), bulk::Number{100.5, 2}, bulk::Date{2026y / 2 / 1}});
//   std::string xlsx = bulk::write_xlsx(book);     // header bold, frozen and filtered
//   std::string zip = bulk::write_csv_zip(book);   // "Orders.csv", ...
//
// The readers (read_zip, parse_csv) are the inverse, for the tests and the upload of sheets.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kargo::bulk {

// A numeric cell. `decimals` >= 0 shows that many decimals (xlsx number format "0.00", csv
// fixed); -1 is the shortest exact form ("15", "15.5").
struct Number {
  double value = 0;
  int decimals = -1;
};
// A date cell: an xlsx date shown yyyy-mm-dd, YYYY-MM-DD text in csv.
struct Date {
  std::chrono::year_month_day day;
};
// Empty, text, number, date or boolean (TRUE / FALSE in csv).
using Cell = std::variant<std::monostate, std::string, Number, Date, bool>;
using Row = std::vector<Cell>;

struct Sheet {
  std::string name;  // at most 31 characters, none of []:*?/\ (Excel's rule)
  std::vector<std::string> columns;
  std::vector<Row> rows;  // each at most columns.size() cells
};

struct Workbook {
  std::vector<Sheet> sheets;
  // The new sheet; the reference holds until the next add_sheet (the vector may move its sheets).
  Sheet& add_sheet(std::string name, std::vector<std::string> columns);
  // Data rows over all sheets (headers not counted).
  size_t record_count() const;
  std::vector<std::string> sheet_names() const;
};

// The media type of what write_xlsx returns.
inline constexpr const char* kXlsxContentType =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// The xlsx bytes. libxlsxwriter 1.1.4 writes only to a file, so this goes through a private
// temporary file under $TMPDIR (removed before returning). Throws std::runtime_error on failure.
std::string write_xlsx(const Workbook& book);
// Where write_xlsx puts its temporary files ($TMPDIR, else /tmp), and why it cannot write there
// (nullopt when it can): checked at start-up, since a read-only root file system without a
// writable temporary directory fails every xlsx.
std::string temp_dir();
std::optional<std::string> temp_dir_problem();
// A zip holding `<sheet name>.csv` per sheet, in sheet order, built in memory (write_zip).
std::string write_csv_zip(const Workbook& book);

// One sheet as RFC 4180 text: CRLF line ends, fields holding , " CR or LF quoted, quotes doubled.
std::string to_csv(const Sheet& sheet);
// Appends one field, quoted when it needs to be.
void append_csv_field(std::string& out, std::string_view field);
// The cell as csv text (dates YYYY-MM-DD, numbers per their `decimals`, TRUE/FALSE).
std::string cell_text(const Cell& cell);

// Splits RFC 4180 text into records of fields (CRLF or LF line ends; a trailing line end does not
// make an empty record). Throws std::runtime_error on an unterminated quote.
std::vector<std::vector<std::string>> parse_csv(std::string_view text);

struct ZipEntry {
  std::string name;
  std::string data;
};
// A zip archive (deflated) holding `entries` in order, built in memory.
std::string write_zip(const std::vector<ZipEntry>& entries);
// The entries of a zip archive in archive order. Throws std::runtime_error when `bytes` is not a
// zip or its entries inflate to more than `max_inflated_bytes` together (checked while inflating,
// so a zip bomb stops early).
std::vector<ZipEntry> read_zip(std::string_view bytes, uint64_t max_inflated_bytes);

}  // namespace kargo::bulk
