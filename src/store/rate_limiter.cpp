#include "kargo/store/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kargo/core/digest.hpp"
#include "kargo/store/redis.hpp"

namespace kargo::store {
namespace {

// Same math as TokenBucket::take, run atomically in Redis. Time comes from the Redis server so
// that instances with skewed clocks share one bucket consistently.
constexpr const char* kScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
local granted = math.min(requested, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {granted, tostring(tokens), now}
)lua";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint64_t TokenBucket::take(int64_t now, uint64_t requested) {
  double elapsed = static_cast<double>(std::max<int64_t>(0, now - updated_ms));
  tokens = std::min(capacity, tokens + elapsed * refill_per_ms);
  updated_ms = std::max(updated_ms, now);
  auto granted = std::min<uint64_t>(requested, static_cast<uint64_t>(std::floor(tokens)));
  tokens -= static_cast<double>(granted);
  return granted;
}

int64_t TokenBucket::retry_after_seconds() const {
  double missing = std::max(0.0, 1.0 - tokens);
  auto secs = static_cast<int64_t>(std::ceil(missing / refill_per_ms / 1000.0));
  return std::max<int64_t>(1, secs);
}

int64_t TokenBucket::full_at_epoch(int64_t now) const {
  double missing = std::max(0.0, capacity - tokens);
  return static_cast<int64_t>(std::ceil((static_cast<double>(now) + missing / refill_per_ms) / 1000.0));
}

struct RateLimiter::Impl : std::enable_shared_from_this<RateLimiter::Impl> {
  using Done = std::function<void(RateDecision)>;
  struct KeyState {
    std::vector<Done> waiting;
  };

  Redis* redis = nullptr;
  double capacity = 0;
  double refill_per_ms = 0;
  std::string script = kScript;
  std::string sha = sha1_hex(kScript);

  // Tokens taken from Redis beyond what a batch needed, handed out locally for a short time.
  // 1 % of the bucket (at most 1000, at least 1: with the default 70/min nothing is leased),
  // valid 100 ms; what is not used in time is forfeited, so the shared limit is never exceeded.
  struct Lease {
    uint64_t tokens = 0;
    int64_t expires_ms = 0;
    TokenBucket after{};  // the bucket as Redis reported it, for the headers
    int64_t redis_now = 0;
  };
  uint64_t lease_size = 1;
  static constexpr int64_t kLeaseMs = 100;

  std::mutex mutex;
  std::unordered_map<std::string, KeyState> in_flight;  // keys with a Redis call under way
  std::unordered_map<std::string, Lease> leases;        // guarded by mutex
  std::mutex local_mutex;
  std::unordered_map<std::string, TokenBucket> local;

  // Hands out `granted` of the batch's requests; the rest are refused.
  void distribute(std::vector<Done>& batch, uint64_t granted, const TokenBucket& after, int64_t now) {
    for (size_t i = 0; i < batch.size(); ++i) {
      RateDecision d;
      d.limit = static_cast<uint64_t>(capacity);
      d.reset_epoch = after.full_at_epoch(now);
      if (i < granted) {
        d.allowed = true;
        d.remaining = static_cast<uint64_t>(std::floor(after.tokens)) + (granted - 1 - i);
      } else {
        d.allowed = false;
        d.remaining = 0;
        d.retry_after_seconds = after.retry_after_seconds();
      }
      batch[i](d);
    }
  }

  void decide_locally(const std::string& key, std::vector<Done>& batch) {
    int64_t now = now_ms();
    TokenBucket snapshot{};
    uint64_t granted = 0;
    {
      std::lock_guard lock(local_mutex);
      if (local.size() > 100000) {
        // Bound memory under address churn: forget buckets that have refilled completely.
        std::erase_if(local, [&](auto& kv) {
          TokenBucket b = kv.second;
          b.take(now, 0);
          return b.tokens >= capacity;
        });
      }
      auto [it, inserted] = local.try_emplace(key, TokenBucket{capacity, refill_per_ms, capacity, now});
      granted = it->second.take(now, batch.size());
      snapshot = it->second;
    }
    distribute(batch, granted, snapshot, now);
  }

