// /api/jobs (contract sections 6 and 7): the state of background jobs.
#include "kargo/api/routes.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/query.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/jobs.hpp"
#include "route_options.hpp"

namespace kargo::api {

void JobRoutes::add_to(http::Router& router) {
  auto& jobs = jobs_;

  router.add("GET", "/api/jobs/{id}", kViewer,
             [&jobs](http::Request& req) { return http::ok_serialized(req, jobs.get(std::string(req.param("id")))); });

  router.add("GET", "/api/jobs", kViewer, [&jobs](http::Request& req) {
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
    return http::ok_serialized(req, jobs.list(kind, status, page.limit, page.offset));
  });
}

}  // namespace kargo::api
