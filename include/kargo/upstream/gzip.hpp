#pragma once
// Streaming gzip / zlib / raw-deflate decoding with a cap on the decoded size (zlib).
//
// HttpClient decodes `Content-Encoding: gzip|deflate` responses with it as the bytes arrive, so
// a gzip bomb fails as soon as the decoded size passes the cap, not after inflating it all.
// Callers use gunzip() for payloads that are gzip files rather than encoded responses (the
// Amazon report downloads are GZIP_JSON documents).
//
//   GzipDecoder decoder(GzipDecoder::Format::kAuto, 16u << 20);
//   std::string out;
//   for (auto chunk : chunks) {
//     if (auto st = decoder.feed(chunk, out); st != GzipDecoder::Status::kOk) ...;
//   }
//   if (decoder.finish() != GzipDecoder::Status::kOk) ...;  // truncated stream
//
//   auto rows = kargo::upstream::gunzip(body, 64u << 20);  // throws GzipError

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kargo::upstream {

class GzipDecoder {
 public:
  enum class Format {
    kAuto,     // gzip or zlib, detected from the header (Content-Encoding: gzip)
    kDeflate,  // zlib-wrapped, falling back to raw deflate (Content-Encoding: deflate in the wild)
  };
  enum class Status { kOk, kTooLarge, kCorrupt, kTruncated };

  GzipDecoder(Format format, std::size_t max_output);
  ~GzipDecoder();
  GzipDecoder(const GzipDecoder&) = delete;
  GzipDecoder& operator=(const GzipDecoder&) = delete;

  // Decodes `input` and appends to `out`. After anything but kOk the decoder is finished and
  // every further call returns the same status.
  Status feed(std::string_view input, std::string& out);
  // Call after the last input: kTruncated when the compressed stream did not end.
  Status finish();
  // Decoded bytes so far.
  std::size_t total_out() const { return total_out_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t max_output_;
  std::size_t total_out_ = 0;
  Status status_ = Status::kOk;
};

class GzipError : public std::runtime_error {
 public:
  GzipError(GzipDecoder::Status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  GzipDecoder::Status status() const noexcept { return status_; }

 private:
  GzipDecoder::Status status_;
};

// Whole-buffer gzip (or zlib) decoding; throws GzipError when corrupt, truncated or larger than
// `max_output` decoded bytes.
std::string gunzip(std::string_view data, std::size_t max_output);

}  // namespace kargo::upstream
