#include "kargo/store/resource_cache.hpp"

#include <unordered_map>

#include "kargo/core/digest.hpp"
#include "kargo/store/redis.hpp"

namespace kargo::store {
namespace {

// KEYS[1] value, KEYS[2] generation; ARGV[1] generation seen before the read, ARGV[2] value,
// ARGV[3] ttl seconds. Stores the value only when no write happened since the read began.
constexpr const char* kPutIfCurrent =
    "local g = redis.call('GET', KEYS[2]) or '0' "
    "if g == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end "
    "return 0";

// For each pair KEYS[i] value, KEYS[i+1] generation: deletes the value and moves the generation
// on; the generation outlives any cached value. The last key is the collection generation:
// replaced by ARGV[2], a fresh random token, so that every cached page is retired with the same
// write.
constexpr const char* kInvalidate =
    "for i = 1, #KEYS - 1, 2 do redis.call('DEL', KEYS[i]) redis.call('INCR', KEYS[i + 1]) "
    "redis.call('EXPIRE', KEYS[i + 1], ARGV[1]) end "
    "redis.call('SET', KEYS[#KEYS], ARGV[2]) return 1";

// KEYS[1] collection generation, ARGV[1] a fresh token (used when there is none yet), ARGV[2]
// the page key's prefix, ARGV[3] the query. Returns {generation, page or nil}.
constexpr const char* kGetPage =
    "local g = redis.call('GET', KEYS[1]) "
    "if not g then g = ARGV[1] redis.call('SET', KEYS[1], g) end "
    "return {g, redis.call('GET', ARGV[2] .. g .. ':' .. ARGV[3])}";

}  // namespace

// The pages kept in this process, each with the generation it was stored under. Shared with the
// Redis callbacks (which may run after a lookup's caller is gone).
struct ResourceCache::LocalPages {
  explicit LocalPages(size_t limit) : limit(limit) {}
  void keep(const std::string& query, const std::string& generation, const std::string& value) {
    std::lock_guard lock(mutex);
    if (value.size() > limit) return;
    if (bytes + value.size() > limit) {  // full: start over (simpler than an LRU, and rare)
      pages.clear();
      bytes = 0;
    }
    auto& page = pages[query];
    if (page.value) bytes -= page.value->size();
    page = {generation, std::make_shared<const std::string>(value)};
    bytes += value.size();
  }
  struct Page {
    std::string generation;
    std::shared_ptr<const std::string> value;
  };
  std::optional<Page> find(const std::string& query) {
    std::lock_guard lock(mutex);
    auto it = pages.find(query);
    if (it == pages.end()) return std::nullopt;
    return it->second;
  }
  const size_t limit;
  std::mutex mutex;
  std::unordered_map<std::string, Page> pages;
  size_t bytes = 0;
};

ResourceCache::ResourceCache(Redis& redis, std::string kind, std::chrono::seconds ttl, size_t local_page_bytes)
    : redis_(redis),
      kind_(std::move(kind)),
      ttl_(ttl),
      local_(local_page_bytes > 0 ? std::make_shared<LocalPages>(local_page_bytes) : nullptr) {}

std::optional<std::string> ResourceCache::get(const std::string& id) {
  auto reply = redis_.call({"GET", "cache:" + kind_ + ":" + id});
  if (reply.type != RedisReply::Type::kString) return std::nullopt;
  return std::move(reply.str);
}

void ResourceCache::get_async(const std::string& id, std::function<void(Lookup)> done) {
  const std::string key = "cache:" + kind_ + ":" + id;
  redis_.command({"MGET", key, key + ":gen"}, [done = std::move(done)](RedisReply reply) {
    Lookup out;
    if (reply.type == RedisReply::Type::kArray && reply.elements.size() == 2) {
      if (reply.elements[0].type == RedisReply::Type::kString) out.value = std::move(reply.elements[0].str);
      out.generation =
          reply.elements[1].type == RedisReply::Type::kString ? std::move(reply.elements[1].str) : "0";
    }
    done(std::move(out));
  });
}

std::optional<std::string> ResourceCache::generation(const std::string& id) {
  auto reply = redis_.call({"GET", "cache:" + kind_ + ":" + id + ":gen"});
  if (reply.type == RedisReply::Type::kString) return std::move(reply.str);
  if (reply.type == RedisReply::Type::kNil) return std::string("0");
  return std::nullopt;  // Redis down: do not store anything
}

void ResourceCache::put(const std::string& id, const std::optional<std::string>& generation,
                        const std::string& value) {
  if (!generation) return;
  // Queued on the Redis connection and not waited for: the generation check runs in Redis, so a
  // write that lands first makes this put a no-op, whenever it runs.
  redis_.command({"EVAL", kPutIfCurrent, "2", "cache:" + kind_ + ":" + id, "cache:" + kind_ + ":" + id + ":gen",
                  *generation, value, std::to_string(ttl_.count())},
                 [](RedisReply) {});
}

void ResourceCache::invalidate(const std::string& id) { invalidate(std::vector<std::string>{id}); }

void ResourceCache::invalidate(const std::vector<std::string>& ids) {
  if (try_invalidate(ids)) return;
  std::lock_guard lock(pending_mutex_);
  pending_.insert(ids.begin(), ids.end());
}

void ResourceCache::invalidate_pages() { invalidate(std::string()); }

void ResourceCache::flush_pending() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(pending_mutex_);
    ids.assign(pending_.begin(), pending_.end());
    pending_.clear();
  }
  if (!ids.empty()) invalidate(ids);
}

