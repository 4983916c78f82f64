#include "kargo/sandbox/faults.hpp"

namespace kargo::sandbox {
namespace {

constexpr int64_t kMaxDelayMs = 60000;
constexpr int kMaxCount = 1000000;
constexpr std::string_view kReportsPath = "/reporting/reports";

[[noreturn]] void bad(const std::string& field, const std::string& message) {
  throw std::invalid_argument(field + ": " + message);
}

}  // namespace

nlohmann::json Fault::to_json() const {
  nlohmann::json j{{"id", id},
                   {"path_prefix", path_prefix},
                   {"method", method ? nlohmann::json(*method) : nlohmann::json()},
                   {"status", status},
                   {"remaining", remaining},
                   {"delay_ms", delay.count()},
                   {"retry_after", retry_after ? nlohmann::json(*retry_after) : nlohmann::json()},
                   {"gzip_bomb", gzip_bomb},
                   {"truncate", truncate},
                   {"fail_report", fail_report}};
  if (body) j["body"] = *body;
  return j;
}

Fault parse_fault(const nlohmann::json& body) {
  if (!body.is_object()) bad("body", "must be a JSON object");
  Fault f;
  auto prefix = body.find("path_prefix");
  if (prefix == body.end() || !prefix->is_string() || prefix->get<std::string>().empty() ||
      prefix->get<std::string>()[0] != '/') {
    bad("path_prefix", "is required and must start with '/'");
  }
  f.path_prefix = prefix->get<std::string>();
  if (auto it = body.find("method"); it != body.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().empty()) bad("method", "must be an HTTP method");
    f.method = it->get<std::string>();
    for (auto& c : *f.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (auto it = body.find("status"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) bad("status", "must be an integer");
    f.status = it->get<int>();
    if (f.status != 0 && (f.status < 100 || f.status > 599)) bad("status", "must be 0 or 100-599");
  }
  if (auto it = body.find("count"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > kMaxCount) {
      bad("count", "must be an integer from 1 to " + std::to_string(kMaxCount));
    }
    f.remaining = it->get<int>();
  }
  if (auto it = body.find("delay_ms"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxDelayMs) {
      bad("delay_ms", "must be an integer from 0 to " + std::to_string(kMaxDelayMs));
    }
    f.delay = std::chrono::milliseconds(it->get<int64_t>());
  }
  if (auto it = body.find("retry_after"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      f.retry_after = it->get<std::string>();
    } else if (it->is_number_integer() && it->get<int64_t>() >= 0) {
      f.retry_after = std::to_string(it->get<int64_t>());
    } else {
      bad("retry_after", "must be a string or a non-negative integer");
    }
  }
  if (auto it = body.find("body"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      f.body = it->get<std::string>();
      f.body_content_type = "text/plain; charset=utf-8";
    } else {
      f.body = it->dump();
    }
  }
  for (auto [name, flag] : {std::pair{"gzip_bomb", &f.gzip_bomb}, std::pair{"truncate", &f.truncate},
                            std::pair{"fail_report", &f.fail_report}}) {
    if (auto it = body.find(name); it != body.end() && !it->is_null()) {
      if (!it->is_boolean()) bad(name, "must be true or false");
      *flag = it->get<bool>();
    }
  }
  if (f.gzip_bomb && f.truncate) bad("truncate", "cannot be combined with gzip_bomb");
  // The report is created as usual: nothing may answer in the route's place.
  if (f.fail_report && (!f.reaches_route() || f.body || f.retry_after)) {
    bad("fail_report", "can only be combined with delay_ms");
  }
  if (f.status == 0 && f.delay.count() == 0 && !f.gzip_bomb && !f.truncate && !f.fail_report) {
    bad("status", "a fault needs a status, a delay_ms, gzip_bomb, truncate or fail_report");
  }
  return f;
}

const Fault& FaultList::add(Fault fault) {
  fault.id = next_id_++;
  faults_.push_back(std::move(fault));
  return faults_.back();
}

std::optional<Fault> FaultList::take(std::string_view method, std::string_view path) {
  // Knobs are never faulted; report downloads are upstream traffic that only lives under /_sandbox/
  // (docs/UPSTREAMS.md section 12), so they are.
  if (path.rfind("/_sandbox/", 0) == 0 && path.rfind("/_sandbox/downloads/", 0) != 0) return std::nullopt;
  const bool creates_report = method == "POST" && path == kReportsPath;
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (path.rfind(it->path_prefix, 0) != 0) continue;
    if (it->method && *it->method != method) continue;
    if (it->fail_report && !creates_report) continue;
    Fault used = *it;
    if (--it->remaining <= 0) faults_.erase(it);
    return used;
  }
  return std::nullopt;
}

nlohmann::json FaultList::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : faults_) list.push_back(f.to_json());
  return {{"faults", std::move(list)}};
}

}  // namespace kargo::sandbox
