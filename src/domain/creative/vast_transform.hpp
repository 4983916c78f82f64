#pragma once
// The VAST half of transform(): parses the source with pugixml, removes IAS nodes, maps macros
// and adds what Amazon DSP needs, each added element where the IAB schema of the source's VAST
// version puts it (see vast_schema.cpp and docs/CREATIVES.md).
//
//   auto v = detail::transform_vast(xml, config, MacroTable::defaults());
//   // v.xml, v.version == "4.2", v.removed, v.added, v.warnings
//
// Internal to src/domain/creative.

#include <string>
#include <string_view>
#include <vector>

#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/macros.hpp"

namespace kargo::domain::detail {

inline constexpr size_t kMaxXmlDepth = 64;  // VAST needs about 12; deeper input is refused

struct VastOutcome {
  std::string xml;
  std::string version;  // normalised: "2.0", "3.0", "4.0", "4.1" or "4.2"
  std::vector<std::string> removed;
  std::vector<std::string> added;
  std::vector<std::string> warnings;
  bool source_has_dv = false;  // a DoubleVerify URL in the source after IAS removal
};

// Throws kargo::Error (422 on field "snippet").
VastOutcome transform_vast(std::string_view snippet, const CreativeConfig& config, const MacroTable& macros);

}  // namespace kargo::domain::detail
