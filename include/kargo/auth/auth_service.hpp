#pragma once
// Logins, token checks and user administration (contract section 2). No HTTP types.
//
//   AuthService auth(users, secret_key, 60);
//   auto t = auth.login("alice", "pw");      // throws Error(401) on bad credentials
//   auth.verify(t.access_token, reason);     // TokenVerifier (core/ports.hpp) for the pipeline

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "kargo/core/principal.hpp"
#include "kargo/core/ports.hpp"

namespace kargo::store {
class UserStore;
}

namespace kargo {

struct IssuedToken {
  std::string access_token;
  int64_t expires_in = 0;  // seconds
};

struct NewUser {
  std::string username;
  std::string password;
  Role role = Role::kViewer;
};

class AuthService final : public TokenVerifier {
 public:
  AuthService(store::UserStore& users, std::string secret_key, unsigned expire_minutes);

  // Blocking (password hash check). Same 401 message for unknown user and wrong password.
  IssuedToken login(const std::string& username, const std::string& password);
  // Blocking. Validates fields (422), 409 when the name is taken.
  void create_user(const NewUser& user, const std::string& actor);
  // Creates or resets the bootstrap admin. Blocking.
  void ensure_admin(const std::string& username, const std::string& password);

  std::optional<Principal> verify(std::string_view token, std::string& reason) const override;

  // Field rules shared by the API and `kargo-dsp create-user`; throws Error::validation.
  static void validate(const NewUser& user);

 private:
  store::UserStore& users_;
  std::string key_;
  unsigned expire_minutes_;
  // Tokens already verified (signature and claims), so a client's repeated requests cost a
  // lookup instead of an HMAC and two JSON parses. Expiry is still checked on every hit.
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::pair<Principal, int64_t>> verified_;
};

}  // namespace kargo
