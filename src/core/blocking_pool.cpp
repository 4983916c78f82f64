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

bool BlockingPool::submit(Task task, Task expired, const Deadline& deadline) {
  auto expires = Deadline::after(queue_timeout_).earliest(deadline).when().value();
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    auto it = queue_.insert(queue_.end(), Item{std::move(task), std::move(expired), deadline, expires});
    by_expiry_.emplace(expires, it);
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

// Removes a queued item's entry from the expiry index (the caller holds the lock).
void BlockingPool::unlink(Queue::iterator it) {
  auto [first, last] = by_expiry_.equal_range(it->expires);
  for (auto e = first; e != last; ++e) {
    if (e->second == it) {
      by_expiry_.erase(e);
      return;
    }
  }
}

void BlockingPool::monitor() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (by_expiry_.empty()) {
      monitor_cv_.wait(lock);
      continue;
    }
    auto first = by_expiry_.begin();
    if (first->first > Deadline::Clock::now()) {
      monitor_cv_.wait_until(lock, first->first);
      continue;
    }
    auto it = first->second;
    by_expiry_.erase(first);
    Task expired = std::move(it->expired);
    queue_.erase(it);
    lock.unlock();
    if (expired) expired();
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
      auto it = queue_.begin();
      unlink(it);
      item = std::move(*it);
      queue_.erase(it);
      ++busy_;
    }
    try {
      if (Deadline::Clock::now() >= item.expires) {
        if (item.expired) item.expired();
      } else {
        DeadlineScope scope(item.deadline);
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
