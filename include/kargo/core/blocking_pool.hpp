#pragma once
// The database pool's threads: a bounded pool for work that blocks on PostgreSQL or Redis (and
// the CPU work right before such a step), so the Asio I/O threads never do. Sized like the
// PostgreSQL connection pool. Nothing here ever waits on an upstream: upstream calls run on the
// upstream client's own threads (docs/ARCHITECTURE.md, "Executors").
//
//   pool.submit([&] { run_query(); }, [&] { reply_503(); }, request.deadline);
//
// A task still queued when its deadline passes (the request's deadline, or the pool's queue
// timeout, whichever comes first) is not run: its `expired` callback runs instead, on the pool's
// monitor thread (keep it short: it posts a 503). This happens on time even when every worker is
// stuck, which is how a saturated service answers 503 instead of queueing forever. A task runs
// under a DeadlineScope of its deadline, so the transactions it opens get the time that is left.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "kargo/core/deadline.hpp"

namespace kargo {

class BlockingPool {
 public:
  using Task = std::function<void()>;
  BlockingPool(unsigned threads, std::chrono::milliseconds queue_timeout, size_t max_queue = 10000);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False when the queue is full or the pool stopped; then neither callback runs.
  bool submit(Task task, Task expired, const Deadline& deadline = {});
  // Waits for queued tasks to finish, then joins the threads.
  void stop();

  unsigned size() const { return static_cast<unsigned>(threads_.size()); }
  unsigned busy() const;
  size_t queued() const;

 private:
  struct Item {
    Task task;
    Task expired;
    Deadline deadline;   // the caller's (runs under it)
    Deadline::Clock::time_point expires;  // the earlier of the caller's deadline and the queue timeout
  };
  using Queue = std::list<Item>;
  void run();
  void monitor();
  void unlink(Queue::iterator it);

  std::chrono::milliseconds queue_timeout_;
  size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable monitor_cv_;
  Queue queue_;  // FIFO: the order tasks run in
  std::multimap<Deadline::Clock::time_point, Queue::iterator> by_expiry_;  // what the monitor watches
  unsigned busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::thread monitor_;
};

}  // namespace kargo
