// kargo/bulk/sheet_reader.hpp: uploaded workbooks as sheets of cells, read as a stream. libzip
// inflates one entry at a time in 64 KiB pieces; xlsx parts go through expat (a SAX parser: no
// document tree), csv entries through an incremental RFC 4180 reader. Only the rows kept are held,
// and of sharedStrings.xml only the strings those rows name (see the header for the bound).
#include "kargo/bulk/sheet_reader.hpp"

#include <expat.h>
#include <malloc.h>
#include <zip.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"

namespace kargo::bulk {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kWorkbookPath = "xl/workbook.xml";
constexpr std::string_view kSharedStringsPath = "xl/sharedStrings.xml";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kNotAWorkbook = "the file is neither an xlsx workbook nor a zip of csv files";
// zip_fread's piece: the most inflated text held at once outside the parser.
constexpr size_t kChunkBytes = 64 * 1024;
// XFD, Excel's last column.
constexpr size_t kMaxColumns = 16384;
// SpreadsheetML nests 7 deep (worksheet/sheetData/row/c/is/r/t); expat keeps a frame per open
// element, so a part that only opens elements would grow without this.
constexpr size_t kMaxXmlDepth = 64;
// What one expat parser may allocate: its input buffer must hold the longest token (a start tag
// with its attributes), which in a real workbook is a few hundred bytes. Character data is
// handed over in pieces and needs no such room.
constexpr size_t kMaxParserBytes = 16 << 20;
// A read that inflated this much churned enough heap to be worth malloc_trim, whatever the size
// of its archive.
constexpr uint64_t kTrimAfterInflatedBytes = 16 << 20;
// Shared-string cells wait for sharedStrings.xml as this marker: Number{index, kSharedMark}.
constexpr int kSharedMark = -2;
// What one named shared-string index costs in the look-up table (hash node and empty text).
constexpr uint64_t kSharedNodeBytes = 80;

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

const Number* shared_mark(const Cell& c) {
  const auto* n = std::get_if<Number>(&c);
  return n && n->decimals == kSharedMark ? n : nullptr;
}

// Heap bytes of a string beyond the Cell itself (libstdc++ keeps up to 15 characters inline).
uint64_t heap_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

// "cell AB12 of sheet Orders": column 27 (0-based), row 12.
std::string cell_where(std::string_view sheet, size_t col, size_t row) {
  std::string letters;
  for (size_t n = col + 1; n > 0; n = (n - 1) / 26)
    letters.insert(letters.begin(), static_cast<char>('A' + (n - 1) % 26));
  return "cell " + letters + std::to_string(row) + " of sheet " + std::string(sheet);
}

std::string too_long(std::string_view where) {
  return std::string(where) + " is longer than " + std::to_string(kMaxCellChars) + " characters";
}

// What a read may keep: data rows (max_data_rows) and the bytes of what it returns
// (max_kept_bytes), both checked as rows are built, so a read stops at the first row past either.
class Budget {
 public:
  explicit Budget(const ReadLimits& limits) : limits_(limits) {}
  void take_row() {
    if (++rows_ > limits_.max_data_rows) {
      throw WorkbookError("the workbook has more than " + std::to_string(limits_.max_data_rows) +
                          " data rows");
    }
  }
  void take_bytes(uint64_t n) {
    bytes_ += n;
    if (bytes_ > limits_.max_kept_bytes) {
      throw WorkbookError("the workbook holds more than " + std::to_string(limits_.max_kept_bytes >> 20) +
                          " MiB of cells");
    }
  }
  void give_back(uint64_t n) { bytes_ -= std::min(n, bytes_); }

 private:
  const ReadLimits& limits_;
  size_t rows_ = 0;
  uint64_t bytes_ = 0;
};

// The rows of one sheet as they are read: row 1 is the header, a data row is kept when it holds
// a cell. Cells are charged to the budget as they are set; a row that is dropped gives its
// bytes back.
class SheetBuilder {
 public:
  SheetBuilder(std::string name, Budget& budget) : budget_(budget) {
    sheet_.name = std::move(name);
    budget_.take_bytes(sizeof(ReadSheet) + heap_bytes(sheet_.name));
  }

  const std::string& name() const { return sheet_.name; }

  void set(size_t col, Cell value, size_t row) {
    if (col >= kMaxColumns) throw WorkbookError(cell_where(sheet_.name, col, row) + " lies past column XFD");
    if (row_.size() <= col) {
      size_t before = row_.capacity();
      row_.resize(col + 1);
      charge((row_.capacity() - before) * sizeof(Cell));
    }
    if (const auto* text = std::get_if<std::string>(&value)) charge(heap_bytes(*text));
    row_[col] = std::move(value);
  }

