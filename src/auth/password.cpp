#include "kargo/auth/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace kargo::password {

void init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

std::string hash(std::string_view password) {
  init();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("password hashing ran out of memory");
  }
  return out;
}

bool verify(std::string_view stored_hash, std::string_view password) {
  std::string h(stored_hash);  // needs a NUL-terminated string
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

const std::string& dummy_hash() {
  static const std::string kDummy = [] {
    unsigned char random[24];
    init();
    randombytes_buf(random, sizeof random);
    return hash(std::string_view(reinterpret_cast<char*>(random), sizeof random));
  }();
  return kDummy;
}

}  // namespace kargo::password
