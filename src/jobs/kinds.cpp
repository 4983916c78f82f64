#include "kargo/jobs/kinds.hpp"

#include "job_kinds.hpp"

namespace kargo::jobs {

void register_job_kinds(JobRunner& runner, AppContext& ctx) {
  runner.add_kind(amazon_upload_kind(ctx));
  runner.add_kind(amazon_sync_kind(ctx));
}

}  // namespace kargo::jobs
