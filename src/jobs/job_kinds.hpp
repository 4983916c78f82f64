#pragma once
// Internal to src/jobs: each job kind's definition, collected by register_job_kinds() (kinds.cpp),
// and the one creative upload step that both amazon_upload and amazon_sync use.
#include <nlohmann/json.hpp>
#include <string>

#include "kargo/jobs/runner.hpp"

namespace kargo {
struct AppContext;
}

namespace kargo::jobs {

JobKind amazon_upload_kind(AppContext& ctx);
JobKind amazon_sync_kind(AppContext& ctx);

// Uploads one creative as an Amazon DSP third-party creative under `account` unless it already
// has an amazon_creative_id, and stores the id. Returns the item's outcome:
// {"status": "uploaded", "amazon_creative_id", "existing"} or {"status": "failed", "error"}.
// Errors of the call itself (circuit open, 5xx after retries) throw, so the job is retried; a
// refusal of this one creative is an outcome, not an exception.
nlohmann::json upload_creative(AppContext& ctx, const std::string& account, const std::string& creative_id);

}  // namespace kargo::jobs