// One call for all the ids (a pull retires a hundred campaigns at once). An empty id stands for
// the pages only. Generations live ten times longer than values, so a reader that started before
// this write cannot find the counter gone (and back at "0") when it stores its copy.
bool ResourceCache::try_invalidate(const std::vector<std::string>& ids) {
  std::vector<std::string> args{"EVAL", kInvalidate, ""};
  for (const auto& id : ids) {
    if (id.empty()) continue;
    args.push_back("cache:" + kind_ + ":" + id);
    args.push_back("cache:" + kind_ + ":" + id + ":gen");
  }
  args.push_back(page_generation_key());
  args[2] = std::to_string(args.size() - 3);
  args.push_back(std::to_string(ttl_.count() * 10));
  args.push_back(random_id("g"));
  return redis_.call(std::move(args)).ok();
}

std::string ResourceCache::page_generation_key() const { return "cache:" + kind_ + ":pages:gen"; }
std::string ResourceCache::page_prefix() const { return "cache:" + kind_ + ":pages:"; }

void ResourceCache::get_page_async(const std::string& query, std::function<void(PageLookup)> done) {
  // The shared copy: the collection generation and the page stored under it, in one call.
  auto from_redis = [&redis = redis_, local = local_, key = page_generation_key(), prefix = page_prefix(),
                     query](std::function<void(PageLookup)> done) {
    redis.command({"EVAL", kGetPage, "1", key, random_id("g"), prefix, query},
                  [local, query, done = std::move(done)](RedisReply reply) {
                    PageLookup out;
                    if (reply.type == RedisReply::Type::kArray && !reply.elements.empty() &&
                        reply.elements[0].type == RedisReply::Type::kString) {
                      out.generation = std::move(reply.elements[0].str);
                      if (reply.elements.size() > 1 && reply.elements[1].type == RedisReply::Type::kString)
                        out.value = std::move(reply.elements[1].str);
                    }
                    if (local && out.value) local->keep(query, *out.generation, *out.value);
                    done(std::move(out));
                  });
  };
  auto page = local_ ? local_->find(query) : std::nullopt;
  if (!page) return from_redis(std::move(done));
  // A local copy: only the generation is asked for; the shared copy when a write moved it on.
  redis_.command({"GET", page_generation_key()},
                 [page = std::move(*page), from_redis, done = std::move(done)](RedisReply reply) mutable {
                   if (reply.type == RedisReply::Type::kString && reply.str == page.generation) {
                     return done(PageLookup{std::move(page.generation), *page.value});
                   }
                   from_redis(std::move(done));
                 });
}

void ResourceCache::put_page(const std::string& query, const std::optional<std::string>& generation,
                             const std::string& value) {
  if (!generation) return;
  if (local_) local_->keep(query, *generation, value);
  redis_.command({"SET", page_prefix() + *generation + ":" + query, value, "EX", std::to_string(ttl_.count())},
                 [](RedisReply) {});
}

}  // namespace kargo::store
