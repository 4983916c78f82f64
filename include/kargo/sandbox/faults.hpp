#pragma once
// Injected failures of the sandbox (POST /_sandbox/faults, docs/UPSTREAMS.md section 12): the
// next `count` requests whose path starts with a prefix get a chosen status, body, Retry-After,
// delay, a gzip bomb or a truncated body, so client tests can exercise retries, timeouts and
// limits against real HTTP. A `fail_report` fault answers nothing itself: the report created by
// the request it matches ends FAILED, for tests of what follows a failed report.
//
//   FaultList faults;
//   faults.add(parse_fault(nlohmann::json::parse(R"({"path_prefix":"/dsp","status":503,"count":2})")));
//   if (auto f = faults.take("POST", "/dsp/v1/campaigns")) { ... f->status == 503 ... }
//
// Not thread-safe: the sandbox calls it under its state mutex.

#include <chrono>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kargo::sandbox {

struct Fault {
  int64_t id = 0;
  std::string path_prefix;
  std::optional<std::string> method;  // any method when absent
  int status = 0;                     // 0: answer normally (after the delay)
  int remaining = 1;
  std::chrono::milliseconds delay{0};
  std::optional<std::string> retry_after;
  std::optional<std::string> body;  // sent as is
  std::string body_content_type = "application/json";
  bool gzip_bomb = false;
  bool truncate = false;
  // Matches report creations only (POST /reporting/reports, whatever the prefix): the report is
  // created as usual but ends FAILED instead of COMPLETED.
  bool fail_report = false;

  // Lets the request through to its route after the delay (which may apply fail_report), rather
  // than answering in its place.
  bool reaches_route() const { return status == 0 && !gzip_bomb && !truncate; }
  nlohmann::json to_json() const;
};

// Parses the body of POST /_sandbox/faults; throws std::invalid_argument naming the bad field.
Fault parse_fault(const nlohmann::json& body);

class FaultList {
 public:
  // Stores the fault and returns it with its id.
  const Fault& add(Fault fault);
  // The oldest live fault matching the request, with one use consumed; nullopt when none.
  // Paths under /_sandbox/ never match, except report downloads (/_sandbox/downloads/);
  // fail_report faults match POST /reporting/reports only.
  std::optional<Fault> take(std::string_view method, std::string_view path);
  nlohmann::json to_json() const;  // {"faults": [...]}
  void clear() { faults_.clear(); }

 private:
  std::deque<Fault> faults_;
  int64_t next_id_ = 1;
};

}  // namespace kargo::sandbox
