#pragma once
// Request and Response as the rest of the service sees them: plain data, no Beast types.
// The server (src/http/server.cpp) converts to and from Beast at the socket.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kargo/core/deadline.hpp"
#include "kargo/core/ports.hpp"
#include "kargo/core/principal.hpp"

namespace kargo::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// ASCII lower-case copy (header names, media types, auth schemes).
std::string ascii_lower(std::string_view s);

// Case-insensitive lookup in a header list (names are stored lower-case by the server).
std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name);

using kargo::Principal;
using kargo::Role;

using kargo::IdempotencyClaim;

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
  std::optional<IdempotencyClaim> idempotency;  // set once the pipeline claimed the key
  // Set by a handler whose service stored the replay answer in the creating transaction (its
  // render function ran): the pipeline then writes no second record for a successful answer.
  bool idempotency_recorded = false;
  std::chrono::steady_clock::time_point received_at;
  Deadline deadline;  // received_at + the route's or the client's timeout

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

  // Who may show this response in a frame (X-Frame-Options, written by the pipeline with its
  // other fixed headers): nobody, except where a route needs its own origin to frame it (the
  // creative preview, shown by the Kargo UI in an iframe).
  enum class Framing : unsigned char { kDeny, kSameOrigin };
  Framing framing = Framing::kDeny;

  // Header lines already in wire form ("Name: value\r\n"), for the headers the pipeline adds to
  // every response: one growing string instead of two strings per header. Never read back.
  std::string head_lines;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Appends to head_lines; CR and LF are dropped from the value (no header injection).
  void add_head_line(std::string_view name, std::string_view value);
};

// Appends "Name: value\r\n" to `out`, dropping CR and LF from the value.
void append_header_line(std::string& out, std::string_view name, std::string_view value);

}  // namespace kargo::http
