#include "kargo/sandbox/report_rows.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kargo/core/deflate.hpp"
#include "kargo/core/time.hpp"

namespace kargo::sandbox {
namespace {

// FNV-1a: a stable hash (std::hash may differ between builds) that seeds every value. Fed piece
// by piece, so that a key over several parts needs no concatenated string.
class Fnv1a {
 public:
  constexpr Fnv1a& add(std::string_view text) {
    for (unsigned char c : text) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    return *this;
  }
  constexpr uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

// The hash of a value's name, taken at compile time: drawing a value is then one mix of two
// integers rather than hashing a string built per value.
struct Salt {
  template <size_t N>
  consteval Salt(const char (&name)[N])
      : hash(Fnv1a().add({name, N - 1}).value()) {}  // implicit: pick(key, "name", ...)
  uint64_t hash;
};

// A value in [lo, hi] drawn from the key: the splitmix64 finalizer spreads every bit of key ^ salt.
int64_t pick(uint64_t key, Salt salt, int64_t lo, int64_t hi) {
  uint64_t h = key ^ salt.hash;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return lo + static_cast<int64_t>(h % static_cast<uint64_t>(hi - lo + 1));
}

// A campaign's (or one of its creatives') figures over a day or a range. Money is kept in cents,
// so that splitting among creatives and summing days are exact.
struct Figures {
  int64_t impressions = 0, clicks = 0, purchases = 0, cost_cents = 0, measurable = 0, viewable = 0;
};

constexpr int64_t Figures::*kFigureFields[] = {&Figures::impressions, &Figures::clicks,
                                               &Figures::purchases,   &Figures::cost_cents,
                                               &Figures::measurable,  &Figures::viewable};

Figures& operator+=(Figures& sum, const Figures& other) {
  for (auto field : kFigureFields) sum.*field += other.*field;
  return sum;
}

Figures campaign_day(std::string_view campaign_id, std::string_view date) {
  uint64_t key = Fnv1a().add("dsp|").add(campaign_id).add("|").add(date).value();
  Figures f;
  f.impressions = pick(key, "impressions", 1000, 50000);
  f.clicks = f.impressions * pick(key, "ctr_bp", 10, 250) / 10000;  // 0.1 % .. 2.5 %
  f.purchases = f.clicks * pick(key, "cvr_pc", 0, 15) / 100;
  f.cost_cents = (f.impressions * pick(key, "cpm_cents", 200, 1200) + 500) / 1000;  // CPM $2 .. $12
  f.measurable = f.impressions * pick(key, "measurable_pc", 80, 99) / 100;
  f.viewable = f.measurable * pick(key, "viewable_pc", 45, 85) / 100;
  return f;
}

// A campaign's figures of one day split among its creatives, added to `sums` (one per creative):
// each creative weighs 1..10, drawn from (campaign, creative, date); every figure gives each
// creative the integer part of its share and the last creative the remainder, so the parts add
// up exactly to the campaign's day. `weights` is scratch space, reused across days.
void add_split(const Figures& day, std::string_view campaign_id, const std::vector<std::string>& creatives,
               std::string_view date, std::vector<int64_t>& weights, std::vector<Figures>& sums) {
  weights.clear();
  int64_t total = 0;
  for (const auto& creative : creatives) {
    uint64_t key =
        Fnv1a().add("creative|").add(campaign_id).add("|").add(creative).add("|").add(date).value();
    weights.push_back(pick(key, "weight", 1, 10));
    total += weights.back();
  }
  for (auto field : kFigureFields) {
    int64_t given = 0;
    for (size_t i = 0; i + 1 < sums.size(); ++i) {
      int64_t part = day.*field * weights[i] / total;
      sums[i].*field += part;
      given += part;
    }
    sums.back().*field += day.*field - given;
  }
}

// A vendor's figures over a day or a range; the time in view is weighted by viewable impressions.
struct VendorFigures {
  int64_t measurable = 0, viewable = 0;
  double time_weight = 0.0;
};

void add_vendor_day(std::string_view campaign_id, std::string_view date, std::string_view vendor,
                    int64_t impressions, VendorFigures& sum) {
  uint64_t key = Fnv1a().add("vendor|").add(campaign_id).add("|").add(date).add("|").add(vendor).value();
  int64_t measurable = impressions * pick(key, "measurable_pc", 85, 99) / 100;
  int64_t viewable = measurable * pick(key, "viewable_pc", 50, 85) / 100;
  double avg_time_in_view = static_cast<double>(pick(key, "time_cs", 150, 1800)) / 100.0;  // 1.5 .. 18 s
  sum.measurable += measurable;
  sum.viewable += viewable;
  sum.time_weight += avg_time_in_view * static_cast<double>(viewable);
}

constexpr std::string_view kVendors[] = {"DOUBLE_VERIFY", "IAS"};

std::vector<std::string> days(std::chrono::year_month_day start, std::chrono::year_month_day end) {
  std::vector<std::string> out;
  for (std::chrono::sys_days d = start; d <= std::chrono::sys_days(end); d += std::chrono::days(1)) {
    out.push_back(format_date(std::chrono::year_month_day(d)));
  }
  return out;
}

// Everything a row of either report type can show.
struct Row {
  std::string_view start, end, campaign_id, creative_id, vendor;
  int64_t impressions = 0, clicks = 0, purchases = 0, cost_cents = 0, measurable = 0, viewable = 0;
  int64_t time_in_view_cs = 0;  // averageTimeInViewSeconds in hundredths
};

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// Hundredths as the shortest decimal of the double v / 100.0, as nlohmann::json dumps it: "12.05",
// "12.5", "12.0" (a decimal point always, so readers see a float as before).
void append_hundredths(std::string& out, int64_t v) {
  append_int(out, v / 100);
  const char digits[2] = {static_cast<char>('0' + v % 100 / 10), static_cast<char>('0' + v % 10)};
  out += '.';
  out.append(digits, v % 10 == 0 ? 1 : 2);
}

// A JSON string. Ids come from parsed JSON, so they are valid UTF-8 and only quotes, backslashes
// and control characters need escaping (as nlohmann::json escapes them).
void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      // \b \t \n \f \r by their letter, other control characters as \u00XX (0x0b has no letter).
      static constexpr char kLetters[] = "btn?fr";  // 0x08 .. 0x0d
      static constexpr char kHex[] = "0123456789abcdef";
      out += '\\';
      if (u >= 0x08 && u <= 0x0d && u != 0x0b) {
        out += kLetters[u - 0x08];
      } else {
        out += "u00";
        out += kHex[u >> 4];
        out += kHex[u & 0xf];
      }
    } else {
      out += c;
    }
  }
  out += '"';
}

