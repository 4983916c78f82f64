#include "kargo/service/list_pages.hpp"

#include "kargo/core/list_json.hpp"
#include "kargo/store/resource_cache.hpp"

namespace kargo::service {

std::string page_key(size_t limit, size_t offset, std::initializer_list<const std::optional<std::string>*> filters) {
  std::string key = std::to_string(limit) + ":" + std::to_string(offset);
  for (const auto* value : filters) {
    if (!value->has_value()) {
      key.append(":-");
      continue;
    }
    key.append(":").append(std::to_string((*value)->size())).append("=").append(**value);
  }
  return key;
}

void lookup_page(store::ResourceCache& cache, const std::string& key, std::function<void(Cached)> done) {
  cache.get_page_async(key, [done = std::move(done)](store::ResourceCache::PageLookup hit) {
    done({std::move(hit.value), std::move(hit.generation)});
  });
}

std::string keep_page(store::ResourceCache& cache, const std::string& key,
                      const std::optional<std::string>& generation, std::string_view items_name,
                      const store::JsonPage& page, size_t limit, size_t offset) {
  auto doc = list_json(items_name, page.items_json, page.total, limit, offset);
  cache.put_page(key, generation, doc);
  return doc;
}

}  // namespace kargo::service
