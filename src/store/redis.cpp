#include "kargo/store/redis.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/url/parse.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"

namespace kargo::store {
namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  if (!r) {
    out.type = RedisReply::Type::kError;
    out.str = "no reply";
    return out;
  }
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

RedisReply error_reply(std::string message) {
  RedisReply r;
  r.type = RedisReply::Type::kError;
  r.str = std::move(message);
  return r;
}

}  // namespace

RedisEndpoint parse_redis_url(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "redis") throw std::invalid_argument("not a redis:// URL");
  RedisEndpoint ep;
  if (!parsed->host().empty()) ep.host = std::string(parsed->host());
  if (parsed->has_port()) ep.port = parsed->port_number();
  if (parsed->has_password()) ep.password = std::string(parsed->password());
  std::string path(parsed->path());
  if (path.size() > 1) {
    try {
      ep.db = std::stoi(path.substr(1));
    } catch (const std::exception&) {
      throw std::invalid_argument("database number must be an integer");
    }
  }
  return ep;
}

struct Redis::Impl {
  struct Pending {
    std::vector<std::string> argv;
    Callback done;
  };

  RedisEndpoint endpoint;
  Metrics* metrics;
  std::chrono::milliseconds timeout;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Pending> queue;
  bool stopping = false;
  std::atomic<bool> connected{false};
  redisContext* ctx = nullptr;
  std::chrono::steady_clock::time_point next_attempt{};
  std::thread thread;

  void fail(std::vector<Pending>& batch, const std::string& why) {
    for (auto& p : batch) {
      if (metrics) metrics->redis_error();
      p.done(error_reply(why));
    }
  }

  void disconnect() {
    if (ctx) redisFree(ctx);
    ctx = nullptr;
    if (connected.exchange(false)) log::warn("redis connection lost");
  }

  bool connect() {
    if (ctx) return true;
    auto now = std::chrono::steady_clock::now();
    if (now < next_attempt) return false;
    next_attempt = now + std::chrono::milliseconds(500);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ctx = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv);
    if (!ctx || ctx->err) {
      disconnect();
      return false;
    }
    redisSetTimeout(ctx, tv);
    auto setup = [&](std::vector<std::string> argv) {
      std::vector<const char*> args;
      std::vector<size_t> lens;
      for (auto& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
      }
      auto* r = static_cast<redisReply*>(
          redisCommandArgv(ctx, static_cast<int>(args.size()), args.data(), lens.data()));
      bool good = r && r->type != REDIS_REPLY_ERROR;
      if (r) freeReplyObject(r);
      return good;
    };
    if ((!endpoint.password.empty() && !setup({"AUTH", endpoint.password})) ||
        (endpoint.db != 0 && !setup({"SELECT", std::to_string(endpoint.db)}))) {
      log::error("redis AUTH/SELECT failed");
      disconnect();
      return false;
    }
    if (!connected.exchange(true))
      log::info("redis connected", {{"host", endpoint.host}, {"port", endpoint.port}});
    return true;
  }

  void run() {
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping && queue.empty()) break;
        while (!queue.empty() && batch.size() < 1024) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      if (!connect()) {
        fail(batch, "redis unavailable");
        continue;
      }
      for (auto& p : batch) {
        std::vector<const char*> args;
        std::vector<size_t> lens;
        for (auto& a : p.argv) {
          args.push_back(a.data());
          lens.push_back(a.size());
        }
        redisAppendCommandArgv(ctx, static_cast<int>(args.size()), args.data(), lens.data());
      }
      size_t i = 0;
      for (; i < batch.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx, &raw) != REDIS_OK) break;
        auto* reply = static_cast<redisReply*>(raw);
        auto converted = convert(reply);
        freeReplyObject(reply);
        batch[i].done(std::move(converted));
      }
      if (i < batch.size()) {
        std::string why =
            std::string("redis I/O error: ") + (ctx && ctx->errstr[0] ? ctx->errstr : "unknown");
        disconnect();
        std::vector<Pending> rest(std::make_move_iterator(batch.begin() + static_cast<long>(i)),
                                  std::make_move_iterator(batch.end()));
        fail(rest, why);
      }
    }
    disconnect();
  }
};

Redis::Redis(const std::string& url, Metrics* metrics, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = parse_redis_url(url);
  impl_->metrics = metrics;
  impl_->timeout = timeout;
  impl_->thread = std::thread([this] { impl_->run(); });
}

Redis::~Redis() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Redis::command(std::vector<std::string> argv, Callback done) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->stopping) {
      impl_->queue.push_back({std::move(argv), std::move(done)});
      impl_->cv.notify_one();
      return;
    }
  }
  done(error_reply("redis client stopped"));
}

RedisReply Redis::call(std::vector<std::string> argv) {
  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  command(std::move(argv), [promise](RedisReply r) { promise->set_value(std::move(r)); });
  return future.get();
}

bool Redis::up() const { return impl_->connected.load(); }

double Redis::ping_ms() {
  auto start = std::chrono::steady_clock::now();
  auto r = call({"PING"});
  if (!r.ok()) return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace kargo::store
