#include <gtest/gtest.h>

#include <stdexcept>

#include "kargo/core/deflate.hpp"
#include "kargo/upstream/gzip.hpp"

using namespace kargo::upstream;

namespace {

// window_bits: kGzipWindow, kZlibWindow or kRawDeflateWindow.
std::string compress(std::string_view data, int window_bits = kargo::kGzipWindow) {
  return kargo::deflate_compress(data, kargo::kDeflateBestLevel, window_bits);
}

std::string text(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i)
    s += "row " + std::to_string(i) + " impressions=" + std::to_string(i * 7) + "\n";
  s.resize(n);
  return s;
}

}  // namespace

TEST(GzipDecoder, DecodesGzip) {
  auto original = text(100000);
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed(compress(original), out), GzipDecoder::Status::kOk);
  EXPECT_EQ(d.finish(), GzipDecoder::Status::kOk);
  EXPECT_EQ(out, original);
  EXPECT_EQ(d.total_out(), original.size());
}

TEST(GzipDecoder, DecodesInputSplitIntoSingleBytes) {
  auto original = text(5000);
  auto packed = compress(original);
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  for (char c : packed) ASSERT_EQ(d.feed(std::string_view(&c, 1), out), GzipDecoder::Status::kOk);
  EXPECT_EQ(d.finish(), GzipDecoder::Status::kOk);
  EXPECT_EQ(out, original);
}

TEST(GzipDecoder, DecodesConcatenatedGzipMembers) {
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed(compress("first,") + compress("second"), out), GzipDecoder::Status::kOk);
  EXPECT_EQ(d.finish(), GzipDecoder::Status::kOk);
  EXPECT_EQ(out, "first,second");
}

TEST(GzipDecoder, DeflateAcceptsZlibAndRawDeflate) {
  auto original = text(3000);
  for (int bits : {kargo::kZlibWindow, kargo::kRawDeflateWindow}) {
    GzipDecoder d(GzipDecoder::Format::kDeflate, 1 << 20);
    std::string out;
    EXPECT_EQ(d.feed(compress(original, bits), out), GzipDecoder::Status::kOk) << bits;
    EXPECT_EQ(d.finish(), GzipDecoder::Status::kOk) << bits;
    EXPECT_EQ(out, original) << bits;
  }
}

TEST(GzipDecoder, StopsAsSoonAsTheCapIsPassed) {
  // 64 MiB of zeros compress to about 64 KiB: a small bomb.
  auto bomb = compress(std::string(64u << 20, '\0'));
  ASSERT_LT(bomb.size(), 200000u);
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed(bomb, out), GzipDecoder::Status::kTooLarge);
  // Checked every 16 KiB of output, so it never held much more than the cap.
  EXPECT_LE(out.size(), (1u << 20) + 16 * 1024);
  EXPECT_EQ(d.feed("more", out), GzipDecoder::Status::kTooLarge);  // stays failed
}

TEST(GzipDecoder, ExactlyTheCapIsAllowed) {
  auto original = text(4096);
  GzipDecoder d(GzipDecoder::Format::kAuto, 4096);
  std::string out;
  EXPECT_EQ(d.feed(compress(original), out), GzipDecoder::Status::kOk);
  EXPECT_EQ(d.finish(), GzipDecoder::Status::kOk);
}

TEST(GzipDecoder, CorruptInputFails) {
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed("this is not gzip at all", out), GzipDecoder::Status::kCorrupt);

  auto packed = compress(text(10000));
  packed[packed.size() / 2] ^= 0x55;
  packed[packed.size() / 2 + 1] ^= 0x55;
  GzipDecoder d2(GzipDecoder::Format::kAuto, 1 << 20);
  auto st = d2.feed(packed, out);
  if (st == GzipDecoder::Status::kOk) st = d2.finish();
  EXPECT_EQ(st, GzipDecoder::Status::kCorrupt);
}

TEST(GzipDecoder, GarbageAfterTheLastMemberIsCorrupt) {
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed(compress("ok") + "trailing junk", out), GzipDecoder::Status::kCorrupt);
}

TEST(GzipDecoder, TruncatedStreamIsReportedByFinish) {
  auto packed = compress(text(10000));
  GzipDecoder d(GzipDecoder::Format::kAuto, 1 << 20);
  std::string out;
  EXPECT_EQ(d.feed(std::string_view(packed).substr(0, packed.size() / 2), out), GzipDecoder::Status::kOk);
  EXPECT_EQ(d.finish(), GzipDecoder::Status::kTruncated);
}

TEST(Gunzip, ThrowsWithTheReason) {
  EXPECT_EQ(gunzip(compress("hello"), 100), "hello");
  try {
    gunzip(compress(std::string(1000, 'a')), 100);
    FAIL() << "expected GzipError";
  } catch (const GzipError& e) {
    EXPECT_EQ(e.status(), GzipDecoder::Status::kTooLarge);
  }
  EXPECT_THROW(gunzip("nope", 100), GzipError);
  EXPECT_THROW(gunzip("", 100), GzipError);
}
