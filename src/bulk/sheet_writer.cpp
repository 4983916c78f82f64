// The files of kargo/bulk/sheet.hpp: xlsx through libxlsxwriter, csv zips and zip reading through
// libzip, csv by hand (RFC 4180 is a few lines; no Debian package offers a C++ csv writer worth a
// dependency).
#include <fcntl.h>
#include <unistd.h>
#include <xlsxwriter.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "kargo/bulk/sheet.hpp"
#include "kargo/core/time.hpp"

namespace kargo::bulk {
namespace {

// Column widths in characters: the longest text of the column, within these bounds.
constexpr double kMinColumnWidth = 10;
constexpr double kMaxColumnWidth = 50;

std::string number_text(const Number& n) {
  char buf[64];
  auto res = n.decimals >= 0
                 ? std::to_chars(buf, buf + sizeof buf, n.value, std::chars_format::fixed, n.decimals)
                 : std::to_chars(buf, buf + sizeof buf, n.value);
  if (res.ec != std::errc()) throw std::runtime_error("number does not fit a cell");
  return std::string(buf, res.ptr);
}

// Removes a file when it goes out of scope.
class TempFile {
 public:
  TempFile() : dir_(temp_dir()) {
    std::string pattern = dir_ + "/kargo-xlsx-XXXXXX";
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      throw std::runtime_error("cannot create a temporary file in " + dir_ + ": " + std::strerror(errno) +
                               " (set TMPDIR to a writable directory)");
    }
    ::close(fd);
    path_ = pattern;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  std::string& dir() { return dir_; }

 private:
  std::string dir_;
  std::string path_;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw std::runtime_error("cannot read the written workbook");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void check(lxw_error err, const char* what) {
  if (err != LXW_NO_ERROR) throw std::runtime_error(std::string(what) + ": " + lxw_strerror(err));
}

// The workbook's cell formats, made once each.
class XlsxFormats {
 public:
  explicit XlsxFormats(lxw_workbook* wb)
      : wb_(wb), header_(workbook_add_format(wb)), date_(workbook_add_format(wb)) {
    format_set_bold(header_);
    format_set_num_format(date_, "yyyy-mm-dd");
  }
  lxw_format* header() const { return header_; }
  lxw_format* date() const { return date_; }
  // "0.00" for 2 decimals; nullptr (General) for the shortest form.
  lxw_format* number(int decimals) {
    if (decimals < 0) return nullptr;
    auto& f = fixed_[decimals];
    if (!f) {
      f = workbook_add_format(wb_);
      format_set_num_format(
          f, decimals == 0 ? "0" : ("0." + std::string(static_cast<size_t>(decimals), '0')).c_str());
    }
    return f;
  }

 private:
  lxw_workbook* wb_;
  lxw_format* header_;
  lxw_format* date_;
  std::map<int, lxw_format*> fixed_;
};

void write_sheet(lxw_workbook* wb, const Sheet& sheet, XlsxFormats& formats) {
  lxw_worksheet* ws = workbook_add_worksheet(wb, sheet.name.c_str());
  if (!ws) throw std::runtime_error("invalid sheet name '" + sheet.name + "'");
  std::vector<size_t> widths(sheet.columns.size(), 0);
  for (size_t c = 0; c < sheet.columns.size(); ++c) {
    check(
        worksheet_write_string(ws, 0, static_cast<lxw_col_t>(c), sheet.columns[c].c_str(), formats.header()),
        "header cell");
    widths[c] = sheet.columns[c].size() + 2;  // room for the filter button
  }
  for (size_t r = 0; r < sheet.rows.size(); ++r) {
    auto row = static_cast<lxw_row_t>(r + 1);
    const Row& cells = sheet.rows[r];
    for (size_t c = 0; c < cells.size() && c < sheet.columns.size(); ++c) {
      auto col = static_cast<lxw_col_t>(c);
      const Cell& cell = cells[c];
      lxw_error err = LXW_NO_ERROR;
      if (const auto* text = std::get_if<std::string>(&cell)) {
        if (!text->empty()) err = worksheet_write_string(ws, row, col, text->c_str(), nullptr);
      } else if (const auto* n = std::get_if<Number>(&cell)) {
        err = worksheet_write_number(ws, row, col, n->value, formats.number(n->decimals));
      } else if (const auto* d = std::get_if<Date>(&cell)) {
        lxw_datetime dt{static_cast<int>(d->day.year()),
                        static_cast<int>(static_cast<unsigned>(d->day.month())),
                        static_cast<int>(static_cast<unsigned>(d->day.day())),
                        0,
                        0,
                        0};
        err = worksheet_write_datetime(ws, row, col, &dt, formats.date());
      } else if (const auto* b = std::get_if<bool>(&cell)) {
        err = worksheet_write_boolean(ws, row, col, *b ? 1 : 0, nullptr);
      }
      check(err, "cell");
      widths[c] = std::max(widths[c], cell_text(cell).size());
    }
  }
  for (size_t c = 0; c < widths.size(); ++c) {
    double width = std::clamp(static_cast<double>(widths[c]) + 1, kMinColumnWidth, kMaxColumnWidth);
    check(worksheet_set_column(ws, static_cast<lxw_col_t>(c), static_cast<lxw_col_t>(c), width, nullptr),
          "column width");
  }
  worksheet_freeze_panes(ws, 1, 0);
  if (!sheet.columns.empty()) {
    check(worksheet_autofilter(ws, 0, 0, static_cast<lxw_row_t>(sheet.rows.size()),
                               static_cast<lxw_col_t>(sheet.columns.size() - 1)),
          "autofilter");
  }
}

std::string zip_message(zip_error_t* err) {
  std::string text = zip_error_strerror(err);
  zip_error_fini(err);
  return text;
}

}  // namespace

Sheet& Workbook::add_sheet(std::string name, std::vector<std::string> columns) {
  sheets.push_back({std::move(name), std::move(columns), {}});
  return sheets.back();
}

size_t Workbook::record_count() const {
  size_t n = 0;
  for (const auto& s : sheets) n += s.rows.size();
  return n;
}

std::vector<std::string> Workbook::sheet_names() const {
  std::vector<std::string> names;
  for (const auto& s : sheets) names.push_back(s.name);
  return names;
}

std::string cell_text(const Cell& cell) {
  if (const auto* text = std::get_if<std::string>(&cell)) return *text;
  if (const auto* n = std::get_if<Number>(&cell)) return number_text(*n);
  if (const auto* d = std::get_if<Date>(&cell)) return format_date(d->day);
  if (const auto* b = std::get_if<bool>(&cell)) return *b ? "TRUE" : "FALSE";
  return {};
}

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string to_csv(const Sheet& sheet) {
  std::string out;
  auto line = [&out](const auto& fields, auto text_of) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) out += ',';
      append_csv_field(out, text_of(fields[i]));
    }
    out += "\r\n";
  };
  line(sheet.columns, [](const std::string& s) { return s; });
  for (const auto& row : sheet.rows) line(row, [](const Cell& c) { return cell_text(c); });
  return out;
}

