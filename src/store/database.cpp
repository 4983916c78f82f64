#include "kargo/store/database.hpp"

#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <vector>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "kargo/core/deadline.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"

namespace kargo::store {
namespace {

// Adds libpq options unless the URL sets them: a connect timeout, TCP keepalives (a dead peer
// is noticed), and a server-side statement_timeout as the first line of defence.
std::string connection_url(std::string url, std::chrono::milliseconds statement_timeout) {
  auto add = [&](const std::string& key, const std::string& value) {
    if (url.find(key + "=") != std::string::npos) return;
    url += (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
  };
  add("connect_timeout", "3");
  add("keepalives", "1");
  add("keepalives_idle", "10");
  add("keepalives_interval", "3");
  add("keepalives_count", "3");
  add("options", "-c%20statement_timeout%3D" + std::to_string(statement_timeout.count()));
  return url;
}

Error unavailable(const std::string& internal) {
  return Error(codes::kServiceUnavailable, "database unavailable; retry shortly", internal)
      .with_header("Retry-After", "1");
}

}  // namespace

// Shuts down the socket of a connection whose transaction overran its deadline, which makes
// the blocked libpq call return with an error. Needed because libpq's synchronous calls have no
// client-side timeout: a server that keeps the TCP connection open but never answers (frozen
// process, half-dead proxy) would otherwise hold a thread forever.
class Database::Watchdog {
 public:
  Watchdog() : thread_([this] { loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  uint64_t watch(int fd, std::chrono::steady_clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    uint64_t id = ++next_id_;
    active_[id] = {fd, deadline, false};
    // Wake the watchdog only when this deadline comes before its next wake-up: transactions with
    // the usual deadline cost no context switch.
    if (deadline < next_wake_) cv_.notify_all();
    return id;
  }

  // True when the watchdog cut this connection.
  bool unwatch(uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = active_.find(id);
    bool fired = it != active_.end() && it->second.fired;
    if (it != active_.end()) active_.erase(it);
    return fired;
  }

 private:
  struct Entry {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    bool fired;
  };

  void loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      auto now = std::chrono::steady_clock::now();
      auto next = now + std::chrono::seconds(60);
      for (auto& [id, e] : active_) {
        if (e.fired) continue;
        if (e.deadline <= now) {
          ::shutdown(e.fd, SHUT_RDWR);  // under the lock: the fd cannot be closed meanwhile
          e.fired = true;
          log::warn("database call overran its deadline; connection cut");
        } else {
          next = std::min(next, e.deadline);
        }
      }
      next_wake_ = next;
      cv_.wait_until(lock, next);
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> active_;
  uint64_t next_id_ = 0;
  std::chrono::steady_clock::time_point next_wake_ = std::chrono::steady_clock::time_point::max();  // the loop's next wake-up
  bool stop_ = false;
  std::thread thread_;
};

struct Database::Pool {
  std::string url;
  unsigned size;
  std::chrono::milliseconds acquire_timeout;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::unique_ptr<pqxx::connection>> idle;
  unsigned open = 0;
  unsigned in_use = 0;
  // Registered prepared statements, and how many of them each open connection has prepared
  // (pqxx prepares lazily, on first use, so preparing is a local registration).
  std::vector<std::pair<std::string, std::string>> statements;
  std::map<const pqxx::connection*, size_t> prepared;

  void prepare_all(pqxx::connection& c) {
    std::vector<std::pair<std::string, std::string>> missing;
    {
      std::lock_guard lock(mutex);
      size_t& done = prepared[&c];
      missing.assign(statements.begin() + static_cast<std::ptrdiff_t>(done), statements.end());
      done = statements.size();
    }
    for (const auto& [name, sql] : missing) c.prepare(name, sql);
  }
  void forget(const pqxx::connection* c) { prepared.erase(c); }  // under the lock

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
      lock.unlock();
      prepare_all(*c);
      return c;
    }
    ++open;
    lock.unlock();
    try {
      auto c = std::make_unique<pqxx::connection>(url);
      prepare_all(*c);
      return c;
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
        forget(c.get());
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
    for (const auto& c : idle) forget(c.get());
    idle.clear();
    cv.notify_all();
  }
};

Database::Database(std::string url, unsigned pool_size, std::chrono::milliseconds acquire_timeout,
                   Metrics* metrics, std::chrono::milliseconds statement_timeout)
    : url_(std::move(url)),
      pool_(std::make_unique<Pool>()),
      watchdog_(std::make_unique<Watchdog>()),
      metrics_(metrics),
      statement_timeout_(statement_timeout) {
  pool_->url = connection_url(url_, statement_timeout);
  pool_->size = pool_size;
  pool_->acquire_timeout = acquire_timeout;
  if (metrics_) metrics_->set_db_pool_size(pool_size);
}

Database::~Database() = default;

void Database::transact(const Work& work, std::optional<std::chrono::milliseconds> timeout) {
  run(work, Mode::kReadCommitted, timeout.value_or(statement_timeout_));
}
void Database::transact_serializable(const Work& work, std::optional<std::chrono::milliseconds> timeout) {
  run(work, Mode::kSerializable, timeout.value_or(statement_timeout_));
}
void Database::once(const Work& work, std::optional<std::chrono::milliseconds> timeout, Retry retry) {
  run(work, retry == Retry::kNever ? Mode::kAutocommitWrite : Mode::kAutocommit,
      timeout.value_or(statement_timeout_));
}

void Database::prepare(const std::string& name, const std::string& sql) {
  std::lock_guard lock(pool_->mutex);
  for (const auto& [n, s] : pool_->statements) {
    if (n == name) return;  // registered by an earlier store object of the same kind
  }
  pool_->statements.emplace_back(name, sql);
}

void Database::run(const Work& work, Mode mode, std::chrono::milliseconds timeout) {
  const bool serializable = mode == Mode::kSerializable;
  // The request this transaction works for may have less time left than the statement deadline.
  const Deadline deadline = current_deadline();
  if (deadline.passed()) {
    throw Error(codes::kServiceUnavailable, "request deadline passed before the database was reached",
                "deadline passed before the transaction started")
        .with_header("Retry-After", "1");
  }
  timeout = deadline.cap(timeout);
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
    // Unwatches on every path; fired() tells whether the watchdog cut the connection.
    struct Watch {
      Watchdog& dog;
      uint64_t id;
      bool done = false;
      bool was_fired = false;
      bool fired() {
        if (!done) {
          was_fired = dog.unwatch(id);
          done = true;
        }
        return was_fired;
      }
      ~Watch() { fired(); }
    } watch{*watchdog_, watchdog_->watch(conn->sock(), std::chrono::steady_clock::now() + timeout)};
    try {
      if (mode == Mode::kAutocommit || mode == Mode::kAutocommitWrite) {
        pqxx::nontransaction tx(*conn);
        committing = mode == Mode::kAutocommitWrite;  // sent = maybe committed: never resent
        work(tx);
      } else if (serializable) {
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
      watch.fired();
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
      if (watch.fired()) {
        throw unavailable("no answer within " + std::to_string(timeout.count()) + " ms");
      }
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

double Database::ping_ms(std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  transact([](pqxx::transaction_base& tx) { tx.exec("SELECT 1"); }, timeout);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

PoolStats Database::stats() const {
  std::lock_guard lock(pool_->mutex);
  return {pool_->size, pool_->open, pool_->in_use};
}

}  // namespace kargo::store
