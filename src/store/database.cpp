#include "kargo/store/database.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <pqxx/pqxx>

#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"

namespace kargo::store {
namespace {

std::string with_connect_timeout(std::string url) {
  if (url.find("connect_timeout=") != std::string::npos) return url;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=3";
}

Error unavailable(const std::string& internal) {
  return Error(codes::kServiceUnavailable, "database unavailable; retry shortly", internal)
      .with_header("Retry-After", "1");
}

}  // namespace

struct Database::Pool {
  std::string url;
  unsigned size;
  std::chrono::milliseconds acquire_timeout;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::unique_ptr<pqxx::connection>> idle;
  unsigned open = 0;
  unsigned in_use = 0;

  // Takes an idle connection, opens a new one while under the limit, or waits.
  std::unique_ptr<pqxx::connection> acquire() {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, acquire_timeout, [&] { return !idle.empty() || open < size; })) {
      throw Error(codes::kServiceUnavailable, "database connection pool exhausted; retry shortly",
                  "pool wait timed out after " + std::to_string(acquire_timeout.count()) + " ms")
          .with_header("Retry-After", "1");
    }
    ++in_use;
    if (!idle.empty()) {
      auto c = std::move(idle.front());
      idle.pop_front();
      return c;
    }
    ++open;
    lock.unlock();
    try {
      return std::make_unique<pqxx::connection>(url);
    } catch (const std::exception& e) {
      lock.lock();
      --open;
      --in_use;
      cv.notify_one();
      throw unavailable(std::string("connect failed: ") + e.what());
    }
  }

  void release(std::unique_ptr<pqxx::connection> c, bool broken) {
    {
      std::lock_guard lock(mutex);
      --in_use;
      if (broken || !c || !c->is_open()) {
        --open;
      } else {
        idle.push_back(std::move(c));
      }
    }
    cv.notify_one();
  }

  // Drops every idle connection (after one was found broken, the others likely are too).
  void drop_idle() {
    std::lock_guard lock(mutex);
    open -= static_cast<unsigned>(idle.size());
    idle.clear();
    cv.notify_all();
  }
};

Database::Database(std::string url, unsigned pool_size, std::chrono::milliseconds acquire_timeout,
                   Metrics* metrics)
    : url_(std::move(url)), pool_(std::make_unique<Pool>()), metrics_(metrics) {
  pool_->url = with_connect_timeout(url_);
  pool_->size = pool_size;
  pool_->acquire_timeout = acquire_timeout;
}

Database::~Database() = default;

void Database::transact(const Work& work) { run(work, false); }
void Database::transact_serializable(const Work& work) { run(work, true); }

void Database::run(const Work& work, bool serializable) {
  auto start = std::chrono::steady_clock::now();
  int broken_retries = 1;
  int serialization_retries = serializable ? 3 : 0;
  for (;;) {
    auto conn = pool_->acquire();
    if (metrics_) {
      auto s = stats();
      metrics_->set_db_pool(s.in_use, s.open - s.in_use);
    }
    bool broken = false;
    bool committing = false;
    try {
      if (serializable) {
        pqxx::transaction<pqxx::serializable> tx(*conn);
        work(tx);
        committing = true;
        tx.commit();
      } else {
        pqxx::work tx(*conn);
        work(tx);
        committing = true;
        tx.commit();
      }
      pool_->release(std::move(conn), false);
      if (metrics_) {
        metrics_->observe_db_query(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      return;
    } catch (const pqxx::in_doubt_error& e) {
      pool_->release(std::move(conn), true);
      throw unavailable(std::string("commit outcome unknown: ") + e.what());
    } catch (const pqxx::broken_connection& e) {
      broken = true;
      pool_->release(std::move(conn), true);
      pool_->drop_idle();
      if (broken_retries-- > 0 && !committing) {
        log::warn("database connection lost; retrying on a new connection");
        continue;
      }
      throw unavailable(std::string("connection lost: ") + e.what());
    } catch (const pqxx::serialization_failure& e) {
      pool_->release(std::move(conn), false);
      if (serialization_retries-- > 0) continue;
      throw Error(codes::kConflict, "concurrent update; retry the request", e.what());
    } catch (const pqxx::unique_violation& e) {
      pool_->release(std::move(conn), false);
      throw Error(codes::kConflict, "a resource with the same unique key already exists", e.what());
    } catch (const pqxx::sql_error& e) {
      bool dead = !conn->is_open();
      pool_->release(std::move(conn), dead);
      // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection.
      std::string state = e.sqlstate();
      if (state.starts_with("57P") || state.starts_with("08")) {
        pool_->drop_idle();
        if (broken_retries-- > 0 && !committing) continue;
        throw unavailable(std::string("database shutting down: ") + e.what());
      }
      log::error("database error", {{"sqlstate", state}, {"error", e.what()}});
      throw Error(codes::kInternal, "internal error", std::string("sql error ") + state);
    } catch (...) {
      // kargo::Error from inside `work` and anything else: the transaction rolls back.
      bool dead = broken || !conn->is_open();
      pool_->release(std::move(conn), dead);
      throw;
    }
  }
}

double Database::ping_ms() {
  auto start = std::chrono::steady_clock::now();
  transact([](pqxx::transaction_base& tx) { tx.exec("SELECT 1"); });
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

PoolStats Database::stats() const {
  std::lock_guard lock(pool_->mutex);
  return {pool_->size, pool_->open, pool_->in_use};
}

}  // namespace kargo::store
