#pragma once
// HS256 JSON Web Tokens (RFC 7519) with claims sub, role, iat, exp.
//
// Hand-written on OpenSSL's HMAC and libsodium's base64url: the JWT libraries Debian ships
// would add a dependency for ~100 lines, and this keeps the accepted algorithm fixed (only
// HS256; "none" and every other alg are refused before any signature work).
//
//   auto token = jwt::sign({"alice", Role::kEditor, now, now + 3600}, key);
//   std::string why;
//   if (auto c = jwt::verify(token, key, now, why)) use(c->subject);

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/core/principal.hpp"

namespace kargo::jwt {

struct Claims {
  std::string subject;
  Role role = Role::kNone;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

std::string sign(const Claims& claims, std::string_view key);
// Checks structure, alg (HS256 only), signature (constant time), exp/iat and the role.
std::optional<Claims> verify(std::string_view token, std::string_view key, int64_t now, std::string& reason);

std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace kargo::jwt
