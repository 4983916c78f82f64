#include "kargo/sandbox/state.hpp"

#include <random>

namespace kargo::sandbox {

std::string random_hex(size_t chars) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(chars, '0');
  for (auto& c : out) c = kHex[rng() % 16];
  return out;
}

uint64_t random_id_offset(uint64_t range) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng() % range;
}

std::string redact_authorization(std::string_view value) {
  auto space = value.find(' ');
  std::string scheme(space == std::string_view::npos ? std::string_view() : value.substr(0, space));
  std::string_view secret = space == std::string_view::npos ? value : value.substr(space + 1);
  std::string tail(secret.size() > 4 ? secret.substr(secret.size() - 4) : std::string_view());
  return (scheme.empty() ? "" : scheme + " ") + "\xE2\x80\xA6" + tail;
}

std::string TokenStore::issue(std::string client_id, Clock::time_point now, std::chrono::seconds ttl) {
  std::string token = "Atza|sbx." + random_hex(32);
  tokens_[token] = Token{std::move(client_id), now + ttl};
  return token;
}

TokenStore::Check TokenStore::check(std::string_view token, Clock::time_point now,
                                    std::string* client_id) const {
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return Check::kUnknown;
  if (now >= it->second.expires_at) return Check::kExpired;
  if (client_id) *client_id = it->second.client_id;
  return Check::kValid;
}

void TokenStore::expire_all(Clock::time_point now) {
  for (auto& [token, t] : tokens_) t.expires_at = std::min(t.expires_at, now);
}

void KargoState::seed() {
  campaigns.clear();
  next_id = 10001;
  struct Seed {
    const char *name, *status, *advertiser, *start, *end;
    double budget;
  };
  static constexpr Seed kSeeds[] = {
      {"Kargo Seed Campaign 1", "active", "adv-1001", "2026-01-01", "2026-03-31", 25000.0},
      {"Kargo Seed Campaign 2", "paused", "adv-1001", "2026-02-01", "2026-02-28", 8000.0},
      {"Kargo Seed Campaign 3", "completed", "adv-2002", "2025-10-01", "2025-12-31", 12500.5},
  };
  for (const auto& s : kSeeds) {
    std::string id = std::to_string(next_id++);
    campaigns[id] = {{"id", id},
                     {"name", s.name},
                     {"status", s.status},
                     {"advertiser_id", s.advertiser},
                     {"start_date", s.start},
                     {"end_date", s.end},
                     {"budget", s.budget},
                     {"placement_types", nlohmann::json::array({"runway"})},
                     {"optimization_goal", "viewability"},
                     {"external_id", nullptr}};
  }
  next_id = kKargoIdBase + random_id_offset(kKargoIdSpread);
}

int64_t RequestLog::append(const http::Request& req, std::string at) {
  nlohmann::json names = nlohmann::json::array();
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [name, value] : req.headers) {
    names.push_back(name);
    if (name == "authorization") {
      values[name] = redact_authorization(value);
    } else if (name == "x-request-id" || name == "content-type" || name.rfind("amazon-", 0) == 0) {
      values[name] = value;
    }
  }
  auto q = req.target.find('?');
  Entry e;
  e.seq = next_seq_++;
  e.path = req.path;
  e.json = {{"seq", e.seq},
            {"at", std::move(at)},
            {"method", req.method},
            {"path", req.path},
            {"query", q == std::string::npos ? std::string() : req.target.substr(q + 1)},
            {"header_names", std::move(names)},
            {"headers", std::move(values)},
            // Bodies are logged as text; a cut in the middle of a UTF-8 sequence is replaced on dump.
            {"body", req.body.substr(0, kMaxBody)},
            {"body_bytes", req.body.size()}};
  entries_.push_back(std::move(e));
  if (entries_.size() > kMaxEntries) entries_.pop_front();
  return entries_.back().seq;
}

void RequestLog::set_status(int64_t seq, int status) {
  if (entries_.empty() || seq < entries_.front().seq || seq > entries_.back().seq) return;
  entries_[static_cast<size_t>(seq - entries_.front().seq)].status = status;
}

nlohmann::json RequestLog::to_json(std::string_view path_prefix, int64_t since) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries_) {
    if (e.seq <= since || e.path.rfind(path_prefix, 0) != 0) continue;
    nlohmann::json j = e.json;
    j["status"] = e.status == 0 ? nlohmann::json() : nlohmann::json(e.status);
    list.push_back(std::move(j));
  }
  return {{"requests", std::move(list)}};
}

State::State(Settings s) : settings(s), signing_key(random_hex(64)) {
  kargo.seed();
}

void State::reset() {
  tokens.clear();
  amazon = AmazonState{};
  kargo.seed();
  faults.clear();
  requests.clear();
  webhook_sinks.clear();
}

}  // namespace kargo::sandbox
