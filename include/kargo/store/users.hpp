#pragma once
// Users table (migrations/0001_foundation.sql). Blocking: call from the blocking pool.
#include <optional>
#include <string>

#include "kargo/core/principal.hpp"

namespace kargo::store {

class Database;

struct UserRecord {
  int64_t id = 0;
  std::string username;
  std::string password_hash;
  Role role = Role::kNone;
  std::string created_at;
};

class UserStore {
 public:
  explicit UserStore(Database& db) : db_(db) {}
  std::optional<UserRecord> find(const std::string& username);
  // 409 RESOURCE_CONFLICT when the username is taken. Writes an audit entry.
  UserRecord create(const std::string& username, const std::string& password_hash, Role role,
                    const std::string& actor);
  // Creates the user, or resets its password and role. Writes an audit entry.
  void upsert(const std::string& username, const std::string& password_hash, Role role,
              const std::string& actor);

 private:
  Database& db_;
};

}  // namespace kargo::store
