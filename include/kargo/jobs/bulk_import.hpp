#pragma once
// Job `bulk_import` (POST /api/bulk/upload-sheet?async=true, contract sections 5 and 7): applies an
// uploaded bulk sheet stored in bulk_uploads; its result is the upload's report, its progress the
// writes done. Registered by the composition root next to the other kinds.
//
//   jobs::register_bulk_import(runner, ctx);

namespace kargo {
struct AppContext;
}

namespace kargo::jobs {

class JobRunner;

void register_bulk_import(JobRunner& runner, AppContext& ctx);

}  // namespace kargo::jobs