  void end_row(size_t number) {
    bool empty = std::all_of(row_.begin(), row_.end(), cell_empty);
    if (number == 1) {
      header_ = std::move(row_);
    } else if (empty) {
      budget_.give_back(row_bytes_);
    } else {
      budget_.take_row();
      while (cell_empty(row_.back())) row_.pop_back();
      budget_.take_bytes(sizeof(ReadRow));
      sheet_.rows.push_back({number, std::move(row_)});
    }
    row_ = {};
    row_bytes_ = 0;
  }

  // Calls fill(cell, column, row number) on every cell kept so far, the header's included: how
  // shared strings are put in once sharedStrings.xml is read.
  template <class Fill>
  void resolve(Fill&& fill) {
    for (size_t c = 0; c < header_.size(); ++c) fill(header_[c], c, size_t{1});
    for (auto& row : sheet_.rows) {
      for (size_t c = 0; c < row.cells.size(); ++c) fill(row.cells[c], c, row.number);
    }
  }

  // The first cell that names shared string `index`, for an error message.
  std::string first_reference(size_t index) {
    std::string where;
    resolve([&](Cell& cell, size_t col, size_t row) {
      const auto* mark = shared_mark(cell);
      if (where.empty() && mark && static_cast<size_t>(mark->value) == index)
        where = cell_where(sheet_.name, col, row);
    });
    return where;
  }

  // The sheet, once its shared strings are in: the header as text, and without the rows that
  // turned out empty (every cell a shared "").
  ReadSheet finish() {
    for (const auto& c : header_) sheet_.header.push_back(trimmed(cell_text(c)));
    header_.clear();
    std::erase_if(sheet_.rows,
                  [](const ReadRow& r) { return std::all_of(r.cells.begin(), r.cells.end(), cell_empty); });
    for (auto& row : sheet_.rows) {
      while (!row.cells.empty() && cell_empty(row.cells.back())) row.cells.pop_back();
    }
    return std::move(sheet_);
  }

 private:
  void charge(uint64_t n) {
    budget_.take_bytes(n);
    row_bytes_ += n;
  }

  Budget& budget_;
  ReadSheet sheet_;
  std::vector<Cell> header_;
  std::vector<Cell> row_;
  uint64_t row_bytes_ = 0;
};

// ---- the archive ----

// The zip, opened over the uploaded bytes (libzip reads its central directory, nothing else).
// The sizes the directory declares for all entries together must be within the limit; entries
// are then inflated on demand, piece by piece, and the bytes they really inflate to count
// together against the limit too: a forged directory can understate the sizes, and libzip does
// not compare them with what it inflates.
class Archive {
 public:
  Archive(std::string_view bytes, uint64_t max_inflated_bytes, uint64_t& inflated)
      : zip_(nullptr, zip_discard), max_(max_inflated_bytes), inflated_(inflated), buffer_(kChunkBytes) {
    zip_error_t error;
    zip_error_init(&error);
    std::unique_ptr<zip_source_t, decltype(&zip_source_free)> source(
        zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error), zip_source_free);
    if (source) zip_.reset(zip_open_from_source(source.get(), ZIP_RDONLY, &error));
    zip_error_fini(&error);
    if (!zip_) throw WorkbookError(std::string(kNotAWorkbook));
    source.release();  // the archive owns it now
    uint64_t declared = 0;
    for (size_t i = 0; i < size(); ++i) {
      zip_stat_t st;
      if (zip_stat_index(zip_.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) continue;
      if (st.size > max_ - declared) throw too_big();
      declared += st.size;
    }
  }

  size_t size() const {
    return static_cast<size_t>(std::max<zip_int64_t>(zip_get_num_entries(zip_.get(), 0), 0));
  }
  std::string name(size_t index) const {
    const char* n = zip_get_name(zip_.get(), index, ZIP_FL_ENC_GUESS);
    return n ? n : "";
  }
  std::optional<size_t> find(std::string_view name) const {
    zip_int64_t index = zip_name_locate(zip_.get(), std::string(name).c_str(), 0);
    if (index < 0) return std::nullopt;
    return static_cast<size_t>(index);
  }

