#pragma once
// The one place that builds response bodies (contract section 2).
//
//   return http::ok(req, data);                  // 200 {"success":true,"data":...}
//   return http::ok(req, data, 201, "created");
// Errors are thrown as kargo::Error and turned into the error envelope by error_response(),
// which only the pipeline calls.

#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

#include "kargo/core/error.hpp"
#include "kargo/http/message.hpp"

namespace kargo::http {

Response ok(const Request& req, const nlohmann::json& data, int status = 200, std::string_view message = {});
// The same envelope around `data_json`, a JSON value the caller already serialised (hot read-outs
// that write their JSON directly instead of building a tree).
Response ok_serialized(const Request& req, std::string_view data_json, int status = 200,
                       std::string_view message = {});
Response error_response(std::string_view request_id, const Error& error);
// The error envelope with `error.data` as well: the whole result of a request that is refused as a
// whole but still reports what it found (a bulk sheet upload with invalid rows: 422, the details
// and the report). Returned by the handler instead of thrown, so it needs no field on Error.
Response error_response(std::string_view request_id, const Error& error, const nlohmann::json& data);
// A stored envelope answered again (Idempotency-Key replay): same status and data, this
// request's id and time, and `Idempotent-Replayed: true`.
Response replay(const Request& req, const StoredAnswer& stored);
// Plain JSON document without the envelope (health routes, which the contract defines bare).
Response plain_json(const nlohmann::json& doc, int status = 200);

// Parses the body as a JSON object: 400 VALIDATION_ERROR (field "body") when the content type
// is not JSON, the body is not JSON (invalid UTF-8 included), or it is not an object; 422
// VALIDATION_ERROR with json_text_problems() when a string or key breaks text_problem() (a NUL).
nlohmann::json json_body(const Request& req);
// Every string and object key in `doc` that text_problem() refuses, named by its JSON path:
// "name", "targeting.keywords[2]", "creatives[0].name"; a bad key names the member it opens.
std::vector<FieldError> json_text_problems(const nlohmann::json& doc);

}  // namespace kargo::http
