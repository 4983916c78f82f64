// /api/reports (contract section 6): pulling reports from Amazon DSP, reading delivery and
// viewability per campaign, and exports of them. The use cases are service/reports
// (docs/REPORTS.md).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "download.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/report.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/reports.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxExportCampaigns = 1000;
// An export of up to 1000 campaigns over a year is a larger read than an interactive one.
constexpr std::chrono::milliseconds kExportTimeout{120000};

constexpr http::RouteOptions kViewerExport{
    .min_role = Role::kViewer, .idempotent_create = true, .timeout = kExportTimeout};

std::optional<std::string> query_text(const http::Request& req, std::string_view name) {
  auto value = req.query_param(name);
  if (!value) return std::nullopt;
  return std::string(*value);
}

// campaign_id, start_date and end_date of the two report reads (all required).
struct ReadScope {
  std::string campaign_id;
  domain::DateRange range;
};

std::optional<ReadScope> read_scope(const http::Request& req, Validator& v) {
  auto campaign = query_text(req, "campaign_id");
  auto start = query_text(req, "start_date");
  auto end = query_text(req, "end_date");
  if (!campaign || campaign->empty()) v.add("campaign_id", "is required");
  if (!start) v.add("start_date", "is required (YYYY-MM-DD)");
  if (!end) v.add("end_date", "is required (YYYY-MM-DD)");
  auto range = domain::read_date_range(v, start, end);
  if (!campaign || campaign->empty() || !range) return std::nullopt;
  return ReadScope{*campaign, *range};
}

// One of `allowed`, or nullopt (and an error naming the choices when present but not allowed).
std::optional<std::string> query_choice(const http::Request& req, std::string_view name,
                                        std::initializer_list<std::string_view> allowed, Validator& v) {
  auto value = query_text(req, name);
  if (!value) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *value) != allowed.end()) return value;
  std::string choices;
  for (auto a : allowed) choices.append(choices.empty() ? "" : ", ").append(a);
  v.add(std::string(name), "must be one of: " + choices);
  return std::nullopt;
}

service::ExportRequest read_export(const json& body) {
  Validator v(body);
  service::ExportRequest r;
  auto type = v.enumeration("report_type", {"campaign_performance", "viewability"}, {.required = true});
  auto ids = v.string_array("campaign_ids", {.required = true, .min_length = 1, .max_length = 64});
  if (ids && (ids->empty() || ids->size() > kMaxExportCampaigns)) {
    v.add("campaign_ids", "must hold 1-" + std::to_string(kMaxExportCampaigns) + " campaign ids");
  }
  std::optional<domain::DateRange> range;
  if (const json* dates = v.object("date_range", {.required = true})) {
    Validator d = v.nested(*dates, "date_range");
    range = domain::read_date_range(d, d.string("start_date", {.required = true}),
                                    d.string("end_date", {.required = true}));
  }
  auto format = v.enumeration("format", {"csv", "xlsx", "json"});
  auto granularity = v.enumeration("granularity", {"daily", "weekly", "monthly"});
  auto vendor = v.enumeration("vendor", {"double_verify", "ias"});
  if (granularity && type == "viewability") v.add("granularity", "applies to campaign_performance only");
  if (vendor && type == "campaign_performance") v.add("vendor", "applies to viewability only");
  v.check();
  r.report_type = *type;
  for (auto& id : *ids) {
    if (std::find(r.campaign_ids.begin(), r.campaign_ids.end(), id) == r.campaign_ids.end()) {
      r.campaign_ids.push_back(std::move(id));
    }
  }
  r.start_date = range->start_text();
  r.end_date = range->end_text();
  r.format = format.value_or("csv");
  r.granularity = granularity.value_or("daily");
  r.vendor = vendor;
  return r;
}

}  // namespace

void ReportRoutes::add_to(http::Router& router) {
  auto& reports = reports_;

  router.add("POST", "/api/reports/refresh", kEditorCreate, [&reports](http::Request& req) {
    auto queued = reports.enqueue_refresh(http::json_body(req), req.principal->subject);
    return http::ok(req, queued, 202, "report refresh queued");
  });

  // Both reads answer from the shared cache when they can (one async Redis GET on the I/O
  // thread); a miss builds the document in PostgreSQL on the database pool and caches it.
  router.add_async("GET", "/api/reports/campaign-performance", kViewer,
                   [&reports](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     Validator v;
                     auto scope = read_scope(req, v);
                     auto granularity = query_choice(req, "granularity", {"daily", "weekly", "monthly"}, v);
                     v.check();
                     store::PerformanceQuery q{.campaign_id = scope->campaign_id,
                                               .start_date = scope->range.start_text(),
                                               .end_date = scope->range.end_text(),
                                               .granularity = granularity.value_or("daily")};
                     reports.cached_performance(q, [&req, &reports, reply, q](service::Cached hit) {
                       if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
                       reply->blocking([&req, &reports, q, generation = std::move(hit.generation)] {
                         return http::ok_serialized(req, reports.campaign_performance(q, generation));
                       });
                     });
                   });

  router.add_async("GET", "/api/reports/viewability", kViewer,
                   [&reports](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     Validator v;
                     auto scope = read_scope(req, v);
                     auto vendor = query_choice(req, "vendor", {"double_verify", "ias"}, v);
                     v.check();
                     store::ViewabilityQuery q{.campaign_id = scope->campaign_id,
                                               .start_date = scope->range.start_text(),
                                               .end_date = scope->range.end_text(),
                                               .vendor = vendor};
                     reports.cached_viewability(q, [&req, &reports, reply, q](service::Cached hit) {
                       if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
                       reply->blocking([&req, &reports, q, generation = std::move(hit.generation)] {
                         return http::ok_serialized(req, reports.viewability(q, generation));
                       });
                     });
                   });

  router.add("POST", "/api/reports/export", kViewerExport, [&reports](http::Request& req) {
    auto request = read_export(http::json_body(req));
    return http::ok(req, reports.export_report(request, req.principal->subject), 201, "report exported");
  });

  router.add("GET", "/api/reports/download/{export_id}", kViewer, [&reports](http::Request& req) {
    return download_response(reports.download(std::string(req.param("export_id"))));
  });
}

}  // namespace kargo::api
