#pragma once
// The one error type of the service.
//
// Code anywhere below the HTTP layer throws kargo::Error; the HTTP layer turns it into the
// contract's error envelope in exactly one place (http/envelope.cpp). An Error carries a
// protocol-free code, a message safe to show the client and an internal message for the log.
//
//   throw Error::not_found("campaign", id);
//   throw Error::validation({{"budget", "must be > 0"}, {"name", "is required"}});
//
// Error codes follow ClickHouse's pattern: each is a constant object defined once in
// src/core/error_codes.cpp and declared `extern` where it is used (see error_codes.hpp), so
// adding a code recompiles one file.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kargo {

struct ErrorCode {
  const char* name;  // contract name, e.g. "VALIDATION_ERROR"
  int http_status;   // the HTTP status the contract assigns to it
};

struct FieldError {
  std::string field;
  std::string message;
  bool operator==(const FieldError&) const = default;
};

class Error : public std::runtime_error {
 public:
  Error(const ErrorCode& code, std::string external_message, std::string internal_message = {},
        std::vector<FieldError> details = {});

  // 422 VALIDATION_ERROR with one detail per bad field.
  static Error validation(std::vector<FieldError> details);
  // 400 VALIDATION_ERROR about the request body itself (`details[0].field` = "body").
  static Error bad_body(std::string message);
  // 404 NOT_FOUND "<what> <id> not found", e.g. not_found("campaign", "camp_x").
  static Error not_found(std::string_view what, std::string_view id);

  const ErrorCode& code() const noexcept { return *code_; }
  int http_status() const noexcept { return status_; }
  const std::string& external_message() const noexcept { return external_; }
  const std::string& internal_message() const noexcept { return internal_; }
  const std::vector<FieldError>& details() const noexcept { return details_; }

  // Extra response headers (e.g. Allow, Retry-After).
  std::vector<std::pair<std::string, std::string>>& headers() noexcept { return headers_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const noexcept { return headers_; }
  Error&& with_header(std::string name, std::string value) &&;
  Error&& with_status(int status) &&;

 private:
  const ErrorCode* code_;
  int status_;
  std::string external_;
  std::string internal_;
  std::vector<FieldError> details_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace kargo
