#include "kargo/http/multipart.hpp"

#include <gtest/gtest.h>

#include "kargo/core/error.hpp"

using namespace kargo;
using http::parse_multipart_body;

namespace {

std::string form(std::initializer_list<std::string> parts, const std::string& boundary = "b0undary") {
  std::string out;
  for (const auto& p : parts) out += "--" + boundary + "\r\n" + p + "\r\n";
  return out + "--" + boundary + "--\r\n";
}

int status_of(const std::string& body, const std::string& boundary = "b0undary",
              http::MultipartLimits limits = {}) {
  try {
    parse_multipart_body(body, boundary, limits);
    return 200;
  } catch (const Error& e) {
    return e.http_status();
  }
}

}  // namespace

TEST(Multipart, ReadsFieldsAndFilesInOrder) {
  auto body = form({"Content-Disposition: form-data; name=\"name\"\r\n\r\nSummer runway",
                    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".html\"\r\n"
                    "Content-Type: text/html\r\n\r\n<div>\r\n--not-a-boundary\r\n</div>"});
  auto f = parse_multipart_body(body, "b0undary");
  ASSERT_EQ(f.parts.size(), 2u);
  EXPECT_EQ(f.parts[0].name, "name");
  EXPECT_FALSE(f.parts[0].filename.has_value());
  EXPECT_EQ(f.parts[0].content_type, "text/plain");
  EXPECT_EQ(f.parts[0].body, "Summer runway");
  ASSERT_NE(f.find("file"), nullptr);
  EXPECT_EQ(f.find("file")->filename.value_or(""), "a \"b\".html");
  EXPECT_EQ(f.find("file")->content_type, "text/html");
  EXPECT_EQ(f.find("file")->body, "<div>\r\n--not-a-boundary\r\n</div>") << "only the exact boundary splits";
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Multipart, PreambleAndEpilogueAreIgnoredAndEmptyPartsAllowed) {
  std::string body =
      "preamble text\r\n" + form({"Content-Disposition: form-data; name=\"empty\"\r\n\r\n"}) + "epilogue";
  auto f = parse_multipart_body(body, "b0undary");
  ASSERT_EQ(f.parts.size(), 1u);
  EXPECT_EQ(f.parts[0].body, "");
}

TEST(Multipart, BoundaryComesFromTheContentType) {
  EXPECT_EQ(http::multipart_boundary("multipart/form-data; boundary=abc").value_or("?"), "abc");
  EXPECT_EQ(http::multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").value_or("?"),
            "a b");
  EXPECT_EQ(http::multipart_boundary("multipart/form-data").value_or("?"), "");
  EXPECT_FALSE(http::multipart_boundary("application/json").has_value());
}

TEST(Multipart, MalformedBodiesAre400) {
  EXPECT_EQ(status_of("no boundary here"), 400);
  EXPECT_EQ(status_of(form({"Content-Disposition: form-data; name=\"x\"\r\n\r\nv"}), ""), 400)
      << "empty boundary";
  EXPECT_EQ(status_of("--b0undary\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv"), 400) << "no end";
  EXPECT_EQ(status_of(form({"Content-Disposition: form-data; name=\"x\"\r\nv"})), 400) << "no blank line";
  EXPECT_EQ(status_of(form({"Content-Type: text/plain\r\n\r\nv"})), 400) << "no disposition";
  EXPECT_EQ(status_of(form({"Content-Disposition: attachment; name=\"x\"\r\n\r\nv"})), 400);
  EXPECT_EQ(status_of(form({"Content-Disposition: form-data; filename=\"f\"\r\n\r\nv"})), 400) << "no name";
  EXPECT_EQ(status_of(form({"Content-Disposition: form-data; name=\"x\r\n\r\nv"})), 400) << "open quote";
  EXPECT_EQ(status_of(form({"Broken header line\r\n\r\nv"})), 400);
}

