// /api/jobs (contract sections 6 and 7): the state of background jobs.
#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/store/jobs.hpp"

namespace kargo::api {

void register_job_routes(http::Router& router, AppContext& ctx) {
  constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};

  router.add("GET", "/api/jobs/{id}", kViewer, [&ctx](http::Request& req) {
    std::string id(req.param("id"));
    auto job = ctx.jobs.get(id);
    if (!job) throw Error(codes::kNotFound, "job " + id + " not found");
    return http::ok_serialized(req, *job);
  });

  router.add("GET", "/api/jobs", kViewer, [&ctx](http::Request& req) {
    Validator v;
    auto page = http::pagination(req, v);
    std::optional<std::string> kind, status;
    if (auto k = req.query_param("kind")) {
      if (k->empty() || k->size() > 64) v.add("kind", "must be 1-64 characters");
      kind = std::string(*k);
    }
    if (auto s = req.query_param("status")) {
      if (*s != "queued" && *s != "running" && *s != "succeeded" && *s != "failed") {
        v.add("status", "must be one of: queued, running, succeeded, failed");
      }
      status = std::string(*s);
    }
    v.check();
    auto result = ctx.jobs.list(kind, status, page.limit, page.offset);
    return http::ok_serialized(req,
                               http::list_data_serialized("jobs", result.items_json, result.total, page));
  });
}

}  // namespace kargo::api
