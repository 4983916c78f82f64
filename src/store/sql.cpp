#include "sql.hpp"

#include <pqxx/pqxx>

#include "kargo/store/database.hpp"

namespace kargo::store {

std::string newest_first_page_sql(std::string_view table, std::string_view alias, std::string_view where,
                                  std::string_view item_json, int limit_param) {
  // Built with append only: GCC 12 warns falsely (-Wrestrict) on `"$" + std::to_string(n)`.
  const std::string a(alias);
  std::string order("ORDER BY ");
  order.append(a).append(".created_at DESC, ").append(a).append(".id DESC");
  std::string limit("$"), offset("$");
  limit.append(std::to_string(limit_param));
  offset.append(std::to_string(limit_param + 1));
  std::string sql;
  sql.append("WITH page AS (SELECT * FROM ")
      .append(table)
      .append(" ")
      .append(a)
      .append(" ")
      .append(where)
      .append(" ");
  sql.append(order).append(" LIMIT ").append(limit).append(" OFFSET ").append(offset).append(") ");
  sql.append("SELECT (SELECT coalesce(json_agg(").append(item_json).append(" ").append(order);
  sql.append("), '[]')::text FROM page ").append(a).append("), (SELECT count(*) FROM ").append(table);
  sql.append(" ").append(a).append(" ").append(where);
  sql.append(")");
  return sql;
}

std::optional<std::string> fetch_text(Database& db, const char* statement, const std::string& id) {
  std::optional<std::string> out;
  db.once([&](pqxx::transaction_base& tx) {
    out.reset();  // a retried call starts afresh
    auto rows = tx.exec_prepared(statement, id);
    if (!rows.empty()) out = rows[0][0].as<std::string>();
  });
  return out;
}

void prepare_resource_reads(Database& db, std::string_view kind, const char* get_sql, std::string_view table,
                            std::string_view alias, std::string_view where, std::string_view item_json,
                            int limit_param) {
  db.prepare(std::string(kind) + "_get", get_sql);
  db.prepare(std::string(kind) + "_list", newest_first_page_sql(table, alias, where, item_json, limit_param));
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : items[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

JsonPage read_page(const pqxx::row& row) { return {row[0].as<std::string>(), row[1].as<size_t>()}; }

}  // namespace kargo::store