  // Hands entry `index` to `sink` in pieces until the entry ends or `sink` returns false.
  void inflate(size_t index, const std::function<bool(std::string_view)>& sink) {
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> file(zip_fopen_index(zip_.get(), index, 0),
                                                            zip_fclose);
    if (!file) {
      throw WorkbookError("the archive entry " + name(index) +
                          " cannot be read: " + zip_strerror(zip_.get()));
    }
    zip_int64_t n;
    while ((n = zip_fread(file.get(), buffer_.data(), buffer_.size())) > 0) {
      inflated_ += static_cast<uint64_t>(n);
      if (inflated_ > max_) throw too_big();
      if (!sink(std::string_view(buffer_.data(), static_cast<size_t>(n)))) return;
    }
    if (n < 0) {
      throw WorkbookError("the archive entry " + name(index) +
                          " is damaged: " + zip_file_strerror(file.get()));
    }
  }

 private:
  WorkbookError too_big() const {
    return WorkbookError("the archive inflates to more than " + std::to_string(max_ >> 20) + " MiB");
  }

  std::unique_ptr<zip_t, decltype(&zip_discard)> zip_;
  uint64_t max_;
  uint64_t& inflated_;
  std::vector<char> buffer_;
};

// ---- csv ----

// RFC 4180 records fed in pieces, with parse_csv's rules: a quoted field may hold , " CR and LF,
// "" is a quote, CRLF, LF or a lone CR ends a record. A field is checked as it grows (NUL, length)
// and when it ends (UTF-8), so a bad cell is named by its sheet, column and record number.
class CsvStream {
 public:
  CsvStream(std::string entry, SheetBuilder& sheet) : entry_(std::move(entry)), sheet_(sheet) {}

  void feed(std::string_view chunk) {
    for (char c : chunk) {
      if (head_.size() < kUtf8Bom.size()) {
        head_ += c;  // a byte order mark is dropped, only at the very start
        if (head_.size() == kUtf8Bom.size() && head_ != kUtf8Bom) replay_head();
        continue;
      }
      take(c);
    }
  }

  void finish() {
    if (head_.size() < kUtf8Bom.size()) replay_head();
    if (state_ == State::kQuoted) throw WorkbookError(entry_ + ": unterminated quoted field");
    if (in_record_) end_record();
  }

 private:
  enum class State { kField, kQuoted, kQuoteInQuoted, kAfterCr };

  void replay_head() {
    std::string head = std::exchange(head_, std::string(kUtf8Bom));  // no BOM check from here on
    for (char c : head) take(c);
  }

  void take(char c) {
    switch (state_) {
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          append(c);
        }
        return;
      case State::kQuoteInQuoted:
        state_ = c == '"' ? State::kQuoted : State::kField;
        if (c == '"') {
          append(c);
          return;
        }
        break;  // the quote closed the field: `c` is an ordinary character
      case State::kAfterCr:
        state_ = State::kField;
        if (c == '\n') return;  // CRLF is one line end
        break;
      case State::kField:
        break;
    }
    in_record_ = true;
    if (c == '"') {
      state_ = State::kQuoted;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r' || c == '\n') {
      end_record();
      if (c == '\r') state_ = State::kAfterCr;
    } else {
      append(c);
    }
  }

  void append(char c) {
    if (c == '\0') throw WorkbookError(where() + " holds a NUL character");
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80 && ++chars_ > kMaxCellChars)
      throw WorkbookError(too_long(where()));
    field_ += c;
  }

  void end_field() {
    if (!valid_utf8(field_)) throw WorkbookError(where() + " is not UTF-8 text (save the csv file as UTF-8)");
    sheet_.set(col_++, std::exchange(field_, {}), record_);
    chars_ = 0;
  }

  void end_record() {
    end_field();
    sheet_.end_row(record_++);
    col_ = 0;
    in_record_ = false;
  }

  std::string where() const { return cell_where(sheet_.name(), col_, record_); }

  std::string entry_;
  SheetBuilder& sheet_;
  std::string head_;
  State state_ = State::kField;
  bool in_record_ = false;
  std::string field_;
  size_t chars_ = 0;
  size_t col_ = 0;
  size_t record_ = 1;
};

ReadBook read_csv_zip(Archive& archive, Budget& budget) {
  ReadBook book;
  for (size_t i = 0; i < archive.size(); ++i) {
    std::string entry = archive.name(i);
    // Archivers add folders and macOS resource forks; only the file name counts.
    if (entry.starts_with("__MACOSX/") || !ends_with_ci(entry, ".csv")) continue;
    if (!valid_utf8(entry)) throw WorkbookError("a csv file name in the archive is not UTF-8");
    auto slash = entry.find_last_of('/');
    std::string file = slash == std::string::npos ? entry : entry.substr(slash + 1);
    SheetBuilder sheet(file.substr(0, file.size() - 4), budget);
    CsvStream csv(entry, sheet);
    archive.inflate(i, [&csv](std::string_view chunk) {
      csv.feed(chunk);
      return true;
    });
    csv.finish();
    book.sheets.push_back(sheet.finish());
  }
  if (book.sheets.empty()) throw WorkbookError(std::string(kNotAWorkbook));
  return book;
}

