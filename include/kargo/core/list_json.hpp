#pragma once
// The list document of contract section 2 around items already serialised as a JSON array:
// {"<items_name>": [...], "total": n, "limit": l, "offset": o}.
#include <cstddef>
#include <string>
#include <string_view>

namespace kargo {

std::string list_json(std::string_view items_name, std::string_view items_json, size_t total, size_t limit,
                      size_t offset);

}  // namespace kargo
