#pragma once
// Declarations of the contract's error codes (section 2). Definitions live in
// src/core/error_codes.cpp only. Files may also declare just the codes they use.
#include "kargo/core/error.hpp"

namespace kargo::codes {
extern const ErrorCode kValidation;          // 400 (body) / 422 (fields)
extern const ErrorCode kAuthentication;      // 401
extern const ErrorCode kAuthorization;       // 403
extern const ErrorCode kNotFound;            // 404
extern const ErrorCode kMethodNotAllowed;    // 405
extern const ErrorCode kConflict;            // 409
extern const ErrorCode kGone;                // 410
extern const ErrorCode kPayloadTooLarge;     // 413 (the body)
extern const ErrorCode kHeadersTooLarge;     // 431 (request line + headers)
extern const ErrorCode kRateLimited;         // 429
extern const ErrorCode kInternal;            // 500
extern const ErrorCode kExternalApi;         // 502 (or 503 when not configured / circuit open)
extern const ErrorCode kServiceUnavailable;  // 503
}  // namespace kargo::codes
