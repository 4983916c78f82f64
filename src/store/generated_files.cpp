#include "kargo/store/generated_files.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "kargo/store/database.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

constexpr const char* kInsertFile =
    "INSERT INTO generated_files (id, kind, filename, content_type, bytes, size, record_count, sheets, "
    "created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, "
    "clock_timestamp() + make_interval(secs => $10)) RETURNING " KARGO_TS("expires_at");

// The bytes are only read while the file is valid.
constexpr const char* kFetch =
    "SELECT filename, content_type, expires_at <= clock_timestamp() AS expired, "
    "CASE WHEN expires_at > clock_timestamp() THEN bytes END "
    "FROM generated_files WHERE id = $1 AND kind = $2";

}  // namespace

std::string GeneratedFileStore::save(const NewGeneratedFile& file) {
  std::string expires_at;
  db_.transact([&](pqxx::transaction_base& tx) {
    auto row = tx.exec_params1(kInsertFile, file.id, file.kind, file.filename, file.content_type,
                               pqxx::binarystring(file.bytes), static_cast<int64_t>(file.bytes.size()),
                               static_cast<int64_t>(file.record_count), nlohmann::json(file.sheets).dump(),
                               file.created_by, static_cast<double>(file.lifetime.count()));
    expires_at = row[0].as<std::string>();
  });
  return expires_at;
}

std::optional<GeneratedFile> GeneratedFileStore::fetch(const std::string& id, const std::string& kind) {
  std::optional<GeneratedFile> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kFetch, id, kind);
    if (rows.empty()) return;
    const auto& r = rows[0];
    GeneratedFile f{r[0].as<std::string>(), r[1].as<std::string>(), {}, r[2].as<bool>()};
    if (!f.expired && !r[3].is_null()) f.bytes = pqxx::binarystring(r[3]).str();
    out = std::move(f);
  });
  return out;
}

}  // namespace kargo::store