// ---- xml ----

// expat allocates through these, so one parser's memory is capped (kMaxParserBytes): past it
// expat fails with XML_ERROR_NO_MEMORY instead of growing its buffer for an endless token. The
// count is per thread because a read parses one part at a time on its own thread.
thread_local size_t t_parser_bytes = 0;
constexpr size_t kAllocHeader = alignof(std::max_align_t);

size_t allocated_size(void* p) {
  size_t n;
  std::memcpy(&n, static_cast<char*>(p) - kAllocHeader, sizeof n);
  return n;
}

void* expat_realloc(void* p, size_t n) {
  size_t old = p ? allocated_size(p) : 0;
  if (n > old && n - old > kMaxParserBytes - t_parser_bytes) return nullptr;
  auto* base =
      static_cast<char*>(std::realloc(p ? static_cast<char*>(p) - kAllocHeader : nullptr, n + kAllocHeader));
  if (!base) return nullptr;
  std::memcpy(base, &n, sizeof n);
  t_parser_bytes = t_parser_bytes - old + n;
  return base + kAllocHeader;
}

void* expat_malloc(size_t n) { return expat_realloc(nullptr, n); }

void expat_free(void* p) {
  if (!p) return;
  t_parser_bytes -= allocated_size(p);
  std::free(static_cast<char*>(p) - kAllocHeader);
}

