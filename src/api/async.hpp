#pragma once
// Internal to src/api: what an asynchronous handler hands to a service (the request's actor, id
// and deadline), and the completion that answers the request with a service's Result.
//
//   creatives.process(body, call_of(req), ..., answer_with<std::string>(reply, [&req](auto& doc) {
//     return http::ok_serialized(req, doc, 201, "creative processed");
//   }));

#include <memory>
#include <utility>

#include "kargo/core/result.hpp"
#include "kargo/http/router.hpp"
#include "kargo/service/call.hpp"

namespace kargo::api {

inline service::Call call_of(const http::Request& req) {
  return {req.principal ? req.principal->subject : std::string(), req.request_id, req.deadline};
}

// A Completion<T> that answers `reply` with `ok(value)`, or with the error envelope.
template <class T, class Ok>
Completion<T> answer_with(std::shared_ptr<http::AsyncReply> reply, Ok ok) {
  return [reply, ok = std::move(ok)](Result<T> r) {
    if (auto* e = std::get_if<Error>(&r)) return reply->fail(*e);
    reply->respond(ok(std::get<T>(r)));
  };
}

}  // namespace kargo::api
