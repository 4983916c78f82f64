// /api/bulk (contract section 5) and POST /api/campaigns/{id}/bulk-sheet: bulk sheets of campaigns
// and their download. The layout is bulk/bulk_sheet, the file formats bulk/sheet, the campaigns
// come from store/bulk_sources and the files live in store/generated_files (docs/BULK.md).
#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/app/bulk_upload.hpp"
#include "kargo/app/context.hpp"
#include "kargo/bulk/bulk_sheet.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/multipart.hpp"
#include "kargo/http/router.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/store/bulk_sources.hpp"
#include "kargo/store/generated_files.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
constexpr http::RouteOptions kEditorCreate{.min_role = Role::kEditor, .idempotent_create = true};

constexpr http::RouteOptions kEditorUpload{.min_role = Role::kEditor, .multipart_upload = true};

constexpr size_t kMaxCampaigns = 1000;
// bulk_import jobs: a sheet that cannot be applied now (database down) is tried again.
constexpr int kImportAttempts = 3;
constexpr const char* kSheetKind = "bulk_sheet";
// The id is the download link's only secret: 128 random bits (the contract asks for >= 96).
constexpr const char* kSheetPrefix = "sheet_";
constexpr size_t kSheetIdBytes = 16;
constexpr std::chrono::hours kSheetLifetime{24};
constexpr const char* kXlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
constexpr const char* kZipType = "application/zip";

struct SheetOptions {
  bulk::SheetContents contents;
  bool csv = false;  // "csv" -> a zip of csv files; "xlsx" and "excel" -> xlsx
};

// The include flags (default true) and format (default xlsx) of either route's body.
SheetOptions read_sheet_options(Validator& v) {
  SheetOptions o;
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

class SheetService {
 public:
  explicit SheetService(store::Database& db) : reader_(db), files_(db) {}

  http::Response generate(const http::Request& req, const std::vector<std::string>& campaign_ids,
                          const SheetOptions& options) {
    auto book = bulk::build_bulk_sheet(reader_.orders(campaign_ids), options.contents);
    std::string id = random_id(kSheetPrefix, kSheetIdBytes);
    auto today =
        std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()));
    store::NewGeneratedFile file{.id = id,
                                 .kind = kSheetKind,
                                 .filename = "kargo-bulk-sheet-" + format_date(today) + "-" +
                                             id.substr(std::string_view(kSheetPrefix).size(), 8) +
                                             (options.csv ? ".zip" : ".xlsx"),
                                 .content_type = options.csv ? kZipType : kXlsxType,
                                 .bytes = options.csv ? bulk::write_csv_zip(book) : bulk::write_xlsx(book),
                                 .record_count = book.record_count(),
                                 .sheets = book.sheet_names(),
                                 .created_by = req.principal->subject,
                                 .lifetime = kSheetLifetime};
    auto expires_at = files_.save(file);
    purge_expired();
    // A sheet is a read of campaigns: a log line, no audit entry (docs/BULK.md).
    log::info("bulk sheet generated", {{"sheet_id", id},
                                       {"campaigns", campaign_ids.size()},
                                       {"format", options.csv ? "csv" : "xlsx"},
                                       {"file_size", file.bytes.size()},
                                       {"record_count", file.record_count},
                                       {"actor", req.principal->subject}});
    json data = {{"sheet_id", id},
                 {"download_url", "/api/bulk/download/" + id},
                 {"expires_at", expires_at},
                 {"file_size", file.bytes.size()},
                 {"record_count", file.record_count},
                 {"sheets", file.sheets},
                 {"format", options.csv ? "csv" : "xlsx"}};
    return http::ok(req, data, 201, "bulk sheet generated");
  }

  http::Response download(const http::Request& req) {
    std::string id(req.param("sheet_id"));
    if (!is_resource_id(id, kSheetPrefix, kSheetIdBytes)) throw not_found(id);
    auto file = files_.fetch(id, kSheetKind);
    if (!file) throw not_found(id);
    if (file->expired) throw Error(codes::kGone, "bulk sheet " + id + " has expired; generate a new one");
    http::Response res;
    res.content_type = file->content_type;
    res.body = std::move(file->bytes);
    res.header("Content-Disposition", "attachment; filename=\"" + file->filename + "\"");
    return res;
  }

 private:
  static Error not_found(const std::string& id) {
    return Error(codes::kNotFound, "bulk sheet " + id + " not found");
  }

  // Opportunistic clean-up on every generation; a failure costs nothing but a log line.
  void purge_expired() {
    try {
      files_.purge_expired();
    } catch (const std::exception& e) {
      log::warn("purging expired generated files failed", {{"error", e.what()}});
    }
  }

  store::BulkSheetReader reader_;
  store::GeneratedFileStore files_;
};

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

http::Response upload_sheet(AppContext& ctx, http::Request& req) {
  auto form = http::parse_multipart(req, {.max_parts = 8, .max_part_bytes = ctx.config.max_upload_bytes});
  Validator v;
  bool validate_only = upload_flag(req, form, "validate_only", v);
  bool async = upload_flag(req, form, "async", v);
  const auto* file = form.find("file");
  if (!file || file->body.empty()) v.add("file", "is required: an xlsx workbook or a zip of csv files");
  v.check();
  // Read before queueing too, so that a file that is no workbook is refused at once.
  auto parsed = app::read_bulk_upload(file->body);
  const std::string& actor = req.principal->subject;
  if (async) {
    store::BulkUploadStore uploads(ctx.db);
    auto job_id = uploads.enqueue(file->body, file->filename.value_or(""), validate_only, actor,
                                  app::kBulkImportJob, kImportAttempts);
    ctx.job_runner.wake();
    return http::ok(req, {{"job_id", job_id}}, 202, "bulk sheet upload queued");
  }
  auto result = app::apply_bulk_upload(ctx, parsed, validate_only, actor);
  if (!result.valid) return invalid_upload(req, result.report);
  return http::ok(req, result.report, 200,
                  validate_only ? "bulk sheet is valid; nothing written" : "bulk sheet applied");
}

}  // namespace

void register_bulk_routes(http::Router& router, AppContext& ctx) {
  auto service = std::make_shared<SheetService>(ctx.db);

  router.add("POST", "/api/bulk/generate-sheet", kEditorCreate, [service](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    auto ids = read_campaign_ids(v);
    auto options = read_sheet_options(v);
    v.check();
    return service->generate(req, ids, options);
  });

  router.add("POST", "/api/campaigns/{id}/bulk-sheet", kEditorCreate, [service](http::Request& req) {
    std::string id(req.param("id"));
    if (!is_resource_id(id, "camp_")) throw Error(codes::kNotFound, "campaign " + id + " not found");
    auto body = optional_json_body(req);
    Validator v(body);
    auto options = read_sheet_options(v);
    v.check();
    return service->generate(req, {id}, options);
  });

  router.add("POST", "/api/bulk/upload-sheet", kEditorUpload,
             [&ctx](http::Request& req) { return upload_sheet(ctx, req); });

  router.add("GET", "/api/bulk/download/{sheet_id}", kViewer,
             [service](http::Request& req) { return service->download(req); });
}

}  // namespace kargo::api
