#include "kargo/sandbox/report_rows.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kargo/core/time.hpp"

namespace kargo::sandbox {
namespace {

// FNV-1a: a stable hash (std::hash may differ between builds) that seeds every value.
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A value in [lo, hi] drawn from the key.
int64_t pick(uint64_t key, std::string_view salt, int64_t lo, int64_t hi) {
  uint64_t h = fnv1a(std::to_string(key) + ":" + std::string(salt));
  return lo + static_cast<int64_t>(h % static_cast<uint64_t>(hi - lo + 1));
}

double cents(double v) { return std::round(v * 100.0) / 100.0; }

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

Figures campaign_day(const std::string& campaign_id, const std::string& date) {
  uint64_t key = fnv1a("dsp|" + campaign_id + "|" + date);
  Figures f;
  f.impressions = pick(key, "impressions", 1000, 50000);
  f.clicks = f.impressions * pick(key, "ctr_bp", 10, 250) / 10000;  // 0.1 % .. 2.5 %
  f.purchases = f.clicks * pick(key, "cvr_pc", 0, 15) / 100;
  f.cost_cents = (f.impressions * pick(key, "cpm_cents", 200, 1200) + 500) / 1000;  // CPM $2 .. $12
  f.measurable = f.impressions * pick(key, "measurable_pc", 80, 99) / 100;
  f.viewable = f.measurable * pick(key, "viewable_pc", 45, 85) / 100;
  return f;
}

// A campaign's figures of one day split among its creatives: each creative weighs 1..10, drawn
// from (campaign, creative, date); every figure gives each creative the integer part of its share
// and the last creative the remainder, so the parts add up exactly to the campaign's day.
std::vector<Figures> split(const Figures& day, const std::string& campaign_id,
                           const std::vector<std::string>& creatives, const std::string& date) {
  std::vector<int64_t> weights;
  int64_t total = 0;
  for (const auto& creative : creatives) {
    weights.push_back(pick(fnv1a("creative|" + campaign_id + "|" + creative + "|" + date), "weight", 1, 10));
    total += weights.back();
  }
  std::vector<Figures> parts(creatives.size());
  for (auto field : kFigureFields) {
    int64_t given = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      parts[i].*field = day.*field * weights[i] / total;
      given += parts[i].*field;
    }
    parts.back().*field = day.*field - given;
  }
  return parts;
}

struct VendorFigures {
  int64_t measurable, viewable;
  double avg_time_in_view;
};

VendorFigures vendor_day(const std::string& campaign_id, const std::string& date, std::string_view vendor,
                         int64_t impressions) {
  uint64_t key = fnv1a("vendor|" + campaign_id + "|" + date + "|" + std::string(vendor));
  VendorFigures v{};
  v.measurable = impressions * pick(key, "measurable_pc", 85, 99) / 100;
  v.viewable = v.measurable * pick(key, "viewable_pc", 50, 85) / 100;
  v.avg_time_in_view = static_cast<double>(pick(key, "time_cs", 150, 1800)) / 100.0;  // 1.5 .. 18 s
  return v;
}

constexpr std::string_view kVendors[] = {"DOUBLE_VERIFY", "IAS"};

std::vector<std::string> days(std::chrono::year_month_day start, std::chrono::year_month_day end) {
  std::vector<std::string> out;
  for (std::chrono::sys_days d = start; d <= std::chrono::sys_days(end); d += std::chrono::days(1)) {
    out.push_back(format_date(std::chrono::year_month_day(d)));
  }
  return out;
}

// The columns every row has: its interval and campaign.
nlohmann::json interval_row(const std::string& campaign_id, const std::string& start,
                            const std::string& end) {
  return {{"date", start},
          {"intervalStart", start},
          {"intervalEnd", end},
          {"campaignId", campaign_id},
          {"orderId", campaign_id}};
}

nlohmann::json performance_row(nlohmann::json row, const Figures& f) {
  row["impressions"] = f.impressions;
  row["clicks"] = f.clicks;
  row["totalCost"] = static_cast<double>(f.cost_cents) / 100.0;
  row["purchases"] = f.purchases;
  row["viewableImpressions"] = f.viewable;
  row["measurableImpressions"] = f.measurable;
  return row;
}

nlohmann::json project(const nlohmann::json& full, const std::vector<std::string>& columns) {
  if (columns.empty()) return full;
  nlohmann::json row = nlohmann::json::object();
  for (const auto& c : columns) row[c] = full.at(c);
  return row;
}

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

nlohmann::json report_rows(const ReportSpec& spec) {
  check_spec(spec);
  const bool viewability = spec.report_type == kViewabilityReport;
  // The days of each row: one day each (DAILY) or the whole range (SUMMARY).
  std::vector<std::vector<std::string>> groups;
  if (spec.daily) {
    for (const auto& d : days(spec.start, spec.end)) groups.push_back({d});
  } else {
    groups.push_back(days(spec.start, spec.end));
  }
  nlohmann::json rows = nlohmann::json::array();

  for (const auto& id : spec.campaign_ids) {
    const std::vector<std::string>* creatives = nullptr;
    if (spec.by_creative) {
      auto it = spec.creatives.find(id);
      if (it == spec.creatives.end() || it->second.empty()) continue;  // no creatives, no rows
      creatives = &it->second;
    }
    for (const auto& group : groups) {
      const auto base = interval_row(id, group.front(), group.back());
      if (creatives) {
        std::vector<Figures> sums(creatives->size());
        for (const auto& d : group) {
          auto parts = split(campaign_day(id, d), id, *creatives, d);
          for (size_t i = 0; i < parts.size(); ++i) sums[i] += parts[i];
        }
        for (size_t i = 0; i < sums.size(); ++i) {
          auto row = performance_row(base, sums[i]);
          row[kCreativeColumn] = (*creatives)[i];
          rows.push_back(project(row, spec.columns));
        }
        continue;
      }
      Figures sum;
      std::vector<VendorFigures> vendor_sum(std::size(kVendors));
      std::vector<double> time_weight(std::size(kVendors), 0.0);
      for (const auto& d : group) {
        auto f = campaign_day(id, d);
        sum += f;
        for (size_t v = 0; viewability && v < std::size(kVendors); ++v) {
          auto vf = vendor_day(id, d, kVendors[v], f.impressions);
          vendor_sum[v].measurable += vf.measurable;
          vendor_sum[v].viewable += vf.viewable;
          time_weight[v] += vf.avg_time_in_view * static_cast<double>(vf.viewable);
        }
      }
      if (!viewability) {
        rows.push_back(project(performance_row(base, sum), spec.columns));
        continue;
      }
      for (size_t v = 0; v < std::size(kVendors); ++v) {
        nlohmann::json row = base;
        row["vendor"] = kVendors[v];
        row["impressions"] = sum.impressions;
        row["measurableImpressions"] = vendor_sum[v].measurable;
        row["viewableImpressions"] = vendor_sum[v].viewable;
        row["averageTimeInViewSeconds"] =
            vendor_sum[v].viewable == 0 ? 0.0
                                        : cents(time_weight[v] / static_cast<double>(vendor_sum[v].viewable));
        rows.push_back(project(row, spec.columns));
      }
    }
  }
  return rows;
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  // 15 + 16: a gzip wrapper; deflateInit2 writes mtime 0 and no name, so the output is stable.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(written);
  return out;
}

}  // namespace kargo::sandbox
