#pragma once
// POST /api/bulk/upload-sheet's work, shared by the route (synchronous) and the bulk_import job
// (async=true): read the workbook, check and apply it in one transaction, then invalidate the
// campaign cache for every campaign written (after the commit, docs/CAMPAIGNS.md "Caching").
//
//   auto parsed = app::read_bulk_upload(bytes);      // Error 422 (field "file"): not a workbook, ...
//   auto result = app::apply_bulk_upload(ctx, parsed, validate_only, actor);
//   result.report;                                   // the contract's data object

#include <optional>
#include <string>
#include <string_view>

#include "kargo/bulk/upload.hpp"
#include "kargo/store/bulk_uploads.hpp"

namespace kargo {
struct AppContext;
}

namespace kargo::app {

inline constexpr const char* kBulkImportJob = "bulk_import";

// The workbook's four sheets. Throws Error 422 with a detail on field "file" when the bytes are
// not an xlsx workbook or csv zip, inflate past 200 MiB, hold more than 50 000 data rows, or lack
// the Orders sheet or a column of a read sheet.
bulk::ParsedUpload read_bulk_upload(std::string_view bytes);

store::UploadResult apply_bulk_upload(AppContext& ctx, const bulk::ParsedUpload& upload, bool validate_only,
                                      const std::string& actor,
                                      const std::optional<std::string>& upload_id = std::nullopt,
                                      const store::BulkUploadStore::Progress& progress = nullptr);

}  // namespace kargo::app
