#pragma once
// Reads what a bulk sheet shows about campaigns (their fields, associations and creatives) in one
// statement, so the sheet is one consistent snapshot. Blocking: blocking pool only.
//
//   BulkSheetReader reader(db);
//   auto orders = reader.orders({"camp_0123456789ab"});   // 404 naming every unknown id

#include <string>
#include <vector>

#include "kargo/bulk/bulk_sheet.hpp"

namespace kargo::store {

class Database;

class BulkSheetReader {
 public:
  explicit BulkSheetReader(Database& db) : db_(db) {}

  // The campaigns in the order of `ids` (which must be distinct). Throws Error 404 naming the ids
  // that are not campaigns.
  std::vector<bulk::OrderSource> orders(const std::vector<std::string>& ids);

 private:
  Database& db_;
};

}  // namespace kargo::store
