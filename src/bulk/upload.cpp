// The upload rules of kargo/bulk/upload.hpp (contract section 5; choices in docs/BULK.md
// "Uploading"). Every value is compared with the current campaign in its stored unit (money in
// cents, dates as days, targeting lists as sets), so a generated sheet uploaded unchanged plans
// no write at all.
#include "kargo/bulk/upload.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/campaign.hpp"

namespace kargo::bulk {
namespace {

using nlohmann::json;

constexpr const char* kOrderIdColumn = "Order ID";

bool is_list_type(std::string_view type) {
  return std::find(std::begin(kTargetingLists), std::end(kTargetingLists), type) != std::end(kTargetingLists);
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int64_t cents_of(double value) { return std::llround(value * 100.0); }
double amount_of(int64_t cents) { return static_cast<double>(cents) / 100.0; }
std::string money_text(int64_t cents) { return cell_text(Number{amount_of(cents), 2}); }

// A money cell as the API would receive it: the amount when the cell holds one (money_cents),
// else its text, which the money rule then refuses in the API's words.
json money_value(const UploadRow& row, std::string_view column) {
  if (auto cents = money_cents(row.at(column))) return amount_of(*cents);
  return row.text(column);
}

// The campaign's current value of a JSON number in cents (0 when absent).
int64_t json_cents(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? cents_of(it->get<double>()) : 0;
}

// Order IDs and Line Item IDs name campaigns by id; anything else is not one.
bool campaign_id_like(std::string_view id) {
  if (!id.starts_with("camp_") || id.size() != 17) return false;
  return std::all_of(id.begin() + 5, id.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// "<campaign id>:<creative id>" -> the two ids.
std::optional<std::pair<std::string, std::string>> split_line_item_id(std::string_view id) {
  auto colon = id.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size()) return std::nullopt;
  return std::pair{std::string(id.substr(0, colon)), std::string(id.substr(colon + 1))};
}

UploadSheet read_sheet(const ReadBook& book, const char* name, bool required) {
  UploadSheet out{name, false, {}};
  const ReadSheet* sheet = book.find(name);
  if (!sheet) {
    if (required) throw WorkbookError("the workbook has no sheet named '" + std::string(name) + "'");
    return out;
  }
  out.present = true;
  const auto& columns = columns_of(name);
  std::vector<std::pair<std::string, size_t>> at;
  std::string missing;
  for (const auto& c : columns) {
    if (auto i = sheet->column(c)) {
      at.emplace_back(c, *i);
    } else {
      missing += (missing.empty() ? "" : ", ") + c;
    }
  }
  if (!missing.empty()) {
    throw WorkbookError("sheet '" + std::string(name) + "' lacks the column(s) " + missing);
  }
  for (const auto& row : sheet->rows) {
    UploadRow r{row.number, {}};
    for (const auto& [column, index] : at) {
      if (index < row.cells.size()) r.cells[column] = row.cells[index];
    }
    out.rows.push_back(std::move(r));
  }
  return out;
}

// The error list of one plan, with the rows that hold an error.
class Errors {
 public:
  void add(const UploadSheet& sheet, size_t row, std::string column, std::string message) {
    errors_.push_back({sheet.name, row, std::move(column), std::move(message)});
  }
  bool has(const std::string& sheet, size_t row, const std::string& column) const {
    return std::any_of(errors_.begin(), errors_.end(), [&](const RowError& e) {
      return e.sheet == sheet && e.row == row && e.column == column;
    });
  }
  size_t count() const { return errors_.size(); }
  std::vector<RowError> take() { return std::move(errors_); }

 private:
  std::vector<RowError> errors_;
};

// Per Targeting row, which value of which list it holds, to name the row of a validator error.
struct TargetingSource {
  std::map<std::string, std::vector<size_t>> list_rows;  // type -> row of each value, in order
  std::map<std::string, size_t> scalar_rows;
  json targeting = json::object();
};

// What the other sheets say about one existing order.
struct OrderChanges {
  size_t row = 0;
  std::optional<TargetingSource> targeting;
  std::optional<int64_t> bid_cents;
  size_t bid_row = 0;
  size_t line_item_changes = 0;
  size_t new_associations = 0;
};

class Planner {
 public:
  Planner(const ParsedUpload& upload, const std::map<std::string, json>& campaigns,
          const std::map<std::string, CreativeState>& creatives, std::chrono::year_month_day today)
      : up_(upload), campaigns_(campaigns), creatives_(creatives), today_(today) {}

  UploadPlan run() {
    plan_.rows_processed = up_.rows_processed();
    read_orders();
    read_associations();  // before line items: a line item may belong to a new association
    read_line_items();
    read_targeting();
    for (auto& [id, changes] : existing_) plan_update(id, changes);
    finish();
    return std::move(plan_);
  }

 private:
  // ---- Orders ----
  void read_orders() {
    const auto& sheet = up_.orders;
    std::map<std::string, size_t> seen;
    for (const auto& row : sheet.rows) {
      std::string id = row.text(kOrderIdColumn);
      if (id.empty()) {
        plan_create(row);
        continue;
      }
      if (auto [it, fresh] = seen.emplace(id, row.number); !fresh) {
        errors_.add(
            sheet, row.number, kOrderIdColumn,
            "order " + id + " appears more than once (first in row " + std::to_string(it->second) + ")");
        continue;
      }
      auto current = campaigns_.find(id);
      if (current == campaigns_.end()) {
        errors_.add(sheet, row.number, kOrderIdColumn,
                    "campaign " + id + " not found; leave Order ID empty to create a campaign");
        continue;
      }
      order_rows_[id] = &row;
      existing_[id].row = row.number;
      check_fixed_fields(row, current->second);
    }
  }

  // Fields that PUT /api/campaigns/{id} cannot change cannot change through the sheet either.
  void check_fixed_fields(const UploadRow& row, const json& current) {
    static const std::pair<const char*, const char*> kFixed[] = {{"Advertiser ID", "advertiser_id"},
                                                                 {"Phase", "phase"},
                                                                 {"Viewability Phase", "viewability_phase"},
                                                                 {"Currency", "currency"}};
    for (const auto& [column, field] : kFixed) {
      std::string value = row.text(column);
      std::string now = current.value(field, "");
      if (!value.empty() && value != now) {
        errors_.add(up_.orders, row.number, column,
                    "cannot be changed on an existing order (it is '" + now + "')");
      }
    }
  }

  // The fields of an Orders row that are text cells, by column.
  static void put_text(json& body, const UploadRow& row, const char* column, const char* field) {
    std::string value = row.text(column);
    if (!value.empty()) body[field] = value;
  }

  // Budget and dates of an Orders row into `body` as the API would receive them; a cell that is
  // not an amount or a date goes in as its text, for the campaign validator to refuse in its words.
  // An empty cell is absent: required for a new order (the validator says so), unchanged for an
  // existing one.
  static void put_typed(json& body, const UploadRow& row) {
    if (!row.text("Budget").empty()) body["budget"] = money_value(row, "Budget");
    for (const auto& [column, field] :
         {std::pair{"Start Date", "start_date"}, std::pair{"End Date", "end_date"}}) {
      if (row.text(column).empty()) continue;
      auto day = cell_date(row.at(column));
      body[field] = day ? format_date(*day) : row.text(column);
    }
  }

  void plan_create(const UploadRow& row) {
    json body = json::object();
    put_text(body, row, "Order Name", "name");
    put_text(body, row, "Advertiser ID", "advertiser_id");
    put_text(body, row, "Phase", "phase");
    put_text(body, row, "Viewability Phase", "viewability_phase");
    put_text(body, row, "Goal KPI", "goal_kpi");
    put_text(body, row, "Currency", "currency");
    put_typed(body, row);
    std::string status = row.text("Status");
    if (!status.empty() && status != "draft") {
      errors_.add(up_.orders, row.number, "Status", "a new order starts as draft");
    }
    try {
      plan_.creates.push_back({row.number, domain::validate_new_campaign(body, today_)});
    } catch (const Error& e) {
      for (const auto& d : e.details()) order_field_error(row.number, d, nullptr);
    }
  }

  // A validator detail on an order's field, put on the sheet, row and column the value came from.
  void order_field_error(size_t row, const FieldError& d, const OrderChanges* changes) {
    static const std::map<std::string, std::string, std::less<>> kColumns = {
        {"name", "Order Name"},   {"advertiser_id", "Advertiser ID"},
        {"phase", "Phase"},       {"viewability_phase", "Viewability Phase"},
        {"goal_kpi", "Goal KPI"}, {"budget", "Budget"},
        {"currency", "Currency"}, {"start_date", "Start Date"},
        {"end_date", "End Date"}, {"status", "Status"}};
    std::string_view field = d.field;
    if (changes && field.starts_with("targeting.") && changes->targeting) {
      std::string_view rest = field.substr(10);
      auto bracket = rest.find('[');
      std::string type(rest.substr(0, bracket));
      const auto& src = *changes->targeting;
      size_t target_row = 0;
      if (bracket != std::string_view::npos) {
        size_t index = 0;
        std::from_chars(rest.data() + bracket + 1, rest.data() + rest.size(), index);
        auto it = src.list_rows.find(type);
        if (it != src.list_rows.end() && index < it->second.size()) target_row = it->second[index];
      } else if (auto it = src.scalar_rows.find(type); it != src.scalar_rows.end()) {
        target_row = it->second;
      }
      if (target_row) {
        errors_.add(up_.targeting, target_row, "Targeting Value", type + ": " + d.message);
        return;
      }
    }
    if (changes && field.starts_with("bidding.") && changes->bid_row) {
      errors_.add(up_.line_items, changes->bid_row, "Bid (CPM)", d.message);
      return;
    }
    auto column = kColumns.find(field.starts_with("viewability_config") ? "viewability_phase" : field);
    std::string name = column == kColumns.end() ? d.field : column->second;
    if (!errors_.has(up_.orders.name, row, name)) errors_.add(up_.orders, row, name, d.message);
  }

  // ---- Creative Associations ----
  void read_associations() {
    const auto& sheet = up_.associations;
    for (const auto& row : sheet.rows) {
      auto ids = line_item_of(sheet, row);
      if (!ids) continue;
      const auto& [campaign_id, creative_id] = *ids;
      if (upper(row.text("Operation")) != "ASSOCIATE") {
        errors_.add(sheet, row.number, "Operation", "must be ASSOCIATE");
        continue;
      }
      const json& campaign = campaigns_.at(campaign_id);
      std::string advertiser = row.text("Advertiser ID");
      if (!advertiser.empty() && advertiser != campaign.value("advertiser_id", "")) {
        errors_.add(sheet, row.number, "Advertiser ID",
                    "must be the order's advertiser (" + campaign.value("advertiser_id", "") + ")");
        continue;
      }
      if (associated(campaign, creative_id) || new_pairs_.count({campaign_id, creative_id})) continue;
      auto creative = creatives_.find(creative_id);
      if (creative == creatives_.end()) {
        errors_.add(sheet, row.number, "Creative ID", "creative " + creative_id + " not found");
      } else if (!creative->second.processed || creative->second.status == "failed") {
        errors_.add(sheet, row.number, "Creative ID",
                    "creative " + creative_id + " is not processed (status " + creative->second.status + ")");
      } else {
        new_pairs_.insert({campaign_id, creative_id});
        plan_.associations.push_back({campaign_id, creative_id});
        ++existing_[campaign_id].new_associations;
      }
    }
  }

  // The (campaign, creative) of a Line Items or Creative Associations row: its Line Item ID must
  // name an order of the Orders sheet and agree with the row's Order ID and Creative ID cells.
  std::optional<std::pair<std::string, std::string>> line_item_of(const UploadSheet& sheet,
                                                                  const UploadRow& row) {
    std::string id = row.text("Line Item ID");
    auto ids = split_line_item_id(id);
    if (!ids || !campaign_id_like(ids->first)) {
      errors_.add(sheet, row.number, "Line Item ID",
                  id.empty() ? "is required (<order id>:<creative id>)"
                             : "must be <order id>:<creative id>, not '" + id + "'");
      return std::nullopt;
    }
    std::string creative = row.text("Creative ID");
    if (!creative.empty() && creative != ids->second) {
      errors_.add(sheet, row.number, "Creative ID", "must match the Line Item ID (" + ids->second + ")");
      return std::nullopt;
    }
    if (sheet.name == kLineItemsSheet) {
      std::string order = row.text(kOrderIdColumn);
      if (!order.empty() && order != ids->first) {
        errors_.add(sheet, row.number, kOrderIdColumn, "must match the Line Item ID (" + ids->first + ")");
        return std::nullopt;
      }
    }
    if (!order_rows_.count(ids->first)) {
      errors_.add(sheet, row.number, "Line Item ID",
                  "order " + ids->first + " is not an existing order of the Orders sheet");
      return std::nullopt;
    }
    return ids;
  }

  static const json* association_of(const json& campaign, const std::string& creative_id) {
    auto it = campaign.find("creatives");
    if (it == campaign.end()) return nullptr;
    for (const auto& c : *it) {
      if (c.value("id", "") == creative_id) return &c;
    }
    return nullptr;
  }
  static bool associated(const json& campaign, const std::string& creative_id) {
    return association_of(campaign, creative_id) != nullptr;
  }

  // ---- Line Items ----
  void read_line_items() {
    const auto& sheet = up_.line_items;
    for (const auto& row : sheet.rows) {
      auto ids = line_item_of(sheet, row);
      if (!ids) continue;
      const auto& [campaign_id, creative_id] = *ids;
      const json& campaign = campaigns_.at(campaign_id);
      const json* association = association_of(campaign, creative_id);
      bool fresh = new_pairs_.count({campaign_id, creative_id}) > 0;
      if (!association && !fresh) {
        errors_.add(sheet, row.number, "Line Item ID",
                    "creative " + creative_id + " is not associated with order " + campaign_id +
                        "; add it in Creative Associations");
        continue;
      }
      auto& changes = existing_[campaign_id];
      LineItemChange change{campaign_id, creative_id, std::nullopt, std::nullopt};
      read_bid(row, changes);
      if (!row.text("Budget").empty()) {
        json budget = money_value(row, "Budget");
        if (auto problem = domain::money_problem(budget, domain::kMaxBudget)) {
          errors_.add(sheet, row.number, "Budget", *problem);
        } else if (int64_t cents = cents_of(budget.get<double>());
                   fresh || cents != line_item_budget(campaign, creative_id)) {
          change.budget_cents = cents;
        }
      }
      std::string status = row.text("Status");
      if (!status.empty()) {
        if (status != "active" && status != "paused") {
          errors_.add(sheet, row.number, "Status", one_of_message({"active", "paused"}));
        } else if (association ? status != association->at("ad_group").value("status", "active")
                               : status != "active") {
          change.status = status;
        }
      }
      if (change.budget_cents || change.status) {
        ++changes.line_item_changes;
        line_item_rows_.push_back({row.number, change});
      }
    }
  }

  // The budget a generated sheet shows for the line item: its own, else its share of the
  // campaign budget split evenly (bulk::split_cents).
  static int64_t line_item_budget(const json& campaign, const std::string& creative_id) {
    const auto& list = campaign.at("creatives");
    auto shares = split_cents(json_cents(campaign, "budget"), list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].value("id", "") != creative_id) continue;
      const json& own = list[i].at("ad_group").at("budget");
      return own.is_number() ? cents_of(own.get<double>()) : shares[i];
    }
    return 0;
  }

  // Bid (CPM) is the campaign's bidding.max_bid: every line item of an order carries the same.
  void read_bid(const UploadRow& row, OrderChanges& changes) {
    if (row.text("Bid (CPM)").empty()) return;
    json bid = money_value(row, "Bid (CPM)");
    if (auto problem = domain::money_problem(bid, domain::kMaxBid)) {
      errors_.add(up_.line_items, row.number, "Bid (CPM)", *problem);
      return;
    }
    int64_t cents = cents_of(bid.get<double>());
    if (!changes.bid_cents) {
      changes.bid_cents = cents;
      changes.bid_row = row.number;
    } else if (*changes.bid_cents != cents) {
      errors_.add(up_.line_items, row.number, "Bid (CPM)",
                  "must equal the bid of the order's other line items (" + money_text(*changes.bid_cents) +
                      " in row " + std::to_string(changes.bid_row) + "): the bid is the campaign's max bid");
    }
  }

  // ---- Targeting ----
  void read_targeting() {
    const auto& sheet = up_.targeting;
    for (const auto& row : sheet.rows) {
      std::string id = row.text(kOrderIdColumn);
      if (!order_rows_.count(id)) {
        errors_.add(sheet, row.number, kOrderIdColumn,
                    id.empty() ? "is required (a new order takes the default targeting)"
                               : "order " + id + " is not an existing order of the Orders sheet");
        continue;
      }
      std::string type = row.text("Targeting Type");
      std::string value = row.text("Targeting Value");
      std::string include = upper(row.text("Include/Exclude"));
      if (!include.empty() && include != "INCLUDE") {
        errors_.add(sheet, row.number, "Include/Exclude", "must be INCLUDE (campaigns have no exclusions)");
        continue;
      }
      if (value.empty()) {
        errors_.add(sheet, row.number, "Targeting Value", "is required");
        continue;
      }
      auto& changes = existing_[id];
      if (!changes.targeting) changes.targeting.emplace();
      auto& src = *changes.targeting;
      if (is_list_type(type)) {
        src.targeting[type].push_back(value);
        src.list_rows[type].push_back(row.number);
      } else if (type == kViewabilityThreshold || type == kBrandSafetyLevel) {
        if (auto it = src.scalar_rows.find(type); it != src.scalar_rows.end()) {
          errors_.add(sheet, row.number, "Targeting Type",
                      type + " appears more than once for order " + id + " (first in row " +
                          std::to_string(it->second) + ")");
          continue;
        }
        src.scalar_rows[type] = row.number;
        // Not a number: the text goes to the campaign validator, which refuses it in its words.
        auto n = type == kViewabilityThreshold ? number_of(value) : std::nullopt;
        src.targeting[type] = n ? json(*n) : json(value);
      } else {
        std::vector<std::string_view> known(std::begin(kTargetingLists), std::end(kTargetingLists));
        known.insert(known.end(), std::begin(kTargetingScalars), std::end(kTargetingScalars));
        errors_.add(sheet, row.number, "Targeting Type", one_of_message(known));
      }
    }
  }

  static std::optional<double> number_of(const std::string& text) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  }