using ColumnWriter = void (*)(std::string&, const Row&);

struct Column {
  std::string_view name;
  ColumnWriter write;
};

// Every column of both report types, by name (the order nlohmann::json dumps an object's keys in,
// which the files have always had).
constexpr Column kColumns[] = {
    {"averageTimeInViewSeconds",
     [](std::string& o, const Row& r) { append_hundredths(o, r.time_in_view_cs); }},
    {"campaignId", [](std::string& o, const Row& r) { append_string(o, r.campaign_id); }},
    {"clicks", [](std::string& o, const Row& r) { append_int(o, r.clicks); }},
    {"creativeId", [](std::string& o, const Row& r) { append_string(o, r.creative_id); }},
    {"date", [](std::string& o, const Row& r) { append_string(o, r.start); }},
    {"impressions", [](std::string& o, const Row& r) { append_int(o, r.impressions); }},
    {"intervalEnd", [](std::string& o, const Row& r) { append_string(o, r.end); }},
    {"intervalStart", [](std::string& o, const Row& r) { append_string(o, r.start); }},
    {"measurableImpressions", [](std::string& o, const Row& r) { append_int(o, r.measurable); }},
    {"orderId", [](std::string& o, const Row& r) { append_string(o, r.campaign_id); }},
    {"purchases", [](std::string& o, const Row& r) { append_int(o, r.purchases); }},
    {"totalCost", [](std::string& o, const Row& r) { append_hundredths(o, r.cost_cents); }},
    {"vendor", [](std::string& o, const Row& r) { append_string(o, r.vendor); }},
    {"viewableImpressions", [](std::string& o, const Row& r) { append_int(o, r.viewable); }},
};

// Writes the rows of a report as one JSON array, each row an object of the report's columns.
class RowWriter {
 public:
  RowWriter(const ReportSpec& spec, size_t rows) {
    const auto& all = report_columns(spec.report_type);
    for (const auto& column : kColumns) {
      bool wanted = spec.columns.empty() ? std::find(all.begin(), all.end(), column.name) != all.end() &&
                                               (spec.by_creative || column.name != kCreativeColumn)
                                         : std::find(spec.columns.begin(), spec.columns.end(), column.name) !=
                                               spec.columns.end();
      if (!wanted) continue;
      // The key with its punctuation, so that a row appends one piece per column.
      std::string key = (columns_.empty() ? "{\"" : ",\"") + std::string(column.name) + "\":";
      row_size_ += key.size() + 20;
      columns_.push_back({std::move(key), column.write});
    }
    out_.reserve(2 + rows * (row_size_ + 2));
    out_ += '[';
  }

  void write(const Row& row) {
    if (out_.size() > 1) out_ += ',';
    for (const auto& [key, write] : columns_) {
      out_ += key;
      write(out_, row);
    }
    out_ += '}';
  }

  std::string finish() && {
    out_ += ']';
    return std::move(out_);
  }

 private:
  std::vector<std::pair<std::string, ColumnWriter>> columns_;
  size_t row_size_ = 0;
  std::string out_;
};

