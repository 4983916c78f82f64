// /api/bulk (contract section 5) and POST /api/campaigns/{id}/bulk-sheet: bulk sheets of campaigns
// and their download and upload. The use cases are service/sheets (docs/BULK.md).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "download.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/multipart.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/sheets.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxCampaigns = 1000;
// Generating a sheet of up to 1000 campaigns, or applying one of 50 000 rows in one request, takes
// longer than an interactive read: these routes have their own deadlines.
constexpr std::chrono::milliseconds kGenerateTimeout{120000};
constexpr std::chrono::milliseconds kUploadTimeout{300000};

constexpr http::RouteOptions kSheetGenerate{
    .min_role = Role::kEditor, .idempotent_create = true, .timeout = kGenerateTimeout};
constexpr http::RouteOptions kSheetUpload{
    .min_role = Role::kEditor, .multipart_upload = true, .timeout = kUploadTimeout};

// The include flags (default true) and format (default xlsx) of either route's body.
service::SheetOptions read_sheet_options(Validator& v) {
  service::SheetOptions o;
  if (auto b = v.boolean("include_creatives")) o.contents.creatives = *b;
  if (auto b = v.boolean("include_line_items")) o.contents.line_items = *b;
  if (auto b = v.boolean("include_targeting")) o.contents.targeting = *b;
  if (auto f = v.enumeration("format", {"xlsx", "excel", "csv"})) o.csv = *f == "csv";
  return o;
}

// `campaign_ids`: 1-1000 campaign ids; repeats are dropped (first place kept).
std::vector<std::string> read_campaign_ids(Validator& v) {
  const json* arr = v.array("campaign_ids", {.required = true});
  if (!arr) return {};
  if (arr->empty()) {
    v.add("campaign_ids", "must not be empty");
    return {};
  }
  if (arr->size() > kMaxCampaigns) {
    v.add("campaign_ids", "must hold at most " + std::to_string(kMaxCampaigns) + " ids");
    return {};
  }
  auto ids =
      v.string_array("campaign_ids", {.accept = [](std::string_view s) { return is_resource_id(s, "camp_"); },
                                      .accept_message = "must be a campaign id (camp_ and 12 hex digits)"});
  std::vector<std::string> distinct;
  for (auto& id : ids.value_or(std::vector<std::string>{})) {
    if (std::find(distinct.begin(), distinct.end(), id) == distinct.end()) distinct.push_back(std::move(id));
  }
  return distinct;
}

// A body that may be absent (POST /api/campaigns/{id}/bulk-sheet): empty means all defaults.
json optional_json_body(const http::Request& req) {
  if (req.body.empty()) return json::object();
  return http::json_body(req);
}

// A boolean of the upload: the query string's value, else the form's; absent is false.
bool upload_flag(const http::Request& req, const http::Form& form, const char* name, Validator& v) {
  std::optional<std::string> text;
  if (auto q = req.query_param(name)) {
    text = std::string(*q);
  } else if (const auto* f = form.filled(name)) {
    text = *f;
  }
  if (!text) return false;
  auto flag = http::form_boolean(*text);
  if (!flag) v.add(name, "must be true or false");
  return flag.value_or(false);
}

// 422 for a sheet with invalid rows: one detail per row error, and the whole report as
// error.data (docs/BULK.md).
http::Response invalid_upload(const http::Request& req, const json& report) {
  std::vector<FieldError> details;
  for (const auto& e : report["errors"]) {
    details.push_back({e["sheet"].get<std::string>() + " row " + std::to_string(e["row"].get<size_t>()) +
                           ", " + e["column"].get<std::string>(),
                       e["message"].get<std::string>()});
  }
  Error error(codes::kValidation,
              std::to_string(report["rows_invalid"].get<size_t>()) +
                  " row(s) of the sheet are invalid; nothing was written",
              {}, std::move(details));
  return http::error_response(req.request_id, error, report);
}

}  // namespace

void BulkRoutes::add_to(http::Router& router) {
  auto& sheets = sheets_;

  router.add("POST", "/api/bulk/generate-sheet", kSheetGenerate, [&sheets](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    auto ids = read_campaign_ids(v);
    auto options = read_sheet_options(v);
    v.check();
    return http::ok(req, sheets.generate(ids, options, req.principal->subject), 201, "bulk sheet generated");
  });

  router.add("POST", "/api/campaigns/{id}/bulk-sheet", kSheetGenerate, [&sheets](http::Request& req) {
    std::string id(req.param("id"));
    if (!is_resource_id(id, "camp_")) throw Error::not_found("campaign", id);
    auto body = optional_json_body(req);
    Validator v(body);
    auto options = read_sheet_options(v);
    v.check();
    return http::ok(req, sheets.generate({id}, options, req.principal->subject), 201, "bulk sheet generated");
  });

  router.add("POST", "/api/bulk/upload-sheet", kSheetUpload, [this, &sheets](http::Request& req) {
    auto form = http::parse_multipart(req, {.max_parts = 8, .max_part_bytes = max_upload_bytes_});
    Validator v;
    bool validate_only = upload_flag(req, form, "validate_only", v);
    bool async = upload_flag(req, form, "async", v);
    const auto* file = form.find("file");
    if (!file || file->body.empty()) v.add("file", "is required: an xlsx workbook or a zip of csv files");
    v.check();
    auto answer = sheets.upload(file->body, file->filename.value_or(""), validate_only, async, req.principal->subject);
    if (answer.job_id) return http::ok(req, {{"job_id", *answer.job_id}}, 202, "bulk sheet upload queued");
    if (!answer.result->valid) return invalid_upload(req, answer.result->report);
    return http::ok(req, answer.result->report, 200,
                    validate_only ? "bulk sheet is valid; nothing written" : "bulk sheet applied");
  });

  router.add("GET", "/api/bulk/download/{sheet_id}", kViewer, [&sheets](http::Request& req) {
    return download_response(sheets.download(std::string(req.param("sheet_id"))));
  });
}

}  // namespace kargo::api