  void send(const std::string& key, std::vector<Done> batch, bool use_eval = false) {
    auto self = shared_from_this();
    uint64_t requested = batch.size() + (lease_size > 1 ? lease_size : 0);
    std::vector<std::string> argv{use_eval ? "EVAL" : "EVALSHA",
                                  use_eval ? script : sha,
                                  "1",
                                  "kargo:rl:" + key,
                                  std::to_string(static_cast<uint64_t>(capacity)),
                                  std::to_string(refill_per_ms),
                                  std::to_string(requested)};
    auto shared_batch = std::make_shared<std::vector<Done>>(std::move(batch));
    redis->command(std::move(argv), [self, key, shared_batch, use_eval](RedisReply reply) {
      if (!reply.ok() && !use_eval && reply.str.rfind("NOSCRIPT", 0) == 0) {
        self->send(key, std::move(*shared_batch), true);
        return;
      }
      if (reply.ok() && reply.type == RedisReply::Type::kArray && reply.elements.size() == 3) {
        TokenBucket after{self->capacity, self->refill_per_ms, 0, 0};
        try {
          after.tokens = std::stod(reply.elements[1].str);
        } catch (const std::exception&) {
          after.tokens = 0;
        }
        auto granted = static_cast<uint64_t>(std::max<int64_t>(0, reply.elements[0].integer));
        uint64_t used = std::min<uint64_t>(granted, shared_batch->size());
        uint64_t spare = granted - used;
        TokenBucket shown = after;  // what this client still has, leased tokens included
        shown.tokens += static_cast<double>(spare);
        if (spare > 0) {
          std::lock_guard lock(self->mutex);
          int64_t now = now_ms();
          if (self->leases.size() > 10000) {
            std::erase_if(self->leases, [&](const auto& kv) { return kv.second.expires_ms <= now; });
          }
          self->leases[key] = {spare, now + kLeaseMs, after, reply.elements[2].integer};
        }
        self->distribute(*shared_batch, used, shown, reply.elements[2].integer);
      } else {
        self->decide_locally(key, *shared_batch);
      }
      self->next(key);
    });
  }

  // Sends the requests that queued up for `key` while its call was in flight.
  void next(const std::string& key) {
    std::vector<Done> batch;
    {
      std::lock_guard lock(mutex);
      auto it = in_flight.find(key);
      if (it == in_flight.end()) return;
      if (it->second.waiting.empty()) {
        in_flight.erase(it);
        return;
      }
      batch.swap(it->second.waiting);
    }
    send(key, std::move(batch));
  }
};

RateLimiter::RateLimiter(Redis* redis, unsigned per_minute, unsigned burst)
    : impl_(std::make_shared<Impl>()) {
  impl_->redis = redis;
  impl_->capacity = static_cast<double>(per_minute) + static_cast<double>(burst);
  impl_->refill_per_ms = static_cast<double>(per_minute) / 60000.0;
  impl_->lease_size = std::clamp<uint64_t>(static_cast<uint64_t>(impl_->capacity / 100.0), 1, 1000);
}

RateLimiter::~RateLimiter() = default;

void RateLimiter::acquire(const std::string& key, std::function<void(RateDecision)> done) {
  if (!impl_->redis) {
    std::vector<Impl::Done> one{std::move(done)};
    return impl_->decide_locally(key, one);
  }
  {
    std::unique_lock lock(impl_->mutex);
    if (auto lease = impl_->leases.find(key); lease != impl_->leases.end()) {
      auto& l = lease->second;
      if (l.tokens > 0 && now_ms() < l.expires_ms) {
        --l.tokens;
        RateDecision d;
        d.allowed = true;
        d.limit = static_cast<uint64_t>(impl_->capacity);
        d.remaining = static_cast<uint64_t>(std::floor(l.after.tokens)) + l.tokens;
        d.reset_epoch = l.after.full_at_epoch(l.redis_now);
        lock.unlock();
        return done(d);
      }
      impl_->leases.erase(lease);
    }
    auto [it, inserted] = impl_->in_flight.try_emplace(key);
    if (!inserted) {
      it->second.waiting.push_back(std::move(done));
      return;
    }
  }
  std::vector<Impl::Done> batch;
  batch.push_back(std::move(done));
  impl_->send(key, std::move(batch));
}

}  // namespace kargo::store
