#pragma once
// The pages of a list route in the shared Redis cache (store::ResourceCache, one collection
// generation per resource kind): the page's key, the non-blocking lookup, and the page built from
// PostgreSQL's rows and stored under the generation the lookup saw. CampaignService and
// CreativeService serve their lists through these.
//
//   lookup_page(cache, cache_key(query), [&](Cached hit) { if (hit.value) answer(*hit.value); ... });
//   auto doc = keep_page(cache, key, hit.generation, "campaigns", store.list(...), limit, offset);

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/store/page.hpp"

namespace kargo::store {
class ResourceCache;
}

namespace kargo::service {

// A cached document (when there is one) and the generation to store a fresh copy under (nullopt
// when Redis is down: then nothing is stored).
struct Cached {
  std::optional<std::string> value;
  std::optional<std::string> generation;
};

// A list route's query: its filter and page. Each service gives its own cache_key() over the
// filter's fields (page_key).
template <class Filter>
struct ListQuery {
  Filter filter;
  size_t limit = 20;
  size_t offset = 0;
};

// limit, offset and every filter (absent or length-prefixed): the page's cache key.
std::string page_key(size_t limit, size_t offset, std::initializer_list<const std::optional<std::string>*> filters);
// Non-blocking, one Redis round trip; `done` runs on the Redis thread (keep it short).
void lookup_page(store::ResourceCache& cache, const std::string& key, std::function<void(Cached)> done);
// The list document {"<items_name>": [...], total, limit, offset} of `page`, stored under
// `generation` without waiting for Redis.
std::string keep_page(store::ResourceCache& cache, const std::string& key,
                      const std::optional<std::string>& generation, std::string_view items_name,
                      const store::JsonPage& page, size_t limit, size_t offset);

}  // namespace kargo::service