// SpreadsheetML comes with or without namespace prefixes: names are compared without them.
std::string_view local_name(const XML_Char* name) {
  std::string_view n = name;
  auto colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

std::string_view attribute(const XML_Char** attributes, std::string_view name) {
  for (; *attributes; attributes += 2) {
    if (local_name(attributes[0]) == name) return attributes[1];
  }
  return {};
}

// One part parsed with expat. Subclasses see elements by local name with their depth (the root
// is 1) and parent. Handlers run inside expat, a C library, so nothing may be thrown through it:
// the first exception is kept, the parser stopped, and feed() rethrows it.
class XmlStream {
 public:
  explicit XmlStream(std::string part) : part_(std::move(part)) {
    static const XML_Memory_Handling_Suite kMemory{expat_malloc, expat_realloc, expat_free};
    parser_ = XML_ParserCreate_MM(nullptr, &kMemory, nullptr);
    if (!parser_) throw std::bad_alloc();
    XML_SetUserData(parser_, this);
    XML_SetElementHandler(parser_, on_start, on_end);
    XML_SetCharacterDataHandler(parser_, on_text);
    XML_SetStartDoctypeDeclHandler(parser_, on_doctype);
  }
  virtual ~XmlStream() { close(); }
  XmlStream(const XmlStream&) = delete;
  XmlStream& operator=(const XmlStream&) = delete;

  // Parses the next piece; false once the handlers need no more of the part.
  bool feed(std::string_view chunk) {
    if (XML_Parse(parser_, chunk.data(), static_cast<int>(chunk.size()), XML_FALSE) == XML_STATUS_ERROR) {
      if (done_ && !error_) return false;
      fail(chunk);
    }
    fed_ += chunk.size();
    return !done_;
  }
  // After the last piece: a part that ends early is not valid XML.
  void finish() {
    if (done_) return;
    if (XML_Parse(parser_, "", 0, XML_TRUE) == XML_STATUS_ERROR) fail({});
  }
  // Frees the parser once the part is read (its memory counts against kMaxParserBytes).
  void close() {
    if (parser_) XML_ParserFree(parser_);
    parser_ = nullptr;
  }
  const std::string& part() const { return part_; }

 protected:
  virtual void start(std::string_view name, const XML_Char** attributes) = 0;
  virtual void end(std::string_view name) = 0;
  virtual void text(std::string_view) {}
  // Where the parser is, for an error ("cell C3 of sheet Orders"); empty: the part as a whole.
  virtual std::string position() const { return {}; }

  size_t depth() const { return open_.size(); }
  std::string_view parent() const { return open_.size() < 2 ? std::string_view() : open_[open_.size() - 2]; }
  // The rest of the part is not needed.
  void stop() {
    done_ = true;
    XML_StopParser(parser_, XML_FALSE);
  }

 private:
  template <class F>
  static void guarded(void* self, F&& f) {
    auto* me = static_cast<XmlStream*>(self);
    if (me->done_ || me->error_) return;
    try {
      f(*me);
    } catch (...) {
      me->error_ = std::current_exception();
      XML_StopParser(me->parser_, XML_FALSE);
    }
  }
  static void XMLCALL on_start(void* self, const XML_Char* name, const XML_Char** attributes) {
    guarded(self, [&](XmlStream& me) {
      if (me.open_.size() >= kMaxXmlDepth) {
        throw WorkbookError("the workbook part " + me.part_ + " nests elements deeper than " +
                            std::to_string(kMaxXmlDepth));
      }
      me.open_.emplace_back(local_name(name));
      me.start(me.open_.back(), attributes);
    });
  }
  static void XMLCALL on_end(void* self, const XML_Char* name) {
    guarded(self, [&](XmlStream& me) {
      me.end(local_name(name));
      me.open_.pop_back();
    });
  }
  static void XMLCALL on_text(void* self, const XML_Char* s, int len) {
    guarded(self, [&](XmlStream& me) { me.text(std::string_view(s, static_cast<size_t>(len))); });
  }
  static void XMLCALL on_doctype(void* self, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    // No workbook part has one, and a DTD is where entity expansion bombs live.
    guarded(self, [](XmlStream& me) -> void {
      throw WorkbookError("the workbook part " + me.part_ + " declares a DTD");
    });
  }

  [[noreturn]] void fail(std::string_view chunk) {
    if (error_) std::rethrow_exception(error_);
    auto code = XML_GetErrorCode(parser_);
    if (code == XML_ERROR_NO_MEMORY) {
      throw WorkbookError("the workbook part " + part_ + " holds an XML tag longer than " +
                          std::to_string(kMaxParserBytes >> 20) + " MiB");
    }
    std::string where = position();
    if (where.empty()) where = "the workbook part " + part_;
    auto at = XML_GetCurrentByteIndex(parser_);
    std::optional<unsigned char> byte;
    if (at >= 0 && static_cast<uint64_t>(at) >= fed_ && static_cast<uint64_t>(at) - fed_ < chunk.size()) {
      byte = static_cast<unsigned char>(chunk[static_cast<size_t>(at) - fed_]);
    }
    if (byte == 0) throw WorkbookError(where + " holds a NUL character");
    if (code == XML_ERROR_BAD_CHAR_REF) {
      throw WorkbookError(where + " holds a character reference to a character XML does not allow");
    }
    if ((code == XML_ERROR_INVALID_TOKEN || code == XML_ERROR_PARTIAL_CHAR) && byte && *byte >= 0x80) {
      throw WorkbookError(where + " is not UTF-8 text");
    }
    throw WorkbookError(where + " is not valid XML (line " +
                        std::to_string(XML_GetCurrentLineNumber(parser_)) + ": " + XML_ErrorString(code) +
                        ")");
  }

  std::string part_;
  XML_Parser parser_ = nullptr;
  std::vector<std::string> open_;  // local names of the open elements, the root first
  uint64_t fed_ = 0;
  bool done_ = false;
  std::exception_ptr error_;
};

// The text of one cell as it is read, refused past kMaxCellChars.
class CellText {
 public:
  bool append(std::string_view s) {
    chars_ += utf8_length(s);
    if (chars_ > kMaxCellChars) return false;
    text_ += s;
    return true;
  }
  std::string take() {
    chars_ = 0;
    return std::exchange(text_, {});
  }

 private:
  std::string text_;
  size_t chars_ = 0;
};

// Inside a shared string (<si>) or an inline string (<is>) at depth `item`: its text is each
// <t> child and the <t> of each rich-text run <r> (phonetic guides, <rPh>, are not text).
bool item_text_element(std::string_view name, std::string_view parent, size_t depth, size_t item) {
  return name == "t" && (depth == item + 1 || (depth == item + 2 && parent == "r"));
}

// ---- xlsx parts ----

struct SheetEntry {
  std::string name;
  std::string relation;  // r:id
};

class WorkbookPart : public XmlStream {
 public:
  explicit WorkbookPart(Budget& budget) : XmlStream(std::string(kWorkbookPath)), budget_(budget) {}
  bool date1904 = false;
  std::vector<SheetEntry> sheets;

 private:
  void start(std::string_view name, const XML_Char** attributes) override {
    if (depth() == 2 && name == "workbookPr") {
      std::string_view v = attribute(attributes, "date1904");
      date1904 = v == "1" || v == "true";
    } else if (depth() == 3 && name == "sheet" && parent() == "sheets") {
      sheets.push_back(
          {std::string(attribute(attributes, "name")), std::string(attribute(attributes, "id"))});
      budget_.take_bytes(sizeof(SheetEntry) + heap_bytes(sheets.back().name) +
                         heap_bytes(sheets.back().relation));
    }
  }
  void end(std::string_view) override {}
  Budget& budget_;
};

// r:id -> worksheet part path, for the r:ids the workbook's sheets name. Targets are relative to
// xl/ unless they start with '/'.
class RelationshipsPart : public XmlStream {
 public:
  RelationshipsPart(std::string part, const std::vector<SheetEntry>& sheets) : XmlStream(std::move(part)) {
    for (const auto& s : sheets) wanted_.insert(s.relation);
  }
  std::map<std::string, std::string, std::less<>> targets;

 private:
  void start(std::string_view name, const XML_Char** attributes) override {
    if (depth() != 2 || name != "Relationship") return;
    std::string_view id = attribute(attributes, "Id");
    if (!wanted_.contains(id)) return;
    std::string_view target = attribute(attributes, "Target");
    targets[std::string(id)] =
        target.starts_with('/') ? std::string(target.substr(1)) : "xl/" + std::string(target);
  }
  void end(std::string_view) override {}
  std::set<std::string, std::less<>> wanted_;
};

// Which cell styles (indices into cellXfs) show dates. numFmts precedes cellXfs in a styles part,
// so each style is decided as it is read; of the custom formats only the ids of date formats are
// kept.
class StylesPart : public XmlStream {
 public:
  StylesPart() : XmlStream("xl/styles.xml") {}
  std::vector<bool> date_styles;

 private:
  static int int_of(std::string_view s) {
    int v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  void start(std::string_view name, const XML_Char** attributes) override {
    if (depth() != 3) return;
    if (name == "numFmt" && parent() == "numFmts") {
      int id = int_of(attribute(attributes, "numFmtId"));
      if (id >= 164 && is_date_format(id, attribute(attributes, "formatCode"))) custom_dates_.push_back(id);
    } else if (name == "xf" && parent() == "cellXfs") {
      int id = int_of(attribute(attributes, "numFmtId"));
      date_styles.push_back(is_date_format(id, "") ||
                            std::binary_search(custom_dates_.begin(), custom_dates_.end(), id));
    }
  }
  void end(std::string_view name) override {
    if (name == "numFmts") {
      std::sort(custom_dates_.begin(), custom_dates_.end());
      custom_dates_.erase(std::unique(custom_dates_.begin(), custom_dates_.end()), custom_dates_.end());
    }
  }
  std::vector<int> custom_dates_;
};

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

struct XlsxContext {
  bool date1904 = false;
  std::vector<bool> date_styles;
  // Shared-string index -> its text, for the indices the kept cells name (the text arrives with
  // sharedStrings.xml, read after every worksheet; nullopt until then).
  std::unordered_map<size_t, std::optional<std::string>> shared;
};

// One worksheet: rows of <c> cells whose values are in <v> or, for inline strings, in <is>.
// Cells without a reference follow the previous one; rows without one follow the previous row.
class WorksheetPart : public XmlStream {
 public:
  WorksheetPart(std::string part, SheetBuilder& sheet, XlsxContext& context, Budget& budget)
      : XmlStream(std::move(part)), sheet_(sheet), context_(context), budget_(budget) {}

 private:
  void start(std::string_view name, const XML_Char** attributes) override {
    if (depth() == 3 && name == "row" && parent() == "sheetData") {
      size_t r = 0;
      std::string_view v = attribute(attributes, "r");
      std::from_chars(v.data(), v.data() + v.size(), r);
      row_ = r > row_ ? r : row_ + 1;
      col_ = 0;
    } else if (depth() == 4 && name == "c" && parent() == "row") {
      if (auto at = column_of(attribute(attributes, "r"))) col_ = *at;
      type_ = attribute(attributes, "t");
      style_ = attribute(attributes, "s");
      in_cell_ = true;
      has_v_ = false;
    } else if (in_cell_ && type_ != "inlineStr" && depth() == 5 && name == "v" && !has_v_) {
      collecting_ = has_v_ = true;
    } else if (in_cell_ && type_ == "inlineStr") {
      if (depth() == 5 && name == "is") item_ = depth();
      collecting_ = item_ && item_text_element(name, parent(), depth(), item_);
    }
  }

  void end(std::string_view name) override {
    collecting_ = false;
    if (depth() == item_) item_ = 0;
    if (depth() == 4 && name == "c" && in_cell_) {
      sheet_.set(col_, value(), row_);
      in_cell_ = false;
      ++col_;
    } else if (depth() == 3 && name == "row" && parent() == "sheetData") {
      sheet_.end_row(row_);
    }
  }

  void text(std::string_view s) override {
    if (collecting_ && !text_.append(s)) throw WorkbookError(too_long(position()));
  }

  std::string position() const override {
    if (in_cell_) return cell_where(sheet_.name(), col_, row_);
    return "sheet " + sheet_.name() + " (" + part() + ")";
  }

  bool is_date_style() const {
    size_t index = 0;
    auto [ptr, ec] = std::from_chars(style_.data(), style_.data() + style_.size(), index);
    return !style_.empty() && ec == std::errc() && index < context_.date_styles.size() &&
           context_.date_styles[index];
  }

  Cell value() {
    std::string text = text_.take();
    if (type_ == "inlineStr") return text;
    if (!has_v_) return {};
    if (type_ == "s") {
      size_t index = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
      if (ec != std::errc() || ptr != text.data() + text.size() || index >= (1ull << 53)) {
        throw WorkbookError(position() + " names a shared string that does not exist");
      }
      if (context_.shared.try_emplace(index).second) budget_.take_bytes(kSharedNodeBytes);
      return Number{static_cast<double>(index), kSharedMark};
    }
    if (type_ == "str" || type_ == "e") return text;
    if (type_ == "b") return text == "1" || text == "true";
    if (type_ == "d") {
      if (auto day = parse_date(std::string_view(text).substr(0, 10))) return Date{*day};
      return text;
    }
    auto number = number_of(text);
    if (!number) {
      if (text.size() > 40) text = text.substr(0, 40) + "...";
      throw WorkbookError(position() + " holds '" + text + "', not a number");
    }
    if (is_date_style()) {
      if (auto day = excel_serial_day(*number, context_.date1904)) return Date{*day};
    }
    return Number{*number, -1};
  }

  SheetBuilder& sheet_;
  XlsxContext& context_;
  Budget& budget_;
  size_t row_ = 0;
  size_t col_ = 0;
  bool in_cell_ = false;
  std::string type_, style_;
  bool has_v_ = false;
  size_t item_ = 0;  // depth of the open <is>, 0 outside one
  bool collecting_ = false;
  CellText text_;
};

// sharedStrings.xml: the text of each <si> whose index a kept cell names; the others are parsed
// and forgotten. Stops as soon as every named string is known.
class SharedStringsPart : public XmlStream {
 public:
  SharedStringsPart(XlsxContext& context, std::vector<SheetBuilder>& sheets, Budget& budget)
      : XmlStream(std::string(kSharedStringsPath)),
        context_(context),
        sheets_(sheets),
        budget_(budget),
        missing_(context.shared.size()) {}

 private:
  void start(std::string_view name, const XML_Char**) override {
    if (depth() == 2 && name == "si") {
      wanted_ = context_.shared.contains(index_);
    } else if (wanted_) {
      collecting_ = item_text_element(name, parent(), depth(), 2);
    }
  }

  void end(std::string_view name) override {
    collecting_ = false;
    if (depth() != 2 || name != "si") return;
    if (wanted_) {
      auto& text = context_.shared[index_];
      text = text_.take();
      budget_.take_bytes(heap_bytes(*text));
      wanted_ = false;
      if (--missing_ == 0) stop();
    }
    ++index_;
  }

  void text(std::string_view s) override {
    if (collecting_ && !text_.append(s)) throw WorkbookError(too_long(position()));
  }

  std::string position() const override {
    if (!wanted_) return {};
    for (auto& sheet : sheets_) {
      auto where = sheet.first_reference(index_);
      if (!where.empty()) return where;
    }
    return "shared string " + std::to_string(index_) + " of " + part();
  }

  XlsxContext& context_;
  std::vector<SheetBuilder>& sheets_;
  Budget& budget_;
  size_t missing_;
  size_t index_ = 0;
  bool wanted_ = false;
  bool collecting_ = false;
  CellText text_;
};

class XlsxReader {
 public:
  XlsxReader(Archive& archive, Budget& budget) : archive_(archive), budget_(budget) {}

  ReadBook read() {
    WorkbookPart workbook(budget_);
    parse(workbook, true);
    context_.date1904 = workbook.date1904;
    RelationshipsPart relationships("xl/_rels/workbook.xml.rels", workbook.sheets);
    parse(relationships, true);
    StylesPart styles;
    parse(styles, false);
    context_.date_styles = std::move(styles.date_styles);

    std::vector<SheetBuilder> sheets;
    sheets.reserve(workbook.sheets.size());
    for (const auto& entry : workbook.sheets) {
      auto target = relationships.targets.find(entry.relation);
      if (target == relationships.targets.end()) {
        throw WorkbookError("sheet '" + entry.name + "' has no worksheet part");
      }
      sheets.emplace_back(entry.name, budget_);
      WorksheetPart part(target->second, sheets.back(), context_, budget_);
      parse(part, true);
    }
    if (!context_.shared.empty()) {
      SharedStringsPart shared(context_, sheets, budget_);
      parse(shared, false);
    }

    ReadBook book;
    book.xlsx = true;
    for (auto& sheet : sheets) {
      sheet.resolve([&](Cell& cell, size_t col, size_t row) {
        const auto* mark = shared_mark(cell);
        if (!mark) return;
        auto it = context_.shared.find(static_cast<size_t>(mark->value));
        if (it == context_.shared.end() || !it->second) {
          throw WorkbookError(cell_where(sheet.name(), col, row) +
                              " names a shared string that does not exist");
        }
        std::string text = *it->second;
        budget_.take_bytes(heap_bytes(text));
        cell = std::move(text);
      });
      book.sheets.push_back(sheet.finish());
    }
    return book;
  }

 private:
  // Streams one part through `xml`. A missing part is an error when `required`; an optional one
  // that is missing or empty is skipped.
  void parse(XmlStream& xml, bool required) {
    auto index = archive_.find(xml.part());
    if (!index) {
      if (required) throw WorkbookError("the workbook has no " + xml.part());
      return;
    }
    bool any = false, more = true;
    archive_.inflate(*index, [&](std::string_view chunk) {
      any = true;
      more = xml.feed(chunk);
      return more;
    });
    if (more && (required || any)) xml.finish();
    xml.close();
  }

  Archive& archive_;
  Budget& budget_;
  XlsxContext context_;
};

// The large-read slots of this process (kLargeReadSlots).
struct Slots {
  std::mutex mutex;
  std::condition_variable freed;
  int in_use = 0;
};
Slots& slots() {
  static Slots s;
  return s;
}

// glibc keeps freed memory in its arenas (one per thread that allocated, so one per pool thread)
// and gives back to the system only what lies at the top of a heap. A read allocates and frees
// many small blocks between the rows it keeps, which leaves free holes that the process's RSS
// keeps: repeated big uploads ratcheted it up and never down. malloc_trim(0) returns the free
// pages of every arena (madvise), so after a big read the RSS drops back to what is in use.
class TrimAfterRead {
 public:
  TrimAfterRead(bool large, const uint64_t& inflated) : large_(large), inflated_(inflated) {}
  ~TrimAfterRead() {
    if (large_ || inflated_ > kTrimAfterInflatedBytes) malloc_trim(0);
  }
  TrimAfterRead(const TrimAfterRead&) = delete;
  TrimAfterRead& operator=(const TrimAfterRead&) = delete;

 private:
  bool large_;
  const uint64_t& inflated_;
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

LargeReadSlot::LargeReadSlot(std::chrono::milliseconds wait) {
  auto& s = slots();
  std::unique_lock lock(s.mutex);
  if (!s.freed.wait_for(lock, wait, [&s] { return s.in_use < kLargeReadSlots; })) {
    throw WorkbookBusy("the server is reading other large workbooks; try again in a few seconds");
  }
  ++s.in_use;
}

LargeReadSlot::~LargeReadSlot() {
  auto& s = slots();
  {
    std::lock_guard lock(s.mutex);
    --s.in_use;
  }
  s.freed.notify_one();
}

ReadBook read_workbook(std::string_view bytes, const ReadLimits& limits) {
  bool large = bytes.size() > kLargeArchiveBytes;
  std::optional<LargeReadSlot> slot;
  if (large) slot.emplace(limits.slot_wait);
  uint64_t inflated = 0;
  TrimAfterRead trim(large, inflated);  // after the archive and everything read is freed
  Archive archive(bytes, limits.max_inflated_bytes, inflated);
  Budget budget(limits);
  if (archive.find(kWorkbookPath)) return XlsxReader(archive, budget).read();
  return read_csv_zip(archive, budget);
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
