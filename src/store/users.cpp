#include "kargo/store/users.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "kargo/store/audit.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

constexpr const char* kFindUser =
    "SELECT id, username, password_hash, role, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM users WHERE username = $1";
constexpr const char* kInsertUser =
    "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
    "RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
constexpr const char* kUpsertUser =
    "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
    "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
    "updated_at = now() RETURNING (xmax = 0) AS inserted";

}  // namespace

std::optional<UserRecord> UserStore::find(const std::string& username) {
  std::optional<UserRecord> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto rows = tx.exec_params(kFindUser, username);
    if (rows.empty()) return;
    const auto& r = rows[0];
    out = UserRecord{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     parse_role(r[3].as<std::string>()).value_or(Role::kNone), r[4].as<std::string>()};
  });
  return out;
}

UserRecord UserStore::create(const std::string& username, const std::string& password_hash, Role role,
                             const std::string& actor) {
  UserRecord rec{0, username, password_hash, role, ""};
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = tx.exec_params1(kInsertUser, username, password_hash, std::string(role_name(role)));
    rec.id = row[0].as<int64_t>();
    rec.created_at = row[1].as<std::string>();
    write_audit(tx, "user", username, "create", actor, {{"role", role_name(role)}});
  });
  return rec;
}

void UserStore::upsert(const std::string& username, const std::string& password_hash, Role role,
                       const std::string& actor) {
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = tx.exec_params1(kUpsertUser, username, password_hash, std::string(role_name(role)));
    write_audit(tx, "user", username, row[0].as<bool>() ? "create" : "update", actor,
                {{"role", role_name(role)}, {"password", "changed"}});
  });
}

}  // namespace kargo::store
