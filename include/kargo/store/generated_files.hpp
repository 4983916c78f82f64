#pragma once
// Generated files for download (migrations/0004, table generated_files): bulk sheets now, report
// exports later. Kept in PostgreSQL so that any instance serves a download. Blocking: blocking
// pool only.
//
//   GeneratedFileStore files(db);
//   auto saved = files.save({.id = random_id("sheet_", 16), .kind = "bulk_sheet", ...});
//   auto file = files.fetch(id, "bulk_sheet");   // nullopt unknown; file->expired -> 410

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kargo::store {

class Database;

struct NewGeneratedFile {
  std::string id;    // random_id(prefix, 16): the id is the only guard of the download link
  std::string kind;  // bulk_sheet, report_export, ...
  std::string filename;
  std::string content_type;
  std::string bytes;
  uint64_t record_count = 0;
  std::vector<std::string> sheets;
  std::string created_by;
  std::chrono::seconds lifetime{24 * 3600};
};

struct GeneratedFile {
  std::string filename;
  std::string content_type;
  std::string bytes;     // empty when expired
  bool expired = false;  // expires_at has passed (the bytes may already be gone)
};

class GeneratedFileStore {
 public:
  explicit GeneratedFileStore(Database& db) : db_(db) {}

  // Stores the file; returns its expires_at (ISO 8601 UTC), computed by PostgreSQL's clock.
  std::string save(const NewGeneratedFile& file);
  // The file of that kind, or nullopt when unknown (or deleted by the retention job).
  std::optional<GeneratedFile> fetch(const std::string& id, const std::string& kind);

 private:
  Database& db_;
};

}  // namespace kargo::store
