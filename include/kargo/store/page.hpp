#pragma once
// A page of a list as the API sends it: the items as one JSON array serialised by PostgreSQL (the
// API passes it through) and the number of rows that match the filter.
#include <cstddef>
#include <string>

namespace kargo::store {

struct JsonPage {
  std::string items_json = "[]";
  size_t total = 0;
};

}  // namespace kargo::store