  // The Targeting rows of an order replace its lists (a list without rows becomes empty) and the
  // scalars they name. A list holding the same values in another order is unchanged.
  static json merged_targeting(const TargetingSource& src, const json& current) {
    json out = current.is_object() ? current : json::object();
    for (const char* key : kTargetingLists) {
      json given = src.targeting.contains(key) ? src.targeting[key] : json::array();
      auto sorted = [](json list) {
        std::vector<std::string> v;
        if (list.is_array()) {
          for (const auto& x : list) v.push_back(x.is_string() ? x.get<std::string>() : x.dump());
        }
        std::sort(v.begin(), v.end());
        return v;
      };
      if (!out.contains(key) || sorted(out[key]) != sorted(given)) out[key] = given;
    }
    for (const char* key : kTargetingScalars) {
      if (src.targeting.contains(key)) out[key] = src.targeting[key];
    }
    return out;
  }

  // ---- one existing order ----
  void plan_update(const std::string& id, OrderChanges& changes) {
    auto row_it = order_rows_.find(id);
    if (row_it == order_rows_.end()) return;  // only reached through rows already in error
    const UploadRow& row = *row_it->second;
    const json& current = campaigns_.at(id);
    size_t errors_before = errors_.count();
    json body = json::object();
    put_text(body, row, "Order Name", "name");
    put_text(body, row, "Goal KPI", "goal_kpi");
    put_text(body, row, "Status", "status");
    put_typed(body, row);
    // Only what differs goes to the validator, so an unchanged value can never be refused.
    if (body.contains("budget") && body["budget"].is_number() &&
        cents_of(body["budget"].get<double>()) == json_cents(current, "budget")) {
      body.erase("budget");
    }
    for (const char* key : {"name", "goal_kpi", "status", "start_date", "end_date"}) {
      if (body.contains(key) && body[key] == current.value(key, json())) body.erase(key);
    }
    if (changes.targeting) {
      json merged = merged_targeting(*changes.targeting, current.value("targeting", json::object()));
      if (merged != current.value("targeting", json::object())) body["targeting"] = merged;
    }
    if (changes.bid_cents &&
        *changes.bid_cents != json_cents(current.value("bidding", json::object()), "max_bid")) {
      body["bidding"] = {{"max_bid", amount_of(*changes.bid_cents)}};
    }
    json change = json::object();
    try {
      change = domain::validate_campaign_update(body, current, today_);
    } catch (const Error& e) {
      for (const auto& d : e.details()) order_field_error(row.number, d, &changes);
    }
    if (change.contains("status")) {
      std::string from = current.value("status", "");
      std::string to = change["status"];
      if (!domain::transition_allowed(from, to, domain::Trigger::kUpdate)) {
        errors_.add(up_.orders, row.number, "Status", domain::status_change_refused(from, to));
      }
    }
    if (errors_.count() != errors_before) return;
    if (!change.empty()) {
      plan_.updates.push_back({id, body});
    } else if (changes.line_item_changes == 0 && changes.new_associations == 0) {
      ++plan_.unchanged;
    }
  }

