#pragma once
// Query-string conventions shared by every list route (contract section 2, "Lists").
//
//   Validator v;
//   auto page = http::pagination(req, v);   // limit 1-100 (default 20), offset >= 0
//   v.check();
//   return http::ok(req, http::list_data("campaigns", items, total, page));

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "kargo/core/validator.hpp"
#include "kargo/http/message.hpp"

namespace kargo::http {

struct Page {
  size_t limit = 20;
  size_t offset = 0;
};

// Reads limit/offset; bad values are added to `v` (field "limit" / "offset").
Page pagination(const Request& req, Validator& v, size_t default_limit = 20, size_t max_limit = 100);
// A non-negative whole number from the query string, or nullopt (and an error in `v`).
std::optional<size_t> query_count(const Request& req, std::string_view name, size_t min, size_t max,
                                  Validator& v);
// 422 VALIDATION_ERROR naming every query parameter whose decoded value breaks text_problem() (a
// NUL from %00, invalid UTF-8 from %FF), or nullopt. The pipeline asks it for every route right
// before the handler runs, so no handler passes such a value on to PostgreSQL.
std::optional<Error> query_text_error(const Request& req);
// {"<items_name>": items, "total": n, "limit": l, "offset": o}
nlohmann::json list_data(std::string_view items_name, nlohmann::json items, size_t total, const Page& page);

}  // namespace kargo::http
