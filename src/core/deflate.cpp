#include "kargo/core/deflate.hpp"

#include <zlib.h>

#include <climits>
#include <stdexcept>

namespace kargo {

std::string deflate_compress(std::string_view data, int level, int window_bits) {
  if (data.size() > UINT_MAX) throw std::runtime_error("deflate: input too large");
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  // deflateBound: enough for the whole stream, wrapper included, in one deflate(Z_FINISH).
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));  // zlib only reads it
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

}  // namespace kargo
