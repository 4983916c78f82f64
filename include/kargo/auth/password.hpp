#pragma once
// Password hashing with libsodium's crypto_pwhash (Argon2id, salted, "interactive" cost).
// Slow on purpose (~tens of ms): call from the blocking pool, never from an I/O thread.
#include <string>
#include <string_view>

namespace kargo::password {

// Initialises libsodium; call once at start (idempotent).
void init();
std::string hash(std::string_view password);
bool verify(std::string_view stored_hash, std::string_view password);
// A hash of a random password, compared against when the user does not exist, so that
// unknown users and wrong passwords take the same time.
const std::string& dummy_hash();

}  // namespace kargo::password
