// Hostile input: entity tricks, DTDs, deep nesting and binary junk are refused with a 422 on
// "snippet" (or processed), quickly, and never crash.
#include <gtest/gtest.h>

#include <chrono>

#include "creative_support.hpp"
#include "kargo/core/error.hpp"

namespace kargo::domain {
namespace {

using creative_test::creative_config;

std::vector<FieldError> refused(const std::string& snippet, const std::string& format) {
  try {
    transform(snippet, creative_config(format, "phase_1"), MacroTable::defaults());
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422);
    return e.details();
  }
  ADD_FAILURE() << "not refused";
  return {};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(CreativeHostileTest, RefusesBillionLaughsFast) {
  std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE VAST [\n<!ENTITY lol \"lol\">\n";
  for (int i = 1; i < 10; ++i) {
    xml += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k) xml += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    xml += "\">\n";
  }
  xml += "]>\n<VAST version=\"3.0\"><Ad><InLine><AdTitle>&lol9;</AdTitle></InLine></Ad></VAST>";
  auto start = std::chrono::steady_clock::now();
  auto errors = refused(xml, "instream_video");
  EXPECT_LT(seconds_since(start), 1.0);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "snippet");
  EXPECT_EQ(errors[0].message, "DOCTYPE and entity declarations are not allowed");
}

TEST(CreativeHostileTest, RefusesExternalEntitiesAndAnyDoctype) {
  for (const std::string xml : {"<?xml version=\"1.0\"?><!DOCTYPE VAST [<!ENTITY xxe SYSTEM "
                                "\"file:///etc/passwd\">]><VAST version=\"3.0\">&xxe;</VAST>",
                                "<!DOCTYPE VAST SYSTEM \"http://127.0.0.1/vast.dtd\"><VAST version=\"3.0\"/>",
                                "<!doctype VAST><VAST version=\"3.0\"/>"}) {
    auto errors = refused(xml, "audio");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].field, "snippet");
  }
  // An entity declaration outside a DTD is not XML at all.
  EXPECT_EQ(refused("<VAST version=\"3.0\"><!ENTITY x \"y\"></VAST>", "audio")[0].field, "snippet");
}

TEST(CreativeHostileTest, RefusesDeeplyNestedXmlWithoutCrashing) {
  std::string xml = "<VAST version=\"3.0\">";
  for (int i = 0; i < 100000; ++i) xml += "<a>";
  for (int i = 0; i < 100000; ++i) xml += "</a>";
  xml += "</VAST>";
  auto start = std::chrono::steady_clock::now();
  auto errors = refused(xml, "instream_video");
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(errors[0].message, "XML nests deeper than 64 elements");
}

TEST(CreativeHostileTest, RefusesDeeplyNestedHtmlQuickly) {
  std::string html;
  for (int i = 0; i < 150000; ++i) html += "<div>";
  auto start = std::chrono::steady_clock::now();
  auto errors = refused(html, "runway");
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(errors[0].message, "HTML nests deeper than 1024 elements");
  // Unmatched end tags and "/>" on HTML elements do not hide the nesting from the guard.
  std::string tricky;
  for (int i = 0; i < 5000; ++i) tricky += "<div/></span>";
  EXPECT_EQ(refused(tricky, "runway")[0].message, "HTML nests deeper than 1024 elements");
}

TEST(CreativeHostileTest, ProcessesModerateNestingAndManySiblings) {
  std::string html;
  for (int i = 0; i < 500; ++i) html += "<div>";
  html += "<img src=//pixel.adsafeprotected.com/x>";
  for (int i = 0; i < 500; ++i) html += "</div>";
  for (int i = 0; i < 20000; ++i) html += "<p>x</p>";
  auto start = std::chrono::steady_clock::now();
  auto r = transform(html, creative_config("runway", "phase_1"), MacroTable::defaults());
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(r.metadata.tags_removed.size(), 1u);
}

TEST(CreativeHostileTest, SurvivesBinaryAndBrokenMarkup) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) % 256);
  // Binary is not a snippet: a clear 422 on "snippet" (it could not be stored as text), never a crash.
  EXPECT_EQ(refused(junk, "runway")[0], (FieldError{"snippet", "must not contain NUL characters"}));
  EXPECT_EQ(refused(junk, "instream_video")[0].field, "snippet");
  std::string latin1 = "<div>caf\xe9</div>";
  EXPECT_EQ(refused(latin1, "runway")[0], (FieldError{"snippet", "must be UTF-8 text"}));
  for (const std::string html :
       {"<img src=\"//pixel.adsafeprotected.com/x", "<script>adsafeprotected", "<!-- adsafeprotected",
        "<noscript><img src=//pixel.adsafeprotected.com/x>", "<a href='x'<img src=//adsafeprotected.com>",
        "<div></div class=\"adsafeprotected\">", "<img src=a src=//pixel.adsafeprotected.com/x>"}) {
    // Either cleaned or refused, never IAS left behind.
    try {
      auto r = transform(html, creative_config("runway", "phase_1"), MacroTable::defaults());
      EXPECT_EQ(creative_test::count_ci(r.processed_code, "adsafeprotected"), 0u) << html;
    } catch (const Error& e) {
      EXPECT_EQ(e.details().at(0).field, "snippet") << html;
    }
  }
}

}  // namespace
}  // namespace kargo::domain
