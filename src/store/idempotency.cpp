#include "kargo/store/idempotency.hpp"

#include <pqxx/pqxx>

#include "kargo/core/error_codes.hpp"
#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

constexpr const char* kForgetStale =
    "DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2 AND "
    "(created_at < now() - interval '24 hours' OR (status IS NULL AND created_at < now() - interval '60 "
    "seconds'))";
constexpr const char* kClaimKey =
    "INSERT INTO idempotency_keys (actor, key, method, route, body_sha256) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (actor, key) DO NOTHING RETURNING 1";
constexpr const char* kFind =
    "SELECT method, route, body_sha256, status, response_body FROM idempotency_keys WHERE actor = $1 AND key "
    "= $2";
constexpr const char* kStore =
    "UPDATE idempotency_keys SET status = $3, response_body = $4 WHERE actor = $1 AND key = $2";
constexpr const char* kForget = "DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2";

}  // namespace

std::optional<StoredAnswer> IdempotencyRecords::begin(const std::string& actor, const std::string& key,
                                                        std::string_view method, std::string_view route,
                                                        const std::string& body_sha256) {
  std::optional<StoredAnswer> stored;
  db_.transact([&](pqxx::transaction_base& tx) {
    stored.reset();
    tx.exec_params(kForgetStale, actor, key);
    if (!tx.exec_params(kClaimKey, actor, key, std::string(method), std::string(route), body_sha256).empty())
      return;
    auto rows = tx.exec_params(kFind, actor, key);
    if (rows.empty()) {
      throw Error(codes::kConflict, "a request with this Idempotency-Key is still in progress");
    }
    const auto& row = rows[0];
    if (row[0].as<std::string>() != method || row[1].as<std::string>() != route ||
        row[2].as<std::string>() != body_sha256) {
      throw Error(codes::kConflict, "Idempotency-Key was already used with a different request");
    }
    if (row[3].is_null()) {
      throw Error(codes::kConflict, "a request with this Idempotency-Key is still in progress")
          .with_header("Retry-After", "1");
    }
    stored = StoredAnswer{row[3].as<int>(), row[4].as<std::string>()};
  });
  return stored;
}

void record_idempotent_response(pqxx::transaction_base& tx, const IdempotencyClaim& claim, int status,
                                const std::string& body) {
  tx.exec_params(kStore, claim.actor, claim.key, status, body);
}

void IdempotencyRecords::complete(const std::string& actor, const std::string& key,
                                  const StoredAnswer& answer) {
  db_.transact([&](pqxx::transaction_base& tx) {
    if (answer.status >= 500) {
      tx.exec_params(kForget, actor, key);
    } else {
      tx.exec_params(kStore, actor, key, answer.status, answer.body);
    }
  });
}

}  // namespace kargo::store
