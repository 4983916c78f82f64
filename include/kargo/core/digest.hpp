#pragma once
// Hashes and MACs (OpenSSL), hex-encoded unless noted, and random resource ids.
#include <string>
#include <string_view>

namespace kargo {

std::string sha1_hex(std::string_view data);
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex_encode(std::string_view bytes);
// `prefix` + 12 random hex digits from the OS CSPRNG (resource ids: "camp_", "crv_", ...).
std::string random_id(std::string_view prefix);
// Whether `id` has the shape random_id(prefix) makes: the prefix, then 12 lower-case hex digits.
bool is_resource_id(std::string_view id, std::string_view prefix);

}  // namespace kargo