void check_spec(const ReportSpec& spec) {
  if (!known_report_type(spec.report_type)) throw std::invalid_argument("unknown report type");
  if (spec.by_creative && spec.report_type != kCampaignReport) {
    throw std::invalid_argument("creative grouping is only available for " + std::string(kCampaignReport));
  }
  const auto& all_columns = report_columns(spec.report_type);
  for (const auto& c : spec.columns) {
    if (std::find(all_columns.begin(), all_columns.end(), c) == all_columns.end()) {
      throw std::invalid_argument("unknown column " + c);
    }
    if (c == kCreativeColumn && !spec.by_creative) {
      throw std::invalid_argument("column " + c + " needs creative grouping");
    }
  }
}

}  // namespace

bool known_report_type(std::string_view report_type) {
  return report_type == kCampaignReport || report_type == kViewabilityReport;
}

const std::vector<std::string>& report_columns(std::string_view report_type) {
  static const std::vector<std::string> kCampaign{"date",
                                                  "intervalStart",
                                                  "intervalEnd",
                                                  "campaignId",
                                                  "orderId",
                                                  std::string(kCreativeColumn),
                                                  "impressions",
                                                  "clicks",
                                                  "totalCost",
                                                  "purchases",
                                                  "viewableImpressions",
                                                  "measurableImpressions"};
  static const std::vector<std::string> kViewability{
      "date",   "intervalStart", "intervalEnd",           "campaignId",          "orderId",
      "vendor", "impressions",   "measurableImpressions", "viewableImpressions", "averageTimeInViewSeconds"};
  static const std::vector<std::string> kNone;
  if (report_type == kCampaignReport) return kCampaign;
  if (report_type == kViewabilityReport) return kViewability;
  return kNone;
}

std::string report_json(const ReportSpec& spec) {
  check_spec(spec);
  const bool viewability = spec.report_type == kViewabilityReport;
  const auto dates = days(spec.start, spec.end);
  // The days of each row, as [first, last] indexes into dates: one day each (DAILY) or the whole
  // range (SUMMARY).
  std::vector<std::pair<size_t, size_t>> groups;
  if (spec.daily) {
    for (size_t d = 0; d < dates.size(); ++d) groups.emplace_back(d, d);
  } else if (!dates.empty()) {
    groups.emplace_back(0, dates.size() - 1);
  }
  size_t rows_per_group = 0;
  for (const auto& id : spec.campaign_ids) {
    auto it = spec.creatives.find(id);
    rows_per_group += !spec.by_creative ? (viewability ? std::size(kVendors) : 1)
                                        : (it == spec.creatives.end() ? 0 : it->second.size());
  }
  RowWriter out(spec, rows_per_group * groups.size());
  std::vector<int64_t> weights;
  std::vector<Figures> creative_sums;

  for (const auto& id : spec.campaign_ids) {
    const std::vector<std::string>* creatives = nullptr;
    if (spec.by_creative) {
      auto it = spec.creatives.find(id);
      if (it == spec.creatives.end() || it->second.empty()) continue;  // no creatives, no rows
      creatives = &it->second;
    }
    for (const auto& [first, last] : groups) {
      Row row{dates[first], dates[last], id};
      // Each campaign-day's figures are drawn once, then summed or split into the group's rows.
      Figures sum;
      VendorFigures vendor_sums[std::size(kVendors)];
      if (creatives) creative_sums.assign(creatives->size(), Figures{});
      for (size_t d = first; d <= last; ++d) {
        auto f = campaign_day(id, dates[d]);
        sum += f;
        if (creatives) add_split(f, id, *creatives, dates[d], weights, creative_sums);
        for (size_t v = 0; viewability && v < std::size(kVendors); ++v) {
          add_vendor_day(id, dates[d], kVendors[v], f.impressions, vendor_sums[v]);
        }
      }
      auto set_performance = [&row](const Figures& f) {
        row.impressions = f.impressions;
        row.clicks = f.clicks;
        row.purchases = f.purchases;
        row.cost_cents = f.cost_cents;
        row.measurable = f.measurable;
        row.viewable = f.viewable;
      };
      if (creatives) {
        for (size_t i = 0; i < creatives->size(); ++i) {
          set_performance(creative_sums[i]);
          row.creative_id = (*creatives)[i];
          out.write(row);
        }
      } else if (!viewability) {
        set_performance(sum);
        out.write(row);
      } else {
        row.impressions = sum.impressions;
        for (size_t v = 0; v < std::size(kVendors); ++v) {
          const auto& vs = vendor_sums[v];
          row.vendor = kVendors[v];
          row.measurable = vs.measurable;
          row.viewable = vs.viewable;
          // The viewable-weighted mean, rounded to hundredths of a second.
          row.time_in_view_cs =
              vs.viewable == 0 ? 0 : std::llround(vs.time_weight / static_cast<double>(vs.viewable) * 100.0);
          out.write(row);
        }
      }
    }
  }
  return std::move(out).finish();
}

std::string gzip_compress(std::string_view data) {
  // The fastest level: report files are generated while the client polls, and the text compresses
  // well at any level (the file is about a third larger than at the default level).
  return deflate_compress(data, kDeflateFastestLevel);
}

}  // namespace kargo::sandbox
