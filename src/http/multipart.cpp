#include "kargo/http/multipart.hpp"

#include <strings.h>

#include "kargo/core/error.hpp"
#include "kargo/core/validator.hpp"

namespace kargo::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Splits `params` ("; a=b; c=\"d\"") and returns the value of `key` (quotes removed, \" unescaped).
std::optional<std::string> header_param(std::string_view params, std::string_view key) {
  size_t i = 0;
  while (i < params.size()) {
    while (i < params.size() && (params[i] == ';' || params[i] == ' ' || params[i] == '\t')) ++i;
    size_t eq = params.find('=', i);
    size_t semi = params.find(';', i);
    if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
      i = semi == std::string_view::npos ? params.size() : semi + 1;
      continue;
    }
    std::string_view name = trim(params.substr(i, eq - i));
    size_t j = eq + 1;
    while (j < params.size() && (params[j] == ' ' || params[j] == '\t')) ++j;
    std::string value;
    if (j < params.size() && params[j] == '"') {
      ++j;
      while (j < params.size() && params[j] != '"') {
        if (params[j] == '\\' && j + 1 < params.size()) ++j;
        value += params[j++];
      }
      if (j >= params.size()) throw Error::bad_body("multipart: unterminated quoted parameter");
      ++j;  // closing quote
    } else {
      size_t end = params.find(';', j);
      value = std::string(
          trim(params.substr(j, end == std::string_view::npos ? std::string_view::npos : end - j)));
      j = end == std::string_view::npos ? params.size() : end;
    }
    if (iequals(name, key)) return value;
    i = j;
  }
  return std::nullopt;
}

FormPart parse_part(std::string_view part, const MultipartLimits& limits) {
  size_t head_end = part.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    throw Error::bad_body("multipart: a part has no header/body separator");
  if (head_end > limits.max_header_bytes) throw Error::bad_body("multipart: part headers are too large");
  FormPart out;
  out.content_type = "text/plain";
  bool disposition = false;
  std::string_view headers = part.substr(0, head_end);
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) throw Error::bad_body("multipart: malformed part header");
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-disposition")) {
      size_t semi = value.find(';');
      if (!iequals(trim(value.substr(0, semi)), "form-data")) {
        throw Error::bad_body("multipart: a part's Content-Disposition is not form-data");
      }
      std::string_view params = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
      auto field = header_param(params, "name");
      if (!field || field->empty()) throw Error::bad_body("multipart: a part has no field name");
      out.name = *field;
      out.filename = header_param(params, "filename");
      disposition = true;
    } else if (iequals(name, "content-type")) {
      out.content_type = std::string(value);
    }
  }
  if (!disposition) throw Error::bad_body("multipart: a part has no Content-Disposition");
  std::string_view body = part.substr(head_end + 4);
  if (body.size() > limits.max_part_bytes) {
    throw Error::bad_body("multipart: part '" + out.name + "' exceeds " +
                          std::to_string(limits.max_part_bytes) + " bytes");
  }
  out.body = std::string(body);
  return out;
}

// 422 on the field's name when a file name or a text field's value breaks text_problem(): both
// may be stored as text. A file's content is the route's to judge (a bulk sheet is binary, a
// creative checks its snippet itself).
void check_form_text(const Form& form) {
  std::vector<FieldError> problems;
  for (const auto& part : form.parts) {
    const std::string& text = part.filename ? *part.filename : part.body;
    if (auto problem = text_problem(text)) {
      problems.push_back({part.name, part.filename ? "file name " + *problem : *problem});
    }
  }
  if (!problems.empty()) throw Error::validation(std::move(problems));
}

}  // namespace

const FormPart* Form::find(std::string_view name) const {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const std::string* Form::filled(std::string_view name) const {
  const auto* part = find(name);
  return part && !part->body.empty() ? &part->body : nullptr;
}

std::optional<bool> form_boolean(std::string_view text) {
  std::string value = ascii_lower(text);
  if (value == "true" || value == "1" || value == "on") return true;
  if (value == "false" || value == "0" || value == "off") return false;
  return std::nullopt;
}

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  size_t semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data")) return std::nullopt;
  if (semi == std::string_view::npos) return std::string();
  auto boundary = header_param(content_type.substr(semi + 1), "boundary");
  return boundary.value_or(std::string());
}

Form parse_multipart_body(std::string_view body, std::string_view boundary, const MultipartLimits& limits) {
  if (boundary.empty() || boundary.size() > 70) {
    throw Error::bad_body("multipart: the Content-Type needs a boundary of 1-70 characters");
  }
  const std::string delimiter = "--" + std::string(boundary);
  // The body starts with the first delimiter (a preamble before it is allowed and ignored).
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) throw Error::bad_body("multipart: no boundary found in the body");
  if (pos > 0 && (pos < 2 || body.substr(pos - 2, 2) != "\r\n")) {
    throw Error::bad_body("multipart: the first boundary does not start a line");
  }
  const std::string separator = "\r\n" + delimiter;
  Form form;
  pos += delimiter.size();
  for (;;) {
    std::string_view rest = body.substr(pos);
    if (rest.starts_with("--")) return form;  // closing delimiter; an epilogue is ignored
    // Transport padding after the delimiter, then CRLF.
    size_t eol = rest.find("\r\n");
    if (eol == std::string_view::npos || trim(rest.substr(0, eol)).size() != 0) {
      throw Error::bad_body("multipart: malformed boundary line");
    }
    pos += eol + 2;
    size_t next = body.find(separator, pos);
    if (next == std::string_view::npos)
      throw Error::bad_body("multipart: the body ends before the closing boundary");
    if (form.parts.size() >= limits.max_parts) {
      throw Error::bad_body("multipart: more than " + std::to_string(limits.max_parts) + " parts");
    }
    form.parts.push_back(parse_part(body.substr(pos, next - pos), limits));
    pos = next + separator.size();
  }
}

Form parse_multipart(const Request& req, const MultipartLimits& limits) {
  auto type = req.header("content-type");
  auto boundary = type ? multipart_boundary(*type) : std::nullopt;
  if (!boundary) throw Error::bad_body("Content-Type must be multipart/form-data");
  Form form = parse_multipart_body(req.body, *boundary, limits);
  check_form_text(form);
  return form;
}

}  // namespace kargo::http
