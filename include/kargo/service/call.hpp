#pragma once
// What a request hands to the asynchronous work it starts: who asked, its id (for log lines and
// the X-Request-ID sent upstream) and its deadline. Protocol-free: handlers fill it from the
// request, job kinds from the job.
//
//   Call call{.actor = "alice", .request_id = req.request_id, .deadline = req.deadline};
//   on_database<std::string>(pool, call, [&] { return store.get(id); }, std::move(done));

#include <memory>
#include <string>

#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/deadline.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/result.hpp"

namespace kargo::service {

struct Call {
  std::string actor;
  std::string request_id;
  Deadline deadline;
};

// Runs `work` (a database step, with the CPU work right before it) on the database pool under
// the call's deadline and request id, and hands its value or its Error to `done` (on the pool
// thread). A full pool, or a deadline that passes while the step waits for a thread, is 503 with
// Retry-After. The one way services hop from an upstream callback back to the database.
template <class T>
void on_database(BlockingPool& pool, const Call& call, std::function<T()> work, Completion<T> done) {
  auto finish = std::make_shared<Completion<T>>(std::move(done));
  auto busy = [finish, deadline = call.deadline] {
    (*finish)(Error(codes::kServiceUnavailable, deadline.passed()
                                                    ? "request deadline passed while waiting for the database"
                                                    : "server is busy; retry shortly")
                  .with_header("Retry-After", "1"));
  };
  bool queued = pool.submit(
      [finish, work = std::move(work), request_id = call.request_id] {
        log::RequestScope scope(request_id);
        (*finish)(capture<T>(work));
      },
      busy, call.deadline);
  if (!queued) busy();
}

}  // namespace kargo::service
