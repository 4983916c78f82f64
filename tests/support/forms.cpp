#include "support/forms.hpp"

#include <stdexcept>

#include "support/process.hpp"

namespace kargo::itest {

std::string form_field(const std::string& name, const std::string& value) {
  return std::string("--") + kFormBoundary + "\r\nContent-Disposition: form-data; name=\"" + name +
         "\"\r\n\r\n" + value + "\r\n";
}

std::string form_file(const std::string& name, const std::string& filename, const std::string& content) {
  return std::string("--") + kFormBoundary + "\r\nContent-Disposition: form-data; name=\"" + name +
         "\"; filename=\"" + filename + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content +
         "\r\n";
}

std::string form_end() { return std::string("--") + kFormBoundary + "--\r\n"; }

Headers multipart_headers(const std::string& token) {
  return bearer(token, {{"Content-Type", std::string("multipart/form-data; boundary=") + kFormBoundary}});
}

std::string snippet_fixture(const std::string& name) {
  auto text = read_file(std::string(KARGO_SOURCE_DIR) + "/fixtures/snippets/" + name);
  if (text.empty()) throw std::runtime_error("missing snippet fixture " + name);
  return text;
}

}  // namespace kargo::itest
