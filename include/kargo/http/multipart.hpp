#pragma once
// multipart/form-data bodies (RFC 7578), as POST /api/creatives receives them.
//
//   auto form = http::parse_multipart(req, {.max_parts = 16, .max_part_bytes = cfg.max_upload_bytes});
//   const auto* file = form.find("file");           // nullptr when absent
//   if (file) store(file->filename, file->body);
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
};

// The boundary of a multipart/form-data Content-Type, or nullopt when the type is something else.
std::optional<std::string> multipart_boundary(std::string_view content_type);
// Parses `body` split by `boundary`. Throws Error::bad_body with a clear message.
Form parse_multipart_body(std::string_view body, std::string_view boundary,
                          const MultipartLimits& limits = {});
// Checks the request's Content-Type and parses its body.
Form parse_multipart(const Request& req, const MultipartLimits& limits = {});

}  // namespace kargo::http
