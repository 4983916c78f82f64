#include "kargo/core/error_codes.hpp"

#include <utility>

namespace kargo {
namespace codes {
const ErrorCode kValidation{"VALIDATION_ERROR", 422};
const ErrorCode kAuthentication{"AUTHENTICATION_ERROR", 401};
const ErrorCode kAuthorization{"AUTHORIZATION_ERROR", 403};
const ErrorCode kNotFound{"RESOURCE_NOT_FOUND", 404};
const ErrorCode kMethodNotAllowed{"METHOD_NOT_ALLOWED", 405};
const ErrorCode kConflict{"RESOURCE_CONFLICT", 409};
const ErrorCode kGone{"RESOURCE_GONE", 410};
const ErrorCode kPayloadTooLarge{"PAYLOAD_TOO_LARGE", 413};
const ErrorCode kHeadersTooLarge{"HEADERS_TOO_LARGE", 431};
const ErrorCode kRateLimited{"RATE_LIMIT_EXCEEDED", 429};
const ErrorCode kInternal{"INTERNAL_ERROR", 500};
const ErrorCode kExternalApi{"EXTERNAL_API_ERROR", 502};
const ErrorCode kServiceUnavailable{"SERVICE_UNAVAILABLE", 503};
}  // namespace codes

Error::Error(const ErrorCode& code, std::string external_message, std::string internal_message,
             std::vector<FieldError> details)
    : std::runtime_error(internal_message.empty() ? external_message : internal_message),
      code_(&code),
      status_(code.http_status),
      external_(std::move(external_message)),
      internal_(std::move(internal_message)),
      details_(std::move(details)) {}

Error Error::validation(std::vector<FieldError> details) {
  std::string message = details.size() == 1 ? details.front().field + ": " + details.front().message
                                            : std::to_string(details.size()) + " fields are invalid";
  return Error(codes::kValidation, std::move(message), {}, std::move(details));
}

Error Error::bad_body(std::string message) {
  Error e(codes::kValidation, message, {}, {{"body", message}});
  e.status_ = 400;
  return e;
}

Error Error::not_found(std::string_view what, std::string_view id) {
  std::string message(what);
  message.append(" ").append(id).append(" not found");
  return Error(codes::kNotFound, std::move(message));
}

Error&& Error::with_header(std::string name, std::string value) && {
  headers_.emplace_back(std::move(name), std::move(value));
  return std::move(*this);
}

Error&& Error::with_status(int status) && {
  status_ = status;
  return std::move(*this);
}

}  // namespace kargo
