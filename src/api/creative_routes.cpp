// /api/creatives (contract section 4). The transformation is domain/creative (the same calls as
// `kargo-dsp process-creative`); storage is store/creatives.
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "kargo/api/creative_processing.hpp"
#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/digest.hpp"
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
#include "kargo/upstream/kargo_client.hpp"

namespace kargo::api {
namespace {

using nlohmann::json;

constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
constexpr http::RouteOptions kEditor{.min_role = Role::kEditor};
constexpr http::RouteOptions kEditorUpload{
    .min_role = Role::kEditor, .idempotent_create = true, .multipart_upload = true};

std::string creative_id(const http::Request& req) {
  std::string id(req.param("id"));
  if (!is_resource_id(id, "crv_")) throw Error(codes::kNotFound, "creative " + id + " not found");
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
      auto parsed = json::parse(*text, nullptr, false);
      if (!parsed.is_discarded()) value = std::move(parsed);
    } else if (field == "branded_canvas" || field == "cache_buster" || field == "amazon_macros" ||
               field == "click_tracking") {
      if (auto flag = http::form_boolean(*text)) value = *flag;
    }
  }
  const auto* file = form.find("file");
  if (!config.contains("name") && file && file->filename) config["name"] = *file->filename;
  return config;
}

// The fetched snippet. Errors keep the Kargo client's fields (snippet_url for a refused host,
// a 404 or an oversized snippet) under the route's prefix.
upstream::Snippet fetch(AppContext& ctx, const std::string& url) {
  try {
    return ctx.kargo.fetch_snippet(url);
  } catch (const Error& e) {
    if (e.details().empty()) throw;
    std::vector<FieldError> details;
    for (const auto& d : e.details()) {
      details.push_back({d.field == "snippet_url" ? "creative_config.snippet_url" : d.field, d.message});
    }
    throw Error::validation(std::move(details));
  }
}

json field_errors_json(const Error& e) {
  json out = json::array();
  for (const auto& d : e.details()) out.push_back({{"field", d.field}, {"message", d.message}});
  return out;
}

// Re-fetches (or, for uploaded files, re-reads the stored original) and re-processes one creative.
std::string reprocess(AppContext& ctx, const std::string& id, const std::string& actor) {
  auto stored = ctx.creatives.config_of(id);
  if (!stored) throw Error(codes::kNotFound, "creative " + id + " not found");
  std::string url = stored->value("snippet_url", "");
  bool uploaded = url.starts_with("upload://");
  json config = *stored;
  config.erase("original_snippet");
  if (uploaded) config.erase("snippet_url");
  auto parsed = domain::parse_creative_config(
      config, {.snippet_hosts = uploaded ? nullptr : &ctx.config.kargo_snippet_hosts});
  std::string snippet = uploaded ? stored->value("original_snippet", "") : ctx.kargo.fetch_snippet(url).body;
  auto fields = process_snippet(ctx, snippet, parsed, url, "snippet");
  return ctx.creatives.reprocessed(id, fields, actor);
}

struct BulkOutcome {
  json results = json::array();
  json failed_items = json::array();
  std::vector<std::string> created_ids;
};

// Validates every config first, fetches the snippets of the valid ones with at most
// kBulkFetches in flight (async calls on the upstream client), then transforms and stores each.
constexpr size_t kBulkFetches = 8;

BulkOutcome process_bulk(AppContext& ctx, const json& configs, const std::string& actor) {
  struct Item {
    std::string name;
    std::optional<domain::CreativeConfig> config;
    std::optional<upstream::SnippetResult> snippet;
    std::optional<Error> error;
  };
  std::vector<Item> items(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    items[i].name = configs[i].is_object() ? configs[i].value("name", "") : "";
    try {
      items[i].config =
          domain::parse_creative_config(configs[i], {.prefix = "creative_configs[" + std::to_string(i) + "].",
                                                     .snippet_hosts = &ctx.config.kargo_snippet_hosts});
    } catch (const Error& e) {
      items[i].error = e;
    }
  }
  std::mutex m;
  std::condition_variable cv;
  size_t in_flight = 0;
  for (auto& item : items) {
    if (!item.config) continue;
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_flight < kBulkFetches; });
    ++in_flight;
    lock.unlock();
    ctx.kargo.fetch_snippet(*item.config->snippet_url,
                            [&m, &cv, &in_flight, &item](upstream::SnippetResult r) {
                              std::lock_guard guard(m);
                              item.snippet = std::move(r);
                              --in_flight;
                              cv.notify_all();
                            });
  }
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  BulkOutcome out;
  for (auto& item : items) {
    if (item.config && item.snippet) {
      try {
        if (auto* err = std::get_if<Error>(&*item.snippet)) throw *err;
        const auto& snippet = std::get<upstream::Snippet>(*item.snippet);
        auto fields = process_snippet(ctx, snippet.body, *item.config, *item.config->snippet_url, "snippet");
        auto doc = json::parse(ctx.creatives.create(fields, actor));
        out.created_ids.push_back(doc["id"]);
        out.results.push_back(std::move(doc));
        continue;
      } catch (const Error& e) {
        item.error = e;
      }
    }
    json failed = {{"creative_name", item.name},
                   {"error", item.error ? item.error->external_message() : "not processed"}};
    if (item.error && !item.error->details().empty()) failed["details"] = field_errors_json(*item.error);
    out.failed_items.push_back(std::move(failed));
  }
  return out;
}

}  // namespace

