#pragma once
// The job kinds of the service, registered on the runner by the composition root (app.cpp):
//   amazon_upload   creatives -> Amazon DSP third-party creatives, then their moderation status
//   amazon_sync     campaigns -> Amazon DSP campaigns, ad groups, creatives and associations, and
//                   Amazon's delivery state back (contract section 6)
//
//   jobs::register_job_kinds(runner, ctx);

namespace kargo {
struct AppContext;
}

namespace kargo::jobs {

class JobRunner;

inline constexpr const char* kAmazonUpload = "amazon_upload";
inline constexpr const char* kAmazonSync = "amazon_sync";

void register_job_kinds(JobRunner& runner, AppContext& ctx);

}  // namespace kargo::jobs
