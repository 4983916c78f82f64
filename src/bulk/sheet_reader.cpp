// kargo/bulk/sheet_reader.hpp: uploaded workbooks as sheets of cells. xlsx by hand on libzip and
// pugixml (no Debian package reads xlsx from C++; see the header), csv zips with parse_csv.
#include "kargo/bulk/sheet_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <pugixml.hpp>

#include "kargo/core/time.hpp"

namespace kargo::bulk {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kWorkbookPath = "xl/workbook.xml";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string trimmed(std::string_view s) {
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  auto end = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(begin, end - begin + 1));
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

bool cell_empty(const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) return true;
  const auto* text = std::get_if<std::string>(&c);
  return text && text->empty();
}

// Counts data rows over the whole workbook and stops the read past the limit.
class RowBudget {
 public:
  explicit RowBudget(size_t max) : max_(max) {}
  void take() {
    if (++used_ > max_) {
      throw WorkbookError("the workbook has more than " + std::to_string(max_) + " data rows");
    }
  }

 private:
  size_t max_;
  size_t used_ = 0;
};

void add_row(ReadSheet& sheet, size_t number, std::vector<Cell> cells, RowBudget& budget) {
  if (number == 1) {
    for (const auto& c : cells) sheet.header.push_back(trimmed(cell_text(c)));
    return;
  }
  if (std::all_of(cells.begin(), cells.end(), cell_empty)) return;
  budget.take();
  while (!cells.empty() && cell_empty(cells.back())) cells.pop_back();
  sheet.rows.push_back({number, std::move(cells)});
}

// ---- csv zips ----

ReadBook read_csv_zip(std::vector<ZipEntry>& entries, RowBudget& budget) {
  ReadBook book;
  for (auto& e : entries) {
    // Archivers add folders and macOS resource forks; only the file name counts.
    if (e.name.starts_with("__MACOSX/") || !ends_with_ci(e.name, ".csv")) continue;
    auto slash = e.name.find_last_of('/');
    std::string file = slash == std::string::npos ? e.name : e.name.substr(slash + 1);
    ReadSheet sheet{file.substr(0, file.size() - 4), {}, {}};
    std::string_view text = e.data;
    if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
    std::vector<std::vector<std::string>> records;
    try {
      records = parse_csv(text);
    } catch (const std::runtime_error& err) {
      throw WorkbookError(e.name + ": " + err.what());
    }
    for (size_t r = 0; r < records.size(); ++r) {
      std::vector<Cell> cells(records[r].begin(), records[r].end());
      add_row(sheet, r + 1, std::move(cells), budget);
    }
    e.data.clear();
    e.data.shrink_to_fit();
    book.sheets.push_back(std::move(sheet));
  }
  if (book.sheets.empty()) throw WorkbookError("the file is neither an xlsx workbook nor a zip of csv files");
  return book;
}

// ---- xlsx ----

std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The first child with this local name (SpreadsheetML may come with a namespace prefix).
pugi::xml_node child(const pugi::xml_node& node, std::string_view name) {
  for (auto c : node.children()) {
    if (local_name(c) == name) return c;
  }
  return {};
}

// An attribute by local name (r:id and Target come with or without a prefix).
std::string_view attribute(const pugi::xml_node& node, std::string_view name) {
  for (auto a : node.attributes()) {
    std::string_view n = a.name();
    auto colon = n.find(':');
    if ((colon == std::string_view::npos ? n : n.substr(colon + 1)) == name) return a.value();
  }
  return {};
}

pugi::xml_document parse_xml(const std::string& text, std::string_view part) {
  pugi::xml_document doc;
  auto result = doc.load_buffer(text.data(), text.size(), pugi::parse_default | pugi::parse_ws_pcdata);
  if (!result) throw WorkbookError("the workbook part " + std::string(part) + " is not valid XML");
  return doc;
}

// The text of a shared string or inline string: its <t>, or the <t> of each rich-text run
// (phonetic guides, <rPh>, are not part of the text).
std::string string_item_text(const pugi::xml_node& item) {
  std::string out;
  for (auto c : item.children()) {
    auto name = local_name(c);
    if (name == "t") {
      out += c.child_value();
    } else if (name == "r") {
      if (auto t = child(c, "t")) out += t.child_value();
    }
  }
  return out;
}

