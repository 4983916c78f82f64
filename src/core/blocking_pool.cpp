#include "kargo/core/blocking_pool.hpp"

#include "kargo/core/log.hpp"

namespace kargo {

BlockingPool::BlockingPool(unsigned threads, std::chrono::milliseconds queue_timeout, size_t max_queue)
    : queue_timeout_(queue_timeout), max_queue_(max_queue) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  monitor_ = std::thread([this] { monitor(); });
}

BlockingPool::~BlockingPool() { stop(); }

bool BlockingPool::submit(Task task, Task expired) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(
        {std::move(task), std::move(expired), std::chrono::steady_clock::now() + queue_timeout_});
  }
  cv_.notify_one();
  monitor_cv_.notify_one();
  return true;
}

void BlockingPool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  monitor_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (monitor_.joinable()) monitor_.join();
}

void BlockingPool::monitor() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // All tasks share one timeout, so the queue is ordered by deadline: only the front matters.
    if (queue_.empty()) {
      monitor_cv_.wait(lock);
      continue;
    }
    if (queue_.front().deadline > std::chrono::steady_clock::now()) {
      monitor_cv_.wait_until(lock, queue_.front().deadline);
      continue;
    }
    Item item = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (item.expired) item.expired();
    lock.lock();
  }
}

unsigned BlockingPool::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

size_t BlockingPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void BlockingPool::run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      item = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    try {
      if (std::chrono::steady_clock::now() > item.deadline) {
        if (item.expired) item.expired();
      } else {
        item.task();
      }
    } catch (const std::exception& e) {
      // Tasks handle their own errors; reaching here is a bug worth a loud line.
      log::error("blocking task threw", {{"error", e.what()}});
    } catch (...) {
      log::error("blocking task threw a non-exception");
    }
    std::lock_guard lock(mutex_);
    --busy_;
  }
}

}  // namespace kargo