TEST(Multipart, LimitsAreEnforced) {
  http::MultipartLimits limits{.max_parts = 2, .max_part_bytes = 10, .max_header_bytes = 64};
  auto part = [](const std::string& v) { return "Content-Disposition: form-data; name=\"x\"\r\n\r\n" + v; };
  EXPECT_EQ(status_of(form({part("1"), part("2")}), "b0undary", limits), 200);
  EXPECT_EQ(status_of(form({part("1"), part("2"), part("3")}), "b0undary", limits), 400) << "too many parts";
  EXPECT_EQ(status_of(form({part(std::string(11, 'x'))}), "b0undary", limits), 400) << "part too large";
  EXPECT_EQ(
      status_of(form({"Content-Disposition: form-data; name=\"" + std::string(100, 'n') + "\"\r\n\r\nv"}),
                "b0undary", limits),
      400)
      << "headers too large";
}

TEST(Multipart, BlankFieldsAreNotFilledIn) {
  auto f = parse_multipart_body(form({"Content-Disposition: form-data; name=\"name\"\r\n\r\n",
                                      "Content-Disposition: form-data; name=\"format\"\r\n\r\nrunway"}),
                                "b0undary");
  EXPECT_NE(f.find("name"), nullptr);
  EXPECT_EQ(f.filled("name"), nullptr);
  EXPECT_EQ(f.filled("missing"), nullptr);
  ASSERT_NE(f.filled("format"), nullptr);
  EXPECT_EQ(*f.filled("format"), "runway");
}

TEST(Multipart, FormBooleansAcceptCheckboxOnAndOffInAnyCase) {
  for (const char* yes : {"true", "TRUE", "1", "on", "On"}) EXPECT_EQ(http::form_boolean(yes), true) << yes;
  for (const char* no : {"false", "False", "0", "off", "OFF"}) EXPECT_EQ(http::form_boolean(no), false) << no;
  for (const char* bad : {"", "yes", "2", "checked", " on"}) EXPECT_FALSE(http::form_boolean(bad)) << bad;
}

namespace {
// The details of the 422 parse_multipart() throws for `body`, or a failure when it does not.
std::vector<FieldError> form_text_details(const std::string& body) {
  http::Request req;
  req.headers.emplace_back("content-type", "multipart/form-data; boundary=b0undary");
  req.body = body;
  try {
    http::parse_multipart(req);
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422);
    return e.details();
  }
  ADD_FAILURE() << "accepted " << body;
  return {};
}
std::string text_part(const std::string& name, const std::string& value) {
  return "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value;
}
std::string file_part(const std::string& name, const std::string& filename, const std::string& content) {
  return "Content-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
         "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content;
}
}  // namespace

TEST(Multipart, NulOrInvalidUtf8InATextFieldOrFileNameIs422OnTheFieldName) {
  EXPECT_EQ(form_text_details(form({text_part("name", std::string("a\0b", 3)), text_part("format", "ok"),
                                    text_part("campaign_id", "caf\xe9")})),
            (std::vector<FieldError>{{"name", "must not contain NUL characters"},
                                     {"campaign_id", "must be UTF-8 text"}}));
  EXPECT_EQ(form_text_details(form({file_part("file", std::string("a\0.html", 7), "<div></div>")})),
            (std::vector<FieldError>{{"file", "file name must not contain NUL characters"}}));
  EXPECT_EQ(form_text_details(form({file_part("file", "\xff.html", "<div></div>")})),
            (std::vector<FieldError>{{"file", "file name must be UTF-8 text"}}));
}

TEST(Multipart, FileContentIsLeftToTheRoute) {
  http::Request req;
  req.headers.emplace_back("content-type", "multipart/form-data; boundary=b0undary");
  req.body = form({file_part("file", "sheet.xlsx", std::string("PK\3\4\0\0\xff\xfe", 8)),
                   text_part("name", "caf\xc3\xa9")});
  auto f = http::parse_multipart(req);
  ASSERT_NE(f.find("file"), nullptr);
  EXPECT_EQ(f.find("file")->body.size(), 8u);
}

TEST(Multipart, ParsingTheBodyAloneLeavesTextChecksToParseMultipart) {
  // parse_multipart_body() only ever refuses with 400 (the fuzz target relies on it).
  EXPECT_EQ(status_of(form({text_part("name", std::string("\0", 1))})), 200);
}
