#include "kargo/store/jobs.hpp"

#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/store/database.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// The resource of contract section 7, built by PostgreSQL.
#define KARGO_JOB_JSON \
  "json_build_object('id', j.id, 'kind', j.kind, 'status', j.status, 'attempts', j.attempts, "                \
  "'max_attempts', j.max_attempts, "                                                                           \
  "'progress', json_build_object('done', j.progress_done, 'total', j.progress_total), "                       \
  "'result', j.result, 'error', j.error, 'created_by', j.created_by, 'created_at', " KARGO_TS("j.created_at") \
  ", 'started_at', " KARGO_TS("j.started_at") ", 'finished_at', " KARGO_TS("j.finished_at") ")"

constexpr const char* kInsertJob =
    "INSERT INTO jobs (id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3::jsonb, $4, $5)";

// Due queued jobs first (oldest first), then running jobs whose lease expired. The claim counts
// as an attempt.
constexpr const char* kClaimJob =
    "UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, lease_owner = $1, "
    "lease_expires_at = clock_timestamp() + make_interval(secs => $2), "
    "started_at = coalesce(j.started_at, clock_timestamp()) "
    "FROM (SELECT id FROM jobs WHERE kind = ANY($3::text[]) AND "
    "((status = 'queued' AND run_after <= clock_timestamp()) OR "
    "(status = 'running' AND lease_expires_at < clock_timestamp())) "
    "ORDER BY run_after, created_at FOR UPDATE SKIP LOCKED LIMIT 1) next "
    "WHERE j.id = next.id RETURNING j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, "
    "coalesce(j.result, '{}'::jsonb)::text";

constexpr const char* kHeartbeat =
    "UPDATE jobs SET lease_expires_at = clock_timestamp() + make_interval(secs => $3), "
    "progress_done = coalesce($4, progress_done), progress_total = coalesce($5, progress_total), "
    "result = coalesce($6::jsonb, result) "
    "WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING 1";

constexpr const char* kSucceed =
    "UPDATE jobs SET status = 'succeeded', result = $3::jsonb, error = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, finished_at = clock_timestamp(), "
    "progress_done = GREATEST(progress_done, progress_total) "
    "WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING 1";

// Attempts left: back to the queue after the delay; else failed for good.
constexpr const char* kFail =
    "UPDATE jobs SET error = $3, lease_owner = NULL, lease_expires_at = NULL, "
    "status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, "
    "run_after = clock_timestamp() + make_interval(secs => $4), "
    "finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE clock_timestamp() END "
    "WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING 1";

constexpr const char* kGetJob = "SELECT " KARGO_JOB_JSON "::text FROM jobs j WHERE j.id = $1";

constexpr const char* kCounts =
    "SELECT kind, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running') "
    "FROM jobs WHERE status IN ('queued', 'running') GROUP BY kind ORDER BY kind";


constexpr const char* kClaimTick =
    "INSERT INTO periodic_ticks (name, bucket) "
    "VALUES ($1, floor(extract(epoch FROM clock_timestamp()) / $2)::bigint) "
    "ON CONFLICT DO NOTHING RETURNING bucket";

constexpr const char* kTickJobBusy =
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND created_by = $2 AND status IN ('queued', "
    "'running'))";

constexpr const char* kTickJob = "UPDATE periodic_ticks SET job_id = $3 WHERE name = $1 AND bucket = $2";

}  // namespace

std::string JobStore::enqueue(pqxx::transaction_base& tx, const std::string& kind, const json& payload,
                              const std::string& actor, int max_attempts) {
  std::string id = random_id("job_");
  tx.exec_params(kInsertJob, id, kind, payload.dump(), max_attempts, actor);
  return id;
}

std::string JobStore::enqueue(const std::string& kind, const json& payload, const std::string& actor,
                              int max_attempts) {
  std::string id;
  db_.transact([&](pqxx::transaction_base& tx) { id = enqueue(tx, kind, payload, actor, max_attempts); });
  return id;
}

