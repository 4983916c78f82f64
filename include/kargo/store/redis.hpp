#pragma once
// Redis access through one connection owned by one thread.
//
// Callers queue commands (from any thread, never blocking); the Redis thread writes everything
// queued as one pipeline and reads the replies, so many concurrent requests cost one round trip.
// hiredis's synchronous API is used on that thread only: no I/O thread ever waits on Redis.
// When Redis is unreachable every command fails at once with an error (counted in
// redis_errors_total) and the thread retries the connection with a short backoff.
//
//   redis.command({"GET", "k"}, [](RedisReply r) { if (r.ok()) use(r.str); });
//   RedisReply r = redis.call({"SET", "k", "v"});  // blocking: only off the I/O threads

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kargo {
class Metrics;
}

namespace kargo::store {

struct RedisReply {
  enum class Type { kError, kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // string, status or error text
  std::vector<RedisReply> elements;
  bool ok() const { return type != Type::kError; }
};

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};
// Parses redis://[:password@]host[:port][/db]; throws std::invalid_argument.
RedisEndpoint parse_redis_url(const std::string& url);

class Redis {
 public:
  Redis(const std::string& url, Metrics* metrics,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(500));
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  using Callback = std::function<void(RedisReply)>;
  // Queues a command; `done` runs on the Redis thread (keep it short) exactly once.
  void command(std::vector<std::string> argv, Callback done);
  // Queues and waits for the reply. Blocking.
  RedisReply call(std::vector<std::string> argv);
  // Last known connection state (true after a successful reply).
  bool up() const;
  // PING round trip in ms, or a negative number when Redis is down. Blocking.
  double ping_ms();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kargo::store
