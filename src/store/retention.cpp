#include "kargo/store/retention.hpp"

#include <array>
#include <pqxx/pqxx>
#include <string>

#include "kargo/store/database.hpp"

namespace kargo::store {
namespace {

// Every statement picks its batch oldest first with FOR UPDATE SKIP LOCKED: a row a request or a
// job holds is left for the next run instead of being waited for.
constexpr std::array kRules{
    RetentionRule{"generated_files", RetentionAge::kFiles,
                  "DELETE FROM generated_files WHERE id IN (SELECT id FROM generated_files "
                  "WHERE expires_at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    RetentionRule{"generated_files_bytes", RetentionAge::kExpiry,
                  "UPDATE generated_files SET bytes = NULL WHERE id IN (SELECT id FROM generated_files "
                  "WHERE bytes IS NOT NULL AND expires_at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    RetentionRule{"idempotency_keys", RetentionAge::kIdempotency,
                  "DELETE FROM idempotency_keys WHERE (actor, key) IN (SELECT actor, key FROM idempotency_keys "
                  "WHERE created_at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    RetentionRule{"periodic_ticks", RetentionAge::kTicks,
                  "DELETE FROM periodic_ticks WHERE (name, bucket) IN (SELECT name, bucket FROM periodic_ticks "
                  "WHERE at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    // An upload whose job may still run is kept whatever its age.
    RetentionRule{"bulk_uploads", RetentionAge::kUploads,
                  "DELETE FROM bulk_uploads WHERE id IN (SELECT u.id FROM bulk_uploads u "
                  "WHERE u.created_at <= clock_timestamp() - make_interval(secs => $1) "
                  "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.status IN ('queued', 'running') "
                  "AND j.payload->>'upload_id' = u.id) "
                  "ORDER BY u.created_at LIMIT $2 FOR UPDATE OF u SKIP LOCKED)"},
    RetentionRule{"jobs", RetentionAge::kJobs,
                  "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ('succeeded', 'failed') "
                  "AND finished_at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    RetentionRule{"webhook_deliveries", RetentionAge::kWebhooks,
                  "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
                  "WHERE status <> 'pending' AND finished_at <= clock_timestamp() - make_interval(secs => $1) "
                  "ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)"},
    // Attempts of a delivery still pending stay: they are its history so far.
    RetentionRule{"webhook_attempts", RetentionAge::kWebhooks,
                  "DELETE FROM webhook_attempts WHERE id IN (SELECT a.id FROM webhook_attempts a "
                  "WHERE a.created_at <= clock_timestamp() - make_interval(secs => $1) "
                  "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id "
                  "AND d.status = 'pending') "
                  "ORDER BY a.created_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED)"},
};

}  // namespace

std::span<const RetentionRule> RetentionStore::rules() { return kRules; }

uint64_t RetentionStore::delete_batch(const RetentionRule& rule, std::chrono::seconds age, unsigned batch) {
  uint64_t touched = 0;
  db_.once(
      [&](pqxx::transaction_base& tx) {
        touched = tx.exec_params(std::string(rule.sql), static_cast<double>(age.count()), static_cast<int64_t>(batch))
                      .affected_rows();
      },
      std::nullopt, Database::Retry::kNever);
  return touched;
}

}  // namespace kargo::store
