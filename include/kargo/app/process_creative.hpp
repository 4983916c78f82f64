#pragma once
// `kargo-dsp process-creative`: the creative transformation of contract section 4 run offline on
// a local file or stdin, through the same parse_creative_config() and transform() calls as
// POST /api/creatives. Needs no database, network or SECRET_KEY; honours AMAZON_MACROS_FILE.
//
//   ProcessCreativeOptions o{.file = "snippet.xml", .format = "instream_video", .phase = "phase_1"};
//   o.duration = 30;
//   int rc = process_creative(o, process_environment(".env"), std::cin, std::cout, std::cerr);
//
// Exit codes: 0 done (processed_code, or with `json` one object, on `out`; warnings on `err`),
// 1 invalid creative (one "error: <field>: <message>" line per problem on `err`, the fields and
// messages of the 422 details), 2 bad arguments (unreadable file, bad AMAZON_MACROS_FILE).

#include <iosfwd>
#include <optional>
#include <string>

#include "kargo/core/config.hpp"

namespace kargo::app {

struct ProcessCreativeOptions {
  std::string file;                 // path, or "-" for stdin
  std::string format;               // creative_config.format
  std::string phase;                // viewability_config.phase
  std::optional<std::string> name;  // default: the file name without extension ("stdin" for -)
  std::optional<std::string> dimensions;
  std::optional<double> duration;
  std::optional<std::string> vast_version;
  std::optional<std::string> device_type;
  std::optional<std::string> dsp_seat_id;
  std::optional<std::string> pub_id;
  bool branded_canvas = false;
  bool no_macros = false;
  bool no_click_tracking = false;
  bool json = false;
};

int process_creative(const ProcessCreativeOptions& options, const EnvLookup& env, std::istream& in,
                     std::ostream& out, std::ostream& err);

}  // namespace kargo::app
