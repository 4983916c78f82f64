#pragma once
// Runs background jobs (contract section 7) on worker threads of its own: claims due jobs from
// PostgreSQL (store::JobStore), keeps their leases alive while they run, records the outcome and
// retries failures with exponential backoff up to each kind's limit. Used by `serve` and by
// `kargo-dsp worker`; any number of processes can run one against the same database.
//
//   jobs::JobRunner runner(job_store, metrics, {.threads = 2});
//   runner.add_kind({.name = "amazon_upload", .max_attempts = 5, .run = [&](jobs::JobContext& job) {
//     for (...) { do_step(); job.checkpoint(done, total); }   // throws LeaseLost if taken over
//     return nlohmann::json{{"uploaded", n}};
//   }});
//   runner.start();
//   ...
//   runner.stop();  // lets running jobs finish their current step (bounded), then joins
//
// A job whose process dies keeps its lease until it expires; then another runner claims it and
// runs it again from the start, with the state its last checkpoint saved. So job steps must be
// idempotent (look up stored ids before creating anything upstream).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace kargo {
class Metrics;
namespace store {
class JobStore;
}
}  // namespace kargo

namespace kargo::jobs {

// Thrown by JobContext::checkpoint() when another runner took the job over (our lease expired):
// the step must stop without writing anything more.
class LeaseLost : public std::runtime_error {
 public:
  LeaseLost() : std::runtime_error("job lease lost") {}
};

class JobContext {
 public:
  JobContext(store::JobStore& store, std::string id, std::string kind, nlohmann::json payload, int attempt,
             nlohmann::json state, std::string owner, std::chrono::seconds lease);
  const std::string& id() const { return id_; }
  const std::string& kind() const { return kind_; }
  const nlohmann::json& payload() const { return payload_; }
  int attempt() const { return attempt_; }
  // State that survives a retry or a takeover: saved by checkpoint(), given back to the next
  // attempt (e.g. the upstream ids already created).
  nlohmann::json& state() { return state_; }
  // Saves progress and state and renews the lease. Throws LeaseLost.
  void checkpoint(int done, int total);
  bool lease_lost() const { return lost_.load(); }
  void mark_lost() { lost_.store(true); }
  const std::string& owner() const { return owner_; }

 private:
  store::JobStore& store_;
  std::string id_, kind_;
  nlohmann::json payload_;
  int attempt_;
  nlohmann::json state_;
  std::string owner_;
  std::chrono::seconds lease_;
  std::atomic<bool> lost_{false};
};

struct JobKind {
  std::string name;  // [a-z][a-z0-9_]*
  int max_attempts = 5;
  std::chrono::seconds base_backoff{5};  // attempt n waits base * 2^(n-1), at most an hour
  std::function<nlohmann::json(JobContext&)> run;
  // Called once when the last attempt failed (the job is now `failed`), with that attempt's
  // error: e.g. to mark what the job was working on as failed. Exceptions are logged and dropped.
  std::function<void(JobContext&, const std::string& error)> on_failed;
};

struct RunnerOptions {
  unsigned threads = 2;
  std::chrono::seconds lease{30};
  std::chrono::milliseconds poll_interval{500};
  std::string owner_prefix = "kargo";  // owner ids are <prefix>-<pid>-<thread>
};

class JobRunner {
 public:
  JobRunner(store::JobStore& store, Metrics& metrics, RunnerOptions options = {});
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  void add_kind(JobKind kind);  // before start()
  void start();
  // Stops claiming; waits up to `grace` for running jobs, then joins. Unfinished jobs keep
  // their lease and are taken over after it expires.
  void stop(std::chrono::seconds grace = std::chrono::seconds(20));
  // Wakes idle workers (a job was just enqueued by this process).
  void wake();
  // Updates jobs_queue_depth{kind} from the database (cheap; call every few seconds).
  void publish_queue_depth();
  std::vector<std::string> kinds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::jobs
