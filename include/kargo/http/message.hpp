#pragma once
// Request and Response as the rest of the service sees them: plain data, no Beast types.
// The server (src/http/server.cpp) converts to and from Beast at the socket.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kargo/core/principal.hpp"

namespace kargo::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// ASCII lower-case copy (header names, media types, auth schemes).
std::string ascii_lower(std::string_view s);

// Case-insensitive lookup in a header list (names are stored lower-case by the server).
std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name);

using kargo::Principal;
using kargo::Role;

struct Request {
  std::string method;                                      // "GET", ...
  std::string target;                                      // raw request target
  std::string path;                                        // percent-decoded path without query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  HeaderList headers;                                      // lower-case names
  std::string body;
  std::string remote_address;

  // Filled by the pipeline.
  std::string request_id;
  std::string_view route;  // route template, e.g. "/api/campaigns/{id}"; "" when unmatched
  std::vector<std::pair<std::string_view, std::string>> path_params;
  std::optional<Principal> principal;
  std::chrono::steady_clock::time_point received_at;

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
  std::optional<std::string_view> query_param(std::string_view name) const;
  // Path parameter of the matched template ("" if absent).
  std::string_view param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;
  // Set by error_response() for the error statistics and the log; never sent.
  std::string error_code;
  std::string error_message;
  // Test servers only (the sandbox's "truncate" fault): announce this Content-Length, send the
  // shorter body, then close the connection, so clients can be tested against a short read.
  std::optional<size_t> declared_length;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace kargo::http
