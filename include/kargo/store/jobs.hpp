#pragma once
// Jobs in PostgreSQL (migrations/0003, contract section 7). Blocking: blocking pool or job
// worker threads only.
//
//   JobStore jobs(db);
//   auto id = jobs.enqueue(tx, "amazon_upload", payload, actor, 5);   // in the caller's transaction
//   if (auto job = jobs.claim("worker-1", {"amazon_upload"}, 30s)) {
//     jobs.heartbeat(job->id, "worker-1", 30s, progress);
//     jobs.succeed(job->id, "worker-1", result);          // or jobs.fail(...)
//   }
//
// Claiming takes a due queued job, or a running job whose lease expired (its worker died), with
// FOR UPDATE SKIP LOCKED, so concurrent workers never take the same job. Every write checks the
// lease owner, so a worker that lost its lease cannot overwrite the new owner's outcome.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include "kargo/store/page.hpp"

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

class Database;

struct ClaimedJob {
  std::string id;
  std::string kind;
  nlohmann::json payload;
  int attempts = 0;  // including this one
  int max_attempts = 1;
  nlohmann::json progress_result;  // the result stored so far (jobs keep per-step state there)
};

struct JobCounts {
  std::string kind;
  int64_t queued = 0;
  int64_t running = 0;
};

using JobPage = JsonPage;

class JobStore {
 public:
  // Registers the store's prepared statements with `db`.
  explicit JobStore(Database& db);

  // Enqueues in the caller's transaction (so the job exists exactly when the change does).
  static std::string enqueue(pqxx::transaction_base& tx, const std::string& kind,
                             const nlohmann::json& payload, const std::string& actor, int max_attempts);
  // Same, in its own transaction.
  std::string enqueue(const std::string& kind, const nlohmann::json& payload, const std::string& actor,
                      int max_attempts);

  std::optional<ClaimedJob> claim(const std::string& owner, const std::vector<std::string>& kinds,
                                  std::chrono::seconds lease);
  // Extends the lease and stores progress (and, when given, the partial result). False when the
  // lease was lost (the job was taken over): the worker must stop.
  bool heartbeat(const std::string& id, const std::string& owner, std::chrono::seconds lease,
                 std::optional<std::pair<int, int>> progress = std::nullopt,
                 const nlohmann::json* partial_result = nullptr);
  bool succeed(const std::string& id, const std::string& owner, const nlohmann::json& result);
  // Requeues after `retry_delay` while attempts remain, else marks the job failed.
  bool fail(const std::string& id, const std::string& owner, const std::string& error,
            std::chrono::seconds retry_delay);

  // The resource {id, kind, status, attempts, progress:{done,total}, result, error, created_at,
  // started_at, finished_at} as JSON text, or nullopt.
  std::optional<std::string> get(const std::string& id);
  JobPage list(const std::optional<std::string>& kind, const std::optional<std::string>& status, size_t limit,
               size_t offset);
  std::vector<JobCounts> counts();

  // A periodic tick of `name` (the sync tick, later the report tick): in one transaction, claims
  // tick number now / interval (INSERT ... ON CONFLICT DO NOTHING on periodic_ticks, so exactly one
  // instance enqueues per tick) and, unless a `kind` job of an earlier tick is still queued or
  // running, enqueues `kind` with `payload(tx)` plus {"trigger": name, "tick": n}. `payload`
  // returns nullopt when there is nothing to do. Returns the job id, or nullopt (another instance
  // had the tick, the last one is not done, or nothing to do).
  using TickPayload = std::function<std::optional<nlohmann::json>(pqxx::transaction_base&)>;
  std::optional<std::string> enqueue_tick(const std::string& name, int64_t interval_seconds,
                                          const std::string& kind, int max_attempts, const TickPayload& payload);

 private:
  Database& db_;
};

}  // namespace kargo::store
