#pragma once
// Compressing bytes in one call with zlib: the gzip copies of the API reference, the sandbox's
// report files, and the tests' compressed inputs. (Decoding, streamed and capped, is
// kargo/upstream/gzip.hpp.)
//
//   std::string gz = deflate_compress(json_text, kDeflateDefaultLevel);  // gzip
//   std::string z = deflate_compress(body, kDeflateBestLevel, kZlibWindow);

#include <string>
#include <string_view>

namespace kargo {

// zlib's compression levels.
inline constexpr int kDeflateFastestLevel = 1;
inline constexpr int kDeflateBestLevel = 9;
inline constexpr int kDeflateDefaultLevel = -1;

// zlib's window bits, which choose the wrapper.
inline constexpr int kGzipWindow = 15 + 16;  // gzip (RFC 1952)
inline constexpr int kZlibWindow = 15;       // zlib (RFC 1950)
inline constexpr int kRawDeflateWindow = -15;  // raw deflate (RFC 1951)

// `data` compressed at `level` with the wrapper `window_bits` selects. A gzip header carries no
// time or file name, so equal input gives equal bytes. Throws std::runtime_error when zlib fails
// or the input is 4 GiB or more.
std::string deflate_compress(std::string_view data, int level, int window_bits = kGzipWindow);

}  // namespace kargo
