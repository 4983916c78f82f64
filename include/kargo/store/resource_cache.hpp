#pragma once
// A Redis cache of serialised resources (GET /api/campaigns/{id}), shared by every instance.
//
// Correct under concurrency with several instances: each key has a generation counter. A
// reader notes the generation before it reads PostgreSQL and stores its copy only if the
// generation is still the same (one Lua script), and a writer bumps the generation and deletes
// the copy after its commit and before it answers. So a slow reader can never put back a copy
// older than a write that was already acknowledged. Redis down: every call is a miss / no-op and
// the caller reads PostgreSQL. Blocking (except get_async): call from the blocking pool.
//
//   ResourceCache cache(redis, "campaign", std::chrono::seconds(300));
//   cache.get_async(id, [&](ResourceCache::Lookup hit) {
//     if (hit.value) return answer(*hit.value);
//     auto doc = read_from_database(id);             // on the database pool
//     cache.put(id, hit.generation, doc);            // does not wait for Redis
//   });
//   ...
//   cache.invalidate(id);  // after every committed write (retried by flush_pending() if Redis is down)
//
// Pages of the collection (GET /api/campaigns?…) are cached too, keyed by their query. They
// share one collection generation: a random token that every invalidate() of any id replaces,
// and that is part of each page's key. A page stored under an older token is never read again,
// so a list read after an acknowledged write never shows the state before it. Tokens are random
// (never a counter that could restart at a value already used) and the token key has no TTL.
// Creates call invalidate_pages(): a new row changes the pages.
//
//   cache.get_page_async(query, [&](ResourceCache::PageLookup hit) {
//     if (hit.value) return answer(*hit.value);
//     auto page = read_from_database(query);            // on the blocking pool
//     cache.put_page(query, hit.generation, page);
//   });

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kargo::store {

class Redis;

class ResourceCache {
 public:
  // `local_page_bytes` > 0 also keeps the pages in this process (at most that many bytes; all
  // dropped when full). A lookup then asks Redis only for the collection generation and answers
  // with the local copy stored under it, instead of moving the page out of Redis again: for large
  // pages read often (a year of daily report rows is ~75 KB). The generation keeps it as correct
  // as the shared copy: a write anywhere retires it.
  ResourceCache(Redis& redis, std::string kind, std::chrono::seconds ttl, size_t local_page_bytes = 0);
  std::optional<std::string> get(const std::string& id);
  struct Lookup {
    std::optional<std::string> value;       // nullopt on a miss
    std::optional<std::string> generation;  // to store a fresh copy under; nullopt when Redis is down
  };
  // Non-blocking, one Redis round trip: the cached value and the current generation of `id`.
  // `done` runs on the Redis thread (keep it short). Usable from I/O threads.
  void get_async(const std::string& id, std::function<void(Lookup)> done);
  // The current generation of `id` ("" when unknown or Redis is down).
  std::optional<std::string> generation(const std::string& id);
  // Stores a copy read under `generation` (from get_async or generation()), unless a write
  // happened since: the check runs in Redis, so the call does not wait for Redis's answer.
  void put(const std::string& id, const std::optional<std::string>& generation, const std::string& value);
  // After every committed write. When Redis cannot be reached the id is remembered and
  // flush_pending() retries it, so a Redis that comes back with its data loses the stale copy.
  void invalidate(const std::string& id);
  void invalidate(const std::vector<std::string>& ids);  // all in one Redis call
  // After a committed create: retires the cached pages only (there is no copy of the new id).
  void invalidate_pages();
  // Retries the invalidations that failed (call every second or so).
  void flush_pending();

  struct PageLookup {
    std::optional<std::string> generation;  // nullopt when Redis is down: do not store
    std::optional<std::string> value;
  };
  // Non-blocking, one Redis round trip: the collection generation and the page stored under it.
  // `done` runs on the Redis thread.
  void get_page_async(const std::string& query, std::function<void(PageLookup)> done);
  // Stores a page read under `generation` (from get_page_async); does not wait for Redis.
  void put_page(const std::string& query, const std::optional<std::string>& generation,
                const std::string& value);

 private:
  struct LocalPages;
  bool try_invalidate(const std::vector<std::string>& ids);
  std::string page_generation_key() const;
  std::string page_prefix() const;
  std::mutex pending_mutex_;
  std::set<std::string> pending_;
  Redis& redis_;
  std::string kind_;
  std::chrono::seconds ttl_;
  std::shared_ptr<LocalPages> local_;  // null unless local_page_bytes > 0; shared with callbacks
};

}  // namespace kargo::store
