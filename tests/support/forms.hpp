#pragma once
// multipart/form-data bodies for the upload routes (POST /api/creatives, POST
// /api/bulk/upload-sheet) and the sample snippets they send. One boundary for every test.
//
//   std::string body = form_field("format", "runway") + form_file("file", "a.html", html) + form_end();
//   http.request("POST", "/api/creatives", body, multipart_headers(token));

#include <string>

#include "support/http_client.hpp"

namespace kargo::itest {

inline constexpr const char* kFormBoundary = "kargo-test-form-boundary";

// One text part.
std::string form_field(const std::string& name, const std::string& value);
// One file part (application/octet-stream).
std::string form_file(const std::string& name, const std::string& filename, const std::string& content);
// The closing delimiter.
std::string form_end();
// Bearer `token` and the multipart Content-Type with kFormBoundary.
Headers multipart_headers(const std::string& token);
// fixtures/snippets/<name> of the source tree; throws when it is missing or empty.
std::string snippet_fixture(const std::string& name);

}  // namespace kargo::itest
