#pragma once
// A bounded pool of threads for work that may block (libpqxx, hiredis, password hashing), so the
// Asio I/O threads never do. Sized like the PostgreSQL pool.
//
//   pool.submit([&] { run_query(); }, [&] { reply_503(); });
//
// A task still queued when its deadline passes is not run: its `expired` callback runs instead,
// on the pool's monitor thread (keep it short: it posts a 503). This happens on time even
// when every worker is stuck, which is how a saturated service answers 503 instead of queueing
// forever.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kargo {

class BlockingPool {
 public:
  using Task = std::function<void()>;
  BlockingPool(unsigned threads, std::chrono::milliseconds queue_timeout, size_t max_queue = 10000);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False when the queue is full or the pool stopped; then neither callback runs.
  bool submit(Task task, Task expired);
  // Waits for queued tasks to finish, then joins the threads.
  void stop();

  unsigned size() const { return static_cast<unsigned>(threads_.size()); }
  unsigned busy() const;
  size_t queued() const;

 private:
  struct Item {
    Task task;
    Task expired;
    std::chrono::steady_clock::time_point deadline;
  };
  void run();
  void monitor();

  std::chrono::milliseconds queue_timeout_;
  size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable monitor_cv_;
  std::deque<Item> queue_;
  unsigned busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::thread monitor_;
};

}  // namespace kargo
