#include "kargo/store/migrations.hpp"

#include <map>
#include <pqxx/pqxx>
#include <set>

#include "kargo/core/log.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

// Arbitrary constant shared by every instance of this service ("kargo" in ASCII).
constexpr long long kMigrationLockKey = 0x6b6172676fLL;

constexpr const char* kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

std::set<int> applied_versions(pqxx::transaction_base& tx) {
  std::set<int> out;
  auto exists = tx.exec("SELECT to_regclass('public.schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return out;
  for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) out.insert(row[0].as<int>());
  return out;
}

}  // namespace

std::vector<std::string> migrate_up(Database& db) {
  std::vector<std::string> applied;
  db.transact([&](pqxx::transaction_base& tx) {
    applied.clear();
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(kCreateTable);
    auto done = applied_versions(tx);
    for (const auto& m : embedded_migrations()) {
      if (done.count(m.version)) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                     std::string(m.name));
      applied.emplace_back(m.name);
    }
  });
  for (const auto& name : applied) log::info("migration applied", {{"name", name}});
  return applied;
}

std::vector<MigrationStatus> migration_status(Database& db) {
  std::vector<MigrationStatus> out;
  db.transact([&](pqxx::transaction_base& tx) {
    out.clear();
    std::map<int, std::string> when;
    auto exists = tx.exec("SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (exists[0][0].as<bool>()) {
      for (const auto& row :
           tx.exec("SELECT version, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                   "FROM schema_migrations")) {
        when[row[0].as<int>()] = row[1].as<std::string>();
      }
    }
    for (const auto& m : embedded_migrations()) {
      auto it = when.find(m.version);
      out.push_back({m.version, m.name, it != when.end(), it != when.end() ? it->second : ""});
    }
  });
  return out;
}

bool migrations_current(Database& db, std::chrono::milliseconds timeout) {
  bool current = true;
  db.transact(
      [&](pqxx::transaction_base& tx) {
        auto done = applied_versions(tx);
        current = true;
        for (const auto& m : embedded_migrations()) current = current && done.count(m.version);
      },
      timeout);
  return current;
}

}  // namespace kargo::store
