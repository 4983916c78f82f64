#pragma once
// Hashes and MACs (OpenSSL), hex-encoded unless noted, and random resource ids.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kargo {

std::string sha1_hex(std::string_view data);
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex_encode(std::string_view bytes);
// Base64 (libsodium): standard with padding (Standard Webhooks signatures and secrets), or
// URL-safe without padding (JWT). Decoding: nullopt when `text` is not of that variant.
enum class Base64 { kStandard, kUrlNoPadding };
std::string base64_encode(std::string_view bytes, Base64 variant = Base64::kStandard);
std::optional<std::string> base64_decode(std::string_view text, Base64 variant = Base64::kStandard);
// `prefix` + 2 * `random_bytes` random hex digits from the OS CSPRNG. Resource ids ("camp_",
// "crv_", ...) use the default 6 bytes (48 bits: unique, not secret); ids that are the only
// guard of what they name (download links) ask for 16 bytes.
std::string random_id(std::string_view prefix, size_t random_bytes = 6);
// Whether `id` has the shape random_id(prefix, random_bytes) makes: the prefix, then
// 2 * `random_bytes` lower-case hex digits.
bool is_resource_id(std::string_view id, std::string_view prefix, size_t random_bytes = 6);

}  // namespace kargo
