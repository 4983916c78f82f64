#pragma once
// The rules of POST /api/bulk/upload-sheet (contract section 5, docs/BULK.md "Uploading"): an
// uploaded workbook, read by bulk::read_workbook, checked against the current campaigns and turned
// into a plan of writes plus the report. Pure: the store reads the campaigns and creatives the
// sheet names (refs()) and applies the plan in one transaction. Campaign fields are checked by the
// one campaign validator (domain::validate_new_campaign / validate_campaign_update).
//
//   auto upload = bulk::parse_upload(book);          // throws WorkbookError: missing sheet or column
//   auto refs = upload.refs();                       // campaign and creative ids to load (and lock)
//   auto plan = bulk::plan_upload(upload, campaigns, creatives);
//   if (plan.errors.empty()) apply(plan);
//   json data = plan.report();

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kargo/bulk/sheet_reader.hpp"
#include "kargo/core/time.hpp"

namespace kargo::bulk {

// The most data rows an upload may hold, and how far its archive may inflate (contract section 5).
inline constexpr size_t kMaxUploadRows = 50000;
inline constexpr uint64_t kMaxUploadInflatedBytes = 200ull << 20;

struct RowError {
  std::string sheet;
  size_t row = 0;  // the Excel row number
  std::string column;
  std::string message;
};

// One data row of a read sheet, its cells by column name.
struct UploadRow {
  size_t number = 0;
  std::map<std::string, Cell, std::less<>> cells;
  const Cell& at(std::string_view column) const;
  // The cell as trimmed text ("" when empty; numbers in their shortest form).
  std::string text(std::string_view column) const;
};

struct UploadSheet {
  std::string name;
  bool present = false;
  std::vector<UploadRow> rows;
};

struct UploadRefs {
  std::set<std::string> campaign_ids;  // existing Order IDs named anywhere (well-formed ones)
  std::set<std::string> creative_ids;  // creatives named by Creative Associations rows
};

// The four sheets the upload reads (Orders is required; the others are optional, as
// generate-sheet's include flags may leave them out), checked for their columns.
struct ParsedUpload {
  UploadSheet orders, line_items, targeting, associations;
  size_t rows_processed() const;
  UploadRefs refs() const;
};

// Throws WorkbookError when Orders is missing or a read sheet lacks one of its contract columns.
ParsedUpload parse_upload(const ReadBook& book);

// What the store knows about a creative named by an association.
struct CreativeState {
  std::string status;
  bool processed = false;  // has processed code: may be associated
};

struct NewCampaign {
  size_t row = 0;
  nlohmann::json fields;  // domain::validate_new_campaign's output
};
struct CampaignUpdate {
  std::string id;
  nlohmann::json body;  // a PUT body for domain::validate_campaign_update (only what changes)
};
struct LineItemChange {
  std::string campaign_id, creative_id;
  std::optional<int64_t> budget_cents;  // the line item's own budget
  std::optional<std::string> status;    // active | paused
};
struct NewAssociation {
  std::string campaign_id, creative_id;
};

struct UploadPlan {
  std::vector<RowError> errors;  // sorted by sheet (Orders, Line Items, Targeting, Associations) and row
  size_t rows_processed = 0;
  size_t rows_invalid = 0;
  std::vector<NewCampaign> creates;
  std::vector<CampaignUpdate> updates;
  std::vector<NewAssociation> associations;
  std::vector<LineItemChange> line_items;
  size_t unchanged = 0;  // existing orders with nothing to write
  bool valid() const { return errors.empty(); }
  // {valid, rows_processed, rows_valid, rows_invalid, errors, created, updated, unchanged}.
  nlohmann::json report() const;
};

// Checks every row against the current campaigns (`campaigns`: id -> the GET /api/campaigns/{id}
// resource, with `creatives[].ad_group`) and creatives, and plans the writes. Errors are collected,
// never thrown.
// `today` (UTC) is the earliest end date a new order, or an order whose dates move, may have.
UploadPlan plan_upload(const ParsedUpload& upload, const std::map<std::string, nlohmann::json>& campaigns,
                       const std::map<std::string, CreativeState>& creatives,
                       std::chrono::year_month_day today = today_utc());

// A money cell in cents: a number (rounded to cents, negative ones included, for the money rule
// to refuse) or text of digits with at most two decimals and an optional leading $; nullopt for
// anything else.
std::optional<int64_t> money_cents(const Cell& cell);
// A date cell: a date, or text in YYYY-MM-DD or MM/DD/YYYY form.
std::optional<std::chrono::year_month_day> cell_date(const Cell& cell);

}  // namespace kargo::bulk
