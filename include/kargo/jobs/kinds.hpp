#pragma once
// The service's job kinds (contract section 7), each a small class that gets the services it
// calls through its constructor and hands the runner its definition. Their names are
// core/job_kinds.hpp.
//   amazon_upload   creatives -> Amazon DSP third-party creatives, then their moderation status
//   amazon_sync     campaigns -> Amazon DSP campaigns, ad groups, creatives and associations, and
//                   Amazon's delivery state back (contract section 6)
//   bulk_import     an uploaded bulk sheet applied (POST /api/bulk/upload-sheet?async=true)
//   report_refresh  delivery and viewability reports pulled from Amazon DSP into the stored daily
//                   rows (POST /api/reports/refresh and the periodic tick; docs/REPORTS.md)
//   retention       rows past their age deleted in batches (the periodic tick; docs/RUNBOOK.md)
//
//   jobs::AmazonSyncJob sync(amazon_service, {.max_attempts = 3, .backoff = 30s});
//   runner.add_kind(sync.definition());

#include <chrono>

#include "kargo/jobs/runner.hpp"

namespace kargo::service {
class AmazonService;
class ReportService;
class RetentionService;
class SheetService;
}  // namespace kargo::service

namespace kargo::jobs {

class AmazonUploadJob {
 public:
  explicit AmazonUploadJob(service::AmazonService& amazon) : amazon_(amazon) {}
  JobKind definition();

 private:
  service::AmazonService& amazon_;
};

class AmazonSyncJob {
 public:
  struct Options {
    int max_attempts = 3;                // SYNC_MAX_ATTEMPTS
    std::chrono::seconds backoff{30};    // SYNC_RETRY_BACKOFF_SECONDS
  };
  AmazonSyncJob(service::AmazonService& amazon, Options options) : amazon_(amazon), options_(options) {}
  JobKind definition();

 private:
  service::AmazonService& amazon_;
  Options options_;
};

class BulkImportJob {
 public:
  explicit BulkImportJob(service::SheetService& sheets) : sheets_(sheets) {}
  JobKind definition();

 private:
  service::SheetService& sheets_;
};

class ReportRefreshJob {
 public:
  struct Options {
    int max_attempts = 5;              // REPORT_MAX_ATTEMPTS
    std::chrono::seconds backoff{30};  // REPORT_RETRY_BACKOFF_SECONDS
  };
  ReportRefreshJob(service::ReportService& reports, Options options) : reports_(reports), options_(options) {}
  JobKind definition();

 private:
  service::ReportService& reports_;
  Options options_;
};

class RetentionJob {
 public:
  explicit RetentionJob(service::RetentionService& retention) : retention_(retention) {}
  JobKind definition();

 private:
  service::RetentionService& retention_;
};

}  // namespace kargo::jobs
