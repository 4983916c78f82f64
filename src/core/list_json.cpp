#include "kargo/core/list_json.hpp"

namespace kargo {

std::string list_json(std::string_view items_name, std::string_view items_json, size_t total, size_t limit,
                      size_t offset) {
  std::string out;
  out.reserve(items_json.size() + items_name.size() + 64);
  out += "{\"";
  out += items_name;  // a fixed name chosen by the caller, never user input
  out += "\":";
  out += items_json;
  out += ",\"total\":" + std::to_string(total) + ",\"limit\":" + std::to_string(limit) +
         ",\"offset\":" + std::to_string(offset) + "}";
  return out;
}

}  // namespace kargo
