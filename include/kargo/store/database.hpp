#pragma once
// PostgreSQL access: a bounded pool of libpqxx connections and the one place where database
// errors become service errors (unique violation -> 409, lost connection -> 503, anything
// else -> 500 with the detail only in the log).
//
//   db.transact([&](pqxx::transaction_base& tx) {
//     tx.exec_params("UPDATE ...", a, b);
//   });
//
// Blocking: call only from the blocking pool or other non-I/O threads. Connections are made
// lazily and replaced after the server restarts; a transaction that fails because its
// connection broke before commit is retried once on a fresh connection.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace pqxx {
class transaction_base;
}

namespace kargo {
class Metrics;
}

namespace kargo::store {

struct PoolStats {
  unsigned size = 0;  // configured maximum
  unsigned open = 0;  // connections currently open
  unsigned in_use = 0;
};

class Database {
 public:
  Database(std::string url, unsigned pool_size, std::chrono::milliseconds acquire_timeout, Metrics* metrics);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  using Work = std::function<void(pqxx::transaction_base&)>;
  // Read-committed transaction, committed when `work` returns.
  void transact(const Work& work);
  // Same, serializable, retried on serialization failures (up to 3 times).
  void transact_serializable(const Work& work);

  // Round trip time of `SELECT 1` in milliseconds; throws Error(503) when unreachable.
  double ping_ms();
  PoolStats stats() const;
  const std::string& url() const { return url_; }

 private:
  struct Pool;
  void run(const Work& work, bool serializable);
  std::string url_;
  std::unique_ptr<Pool> pool_;
  Metrics* metrics_;
};

}  // namespace kargo::store
