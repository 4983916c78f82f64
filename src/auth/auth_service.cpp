#include "kargo/auth/auth_service.hpp"

#include <mutex>

#include "kargo/auth/jwt.hpp"
#include "kargo/auth/password.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/store/users.hpp"

namespace kargo {
namespace {

int64_t now_seconds() { return unix_seconds(std::chrono::system_clock::now()); }

}  // namespace

AuthService::AuthService(store::UserStore& users, std::string secret_key, unsigned expire_minutes)
    : users_(users), key_(std::move(secret_key)), expire_minutes_(expire_minutes) {
  password::init();
}

IssuedToken AuthService::login(const std::string& username, const std::string& pw) {
  auto user = username.size() <= 64 ? users_.find(username) : std::nullopt;
  // Verify against a dummy hash for unknown users so both failures cost the same time.
  bool good = password::verify(user ? user->password_hash : password::dummy_hash(), pw) && user.has_value();
  if (!good) throw Error(codes::kAuthentication, "invalid username or password");
  int64_t now = now_seconds();
  int64_t ttl = static_cast<int64_t>(expire_minutes_) * 60;
  return {jwt::sign({user->username, user->role, now, now + ttl}, key_), ttl};
}

void AuthService::validate(const NewUser& u) {
  Validator v;
  if (!valid_username(u.username)) v.add("username", kUsernameRule);
  if (utf8_length(u.password) < 8 || u.password.size() > 256) v.add("password", "must be 8-256 characters");
  if (u.role == Role::kNone) v.add("role", one_of_message({"viewer", "editor", "admin"}));
  v.check();
}

void AuthService::create_user(const NewUser& user, const std::string& actor) {
  validate(user);
  try {
    users_.create(user.username, password::hash(user.password), user.role, actor);
  } catch (const Error& e) {
    if (&e.code() == &codes::kConflict) {
      throw Error(codes::kConflict, "user '" + user.username + "' already exists");
    }
    throw;
  }
}

void AuthService::ensure_admin(const std::string& username, const std::string& pw) {
  validate({username, pw, Role::kAdmin});
  if (auto existing = users_.find(username);
      existing && existing->role == Role::kAdmin && password::verify(existing->password_hash, pw)) {
    return;  // already as configured: no audit noise on every start
  }
  users_.upsert(username, password::hash(pw), Role::kAdmin, "bootstrap");
}

std::optional<Principal> AuthService::verify(std::string_view token, std::string& reason) const {
  constexpr size_t kMaxCached = 10000;
  int64_t now = now_seconds();
  std::string key(token);
  {
    std::shared_lock lock(cache_mutex_);
    if (auto it = verified_.find(key); it != verified_.end()) {
      if (it->second.second > now) return it->second.first;
    }
  }
  auto claims = jwt::verify(token, key_, now, reason);
  if (!claims) return std::nullopt;
  Principal principal{claims->subject, claims->role};
  std::unique_lock lock(cache_mutex_);
  if (verified_.size() >= kMaxCached) verified_.clear();  // bounded; refills from live traffic
  verified_.emplace(std::move(key), std::make_pair(principal, claims->expires_at));
  return principal;
}

}  // namespace kargo