std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, in_record = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
      continue;
    }
    in_record = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
      in_record = false;
    } else {
      field += c;
    }
  }
  if (quoted) throw std::runtime_error("unterminated quoted field");
  if (in_record) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
  }
  return records;
}

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

std::optional<std::string> temp_dir_problem() {
  try {
    TempFile probe;
  } catch (const std::exception& e) {
    return e.what();
  }
  return std::nullopt;
}

std::string write_xlsx(const Workbook& book) {
  TempFile file;
  lxw_workbook_options options{
      .constant_memory = LXW_FALSE, .tmpdir = file.dir().data(), .use_zip64 = LXW_FALSE};
  lxw_workbook* wb = workbook_new_opt(file.path().c_str(), &options);
  if (!wb) throw std::runtime_error("cannot start an xlsx workbook");
  try {
    XlsxFormats formats(wb);
    for (const auto& sheet : book.sheets) write_sheet(wb, sheet, formats);
  } catch (...) {
    workbook_close(wb);  // frees it; the half-written file goes with TempFile
    throw;
  }
  check(workbook_close(wb), "writing the xlsx workbook");
  return read_whole_file(file.path());
}

std::string write_zip(const std::vector<ZipEntry>& entries) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!src) throw std::runtime_error("zip: " + zip_message(&err));
  zip_t* archive = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  if (!archive) {
    zip_source_free(src);
    throw std::runtime_error("zip: " + zip_message(&err));
  }
  zip_source_keep(src);  // survives zip_close, which writes the archive into it
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> holder(src, zip_source_free);
  // Entry sources point into `entries` until zip_close has compressed them.
  for (const auto& e : entries) {
    zip_source_t* entry = zip_source_buffer(archive, e.data.data(), e.data.size(), 0);
    if (!entry || zip_file_add(archive, e.name.c_str(), entry, ZIP_FL_ENC_UTF_8) < 0) {
      if (entry) zip_source_free(entry);
      std::string why = zip_strerror(archive);
      zip_discard(archive);
      throw std::runtime_error("zip: " + why);
    }
  }
  if (zip_close(archive) < 0) {
    std::string why = zip_strerror(archive);
    zip_discard(archive);
    throw std::runtime_error("zip: " + why);
  }
  if (zip_source_open(src) < 0) throw std::runtime_error("zip: cannot read the archive back");
  std::string out;
  char buf[64 * 1024];
  zip_int64_t n;
  while ((n = zip_source_read(src, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  zip_source_close(src);
  if (n < 0) throw std::runtime_error("zip: cannot read the archive back");
  return out;
}

std::string write_csv_zip(const Workbook& book) {
  std::vector<ZipEntry> entries;
  entries.reserve(book.sheets.size());
  for (const auto& sheet : book.sheets) entries.push_back({sheet.name + ".csv", to_csv(sheet)});
  return write_zip(entries);
}

std::vector<ZipEntry> read_zip(std::string_view bytes, uint64_t max_inflated_bytes) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) throw std::runtime_error("zip: " + zip_message(&err));
  zip_t* archive = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (!archive) {
    zip_source_free(src);
    throw std::runtime_error("not a zip archive: " + zip_message(&err));
  }
  std::unique_ptr<zip_t, decltype(&zip_discard)> holder(archive, zip_discard);
  std::vector<ZipEntry> entries;
  uint64_t total = 0;
  zip_int64_t count = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_GUESS);
    zip_file_t* file = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0);
    if (!name || !file) throw std::runtime_error(std::string("zip: ") + zip_strerror(archive));
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> open_file(file, zip_fclose);
    ZipEntry entry{name, {}};
    char buf[64 * 1024];
    zip_int64_t n;
    while ((n = zip_fread(file, buf, sizeof buf)) > 0) {
      total += static_cast<uint64_t>(n);
      if (total > max_inflated_bytes) throw std::runtime_error("zip: archive inflates past the limit");
      entry.data.append(buf, static_cast<size_t>(n));
    }
    if (n < 0) throw std::runtime_error(std::string("zip: ") + zip_file_strerror(file));
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace kargo::bulk