  void finish() {
    // Line item budgets must fit the order's (new) budget.
    for (const auto& [row, change] : line_item_rows_) {
      if (change.budget_cents) {
        const json& current = campaigns_.at(change.campaign_id);
        int64_t budget = json_cents(current, "budget");
        for (const auto& u : plan_.updates) {
          if (u.id == change.campaign_id && u.body.contains("budget"))
            budget = cents_of(u.body["budget"].get<double>());
        }
        if (*change.budget_cents > budget) {
          errors_.add(up_.line_items, row, "Budget",
                      "must not exceed the order's budget (" + money_text(budget) + ")");
          continue;
        }
      }
      plan_.line_items.push_back(change);
    }
    static const std::map<std::string, int> kSheetOrder = {
        {kOrdersSheet, 0}, {kLineItemsSheet, 1}, {kTargetingSheet, 2}, {kAssociationsSheet, 3}};
    plan_.errors = errors_.take();
    std::stable_sort(plan_.errors.begin(), plan_.errors.end(), [](const RowError& a, const RowError& b) {
      return std::pair(kSheetOrder.at(a.sheet), a.row) < std::pair(kSheetOrder.at(b.sheet), b.row);
    });
    std::set<std::pair<std::string, size_t>> bad_rows;
    for (const auto& e : plan_.errors) bad_rows.insert({e.sheet, e.row});
    plan_.rows_invalid = bad_rows.size();
  }

