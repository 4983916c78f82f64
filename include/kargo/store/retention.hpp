#pragma once
// Retention: deletes, in batches, the rows that have outlived their use (migrations/0011 indexes
// them). Each batch is one short autocommit statement that skips rows another transaction holds,
// so the clean-up never waits on, or holds, a lock for long. Blocking: job threads only.
//
//   RetentionStore store(db);
//   for (auto& rule : RetentionStore::rules())
//     while (store.delete_batch(rule, age_of(rule.age), 1000) == 1000) {}

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

namespace kargo::store {

class Database;

// Which setting gives a rule its age.
enum class RetentionAge { kExpiry, kFiles, kIdempotency, kTicks, kUploads, kJobs, kWebhooks };

struct RetentionRule {
  std::string_view name;  // what it deletes, as reported in the job's result
  RetentionAge age;
  std::string_view sql;   // $1 = age in seconds, $2 = batch size
};

class RetentionStore {
 public:
  explicit RetentionStore(Database& db) : db_(db) {}

  // In the order they run. generated_files deletes files long expired; generated_files_bytes then
  // drops the bytes of the others that expired (the row stays, so their download answers 410
  // rather than 404 until the first rule removes them).
  static std::span<const RetentionRule> rules();
  // Rows touched by one batch of `rule` (fewer than `batch` when it is done).
  uint64_t delete_batch(const RetentionRule& rule, std::chrono::seconds age, unsigned batch);

 private:
  Database& db_;
};

}  // namespace kargo::store
