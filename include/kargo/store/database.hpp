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
//
// Every transaction has a deadline (DATABASE_STATEMENT_TIMEOUT_MS unless given): the server
// cancels statements that run longer, and a watchdog thread shuts the socket of a connection
// whose server stopped answering altogether, so a hung database costs a 503, not a stuck thread.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
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
  Database(std::string url, unsigned pool_size, std::chrono::milliseconds acquire_timeout, Metrics* metrics,
           std::chrono::milliseconds statement_timeout = std::chrono::milliseconds(10000));
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  using Work = std::function<void(pqxx::transaction_base&)>;
  // Read-committed transaction, committed when `work` returns.
  void transact(const Work& work, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Same, serializable, retried on serialization failures (up to 3 times).
  void transact_serializable(const Work& work,
                             std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // One statement in autocommit mode: a single round trip, no BEGIN/COMMIT. For reads, and for
  // single-statement writes (atomic by themselves). A read is retried once on a fresh connection
  // when the connection broke; a write (Retry::kNever) is not, since it may have committed.
  enum class Retry { kIfBroken, kNever };
  void once(const Work& work, std::optional<std::chrono::milliseconds> timeout = std::nullopt,
            Retry retry = Retry::kIfBroken);

  // Registers a prepared statement by name (stores do it for their hot statements, at
  // construction): every pooled connection prepares it before first use, so the server parses and
  // plans it once per connection. Run it with tx.exec_prepared(name, args...).
  void prepare(const std::string& name, const std::string& sql);

  // Round trip time of `SELECT 1` in milliseconds; throws Error(503) when unreachable.
  double ping_ms(std::chrono::milliseconds timeout);
  PoolStats stats() const;
  const std::string& url() const { return url_; }

 private:
  struct Pool;
  class Watchdog;
  enum class Mode { kReadCommitted, kSerializable, kAutocommit, kAutocommitWrite };
  void run(const Work& work, Mode mode, std::chrono::milliseconds timeout);
  std::string url_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<Watchdog> watchdog_;
  Metrics* metrics_;
  std::chrono::milliseconds statement_timeout_;
};

}  // namespace kargo::store