std::optional<ClaimedJob> JobStore::claim(const std::string& owner, const std::vector<std::string>& kinds,
                                          std::chrono::seconds lease) {
  std::optional<ClaimedJob> out;
  if (kinds.empty()) return out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kClaimJob, owner, static_cast<double>(lease.count()), text_array(kinds));
    if (rows.empty()) return;
    const auto& r = rows[0];
    out = ClaimedJob{r[0].as<std::string>(), r[1].as<std::string>(), json::parse(r[2].as<std::string>()),
                     r[3].as<int>(),         r[4].as<int>(),         json::parse(r[5].as<std::string>())};
  });
  return out;
}

bool JobStore::heartbeat(const std::string& id, const std::string& owner, std::chrono::seconds lease,
                         std::optional<std::pair<int, int>> progress, const json* partial_result) {
  bool owned = false;
  std::optional<int> done, total;
  if (progress) {
    done = progress->first;
    total = progress->second;
  }
  std::optional<std::string> result;
  if (partial_result) result = partial_result->dump();
  db_.transact([&](pqxx::transaction_base& tx) {
    owned = !tx.exec_params(kHeartbeat, id, owner, static_cast<double>(lease.count()), done, total, result)
                 .empty();
  });
  return owned;
}

bool JobStore::succeed(const std::string& id, const std::string& owner, const json& result) {
  bool owned = false;
  db_.transact([&](pqxx::transaction_base& tx) {
    owned = !tx.exec_params(kSucceed, id, owner, result.dump()).empty();
  });
  return owned;
}

bool JobStore::fail(const std::string& id, const std::string& owner, const std::string& error,
                    std::chrono::seconds retry_delay) {
  bool owned = false;
  db_.transact([&](pqxx::transaction_base& tx) {
    owned = !tx.exec_params(kFail, id, owner, error, static_cast<double>(retry_delay.count())).empty();
  });
  return owned;
}

JobStore::JobStore(Database& db) : db_(db) {
  prepare_resource_reads(db, "job", kGetJob, "jobs", "j",
                         "WHERE ($1::text IS NULL OR j.kind = $1) AND ($2::text IS NULL OR j.status = $2) ",
                         KARGO_JOB_JSON, 3);
}

std::optional<std::string> JobStore::get(const std::string& id) { return fetch_text(db_, "job_get", id); }

JobPage JobStore::list(const std::optional<std::string>& kind, const std::optional<std::string>& status,
                       size_t limit, size_t offset) {
  return read_page_prepared(db_, "job_list", kind, status, limit, offset);
}

std::vector<JobCounts> JobStore::counts() {
  std::vector<JobCounts> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.clear();
    for (const auto& row : tx.exec(kCounts)) {
      out.push_back({row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<int64_t>()});
    }
  });
  return out;
}

std::optional<std::string> JobStore::enqueue_tick(const std::string& name, int64_t interval_seconds,
                                                  const std::string& kind, int max_attempts,
                                                  const TickPayload& payload) {
  std::optional<std::string> job_id;
  db_.transact([&](pqxx::transaction_base& tx) {
    job_id.reset();
    auto claimed = tx.exec_params(kClaimTick, name, static_cast<double>(interval_seconds));
    if (claimed.empty()) return;  // another instance had this tick
    const std::string actor = "system:" + name;
    if (tx.exec_params1(kTickJobBusy, kind, actor)[0].as<bool>()) return;
    auto body = payload(tx);
    if (!body) return;
    auto bucket = claimed[0][0].as<int64_t>();
    (*body)["trigger"] = name;
    (*body)["tick"] = bucket;
    job_id = enqueue(tx, kind, *body, actor, max_attempts);
    tx.exec_params(kTickJob, name, bucket, *job_id);
  });
  return job_id;
}

}  // namespace kargo::store