std::optional<double> number_of(std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// "AB12" -> column 27 (0-based); nullopt when the reference has no letters.
std::optional<size_t> column_of(std::string_view ref) {
  size_t col = 0, letters = 0;
  for (char ch : ref) {
    if (ch >= 'A' && ch <= 'Z') {
      col = col * 26 + static_cast<size_t>(ch - 'A' + 1);
      if (++letters > 3) return std::nullopt;  // XFD (16384) is the last column
    } else {
      break;
    }
  }
  if (letters == 0) return std::nullopt;
  return col - 1;
}

class XlsxReader {
 public:
  XlsxReader(std::vector<ZipEntry>& entries, RowBudget& budget) : budget_(budget) {
    for (auto& e : entries) parts_[e.name] = &e.data;
  }

  ReadBook read() {
    auto workbook = parse_xml(part(kWorkbookPath, true), kWorkbookPath);
    auto root = workbook.first_child();
    if (auto pr = child(root, "workbookPr")) {
      std::string_view v = attribute(pr, "date1904");
      date1904_ = v == "1" || v == "true";
    }
    read_shared_strings();
    read_styles();
    auto targets = relationships();
    ReadBook book;
    book.xlsx = true;
    for (auto sheet : child(root, "sheets").children()) {
      if (local_name(sheet) != "sheet") continue;
      std::string name = sheet.attribute("name").value();
      auto target = targets.find(std::string(attribute(sheet, "id")));
      if (target == targets.end()) throw WorkbookError("sheet '" + name + "' has no worksheet part");
      book.sheets.push_back(read_sheet(name, target->second));
    }
    return book;
  }

 private:
  const std::string& part(std::string_view name, bool required) {
    static const std::string kNone;
    auto it = parts_.find(std::string(name));
    if (it != parts_.end()) return *it->second;
    if (required) throw WorkbookError("the workbook has no " + std::string(name));
    return kNone;
  }

  // r:id -> worksheet part path. Targets are relative to xl/ unless they start with '/'.
  std::map<std::string, std::string> relationships() {
    constexpr std::string_view kRels = "xl/_rels/workbook.xml.rels";
    auto doc = parse_xml(part(kRels, true), kRels);
    std::map<std::string, std::string> out;
    for (auto rel : doc.first_child().children()) {
      if (local_name(rel) != "Relationship") continue;
      std::string target = rel.attribute("Target").value();
      target = target.starts_with('/') ? target.substr(1) : "xl/" + target;
      out[rel.attribute("Id").value()] = target;
    }
    return out;
  }

  void read_shared_strings() {
    const std::string& text = part("xl/sharedStrings.xml", false);
    if (text.empty()) return;
    auto doc = parse_xml(text, "xl/sharedStrings.xml");
    for (auto si : doc.first_child().children()) {
      if (local_name(si) == "si") shared_.push_back(string_item_text(si));
    }
  }

  // Which cell styles (indices into cellXfs) show dates.
  void read_styles() {
    const std::string& text = part("xl/styles.xml", false);
    if (text.empty()) return;
    auto doc = parse_xml(text, "xl/styles.xml");
    auto root = doc.first_child();
    std::map<int, std::string> codes;
    for (auto f : child(root, "numFmts").children()) {
      if (local_name(f) == "numFmt")
        codes[f.attribute("numFmtId").as_int()] = f.attribute("formatCode").value();
    }
    for (auto xf : child(root, "cellXfs").children()) {
      if (local_name(xf) != "xf") continue;
      int id = xf.attribute("numFmtId").as_int();
      auto code = codes.find(id);
      date_styles_.push_back(is_date_format(id, code == codes.end() ? "" : code->second));
    }
  }

  bool is_date_style(std::string_view s) const {
    if (s.empty()) return false;
    size_t index = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), index);
    return ec == std::errc() && index < date_styles_.size() && date_styles_[index];
  }

  Cell cell_value(const pugi::xml_node& c, const std::string& where) {
    std::string_view type = attribute(c, "t");
    if (type == "inlineStr") return string_item_text(child(c, "is"));
    auto v = child(c, "v");
    std::string_view text = v ? v.child_value() : "";
    if (!v) return {};
    if (type == "s") {
      size_t index = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
      if (ec != std::errc() || index >= shared_.size()) {
        throw WorkbookError("cell " + where + " names a shared string that does not exist");
      }
      return shared_[index];
    }
    if (type == "str" || type == "e") return std::string(text);
    if (type == "b") return text == "1" || text == "true";
    if (type == "d") {
      if (auto day = parse_date(text.substr(0, 10))) return Date{*day};
      return std::string(text);
    }
    auto number = number_of(text);
    if (!number) throw WorkbookError("cell " + where + " holds '" + std::string(text) + "', not a number");
    if (is_date_style(attribute(c, "s"))) {
      if (auto day = excel_serial_day(*number, date1904_)) return Date{*day};
    }
    return Number{*number, -1};
  }

  ReadSheet read_sheet(const std::string& name, const std::string& path) {
    const std::string& text = part(path, true);
    auto doc = parse_xml(text, path);
    ReadSheet sheet{name, {}, {}};
    size_t row_number = 0;
    for (auto row : child(doc.first_child(), "sheetData").children()) {
      if (local_name(row) != "row") continue;
      size_t r = row.attribute("r").as_ullong(0);
      row_number = r > row_number ? r : row_number + 1;
      std::vector<Cell> cells;
      size_t col = 0;
      for (auto c : row.children()) {
        if (local_name(c) != "c") continue;
        std::string_view ref = attribute(c, "r");
        if (auto at = column_of(ref)) col = *at;
        std::string where = name + "!" + (ref.empty() ? "?" : std::string(ref));
        Cell value = cell_value(c, where);
        if (cells.size() <= col) cells.resize(col + 1);
        cells[col] = std::move(value);
        ++col;
      }
      add_row(sheet, row_number, std::move(cells), budget_);
    }
    return sheet;
  }

  RowBudget& budget_;
  std::map<std::string, const std::string*> parts_;
  std::vector<std::string> shared_;
  std::vector<bool> date_styles_;
  bool date1904_ = false;
};

}  // namespace

