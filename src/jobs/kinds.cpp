#include "kargo/jobs/kinds.hpp"

#include "job_kinds.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/log.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"

namespace kargo::jobs {

void register_job_kinds(JobRunner& runner, AppContext& ctx) {
  // A process without Amazon DSP credentials does not claim the Amazon jobs: it could only fail
  // them ("not configured") and use up their attempts, while a configured process sharing the
  // database would have run them. Only a configured process can enqueue them (the routes answer
  // 503 otherwise), so they wait for one.
  if (!ctx.amazon.configured()) {
    log::info("amazon jobs not run by this process: Amazon DSP is not configured",
              {{"kinds", std::string(kAmazonUpload) + "," + kAmazonSync}});
    return;
  }
  runner.add_kind(amazon_upload_kind(ctx));
  runner.add_kind(amazon_sync_kind(ctx));
}

}  // namespace kargo::jobs
