#include "kargo/store/bulk_sources.hpp"

#include <pqxx/pqxx>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/time.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// At most this many unknown ids are named in the 404 message.
constexpr size_t kNamedUnknownIds = 10;

// One row per requested id, in request order: the id, and the campaign as JSON (null when
// unknown) with its associations in association order (as GET /api/campaigns/{id} lists them).
constexpr const char* kOrders =
    "SELECT ids.id, CASE WHEN c.id IS NULL THEN NULL ELSE json_build_object("
    "'id', c.id, 'name', c.name, 'advertiser_id', c.advertiser_id, 'status', c.status, 'phase', c.phase, "
    "'viewability_phase', c.viewability_phase, 'goal_kpi', c.goal_kpi, 'currency', c.currency, "
    "'budget_cents', (c.budget * 100)::bigint, "
    "'start_date', to_char(c.start_date, 'YYYY-MM-DD'), 'end_date', to_char(c.end_date, 'YYYY-MM-DD'), "
    "'amazon_campaign_id', c.amazon_campaign_id, 'max_bid', c.bidding -> 'max_bid', 'targeting', "
    "c.targeting, "
    "'associations', (SELECT coalesce(json_agg(json_build_object("
    "'line_item_name', cc.ad_group_name, 'status', cc.status, 'budget_cents', (cc.budget * 100)::bigint, "
    "'creative', json_build_object("
    "'id', cr.id, 'name', cr.name, 'format', cr.format, 'creative_type', cr.creative_type, "
    "'dimensions', cr.dimensions, 'device_type', cr.device_type, 'duration', cr.duration::float8, "
    "'viewability_config', cr.viewability_config, 'amazon_creative_id', cr.amazon_creative_id, "
    "'status', cr.status, 'amazon_dsp_ready', cr.amazon_dsp_ready)) ORDER BY cc.created_at, cr.id), '[]') "
    "FROM campaign_creatives cc JOIN creatives cr ON cr.id = cc.creative_id WHERE cc.campaign_id = c.id)"
    ")::text END "
    "FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS ids(id, ord) "
    "LEFT JOIN campaigns c ON c.id = ids.id ORDER BY ids.ord";

std::string text_or_empty(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::string> optional_text(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<double> optional_number(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::chrono::year_month_day date_of(const json& doc, const char* key) {
  auto day = parse_date(text_or_empty(doc, key));
  if (!day) throw std::runtime_error(std::string("campaign ") + key + " is not a date");
  return *day;
}

// Copies the text fields `keys` of `doc` into the members of `out` ("" when absent or null).
template <typename T>
void copy_texts(const json& doc, T& out,
                std::initializer_list<std::pair<const char*, std::string T::*>> keys) {
  for (const auto& [key, member] : keys) out.*member = text_or_empty(doc, key);
}

bulk::CreativeSource creative_of(const json& doc) {
  using C = bulk::CreativeSource;
  C c;
  copy_texts<C>(doc, c,
                {{"id", &C::id},
                 {"name", &C::name},
                 {"format", &C::format},
                 {"creative_type", &C::creative_type},
                 {"dimensions", &C::dimensions},
                 {"device_type", &C::device_type},
                 {"status", &C::status}});
  c.duration = optional_number(doc, "duration");
  c.amazon_creative_id = optional_text(doc, "amazon_creative_id");
  c.amazon_dsp_ready = doc.value("amazon_dsp_ready", false);
  const json& viewability = doc.contains("viewability_config") ? doc["viewability_config"] : json::object();
  if (viewability.is_object()) {
    c.viewability_phase = text_or_empty(viewability, "phase");
    if (auto vendors = viewability.find("vendors"); vendors != viewability.end() && vendors->is_array()) {
      for (const auto& v : *vendors) {
        if (v.is_string()) c.viewability_vendors.push_back(v.get<std::string>());
      }
    }
  }
  return c;
}

bulk::OrderSource order_of(const json& doc) {
  using O = bulk::OrderSource;
  O o;
  copy_texts<O>(doc, o,
                {{"id", &O::id},
                 {"name", &O::name},
                 {"advertiser_id", &O::advertiser_id},
                 {"status", &O::status},
                 {"phase", &O::phase},
                 {"viewability_phase", &O::viewability_phase},
                 {"goal_kpi", &O::goal_kpi},
                 {"currency", &O::currency}});
  o.budget_cents = doc.value("budget_cents", int64_t{0});
  o.start_date = date_of(doc, "start_date");
  o.end_date = date_of(doc, "end_date");
  o.amazon_campaign_id = optional_text(doc, "amazon_campaign_id");
  o.max_bid = optional_number(doc, "max_bid");
  if (doc.contains("targeting") && doc["targeting"].is_object()) o.targeting = doc["targeting"];
  for (const auto& a : doc.value("associations", json::array())) {
    bulk::AssociationSource source{creative_of(a.value("creative", json::object())),
                                   text_or_empty(a, "line_item_name"), text_or_empty(a, "status")};
    if (auto cents = a.find("budget_cents"); cents != a.end() && cents->is_number_integer()) {
      source.budget_cents = cents->get<int64_t>();
    }
    o.associations.push_back(std::move(source));
  }
  return o;
}

}  // namespace

std::vector<bulk::OrderSource> BulkSheetReader::orders(const std::vector<std::string>& ids) {
  std::vector<bulk::OrderSource> out;
  std::vector<std::string> unknown;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.clear();
    unknown.clear();
    for (const auto& row : tx.exec_params(kOrders, json(ids).dump())) {
      if (row[1].is_null()) {
        unknown.push_back(row[0].as<std::string>());
      } else {
        out.push_back(order_of(json::parse(row[1].c_str())));
      }
    }
  });
  if (!unknown.empty()) {
    std::string names;
    for (size_t i = 0; i < unknown.size() && i < kNamedUnknownIds; ++i) names += (i ? ", " : "") + unknown[i];
    if (unknown.size() > kNamedUnknownIds) {
      names += " and " + std::to_string(unknown.size() - kNamedUnknownIds) + " more";
    }
    throw Error(codes::kNotFound, (unknown.size() == 1 ? "campaign " : "campaigns ") + names + " not found");
  }
  return out;
}

}  // namespace kargo::store
