#include "kargo/http/query.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace kargo::http {

std::optional<size_t> query_count(const Request& req, std::string_view name, size_t min, size_t max,
                                  Validator& v) {
  auto raw = req.query_param(name);
  if (!raw) return std::nullopt;
  size_t value = 0;
  auto [ptr, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), value);
  if (raw->empty() || ec != std::errc() || ptr != raw->data() + raw->size() || value < min || value > max) {
    v.add(std::string(name), "must be a whole number from " + std::to_string(min) +
                                 (max == SIZE_MAX ? " up" : " to " + std::to_string(max)));
    return std::nullopt;
  }
  return value;
}

std::optional<Error> query_text_error(const Request& req) {
  std::vector<FieldError> problems;
  for (const auto& [name, value] : req.query) {
    auto problem = text_problem(value);
    if (!problem) continue;
    // A parameter repeated with bad values is named once.
    bool named = false;
    for (const auto& p : problems) named = named || p.field == name;
    if (!named) problems.push_back({name, *problem});
  }
  if (problems.empty()) return std::nullopt;
  return Error::validation(std::move(problems));
}

Page pagination(const Request& req, Validator& v, size_t default_limit, size_t max_limit) {
  Page page{default_limit, 0};
  if (auto limit = query_count(req, "limit", 1, max_limit, v)) page.limit = *limit;
  // Bounded so that it always fits PostgreSQL's bigint (a larger offset is past every list anyway).
  if (auto offset = query_count(req, "offset", 0, 1'000'000'000, v)) page.offset = *offset;
  return page;
}

nlohmann::json list_data(std::string_view items_name, nlohmann::json items, size_t total, const Page& page) {
  nlohmann::json out = nlohmann::json::object();
  out[std::string(items_name)] = std::move(items);
  out["total"] = total;
  out["limit"] = page.limit;
  out["offset"] = page.offset;
  return out;
}


}  // namespace kargo::http
