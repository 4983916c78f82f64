#pragma once
// The names of the job kinds (contract section 7), in one place: the services that enqueue them,
// the job kinds that run them and the routes' documentation use these.
namespace kargo::kinds {

inline constexpr const char* kAmazonUpload = "amazon_upload";  // creatives -> Amazon DSP, then moderation
inline constexpr const char* kAmazonSync = "amazon_sync";      // campaigns <-> Amazon DSP
inline constexpr const char* kBulkImport = "bulk_import";      // an uploaded bulk sheet, applied
inline constexpr const char* kReportRefresh = "report_refresh";  // Amazon DSP reports -> stored rows
inline constexpr const char* kRetention = "retention";           // rows past their age deleted

}  // namespace kargo::kinds
