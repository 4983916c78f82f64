#pragma once
// SQL fragments shared by the stores (private to src/store).

// A timestamptz column as the contract's UTC text, 2026-01-01T00:00:00Z (null stays null).
#define KARGO_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
// The same with milliseconds, 2026-01-01T00:00:00.123Z (delivery attempts, event timestamps).
#define KARGO_TS_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "kargo/store/database.hpp"
#include "kargo/store/page.hpp"

namespace kargo::store {

// The one statement of every newest-first list: the page's rows as one JSON array built by
// PostgreSQL (`item_json` over `alias`) and the count of all rows that match `where` (a WHERE
// clause over `alias`, or ""). LIMIT and OFFSET are the parameters $limit_param and
// $limit_param + 1, after the filter's. Read its one row with read_page().
std::string newest_first_page_sql(std::string_view table, std::string_view alias, std::string_view where,
                                  std::string_view item_json, int limit_param);
JsonPage read_page(const pqxx::row& row);

// Registers a resource's two hot reads as prepared statements: `<kind>_get` (`get_sql`, $1 = id)
// and `<kind>_list` (newest_first_page_sql of the other arguments).
void prepare_resource_reads(Database& db, std::string_view kind, const char* get_sql, std::string_view table,
                            std::string_view alias, std::string_view where, std::string_view item_json,
                            int limit_param);

// Runs the prepared list statement `name` with `args` in one round trip and reads its page.
template <class... Args>
JsonPage read_page_prepared(Database& db, const char* name, const Args&... args) {
  JsonPage page;
  db.once([&](pqxx::transaction_base& tx) { page = read_page(tx.exec_prepared1(name, args...)); });
  return page;
}

// The first column of the one row the prepared `statement` ($1 = id) returns, as text; nullopt
// when there is no row. The stores' get(id) of a resource built as JSON by PostgreSQL: one round
// trip (autocommit), a statement parsed and planned once per connection.
std::optional<std::string> fetch_text(Database& db, const char* statement, const std::string& id);

// A PostgreSQL text[] literal of `items` (bound as "$n::text[]"). libpqxx 6.4 can parse arrays
// but not write them, so the elements are quoted here ("..." with \ and " escaped), which is safe
// for any text.
std::string text_array(const std::vector<std::string>& items);

}  // namespace kargo::store
