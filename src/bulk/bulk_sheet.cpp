// The bulk sheet layout (contract section 5; choices in docs/BULK.md).
#include "kargo/bulk/bulk_sheet.hpp"

#include <map>
#include <set>
#include <stdexcept>

namespace kargo::bulk {
namespace {

using nlohmann::json;

// Every generated association is an existing one: the upload reads ASSOCIATE on a
// known pair as "unchanged".
constexpr const char* kAssociateOperation = "ASSOCIATE";
constexpr const char* kInclude = "INCLUDE";
// One creative per line item, so it takes all of the line item's rotation.
constexpr double kSingleCreativeWeight = 100;

Cell text(const char* s) { return std::string(s); }
Cell text(const std::string& s) { return s; }
Cell text(const std::optional<std::string>& s) { return s ? Cell(*s) : Cell(); }
Cell money(int64_t cents) { return Number{static_cast<double>(cents) / 100.0, 2}; }
Cell money(std::optional<double> v) { return v ? Cell(Number{*v, 2}) : Cell(); }
Cell plain(std::optional<double> v) { return v ? Cell(Number{*v, -1}) : Cell(); }

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

// A scalar targeting value as text: numbers in their shortest form ("70", "72.5").
std::string scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return cell_text(Number{value.get<double>(), -1});
  return value.dump();
}

void add_order(Sheet& sheet, const OrderSource& o) {
  sheet.rows.push_back({text(o.id), text(o.name), text(o.advertiser_id), text(o.status), text(o.phase),
                        text(o.viewability_phase), text(o.goal_kpi), money(o.budget_cents), text(o.currency),
                        Date{o.start_date}, Date{o.end_date}, text(o.amazon_campaign_id)});
}

void add_line_items(Sheet& line_items, Sheet& associations, const OrderSource& o) {
  auto budgets = split_cents(o.budget_cents, o.associations.size());
  for (size_t i = 0; i < o.associations.size(); ++i) {
    const auto& a = o.associations[i];
    auto id = line_item_id(o.id, a.creative.id);
    line_items.rows.push_back(
        {text(id), text(o.id), text(a.line_item_name), text(line_item_type(a.creative.format)),
         text(a.creative.id), money(a.budget_cents.value_or(budgets[i])), money(o.max_bid),
         Date{o.start_date}, Date{o.end_date}, text(a.creative.device_type), text(a.status)});
    associations.rows.push_back({text(o.advertiser_id), text(kAssociateOperation), text(id),
                                 text(a.creative.id), text(a.creative.name), text(a.status),
                                 Number{kSingleCreativeWeight, -1}});
  }
}

void add_creative(Sheet& sheet, const CreativeSource& c) {
  sheet.rows.push_back({text(c.id), text(c.name), text(c.format), text(c.creative_type), text(c.dimensions),
                        text(c.device_type), plain(c.duration), text(c.viewability_phase),
                        text(joined(c.viewability_vendors)), text(c.amazon_creative_id), text(c.status),
                        c.amazon_dsp_ready});
}

void add_targeting(Sheet& sheet, const OrderSource& o) {
  auto row = [&](const char* type, const std::string& value) {
    sheet.rows.push_back({text(o.id), text(type), text(value), text(kInclude)});
  };
  for (const char* key : kTargetingLists) {
    auto it = o.targeting.find(key);
    if (it == o.targeting.end() || !it->is_array()) continue;
    for (const auto& value : *it) row(key, scalar_text(value));
  }
  for (const char* key : kTargetingScalars) {
    auto it = o.targeting.find(key);
    if (it != o.targeting.end() && !it->is_null()) row(key, scalar_text(*it));
  }
}

}  // namespace

const std::vector<std::string>& columns_of(std::string_view sheet) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kColumns = {
      {kOrdersSheet,
       {"Order ID", "Order Name", "Advertiser ID", "Status", "Phase", "Viewability Phase", "Goal KPI",
        "Budget", "Currency", "Start Date", "End Date", "Amazon Campaign ID"}},
      {kLineItemsSheet,
       {"Line Item ID", "Order ID", "Line Item Name", "Line Item Type", "Creative ID", "Budget", "Bid (CPM)",
        "Start Date", "End Date", "Device Type", "Status"}},
      {kCreativesSheet,
       {"Creative ID", "Creative Name", "Format", "Creative Type", "Dimensions", "Device Type", "Duration",
        "Viewability Phase", "Viewability Vendors", "Amazon Creative ID", "Status", "Amazon DSP Ready"}},
      {kAssociationsSheet,
       {"Advertiser ID", "Operation", "Line Item ID", "Creative ID", "Creative Name", "Status", "Weight"}},
      {kTargetingSheet, {"Order ID", "Targeting Type", "Targeting Value", "Include/Exclude"}},
  };
  auto it = kColumns.find(sheet);
  if (it == kColumns.end()) throw std::invalid_argument("no bulk sheet named " + std::string(sheet));
  return it->second;
}

std::vector<int64_t> split_cents(int64_t total_cents, size_t parts) {
  if (parts == 0) return {};
  auto n = static_cast<int64_t>(parts);
  std::vector<int64_t> shares(parts, total_cents / n);
  shares[0] += total_cents % n;
  return shares;
}

std::string line_item_type(std::string_view format) {
  if (format == "instream_video" || format == "enhanced_preroll") return "ONLINE_VIDEO";
  if (format == "audio") return "AUDIO";
  return "DISPLAY";
}

std::string line_item_id(std::string_view campaign_id, std::string_view creative_id) {
  return std::string(campaign_id) + ":" + std::string(creative_id);
}

Workbook build_bulk_sheet(const std::vector<OrderSource>& orders, const SheetContents& contents) {
  Workbook book;
  // Sheets in the contract's order; pointers stay valid because every sheet is added first.
  book.sheets.reserve(5);
  auto sheet = [&book](const char* name) { return &book.add_sheet(name, columns_of(name)); };
  Sheet* order_sheet = sheet(kOrdersSheet);
  Sheet* line_items = contents.line_items ? sheet(kLineItemsSheet) : nullptr;
  Sheet* creatives = contents.creatives ? sheet(kCreativesSheet) : nullptr;
  Sheet* associations = contents.line_items ? sheet(kAssociationsSheet) : nullptr;
  Sheet* targeting = contents.targeting ? sheet(kTargetingSheet) : nullptr;

  std::set<std::string> creatives_seen;
  for (const auto& o : orders) {
    add_order(*order_sheet, o);
    if (line_items) add_line_items(*line_items, *associations, o);
    if (creatives) {
      for (const auto& a : o.associations) {
        if (creatives_seen.insert(a.creative.id).second) add_creative(*creatives, a.creative);
      }
    }
    if (targeting) add_targeting(*targeting, o);
  }
  return book;
}

}  // namespace kargo::bulk
