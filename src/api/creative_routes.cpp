// /api/creatives (contract section 4). The transformation is domain/creative (the same calls as
// `kargo-dsp process-creative`); storage is store/creatives.
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "kargo/api/creative_processing.hpp"
#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/multipart.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/resource_cache.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
constexpr http::RouteOptions kEditor{.min_role = Role::kEditor};
constexpr http::RouteOptions kEditorUpload{.min_role = Role::kEditor, .multipart_upload = true};

std::string creative_id(const http::Request& req) {
  std::string id(req.param("id"));
  bool ok = id.size() == 16 && id.starts_with("crv_");
  for (size_t i = 4; ok && i < id.size(); ++i)
    ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
  if (!ok) throw Error(codes::kNotFound, "creative " + id + " not found");
  return id;
}

// A form field as the JSON value the config parser expects: numbers for duration, booleans for
// the flags, objects for viewability_config; anything unparsable is left as the string so that
// the validator names the field.
json form_value(std::string_view field, const std::string& text) {
  if (field == "duration") {
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && ptr == text.data() + text.size()) return v;
    return text;
  }
  if (field == "branded_canvas" || field == "cache_buster" || field == "amazon_macros" ||
      field == "click_tracking") {
    if (text == "true" || text == "1") return true;
    if (text == "false" || text == "0") return false;
    return text;
  }
  if (field == "viewability_config") {
    auto parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded()) return text;
    return parsed;
  }
  return text;
}

}  // namespace

void register_creative_routes(http::Router& router, AppContext& ctx) {
  // Multipart upload: the snippet comes with the request (no fetch); snippet_url = upload://<name>.
  router.add("POST", "/api/creatives", kEditorUpload, [&ctx](http::Request& req) {
    auto form = http::parse_multipart(req, {.max_parts = 32, .max_part_bytes = ctx.config.max_upload_bytes});
    Validator v;
    json config = json::object();
    for (const char* field :
         {"name", "format", "dimensions", "duration", "device_type", "vast_version", "viewability_config",
          "branded_canvas", "cache_buster", "amazon_macros", "click_tracking"}) {
      if (const auto* part = form.find(field)) config[field] = form_value(field, part->body);
    }
    if (config.contains("viewability_config") && config["viewability_config"].is_string()) {
      v.add("viewability_config", "must be a JSON object (sent as the text of the form field)");
      config.erase("viewability_config");
    }
    const auto* file = form.find("file");
    if (!file) v.add("file", "is required: the snippet file (HTML or VAST XML)");
    std::optional<std::string> campaign_id;
    if (const auto* c = form.find("campaign_id"); c && !c->body.empty()) campaign_id = c->body;
    if (!config.contains("name") && file && file->filename) config["name"] = *file->filename;
    std::optional<domain::CreativeConfig> parsed;
    try {
      parsed = domain::parse_creative_config(config);
    } catch (const Error& e) {
      for (const auto& d : e.details()) v.add(d.field, d.message);
    }
    v.check();
    std::string filename = file->filename.value_or("snippet");
    json fields = process_snippet(ctx, file->body, *parsed, "upload://" + filename, "file");
    auto doc = ctx.creatives.create(fields, req.principal->subject, campaign_id);
    if (campaign_id) ctx.campaign_cache.invalidate(*campaign_id);
    return http::ok_serialized(req, doc, 201, "creative processed");
  });

  // Uploads run as a job (job kind amazon_upload): the answer is its id.
  router.add("POST", "/api/creatives/upload/amazon-dsp", kEditor, [&ctx](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = true});
    if (ids && (ids->empty() || ids->size() > 500)) v.add("creative_ids", "must hold 1-500 creative ids");
    auto advertiser = v.string(
        "advertiser_id", {.required = true,
                          .min_length = 1,
                          .max_length = 64,
                          .accept =
                              [](std::string_view s) {
                                for (char c : s) {
                                  if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
                                    return false;
                                }
                                return true;
                              },
                          .accept_message = "must be 1-64 of A-Z, a-z, 0-9, _ or -"});
    v.check();
    if (!ctx.config.amazon_configured()) {
      throw Error(codes::kExternalApi, "Amazon DSP is not configured").with_status(503);
    }
    for (const auto& id : *ids) {
      if (!ctx.creatives.get(id)) throw Error(codes::kNotFound, "creative " + id + " not found");
    }
    auto job_id =
        ctx.jobs.enqueue(jobs::kAmazonUpload, {{"creative_ids", *ids}, {"advertiser_id", *advertiser}},
                         req.principal->subject, 5);
    ctx.job_runner.wake();
    return http::ok(req, {{"job_id", job_id}}, 202, "upload queued");
  });

  router.add("GET", "/api/creatives", kViewer, [&ctx](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    store::CreativeFilter f;
    if (auto c = req.query_param("campaign_id")) f.campaign_id = std::string(*c);
    if (auto format = req.query_param("format")) {
      if (*format == "display" || *format == "video" || *format == "audio") {
        f.media_type = std::string(*format);
      } else if (domain::parse_format(*format)) {
        f.format = std::string(*format);
      } else {
        v.add("format", "must be one of: runway, instream_video, enhanced_preroll, audio, display, video");
      }
    }
    if (auto s = req.query_param("status")) {
      if (*s != "processed" && *s != "failed" && *s != "uploaded" && *s != "approved" && *s != "rejected") {
        v.add("status", "must be one of: processed, failed, uploaded, approved, rejected");
      }
      f.status = std::string(*s);
    }
    v.check();
    auto result = ctx.creatives.list(f, page.limit, page.offset);
    return http::ok_serialized(
        req, http::list_data_serialized("creatives", result.items_json, result.total, page));
  });

  router.add("GET", "/api/creatives/{id}", kViewer, [&ctx](http::Request& req) {
    auto id = creative_id(req);
    auto doc = ctx.creatives.get(id);
    if (!doc) throw Error(codes::kNotFound, "creative " + id + " not found");
    return http::ok_serialized(req, *doc);
  });

  // The processed code itself, for a browser preview: sandboxed so that it runs no script with
  // this origin's rights.
  router.add("GET", "/api/creatives/{id}/preview", kViewer, [&ctx](http::Request& req) {
    auto id = creative_id(req);
    auto preview = ctx.creatives.preview(id);
    if (!preview) throw Error(codes::kNotFound, "creative " + id + " not found");
    http::Response res;
    res.content_type = preview->media_type == "display" ? "text/html; charset=utf-8" : "application/xml";
    res.body = std::move(preview->processed_code);
    res.header("Content-Security-Policy", "sandbox");
    return res;
  });

  router.add("DELETE", "/api/creatives/{id}", kEditor, [&ctx](http::Request& req) {
    auto id = creative_id(req);
    for (const auto& campaign : ctx.creatives.remove(id, req.principal->subject)) {
      ctx.campaign_cache.invalidate(campaign);
    }
    return http::ok(req, {{"id", id}, {"deleted", true}}, 200, "creative deleted");
  });
}

}  // namespace kargo::api