std::optional<size_t> ReadSheet::column(std::string_view name) const {
  auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) return std::nullopt;
  return static_cast<size_t>(it - header.begin());
}

const ReadSheet* ReadBook::find(std::string_view name) const {
  for (const auto& s : sheets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

size_t ReadBook::data_rows() const {
  size_t n = 0;
  for (const auto& s : sheets) n += s.rows.size();
  return n;
}

ReadBook read_workbook(std::string_view bytes, const ReadLimits& limits) {
  std::vector<ZipEntry> entries;
  try {
    entries = read_zip(bytes, limits.max_inflated_bytes);
  } catch (const std::runtime_error& e) {
    std::string_view why = e.what();
    if (why.find("past the limit") != std::string_view::npos) {
      throw WorkbookError("the archive inflates to more than " +
                          std::to_string(limits.max_inflated_bytes >> 20) + " MiB");
    }
    throw WorkbookError("the file is neither an xlsx workbook nor a zip of csv files");
  }
  RowBudget budget(limits.max_data_rows);
  bool xlsx =
      std::any_of(entries.begin(), entries.end(), [](const ZipEntry& e) { return e.name == kWorkbookPath; });
  if (xlsx) return XlsxReader(entries, budget).read();
  return read_csv_zip(entries, budget);
}

std::optional<std::chrono::year_month_day> parse_sheet_date(std::string_view text) {
  if (auto iso = parse_date(text)) return iso;
  // MM/DD/YYYY, month and day with one or two digits.
  unsigned part[3] = {0, 0, 0};
  size_t digits[3] = {0, 0, 0};
  size_t i = 0;
  for (char ch : text) {
    if (ch == '/') {
      if (++i > 2) return std::nullopt;
    } else if (ch >= '0' && ch <= '9') {
      part[i] = part[i] * 10 + static_cast<unsigned>(ch - '0');
      if (++digits[i] > (i == 2 ? 4u : 2u)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (i != 2 || digits[0] == 0 || digits[1] == 0 || digits[2] != 4) return std::nullopt;
  std::chrono::year_month_day day{std::chrono::year(static_cast<int>(part[2])), std::chrono::month(part[0]),
                                  std::chrono::day(part[1])};
  if (!day.ok()) return std::nullopt;
  return day;
}

std::optional<std::chrono::year_month_day> excel_serial_day(double serial, bool date1904) {
  if (!std::isfinite(serial) || serial < (date1904 ? 0 : 1) || serial >= 2958466) return std::nullopt;
  auto days = static_cast<int>(std::floor(serial));
  std::chrono::sys_days base;
  if (date1904) {
    base = std::chrono::sys_days(1904y / 1 / 1);
  } else if (days < 60) {
    base = std::chrono::sys_days(1899y / 12 / 31);
  } else if (days == 60) {
    return std::nullopt;  // 1900-02-29 does not exist
  } else {
    base = std::chrono::sys_days(1899y / 12 / 30);
  }
  std::chrono::year_month_day day(base + std::chrono::days(days));
  if (day.year() > 9999y) return std::nullopt;
  return day;
}

bool is_date_format(int num_fmt_id, std::string_view code) {
  if ((num_fmt_id >= 14 && num_fmt_id <= 17) || num_fmt_id == 22 || (num_fmt_id >= 27 && num_fmt_id <= 36) ||
      (num_fmt_id >= 50 && num_fmt_id <= 58)) {
    return true;
  }
  if (num_fmt_id < 164) return false;  // other built-in formats are numbers, text or times
  bool quoted = false, bracket = false;
  for (size_t i = 0; i < code.size(); ++i) {
    char ch = code[i];
    if (quoted) {
      quoted = ch != '"';
    } else if (bracket) {
      bracket = ch != ']';
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == '[') {
      bracket = true;
    } else if (ch == '\\') {
      ++i;  // an escaped literal character
    } else if (ch == 'd' || ch == 'D' || ch == 'y' || ch == 'Y') {
      return true;
    }
  }
  return false;
}

}  // namespace kargo::bulk
