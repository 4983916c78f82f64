#include "kargo/jobs/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kargo/core/digest.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/store/jobs.hpp"

namespace kargo::jobs {

JobContext::JobContext(store::JobStore& store, std::string id, std::string kind, nlohmann::json payload,
                       int attempt, nlohmann::json state, std::string owner, std::chrono::seconds lease)
    : store_(store),
      id_(std::move(id)),
      kind_(std::move(kind)),
      payload_(std::move(payload)),
      attempt_(attempt),
      state_(std::move(state)),
      owner_(std::move(owner)),
      lease_(lease) {}

void JobContext::checkpoint(int done, int total) {
  if (lost_.load()) throw LeaseLost();
  if (!store_.heartbeat(id_, owner_, lease_, std::make_pair(done, total), &state_)) {
    lost_.store(true);
    throw LeaseLost();
  }
}

struct JobRunner::Impl {
  Impl(store::JobStore& s, Metrics& m, RunnerOptions o) : store(s), metrics(m), options(std::move(o)) {}

  store::JobStore& store;
  Metrics& metrics;
  RunnerOptions options;
  std::map<std::string, JobKind> kinds;
  std::vector<std::string> kind_names;
  std::vector<std::thread> workers;
  std::thread heart;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  bool woken = false;
  std::set<JobContext*> active;  // guarded by mutex
  std::condition_variable idle_cv;

  std::chrono::seconds backoff(const JobKind& kind, int attempt) const {
    int64_t seconds = kind.base_backoff.count();
    for (int i = 1; i < attempt && seconds < 3600; ++i) seconds *= 2;
    return std::chrono::seconds(std::min<int64_t>(seconds, 3600));
  }

  void work(const std::string& owner) {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
      }
      std::optional<store::ClaimedJob> job;
      try {
        job = store.claim(owner, kind_names, options.lease);
      } catch (const std::exception& e) {
        log::warn("claiming a job failed", {{"error", e.what()}});
      }
      if (!job) {
        std::unique_lock lock(mutex);
        cv.wait_for(lock, options.poll_interval, [&] { return stopping || woken; });
        woken = false;
        continue;
      }
      run_one(*job, owner);
    }
  }

  void run_one(store::ClaimedJob& job, const std::string& owner) {
    const JobKind& kind = kinds.at(job.kind);
    JobContext ctx(store, job.id, job.kind, std::move(job.payload), job.attempts,
                   std::move(job.progress_result), owner, options.lease);
    log::RequestScope scope(job.id);  // log lines of the job carry its id
    {
      std::lock_guard lock(mutex);
      active.insert(&ctx);
    }
    log::info("job started", {{"kind", job.kind}, {"attempt", job.attempts}});
    auto started = std::chrono::steady_clock::now();
    std::optional<std::string> failure;
    nlohmann::json result;
    try {
      result = kind.run(ctx);
    } catch (const LeaseLost&) {
      ctx.mark_lost();
    } catch (const Error& e) {
      failure = e.external_message();
      log::warn("job attempt failed", {{"kind", job.kind}, {"error", e.what()}});
    } catch (const std::exception& e) {
      failure = "internal error";
      log::error("job attempt failed", {{"kind", job.kind}, {"error", e.what()}});
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    try {
      if (ctx.lease_lost()) {
        log::warn("job taken over by another worker; this attempt's outcome is dropped",
                  {{"kind", job.kind}});
      } else if (!failure) {
        if (store.succeed(job.id, owner, result)) metrics.job_processed(job.kind, "succeeded");
        log::info("job succeeded", {{"kind", job.kind}, {"seconds", seconds}});
      } else {
        bool last = job.attempts >= job.max_attempts;
        if (store.fail(job.id, owner, *failure, backoff(kind, job.attempts))) {
          metrics.job_processed(job.kind, last ? "failed" : "retried");
          if (last && kind.on_failed) kind.on_failed(ctx, *failure);
        }
      }
    } catch (const std::exception& e) {
      // The outcome is lost with the database; the lease expires and the job runs again.
      log::error("recording a job outcome failed", {{"kind", job.kind}, {"error", e.what()}});
    }
    {
      std::lock_guard lock(mutex);
      active.erase(&ctx);
    }
    idle_cv.notify_all();
  }

  // Renews the lease of every running job a third of the way through it, so a job whose step
  // blocks for long (an upstream poll) is not taken over while it is alive.
  void heartbeat_loop() {
    auto period = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200), options.lease / 3);
    std::unique_lock lock(mutex);
    while (!stopping || !active.empty()) {
      cv.wait_for(lock, period);
      std::vector<JobContext*> running(active.begin(), active.end());
      lock.unlock();
      for (auto* ctx : running) {
        try {
          if (!store.heartbeat(ctx->id(), ctx->owner(), options.lease)) ctx->mark_lost();
        } catch (const std::exception& e) {
          log::warn("job heartbeat failed", {{"job_id", ctx->id()}, {"error", e.what()}});
        }
      }
      lock.lock();
      if (stopping && active.empty()) break;
    }
  }
};

JobRunner::JobRunner(store::JobStore& store, Metrics& metrics, RunnerOptions options)
    : impl_(std::make_unique<Impl>(store, metrics, std::move(options))) {}

JobRunner::~JobRunner() { stop(); }

void JobRunner::add_kind(JobKind kind) {
  impl_->metrics.declare_job_kind(kind.name);
  impl_->kind_names.push_back(kind.name);
  impl_->kinds.emplace(kind.name, std::move(kind));
}

std::vector<std::string> JobRunner::kinds() const { return impl_->kind_names; }

void JobRunner::start() {
  if (impl_->kind_names.empty() || !impl_->workers.empty()) return;
  std::string base = impl_->options.owner_prefix + "-" + std::to_string(::getpid()) + "-" + random_id("");
  for (unsigned i = 0; i < std::max(1u, impl_->options.threads); ++i) {
    impl_->workers.emplace_back([this, owner = base + "-" + std::to_string(i)] { impl_->work(owner); });
  }
  impl_->heart = std::thread([this] { impl_->heartbeat_loop(); });
}

void JobRunner::stop(std::chrono::seconds grace) {
  {
    std::unique_lock lock(impl_->mutex);
    if (impl_->stopping && impl_->workers.empty()) return;
    impl_->stopping = true;
    impl_->cv.notify_all();
    if (!impl_->idle_cv.wait_for(lock, grace, [&] { return impl_->active.empty(); })) {
      log::warn("jobs still running at shutdown; waiting for their current step",
                {{"running", static_cast<int64_t>(impl_->active.size())}});
    }
  }
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  impl_->cv.notify_all();
  if (impl_->heart.joinable()) impl_->heart.join();
}

void JobRunner::wake() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->woken = true;
  }
  impl_->cv.notify_all();
}

void JobRunner::publish_queue_depth() {
  auto counts = impl_->store.counts();
  for (const auto& name : impl_->kind_names) {
    double depth = 0;
    for (const auto& c : counts) {
      if (c.kind == name) depth = static_cast<double>(c.queued);
    }
    impl_->metrics.set_jobs_queue_depth(name, depth);
  }
}

}  // namespace kargo::jobs
