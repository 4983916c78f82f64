#pragma once
// Schema migrations: numbered plain-SQL files from migrations/, embedded into the binary at
// build time (cmake/EmbedMigrations.cmake) so a deployment is one file.
//
// `migrate up` applies every pending file in one transaction under a PostgreSQL advisory lock,
// so two instances starting together apply each file once; applied versions are recorded in
// schema_migrations.

#include <chrono>
#include <string>
#include <vector>

namespace kargo::store {

class Database;

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& embedded_migrations();

struct MigrationStatus {
  int version;
  std::string name;
  bool applied;
  std::string applied_at;  // ISO 8601 or empty
};

// Applies pending migrations; returns the names applied (empty when already current).
std::vector<std::string> migrate_up(Database& db);
std::vector<MigrationStatus> migration_status(Database& db);
// True when every embedded migration is recorded as applied.
bool migrations_current(Database& db, std::chrono::milliseconds timeout);

}  // namespace kargo::store
