// libFuzzer target: the multipart/form-data parser on arbitrary bytes. Any input must parse or be
// refused with kargo::Error (400), within the limits, and every part found must be inside the
// input. Build and run: scripts/fuzz.sh (or KARGO_FUZZ=ON with clang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kargo/core/error.hpp"
#include "kargo/http/multipart.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first line is the boundary, the rest the body, so the fuzzer can find both.
  size_t eol = input.find('\n');
  std::string_view boundary = input.substr(0, eol == std::string_view::npos ? 0 : eol);
  std::string_view body = eol == std::string_view::npos ? input : input.substr(eol + 1);
  kargo::http::MultipartLimits limits{.max_parts = 8, .max_part_bytes = 4096, .max_header_bytes = 512};
  try {
    auto form = kargo::http::parse_multipart_body(body, boundary, limits);
    if (form.parts.size() > limits.max_parts) std::abort();
    for (const auto& p : form.parts) {
      if (p.body.size() > limits.max_part_bytes || p.body.size() > body.size() || p.name.empty())
        std::abort();
    }
  } catch (const kargo::Error& e) {
    if (e.http_status() != 400) std::abort();
  }
  return 0;
}
