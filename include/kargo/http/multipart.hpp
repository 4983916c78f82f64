#pragma once
// multipart/form-data bodies (RFC 7578), as POST /api/creatives receives them.
//
//   auto form = http::parse_multipart(req, {.max_parts = 16, .max_part_bytes = cfg.max_upload_bytes});
//   const auto* file = form.find("file");           // nullptr when absent
//   if (file) store(file->filename, file->body);
//   if (const auto* name = form.filled("name")) use(*name);   // nullptr when absent or ""
//
// Hand-written: no Debian package parses form-data for C++ without pulling in GLib (GMime) or a
// whole web framework, and the grammar is small. Limits are enforced while parsing; any
// malformed body is a 400 VALIDATION_ERROR on field "body" (Error::bad_body), never a crash.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/http/message.hpp"

namespace kargo::http {

struct FormPart {
  std::string name;
  std::optional<std::string> filename;  // present for file fields
  std::string content_type;             // "text/plain" when the part names none
  std::string body;
};

struct MultipartLimits {
  size_t max_parts = 16;
  size_t max_part_bytes = 20u << 20;
  size_t max_header_bytes = 8 * 1024;  // per part
};

struct Form {
  std::vector<FormPart> parts;
  // First part with this name, or nullptr.
  const FormPart* find(std::string_view name) const;
  // The text of a field that was filled in: nullptr when the field is absent or empty. An HTML
  // form sends every text input, "" when the user left it blank, so blank means "not given".
  const std::string* filled(std::string_view name) const;
};

// A form boolean: true/1/on and false/0/off in any case (a checked checkbox sends "on"; an
// unchecked one sends nothing), nullopt for anything else.
std::optional<bool> form_boolean(std::string_view text);

// The boundary of a multipart/form-data Content-Type, or nullopt when the type is something else.
std::optional<std::string> multipart_boundary(std::string_view content_type);
// Parses `body` split by `boundary`. Throws Error::bad_body with a clear message.
Form parse_multipart_body(std::string_view body, std::string_view boundary,
                          const MultipartLimits& limits = {});
// Checks the request's Content-Type and parses its body, then refuses text that PostgreSQL cannot
// store: a file name, or the value of a text field (a part without a file name), that breaks
// text_problem() (a NUL, invalid UTF-8) is a 422 VALIDATION_ERROR on the part's field name. A
// file's content is not checked: it is the route's to judge.
Form parse_multipart(const Request& req, const MultipartLimits& limits = {});

}  // namespace kargo::http
