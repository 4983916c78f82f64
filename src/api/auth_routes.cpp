// /api/auth/token and /api/auth/users (contract section 2).
#include <nlohmann/json.hpp>

#include "kargo/api/routes.hpp"
#include "kargo/auth/auth_service.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/http/envelope.hpp"
#include "kargo/http/router.hpp"
#include "route_options.hpp"

namespace kargo::api {

void AuthRoutes::add_to(http::Router& router) {
  auto& auth = auth_;
  // Password hashing is slow on purpose: both routes run on the blocking pool.
  router.add("POST", "/api/auth/token", {.authenticated = false}, [&auth](http::Request& req) {
    auto body = http::json_body(req);
    Validator v(body);
    auto username = v.string("username", {.required = true, .min_length = 1, .max_length = 256});
    auto password = v.string("password", {.required = true, .min_length = 1, .max_length = 1024});
    v.check();
    auto token = auth.login(*username, *password);
    return http::ok(
        req,
        {{"access_token", token.access_token}, {"token_type", "bearer"}, {"expires_in", token.expires_in}});
  });

  router.add("POST", "/api/auth/users", kAdminCreate,
             [&auth](http::Request& req) {
               auto body = http::json_body(req);
               Validator v(body);
               auto username =
                   v.string("username", {.required = true,
                                         .accept = [](std::string_view s) { return valid_username(s); },
                                         .accept_message = kUsernameRule});
               auto password = v.string("password", {.required = true, .min_length = 8, .max_length = 256});
               auto role = v.enumeration("role", {"viewer", "editor", "admin"}, {.required = true});
               v.check();
               NewUser user{*username, *password, *parse_role(*role)};
               auth.create_user(user, req.principal->subject);
               return http::ok(req, {{"username", user.username}, {"role", *role}}, 201, "user created");
             });
}

}  // namespace kargo::api