void register_creative_routes(http::Router& router, AppContext& ctx) {
  // Multipart upload: the snippet comes with the request (no fetch); snippet_url = upload://<name>.
  router.add("POST", "/api/creatives", kEditorUpload, [&ctx](http::Request& req) {
    auto form = http::parse_multipart(req, {.max_parts = 32, .max_part_bytes = ctx.config.max_upload_bytes});
    Validator v;
    json config = form_config(form);
    const auto* file = form.find("file");
    if (!file) v.add("file", "is required: the snippet file (HTML or VAST XML)");
    std::optional<std::string> campaign_id;
    if (const auto* c = form.filled("campaign_id")) campaign_id = *c;
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

  // From Kargo: one creative_config (fetch, transform, store: 201), or creative_ids (re-fetch and
  // re-process each: 200 {results, failed}; one failure never stops the others).
  router.add("POST", "/api/creatives/process", kEditor, [&ctx](http::Request& req) {
    auto body = http::json_body(req);
    if (body.contains("creative_ids")) {
      Validator v(body);
      auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = true});
      if (ids && (ids->empty() || ids->size() > 100)) v.add("creative_ids", "must hold 1-100 creative ids");
      v.check();
      json results = json::array(), failed = json::array();
      for (const auto& id : *ids) {
        try {
          results.push_back(json::parse(reprocess(ctx, id, req.principal->subject)));
        } catch (const Error& e) {
          json item = {{"creative_id", id}, {"error", e.external_message()}, {"code", e.code().name}};
          if (!e.details().empty()) item["details"] = field_errors_json(e);
          failed.push_back(std::move(item));
        }
      }
      return http::ok(req, {{"results", results}, {"failed", failed}});
    }
    Validator v(body);
    const json* config = v.object("creative_config", {.required = true});
    v.check();
    auto parsed = domain::parse_creative_config(
        *config, {.prefix = "creative_config.", .snippet_hosts = &ctx.config.kargo_snippet_hosts});
    auto snippet = fetch(ctx, *parsed.snippet_url);
    auto fields = process_snippet(ctx, snippet.body, parsed, *parsed.snippet_url, "snippet");
    auto doc = ctx.creatives.create(fields, req.principal->subject);
    return http::ok_serialized(req, doc, 201, "creative processed");
  });

  // Up to 500 configs: snippets fetched a few at a time, each item processed on its own.
  router.add("POST", "/api/creatives/process/bulk", kEditor, [&ctx](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    const json* configs = v.array("creative_configs", {.required = true});
    if (configs && (configs->empty() || configs->size() > 500)) {
      v.add("creative_configs", "must hold 1-500 creative configs");
    }
    auto advertiser = v.string("advertiser_id", {.min_length = 1, .max_length = 64});
    bool upload = v.boolean("upload_to_amazon").value_or(false);
    if (upload && !advertiser) v.add("advertiser_id", "is required when upload_to_amazon is true");
    v.check();
    auto outcome = process_bulk(ctx, *configs, req.principal->subject);
    json response = {{"total_processed", configs->size()},
                     {"successful", outcome.results.size()},
                     {"failed", outcome.failed_items.size()},
                     {"results", outcome.results},
                     {"failed_items", outcome.failed_items}};
    if (upload && !outcome.created_ids.empty()) {
      if (!ctx.config.amazon_configured()) {
        response["upload_error"] = "Amazon DSP is not configured";
      } else {
        response["upload_job_id"] = ctx.jobs.enqueue(
            jobs::kAmazonUpload, {{"creative_ids", outcome.created_ids}, {"advertiser_id", *advertiser}},
            req.principal->subject, 5);
        ctx.job_runner.wake();
      }
    }
    return http::ok(req, response);
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
  // this origin's rights, and frameable by this origin only (the Kargo UI's preview iframe;
  // docs/DECISIONS.md) where every other answer is X-Frame-Options: DENY.
  router.add("GET", "/api/creatives/{id}/preview", kViewer, [&ctx](http::Request& req) {
    auto id = creative_id(req);
    auto preview = ctx.creatives.preview(id);
    if (!preview) throw Error(codes::kNotFound, "creative " + id + " not found");
    http::Response res;
    res.content_type = preview->media_type == "display" ? "text/html; charset=utf-8" : "application/xml";
    res.body = std::move(preview->processed_code);
    res.header("Content-Security-Policy", "sandbox");
    res.framing = http::Response::Framing::kSameOrigin;
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
