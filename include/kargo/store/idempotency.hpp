#pragma once
// Idempotency-Key records in PostgreSQL (table idempotency_keys), per (actor, key), kept 24 h.
//
// begin() claims the key in its own short transaction; a concurrent request with the same key
// sees the claim and gets 409 "in progress". A claim whose request never completed (process
// killed) is taken over after 60 s.

#include <optional>
#include <string>

#include "kargo/core/ports.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

// Stores the answer of a claimed key inside the caller's transaction (see CampaignStore::create).
void record_idempotent_response(pqxx::transaction_base& tx, const IdempotencyClaim& claim, int status,
                                const std::string& body);

class IdempotencyRecords final : public IdempotencyStore {
 public:
  explicit IdempotencyRecords(Database& db) : db_(db) {}
  std::optional<StoredAnswer> begin(const std::string& actor, const std::string& key,
                                      std::string_view method, std::string_view route,
                                      const std::string& body_sha256) override;
  void complete(const std::string& actor, const std::string& key, const StoredAnswer& answer) override;

 private:
  Database& db_;
};

}  // namespace kargo::store
