#include "kargo/app/process_creative.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "kargo/core/error.hpp"
#include "kargo/core/time.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/transform.hpp"

namespace kargo::app {
namespace {

// Reads at most kMaxSnippetBytes + 1 bytes: enough for transform() to report an oversized
// snippet without holding all of an endless input in memory.
std::string read_limited(std::istream& in) {
  std::string data(domain::kMaxSnippetBytes + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

// The creative_config the API would receive for these flags.
nlohmann::json config_json(const ProcessCreativeOptions& o) {
  nlohmann::json c = nlohmann::json::object();
  std::string name = o.name.value_or("");
  if (!o.name) {
    name = o.file == "-" ? "stdin" : std::filesystem::path(o.file).stem().string();
    if (name.empty()) name = "creative";
  }
  c["name"] = name;
  c["format"] = o.format;
  if (o.dimensions) c["dimensions"] = *o.dimensions;
  if (o.duration) c["duration"] = *o.duration;
  if (o.vast_version) c["vast_version"] = *o.vast_version;
  if (o.device_type) c["device_type"] = *o.device_type;
  c["branded_canvas"] = o.branded_canvas;
  c["amazon_macros"] = !o.no_macros;
  c["click_tracking"] = !o.no_click_tracking;
  nlohmann::json v = {{"phase", o.phase}};
  if (o.dsp_seat_id) v["dsp_seat_id"] = *o.dsp_seat_id;
  if (o.pub_id) v["pub_id"] = *o.pub_id;
  c["viewability_config"] = v;
  return c;
}

}  // namespace

int process_creative(const ProcessCreativeOptions& options, const EnvLookup& env, std::istream& in,
                     std::ostream& out, std::ostream& err) {
  domain::MacroTable macros = domain::MacroTable::defaults();
  try {
    if (auto file = env("AMAZON_MACROS_FILE"); file && !file->empty())
      macros = domain::MacroTable::load_file(*file);
  } catch (const ConfigError& e) {
    err << "configuration error: " << e.what() << "\n";
    return 2;
  }

  std::string snippet;
  if (options.file == "-") {
    snippet = read_limited(in);
  } else {
    std::ifstream file(options.file, std::ios::binary);
    if (!file) {
      err << "error: cannot read " << options.file << "\n";
      return 2;
    }
    snippet = read_limited(file);
  }

  try {
    auto config = domain::parse_creative_config(config_json(options));
    auto started = std::chrono::steady_clock::now();
    auto result = domain::transform(snippet, config, macros);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (options.json) {
      nlohmann::ordered_json doc;
      doc["processed_code"] = result.processed_code;
      doc["creative_type"] = result.creative_type;
      doc["amazon_dsp_ready"] = result.amazon_dsp_ready;
      doc["processing_metadata"] = domain::processing_metadata_json(
          result.metadata, ms, format_timestamp(std::chrono::system_clock::now()));
      out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      out << result.processed_code;
      if (result.processed_code.empty() || result.processed_code.back() != '\n') out << "\n";
      for (const auto& w : result.metadata.warnings) err << "warning: " << w << "\n";
    }
    out.flush();
    return out ? 0 : 2;
  } catch (const Error& e) {
    if (e.details().empty()) {
      err << "error: " << e.external_message() << "\n";
    } else {
      for (const auto& d : e.details()) err << "error: " << d.field << ": " << d.message << "\n";
    }
    return 1;
  }
}

}  // namespace kargo::app
