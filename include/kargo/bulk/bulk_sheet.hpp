#pragma once
// The bulk sheet of contract section 5 as a Workbook: which sheets, their columns in order, and
// one row per order, line item, creative, association and targeting value (docs/BULK.md). Pure:
// the campaigns come in as plain structs (store/bulk_sources reads them), the workbook goes out
// to bulk::write_xlsx / write_csv_zip.
//
//   auto book = bulk::build_bulk_sheet(orders, {.creatives = true, .line_items = true, .targeting = false});
//   book.sheet_names();   // {"Orders", "Line Items", "Creatives", "Creative Associations"}

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kargo/bulk/sheet.hpp"

namespace kargo::bulk {

inline constexpr const char* kOrdersSheet = "Orders";
inline constexpr const char* kLineItemsSheet = "Line Items";
inline constexpr const char* kCreativesSheet = "Creatives";
inline constexpr const char* kAssociationsSheet = "Creative Associations";
inline constexpr const char* kTargetingSheet = "Targeting";

// Targeting types of the Targeting sheet, in the order their rows appear: a list gives one row per
// value, a scalar one row.
inline constexpr const char* kTargetingLists[] = {"locations", "demographics", "interests",  "device_types",
                                                  "audiences", "keywords",     "categories", "supply_sources"};
inline constexpr const char* kViewabilityThreshold = "viewability_threshold";
inline constexpr const char* kBrandSafetyLevel = "brand_safety_level";
inline constexpr const char* kTargetingScalars[] = {kViewabilityThreshold, kBrandSafetyLevel};

// The columns of each sheet, in the contract's order.
const std::vector<std::string>& columns_of(std::string_view sheet);

// A creative as the sheet shows it.
struct CreativeSource {
  std::string id, name, format, creative_type, dimensions, device_type, viewability_phase, status;
  std::optional<double> duration;
  std::vector<std::string> viewability_vendors;
  std::optional<std::string> amazon_creative_id;
  bool amazon_dsp_ready = false;
};

// One campaign-creative association: one line item.
struct AssociationSource {
  CreativeSource creative;
  std::string line_item_name;  // the association's ad group name
  std::string status;          // active | paused
  // The line item's own budget (set by a sheet upload); nullopt: its share of the campaign budget.
  std::optional<int64_t> budget_cents;
};

// One campaign: one order.
struct OrderSource {
  std::string id, name, advertiser_id, status, phase, viewability_phase, goal_kpi, currency;
  int64_t budget_cents = 0;
  std::chrono::year_month_day start_date, end_date;
  std::optional<std::string> amazon_campaign_id;
  std::optional<double> max_bid;  // bidding.max_bid
  nlohmann::json targeting = nlohmann::json::object();
  std::vector<AssociationSource> associations;  // in association order
};

// `include_*` of the request. Orders is always there.
struct SheetContents {
  bool creatives = true;   // Creatives
  bool line_items = true;  // Line Items and Creative Associations
  bool targeting = true;   // Targeting
};

Workbook build_bulk_sheet(const std::vector<OrderSource>& orders, const SheetContents& contents);

// `total_cents` split into `parts` even shares; the remainder (in cents) goes to the first.
// split_cents(1000, 3) == {334, 333, 333}.
std::vector<int64_t> split_cents(int64_t total_cents, size_t parts);
// DISPLAY | ONLINE_VIDEO | AUDIO from a creative format (runway, instream_video, ...).
std::string line_item_type(std::string_view format);
// The id a line item goes by in the sheet: "<campaign id>:<creative id>".
std::string line_item_id(std::string_view campaign_id, std::string_view creative_id);

}  // namespace kargo::bulk
