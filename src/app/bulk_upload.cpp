#include "kargo/app/bulk_upload.hpp"

#include "kargo/app/context.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/log.hpp"
#include "kargo/store/resource_cache.hpp"

namespace kargo::app {

bulk::ParsedUpload read_bulk_upload(std::string_view bytes) {
  try {
    auto book = bulk::read_workbook(
        bytes, {.max_inflated_bytes = bulk::kMaxUploadInflatedBytes, .max_data_rows = bulk::kMaxUploadRows});
    return bulk::parse_upload(book);
  } catch (const bulk::WorkbookError& e) {
    throw Error::validation({{"file", e.what()}});
  }
}

store::UploadResult apply_bulk_upload(AppContext& ctx, const bulk::ParsedUpload& upload, bool validate_only,
                                      const std::string& actor, const std::optional<std::string>& upload_id,
                                      const store::BulkUploadStore::Progress& progress) {
  store::BulkUploadStore store(ctx.db);
  auto result = store.apply(upload, validate_only, actor, upload_id, progress);
  for (const auto& id : result.written) ctx.campaign_cache.invalidate(id);
  if (result.created) ctx.campaign_cache.invalidate_pages();
  log::info("bulk sheet uploaded", {{"valid", result.valid},
                                    {"validate_only", validate_only},
                                    {"rows_processed", result.report.value("rows_processed", 0)},
                                    {"campaigns_written", result.written.size()},
                                    {"actor", actor}});
  return result;
}

}  // namespace kargo::app
