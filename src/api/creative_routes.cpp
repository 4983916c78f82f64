// /api/creatives (contract section 4). The use cases are service/creatives (the transformation is
// domain/creative, the same calls as `kargo-dsp process-creative`); storage is store/creatives.
#include <charconv>
#include <nlohmann/json.hpp>

#include "async.hpp"
#include "kargo/api/routes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/multipart.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/creatives.hpp"
#include "route_options.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

// POST /api/creatives/process creates with a creative_config: a retried call must not create twice.
constexpr http::RouteOptions kEditorAsyncCreate{
    .min_role = Role::kEditor, .execution = http::Execution::kAsync, .idempotent_create = true};
constexpr http::RouteOptions kCreativeUpload{
    .min_role = Role::kEditor, .idempotent_create = true, .multipart_upload = true};

std::string creative_id(const http::Request& req) {
  std::string id(req.param("id"));
  service::require_creative_id(id);
  return id;
}

// The upload form as the creative_config JSON the parser expects: numbers for duration, booleans
// for the flags (http::form_boolean), objects for viewability_config. A blank field is absent,
// as if the form had not sent it (so a blank name falls back to the file name); anything
// unparsable stays a string so that the validator names the field.
json form_config(const http::Form& form) {
  json config = json::object();
  for (std::string_view field :
       {"name", "format", "dimensions", "duration", "device_type", "vast_version", "viewability_config",
        "branded_canvas", "cache_buster", "amazon_macros", "click_tracking"}) {
    const std::string* text = form.filled(field);
    if (!text) continue;
    json& value = config[std::string(field)] = *text;
    if (field == "duration") {
      double v = 0;
      auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
      if (ec == std::errc() && ptr == text->data() + text->size()) value = v;
    } else if (field == "viewability_config") {
      // JSON text inside a form field: the same text rule as a JSON body (a "\u0000" escape is a
      // NUL once parsed), named under the field.
      auto parsed = json::parse(*text, nullptr, false);
      if (!parsed.is_discarded()) {
        auto problems = http::json_text_problems(parsed);
        if (!problems.empty()) {
          for (auto& p : problems) p.field = "viewability_config." + p.field;
          throw Error::validation(std::move(problems));
        }
        value = std::move(parsed);
      }
    } else if (field == "branded_canvas" || field == "cache_buster" || field == "amazon_macros" ||
               field == "click_tracking") {
      if (auto flag = http::form_boolean(*text)) value = *flag;
    }
  }
  const auto* file = form.find("file");
  if (!config.contains("name") && file && file->filename) config["name"] = *file->filename;
  return config;
}

}  // namespace

void CreativeRoutes::add_to(http::Router& router) {
  auto& creatives = creatives_;

  // Multipart upload: the snippet comes with the request (no fetch); snippet_url = upload://<name>.
  router.add("POST", "/api/creatives", kCreativeUpload, [this, &creatives](http::Request& req) {
    auto form = http::parse_multipart(req, {.max_parts = 32, .max_part_bytes = max_upload_bytes_});
    std::optional<service::UploadedFile> file;
    if (const auto* part = form.find("file")) file = service::UploadedFile{part->filename, part->body};
    std::optional<std::string> campaign_id;
    if (const auto* c = form.filled("campaign_id")) campaign_id = *c;
    auto render = [&req](const std::string& resource) {
      req.idempotency_recorded = true;
      auto res = http::ok_serialized(req, resource, 201, "creative processed");
      return StoredAnswer{res.status, res.body};
    };
    auto doc = creatives.create_uploaded(form_config(form), file, campaign_id, req.principal->subject,
                                         req.idempotency, render);
    return http::ok_serialized(req, doc, 201, "creative processed");
  });

  // From Kargo: one creative_config (fetch, transform, store: 201), or creative_ids (re-fetch and
  // re-process each: 200 {results, failed}; one failure never stops the others). Asynchronous: the
  // fetch runs on the Kargo client's I/O, only the store step on the database pool.
  router.add_async("POST", "/api/creatives/process", kEditorAsyncCreate,
                   [&creatives](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     auto body = http::json_body(req);
                     if (body.contains("creative_ids")) {
                       return creatives.reprocess(body, call_of(req), answer_with<json>(reply, [&req](const json& r) {
                                                    return http::ok(req, r);
                                                  }));
                     }
                     auto render = [&req, reply](const std::string& resource) {
                       req.idempotency_recorded = true;
                       auto res = http::ok_serialized(req, resource, 201, "creative processed");
                       return StoredAnswer{res.status, res.body};
                     };
                     creatives.process(body, call_of(req), req.idempotency, render,
                                       answer_with<std::string>(reply, [&req](const std::string& doc) {
                                         return http::ok_serialized(req, doc, 201, "creative processed");
                                       }));
                   });

  // Up to 500 configs: snippets fetched a few at a time, each item processed on its own.
  router.add_async("POST", "/api/creatives/process/bulk", kEditorAsync,
                   [&creatives](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
                     creatives.process_bulk(http::json_body(req), call_of(req),
                                            answer_with<json>(reply, [&req](const json& r) { return http::ok(req, r); }));
                   });

  // Uploads run as a job (job kind amazon_upload): the answer is its id.
  router.add("POST", "/api/creatives/upload/amazon-dsp", kEditor, [&creatives](http::Request& req) {
    auto job_id = creatives.enqueue_upload(http::json_body(req), req.principal->subject);
    return http::ok(req, {{"job_id", job_id}}, 202, "upload queued");
  });

  // Pages are cached in Redis like campaign pages (a hit is one async round trip on the I/O
  // thread); every creative write and association change retires them.
  router.add_async("GET", "/api/creatives", kViewerAsync,
                   [&creatives](http::Request& req, std::shared_ptr<http::AsyncReply> reply) {
    Validator v;
    auto page = http::pagination(req, v);
    service::CreativeQuery query{.limit = page.limit, .offset = page.offset};
    store::CreativeFilter& f = query.filter;
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
    creatives.cached_page(query, [&req, &creatives, reply, query](service::Cached hit) {
      if (hit.value) return reply->respond(http::ok_serialized(req, *hit.value));
      reply->blocking([&req, &creatives, query, generation = std::move(hit.generation)] {
        return http::ok_serialized(req, creatives.page(query, generation));
      });
    });
  });

  router.add("GET", "/api/creatives/{id}", kViewer,
             [&creatives](http::Request& req) { return http::ok_serialized(req, creatives.get(creative_id(req))); });

  // The processed code itself, for a browser preview: sandboxed so that it runs no script with
  // this origin's rights, and frameable by this origin only (the Kargo UI's preview iframe;
  // docs/DECISIONS.md) where every other answer is X-Frame-Options: DENY.
  router.add("GET", "/api/creatives/{id}/preview", kViewer, [&creatives](http::Request& req) {
    auto preview = creatives.preview(creative_id(req));
    http::Response res;
    res.content_type = preview.media_type == "display" ? "text/html; charset=utf-8" : "application/xml";
    res.body = std::move(preview.processed_code);
    res.header("Content-Security-Policy", "sandbox");
    res.framing = http::Response::Framing::kSameOrigin;
    return res;
  });

  router.add("DELETE", "/api/creatives/{id}", kEditor, [&creatives](http::Request& req) {
    auto id = creative_id(req);
    creatives.remove(id, req.principal->subject);
    return http::ok(req, {{"id", id}, {"deleted", true}}, 200, "creative deleted");
  });
}

}  // namespace kargo::api
