// libFuzzer target: transform() on arbitrary bytes as a VAST snippet (instream_video, phase_2, branded
// canvas). Any input must be processed or refused with kargo::Error; when processed, no IAS mention may
// remain and the same input must give the same bytes. Build and run: scripts/fuzz.sh (or KARGO_FUZZ=ON with
// clang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kargo/core/error.hpp"
#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/transform.hpp"

namespace {

const kargo::domain::CreativeConfig& config() {
  static const kargo::domain::CreativeConfig c = [] {
    kargo::domain::CreativeConfig c;
    c.name = "fuzz </script> ]]>";
    c.format = kargo::domain::CreativeFormat::kInstreamVideo;
    c.duration = 15;
    c.branded_canvas = true;
    c.viewability.phase = kargo::domain::ViewabilityPhase::kPhase2;
    c.viewability.vendors = {"ias", "double_verify"};
    c.viewability.method = "s2s_plus_native";
    c.viewability.dsp_seat_id = "seat";
    c.viewability.pub_id = "pub";
    c.dimensions = kargo::domain::Dimensions{300, 250};
    return c;
  }();
  return c;
}

bool mentions_ias(std::string_view s) {
  static constexpr std::string_view kNeedle = "adsafeprotected";
  for (size_t i = 0; i + kNeedle.size() <= s.size(); ++i) {
    size_t k = 0;
    while (k < kNeedle.size() && (s[i + k] | 0x20) == kNeedle[k]) ++k;
    if (k == kNeedle.size()) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view snippet(reinterpret_cast<const char*>(data), size);
  static const auto macros = kargo::domain::MacroTable::defaults();
  try {
    auto r = kargo::domain::transform(snippet, config(), macros);
    if (mentions_ias(r.processed_code)) std::abort();
    if (kargo::domain::transform(snippet, config(), macros).processed_code != r.processed_code) std::abort();
  } catch (const kargo::Error&) {
    // refused with a 422: fine
  }
  return 0;
}
