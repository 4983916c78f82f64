// /docs: the API reference. docs/openapi.yaml is embedded at build time; /docs renders it as a
// self-contained HTML page on the server (no CDN, no JavaScript: the service runs on networks
// without internet access), /docs/openapi.yaml and /docs/openapi.json serve the document.
#include <yaml-cpp/yaml.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "kargo/api/routes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/router.hpp"

namespace kargo::api {

std::string_view openapi_yaml();  // generated from docs/openapi.yaml

namespace {

constexpr http::RouteOptions kPublic{.authenticated = false, .execution = http::Execution::kInline};

nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted in the source: always a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      bool numeric = !s.empty() && s.find_first_not_of("0123456789-+.eE") == std::string::npos &&
                     s.find_first_of("0123456789") != std::string::npos;
      if (numeric) {
        auto parsed = nlohmann::json::parse(s, nullptr, false);
        if (!parsed.is_discarded() && parsed.is_number()) return parsed;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string text(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string schema_label(const nlohmann::json& s) {
  if (!s.is_object()) return "";
  if (s.contains("$ref") && s["$ref"].is_string()) {
    auto ref = s["$ref"].get<std::string>();
    auto name = ref.substr(ref.rfind('/') + 1);
    return "<a href=\"#schema-" + escape(name) + "\">" + escape(name) + "</a>";
  }
  std::string type = text(s, "type");
  if (type == "array" && s.contains("items")) return "array of " + schema_label(s["items"]);
  if (s.contains("enum")) return escape(type + " " + s["enum"].dump());
  return escape(type);
}

std::string render_html(const nlohmann::json& doc) {
  std::string h;
  const auto& info = doc.contains("info") ? doc["info"] : nlohmann::json::object();
  h += "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + escape(text(info, "title")) +
       " API</title><style>body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em "
       "auto;padding:0 1em}"
       "code,pre{font-family:ui-monospace,monospace}.op{border:1px solid #ddd;border-radius:6px;margin:1em 0;"
       "padding:.6em 1em}.m{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}"
       ".get{color:#0a7}.post{color:#07c}.put{color:#a60}.delete{color:#c22}.patch{color:#a0a}"
       "table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2em .6em;text-align:left;"
       "vertical-align:top}</style></head><body>";
  h += "<h1>" + escape(text(info, "title")) + " <small>" + escape(text(info, "version")) + "</small></h1>";
  h += "<p>" + escape(text(info, "description")) + "</p>";
  h += "<p>Machine-readable: <a href=\"/docs/openapi.yaml\">openapi.yaml</a> · "
       "<a href=\"/docs/openapi.json\">openapi.json</a></p>";
  if (doc.contains("paths") && doc["paths"].is_object()) {
    for (const auto& [path, item] : doc["paths"].items()) {
      if (!item.is_object()) continue;
      for (const auto& [method, op] : item.items()) {
        static const std::set<std::string> kMethods{"get",    "post",    "put", "patch",
                                                    "delete", "options", "head"};
        if (!kMethods.count(method)) continue;
        h += "<div class=\"op\"><span class=\"m " + method + "\">" + escape(method) + "</span> <code>" +
             escape(path) + "</code> — " + escape(text(op, "summary"));
        if (auto d = text(op, "description"); !d.empty()) h += "<p>" + escape(d) + "</p>";
        if (op.contains("parameters") && op["parameters"].is_array() && !op["parameters"].empty()) {
          h += "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>";
          for (const auto& p : op["parameters"]) {
            if (p.contains("$ref")) {
              h += "<tr><td colspan=4>" + schema_label(p) + "</td></tr>";
              continue;
            }
            h += "<tr><td><code>" + escape(text(p, "name")) + "</code>" +
                 (p.value("required", false) ? " *" : "") + "</td><td>" + escape(text(p, "in")) +
                 "</td><td>" + schema_label(p.value("schema", nlohmann::json::object())) + "</td><td>" +
                 escape(text(p, "description")) + "</td></tr>";
          }
          h += "</table>";
        }
        if (op.contains("requestBody") && op["requestBody"].contains("content")) {
          for (const auto& [type, media] : op["requestBody"]["content"].items()) {
            h += "<p>Body <code>" + escape(type) +
                 "</code>: " + schema_label(media.value("schema", nlohmann::json::object())) + "</p>";
          }
        }
        if (op.contains("responses") && op["responses"].is_object()) {
          h += "<table><tr><th>status</th><th>meaning</th></tr>";
          for (const auto& [status, resp] : op["responses"].items()) {
            std::string desc = resp.contains("$ref") ? schema_label(resp) : escape(text(resp, "description"));
            h += "<tr><td>" + escape(status) + "</td><td>" + desc + "</td></tr>";
          }
          h += "</table>";
        }
        h += "</div>";
      }
    }
  }
  if (doc.contains("components") && doc["components"].contains("schemas")) {
    h += "<h2>Schemas</h2>";
    for (const auto& [name, schema] : doc["components"]["schemas"].items()) {
      h += "<h3 id=\"schema-" + escape(name) + "\">" + escape(name) + "</h3><pre>" + escape(schema.dump(2)) +
           "</pre>";
    }
  }
  h += "</body></html>";
  return h;
}

struct RenderedDocs {
  std::string json;
  std::string html;
};

const RenderedDocs& docs() {
  static std::once_flag once;
  static RenderedDocs rendered;
  std::call_once(once, [] {
    try {
      auto doc = to_json(YAML::Load(std::string(openapi_yaml())));
      rendered.json = doc.dump(2);
      rendered.html = render_html(doc);
    } catch (const std::exception& e) {
      log::error("docs/openapi.yaml does not parse", {{"error", e.what()}});
      rendered.json = "{}";
      rendered.html = "<!doctype html><p>API reference unavailable: openapi.yaml does not parse.</p>";
    }
  });
  return rendered;
}

}  // namespace

void DocsRoutes::add_to(http::Router& router) {
  router.add("GET", "/", kPublic, [](http::Request&) {
    return http::plain_json({{"name", "kargo-amazon-dsp-integration"},
                             {"version", KARGO_VERSION},
                             {"docs", "/docs"},
                             {"health", "/health"}});
  });

  router.add("GET", "/docs", kPublic, [](http::Request&) {
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = docs().html;
    return r;
  });
  router.add("GET", "/docs/openapi.yaml", kPublic, [](http::Request&) {
    http::Response r;
    r.content_type = "application/yaml";
    r.body = std::string(openapi_yaml());
    return r;
  });
  router.add("GET", "/docs/openapi.json", kPublic, [](http::Request&) {
    http::Response r;
    r.body = docs().json;
    return r;
  });
}

}  // namespace kargo::api