  const ParsedUpload& up_;
  const std::map<std::string, json>& campaigns_;
  const std::map<std::string, CreativeState>& creatives_;
  const std::chrono::year_month_day today_;
  UploadPlan plan_;
  Errors errors_;
  std::map<std::string, const UploadRow*> order_rows_;  // existing orders of the Orders sheet
  std::map<std::string, OrderChanges> existing_;
  std::set<std::pair<std::string, std::string>> new_pairs_;
  std::vector<std::pair<size_t, LineItemChange>> line_item_rows_;
};

}  // namespace

const Cell& UploadRow::at(std::string_view column) const {
  static const Cell kEmpty;
  auto it = cells.find(column);
  return it == cells.end() ? kEmpty : it->second;
}

std::string UploadRow::text(std::string_view column) const {
  std::string s = cell_text(at(column));
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

size_t ParsedUpload::rows_processed() const {
  return orders.rows.size() + line_items.rows.size() + targeting.rows.size() + associations.rows.size();
}

UploadRefs ParsedUpload::refs() const {
  UploadRefs refs;
  auto campaign = [&refs](const std::string& id) {
    if (campaign_id_like(id)) refs.campaign_ids.insert(id);
  };
  for (const auto& row : orders.rows) campaign(row.text(kOrderIdColumn));
  for (const auto& row : associations.rows) {
    if (auto ids = split_line_item_id(row.text("Line Item ID"))) refs.creative_ids.insert(ids->second);
  }
  return refs;
}

ParsedUpload parse_upload(const ReadBook& book) {
  ParsedUpload up;
  up.orders = read_sheet(book, kOrdersSheet, true);
  up.line_items = read_sheet(book, kLineItemsSheet, false);
  up.targeting = read_sheet(book, kTargetingSheet, false);
  up.associations = read_sheet(book, kAssociationsSheet, false);
  return up;
}

UploadPlan plan_upload(const ParsedUpload& upload, const std::map<std::string, json>& campaigns,
                       const std::map<std::string, CreativeState>& creatives,
                       std::chrono::year_month_day today) {
  return Planner(upload, campaigns, creatives, today).run();
}

json UploadPlan::report() const {
  json errs = json::array();
  for (const auto& e : errors) {
    errs.push_back({{"sheet", e.sheet}, {"row", e.row}, {"column", e.column}, {"message", e.message}});
  }
  bool ok = valid();
  return {
      {"valid", ok},
      {"rows_processed", rows_processed},
      {"rows_valid", rows_processed - rows_invalid},
      {"rows_invalid", rows_invalid},
      {"errors", errs},
      {"created", {{"campaigns", ok ? creates.size() : 0}, {"associations", ok ? associations.size() : 0}}},
      {"updated", {{"campaigns", ok ? updates.size() : 0}, {"line_items", ok ? line_items.size() : 0}}},
      {"unchanged", {{"campaigns", ok ? unchanged : 0}}}};
}

std::optional<int64_t> money_cents(const Cell& cell) {
  if (const auto* n = std::get_if<Number>(&cell)) {
    if (!std::isfinite(n->value) || std::abs(n->value) > 1e13) return std::nullopt;
    return cents_of(n->value);
  }
  const auto* text = std::get_if<std::string>(&cell);
  if (!text) return std::nullopt;
  std::string_view s = *text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.starts_with('$')) s.remove_prefix(1);
  auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 13 || frac.size() > 2 ||
      (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  auto digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(whole) || !digits(frac)) return std::nullopt;
  int64_t cents = 0;
  for (char c : whole) cents = cents * 10 + (c - '0');
  cents *= 100;
  if (frac.size() >= 1) cents += (frac[0] - '0') * 10;
  if (frac.size() == 2) cents += frac[1] - '0';
  return cents;
}

std::optional<std::chrono::year_month_day> cell_date(const Cell& cell) {
  if (const auto* d = std::get_if<Date>(&cell)) return d->day;
  if (const auto* text = std::get_if<std::string>(&cell)) {
    std::string_view s = *text;
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return parse_sheet_date(s);
  }
  return std::nullopt;
}

}  // namespace kargo::bulk
