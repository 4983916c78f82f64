#include "creative_support.hpp"

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace kargo::creative_test {
namespace {

struct Schema {
  xmlSchemaPtr schema = nullptr;
};

void collect_error(void* ctx, xmlErrorPtr error) {
  auto* out = static_cast<std::string*>(ctx);
  if (out->size() < 2000 && error && error->message) {
    *out += "line " + std::to_string(error->line) + ": " + error->message;
  }
}

// Parsed once per version and kept for the life of the test binary.
xmlSchemaPtr schema_for(const std::string& version) {
  static std::mutex mutex;
  static std::map<std::string, Schema> schemas;
  std::lock_guard lock(mutex);
  auto& s = schemas[version];
  if (!s.schema) {
    std::string file =
        repo_path("fixtures/vast-xsd/vast_" + (version == "2.0" ? std::string("2.0.1") : version) + ".xsd");
    xmlSchemaParserCtxtPtr ctx = xmlSchemaNewParserCtxt(file.c_str());
    s.schema = xmlSchemaParse(ctx);
    xmlSchemaFreeParserCtxt(ctx);
    if (!s.schema) throw std::runtime_error("cannot parse " + file);
  }
  return s.schema;
}

}  // namespace

std::string repo_path(std::string_view relative) {
  return std::string(KARGO_SOURCE_DIR) + "/" + std::string(relative);
}

std::string read_repo_file(std::string_view relative) {
  std::ifstream in(repo_path(relative), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + repo_path(relative));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_repo_file(std::string_view relative, std::string_view content) {
  std::ofstream out(repo_path(relative), std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + repo_path(relative));
}

nlohmann::json creative_config_json(const std::string& format, const std::string& phase,
                                    const nlohmann::json& overrides) {
  nlohmann::json c = {
      {"name", "Test creative"}, {"format", format}, {"viewability_config", {{"phase", phase}}}};
  if (format == "runway") c["dimensions"] = "320x50";
  if (format == "instream_video" || format == "enhanced_preroll") {
    c["dimensions"] = "1280x720";
    c["duration"] = 15;
  }
  if (format == "audio") c["duration"] = 20;
  if (phase == "phase_2") {
    c["viewability_config"]["dsp_seat_id"] = "seat-1";
    c["viewability_config"]["pub_id"] = "pub-1";
  }
  for (const auto& [key, value] : overrides.items()) {
    if (value.is_null()) {
      c.erase(key);
    } else {
      c[key] = value;
    }
  }
  return c;
}

domain::CreativeConfig creative_config(const std::string& format, const std::string& phase,
                                       const nlohmann::json& overrides) {
  return domain::parse_creative_config(creative_config_json(format, phase, overrides));
}

std::string vast_schema_errors(const std::string& xml, const std::string& version) {
  xmlSchemaPtr schema = schema_for(version);
  std::string errors;
  xmlDocPtr doc =
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "processed.xml", nullptr, XML_PARSE_NONET);
  if (!doc) return "not well-formed XML";
  xmlSchemaValidCtxtPtr ctx = xmlSchemaNewValidCtxt(schema);
  xmlSchemaSetValidStructuredErrors(ctx, collect_error, &errors);
  int rc = xmlSchemaValidateDoc(ctx, doc);
  xmlSchemaFreeValidCtxt(ctx);
  xmlFreeDoc(doc);
  if (rc != 0 && errors.empty()) errors = "invalid (libxml2 code " + std::to_string(rc) + ")";
  return errors;
}

std::string vast_version_of(const std::string& xml) {
  auto p = xml.find("<VAST");
  if (p == std::string::npos) return "";
  auto v = xml.find("version=\"", p);
  if (v == std::string::npos) return "";
  auto end = xml.find('"', v + 9);
  return xml.substr(v + 9, end - v - 9);
}

size_t count_ci(std::string_view haystack, std::string_view needle) {
  std::string lower(haystack);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t n = 0;
  for (size_t p = lower.find(needle); p != std::string::npos; p = lower.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace kargo::creative_test
