#pragma once
// SQL fragments shared by the stores (private to src/store).

// A timestamptz column as the contract's UTC text, 2026-01-01T00:00:00Z (null stays null).
#define KARGO_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#include <optional>
#include <string>
#include <string_view>

#include "kargo/store/page.hpp"

namespace pqxx {
class row;
}

namespace kargo::store {

// The one statement of every newest-first list: the page's rows as one JSON array built by
// PostgreSQL (`item_json` over `alias`) and the count of all rows that match `where` (a WHERE
// clause over `alias`, or ""). LIMIT and OFFSET are the parameters $limit_param and
// $limit_param + 1, after the filter's. Read its one row with read_page().
std::string newest_first_page_sql(std::string_view table, std::string_view alias, std::string_view where,
                                  std::string_view item_json, int limit_param);
JsonPage read_page(const pqxx::row& row);

class Database;
// The first column of the one row `sql` ($1 = id) returns, as text; nullopt when there is no row.
// The stores' get(id) of a resource built as JSON by PostgreSQL.
std::optional<std::string> fetch_text(Database& db, const char* sql, const std::string& id);

}  // namespace kargo::store
