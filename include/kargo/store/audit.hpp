#pragma once
// Audit trail writes. Always called inside the transaction that makes the change, so the entry
// and the change commit (or roll back) together.
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace pqxx {
class transaction_base;
}

namespace kargo::store {

void write_audit(pqxx::transaction_base& tx, std::string_view entity_type, std::string_view entity_id,
                 std::string_view action, std::string_view actor, const nlohmann::json& changes);

}  // namespace kargo::store
