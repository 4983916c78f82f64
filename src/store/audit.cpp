#include "kargo/store/audit.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace kargo::store {

namespace {
constexpr const char* kInsertAudit =
    "INSERT INTO audit_log (entity_type, entity_id, action, actor, changes) VALUES ($1, $2, $3, $4, "
    "$5::jsonb)";
}

void write_audit(pqxx::transaction_base& tx, std::string_view entity_type, std::string_view entity_id,
                 std::string_view action, std::string_view actor, const nlohmann::json& changes) {
  tx.exec_params(kInsertAudit, std::string(entity_type), std::string(entity_id), std::string(action),
                 std::string(actor), changes.dump());
}

}  // namespace kargo::store
