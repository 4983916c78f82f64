#include "kargo/upstream/gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace kargo::upstream {

namespace {
// Output is produced in slices of this size, so the cap is checked at least every 16 KiB of
// decoded data however well the input compresses.
constexpr std::size_t kSlice = 16 * 1024;
constexpr int kGzipOrZlib = 15 + 32;  // windowBits: detect gzip or zlib header
constexpr int kZlib = 15;
constexpr int kRawDeflate = -15;
}  // namespace

struct GzipDecoder::Impl {
  z_stream z{};
  bool initialised = false;
  bool ended = false;         // the last stream member ended (Z_STREAM_END)
  bool raw_fallback = false;  // kDeflate: still allowed to retry as raw deflate
  std::string consumed;       // kDeflate: input seen before the first output, for the fallback

  bool init(int window_bits) {
    if (initialised) inflateEnd(&z);
    z = z_stream{};
    initialised = inflateInit2(&z, window_bits) == Z_OK;
    return initialised;
  }
  ~Impl() {
    if (initialised) inflateEnd(&z);
  }
};

GzipDecoder::GzipDecoder(Format format, std::size_t max_output)
    : impl_(std::make_unique<Impl>()), max_output_(max_output) {
  if (format == Format::kDeflate) {
    impl_->raw_fallback = true;
    if (!impl_->init(kZlib)) status_ = Status::kCorrupt;
  } else if (!impl_->init(kGzipOrZlib)) {
    status_ = Status::kCorrupt;
  }
}

GzipDecoder::~GzipDecoder() = default;

GzipDecoder::Status GzipDecoder::feed(std::string_view input, std::string& out) {
  if (status_ != Status::kOk) return status_;
  auto& im = *impl_;
  if (im.raw_fallback) im.consumed.append(input);
  while (!input.empty()) {
    if (im.ended) {
      // Another gzip member follows (gzip allows concatenation); anything else is garbage.
      if (input.size() >= 2 && static_cast<unsigned char>(input[0]) == 0x1f &&
          static_cast<unsigned char>(input[1]) == 0x8b && inflateReset(&im.z) == Z_OK) {
        im.ended = false;
      } else {
        return status_ = Status::kCorrupt;
      }
    }
    im.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    im.z.avail_in = static_cast<uInt>(std::min<std::size_t>(input.size(), UINT_MAX));
    std::size_t offered = im.z.avail_in;
    do {
      // Inflated into a small buffer, then appended: resizing `out` by a slice first would
      // zero-fill memory that inflate overwrites at once.
      char slice[kSlice];
      im.z.next_out = reinterpret_cast<Bytef*>(slice);
      im.z.avail_out = static_cast<uInt>(kSlice);
      int rc = inflate(&im.z, Z_NO_FLUSH);
      std::size_t produced = kSlice - im.z.avail_out;
      out.append(slice, produced);
      total_out_ += produced;
      if (rc == Z_DATA_ERROR && im.raw_fallback && total_out_ == 0) {
        // "deflate" that is really raw deflate (no zlib header): start over in raw mode.
        im.raw_fallback = false;
        std::string replay = std::move(im.consumed);
        if (!im.init(kRawDeflate)) return status_ = Status::kCorrupt;
        return feed(replay, out);
      }
      if (rc == Z_STREAM_END) {
        im.ended = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return status_ = Status::kCorrupt;
      }
      if (total_out_ > max_output_) return status_ = Status::kTooLarge;
      if (produced > 0 && im.raw_fallback) {
        im.raw_fallback = false;
        im.consumed.clear();
        im.consumed.shrink_to_fit();
      }
      if (rc == Z_BUF_ERROR && im.z.avail_in > 0 && im.z.avail_out > 0) return status_ = Status::kCorrupt;
    } while (!im.ended && (im.z.avail_in > 0 || im.z.avail_out == 0));
    std::size_t used = offered - im.z.avail_in;
    input.remove_prefix(used);
  }
  return status_;
}

GzipDecoder::Status GzipDecoder::finish() {
  if (status_ != Status::kOk) return status_;
  if (!impl_->ended) status_ = Status::kTruncated;
  return status_;
}

std::string gunzip(std::string_view data, std::size_t max_output) {
  GzipDecoder decoder(GzipDecoder::Format::kAuto, max_output);
  std::string out;
  // A gzip file ends with its uncompressed size (mod 2^32, of the last member): reserved up to
  // the cap, the output grows without being copied over and over. Only a hint: a lying trailer
  // costs a reallocation, never a wrong answer.
  if (data.size() >= 18 && static_cast<unsigned char>(data[0]) == 0x1f &&
      static_cast<unsigned char>(data[1]) == 0x8b) {
    const auto* tail = reinterpret_cast<const unsigned char*>(data.data() + data.size() - 4);
    std::size_t size = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (std::size_t{tail[3]} << 24);
    out.reserve(std::min(size, max_output));
  }
  auto status = decoder.feed(data, out);
  if (status == GzipDecoder::Status::kOk) status = decoder.finish();
  switch (status) {
    case GzipDecoder::Status::kOk:
      return out;
    case GzipDecoder::Status::kTooLarge:
      throw GzipError(status, "decompressed data exceeds " + std::to_string(max_output) + " bytes");
    case GzipDecoder::Status::kTruncated:
      throw GzipError(status, "compressed data is truncated");
    case GzipDecoder::Status::kCorrupt:
      break;
  }
  throw GzipError(GzipDecoder::Status::kCorrupt, "compressed data is corrupt");
}

}  // namespace kargo::upstream
