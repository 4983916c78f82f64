#include "kargo/auth/jwt.hpp"

#include "kargo/core/digest.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>

namespace kargo::jwt {
namespace {

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

}  // namespace

std::string base64url_encode(std::string_view data) { return base64_encode(data, Base64::kUrlNoPadding); }

std::optional<std::string> base64url_decode(std::string_view text) {
  return base64_decode(text, Base64::kUrlNoPadding);
}

std::string sign(const Claims& claims, std::string_view key) {
  nlohmann::json payload = {{"sub", claims.subject},
                            {"role", std::string(role_name(claims.role))},
                            {"iat", claims.issued_at},
                            {"exp", claims.expires_at}};
  std::string signing_input = base64url_encode(kHeader) + "." + base64url_encode(payload.dump());
  return signing_input + "." + base64url_encode(hmac_sha256(key, signing_input));
}

std::optional<Claims> verify(std::string_view token, std::string_view key, int64_t now, std::string& reason) {
  if (token.size() > 4096) {
    reason = "token too long";
    return std::nullopt;
  }
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot1 == std::string_view::npos || dot2 == std::string_view::npos ||
      token.find('.', dot2 + 1) != std::string_view::npos) {
    reason = "malformed token";
    return std::nullopt;
  }
  auto header_text = base64url_decode(token.substr(0, dot1));
  auto payload_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) {
    reason = "malformed token";
    return std::nullopt;
  }
  auto header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string()) {
    reason = "malformed token header";
    return std::nullopt;
  }
  if (header["alg"].get<std::string>() != "HS256") {
    reason = "unsupported token algorithm";
    return std::nullopt;
  }
  std::string expected = hmac_sha256(key, token.substr(0, dot2));
  if (signature->size() != expected.size() ||
      sodium_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    reason = "bad token signature";
    return std::nullopt;
  }
  auto payload = nlohmann::json::parse(*payload_text, nullptr, false);
  if (!payload.is_object() || !payload.contains("sub") || !payload["sub"].is_string() ||
      !payload.contains("exp") || !payload["exp"].is_number_integer() || !payload.contains("role") ||
      !payload["role"].is_string()) {
    reason = "token is missing claims";
    return std::nullopt;
  }
  Claims c;
  c.subject = payload["sub"].get<std::string>();
  c.expires_at = payload["exp"].get<int64_t>();
  c.issued_at = payload.value("iat", int64_t{0});
  auto role = parse_role(payload["role"].get<std::string>());
  if (!role) {
    reason = "token has an unknown role";
    return std::nullopt;
  }
  c.role = *role;
  if (c.expires_at <= now) {
    reason = "token expired";
    return std::nullopt;
  }
  if (c.issued_at > now + 60) {
    reason = "token issued in the future";
    return std::nullopt;
  }
  return c;
}

}  // namespace kargo::jwt
