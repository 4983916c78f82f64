#pragma once
// The Kargo API as the service uses it (contract section 9, docs/UPSTREAMS.md sections 10-11):
// creative snippets and Kargo campaigns, through the "kargo" UpstreamChannel (retries, circuit
// breaker, metrics).
//
// Snippets are fetched only from hosts in KARGO_SNIPPET_HOSTS, and redirects are followed only
// while they stay there (a snippet URL must never make the service call an internal address), up
// to 1 MiB. What is wrong with the URL is the caller's problem: 422 VALIDATION_ERROR on
// `snippet_url` (host not allowed, redirect leaving the list, too large, 404); what is wrong with
// Kargo is 502 EXTERNAL_API_ERROR (after the retries) or 503 (circuit open).
// Campaign calls carry `Authorization: Bearer <KARGO_API_KEY>`; without a key they are 503
// "Kargo is not configured". Unusable answers (not JSON, wrong types) are 502, never a crash.
// Every call is asynchronous: the answer comes to a callback on an upstream client thread (keep
// it short, never block in it), within the caller's deadline. The blocking forms are for job
// worker threads only: request paths never wait on Kargo with a thread (docs/ARCHITECTURE.md,
// "Executors").
//
//   KargoClient kargo(kargo_channel, KargoOptions::from_config(config));
//   kargo.fetch_snippet(url, req.deadline, [](SnippetResult r) { ... });
//   kargo.list_campaigns(1, 20, deadline, [](Result<KargoCampaignPage> r) { ... });
//   kargo.create_campaign(fields, deadline, [](Result<KargoCreateResult> r) { ... });  // 409: adopted
//   kargo.update_campaign(id, fields, deadline, [](Result<bool> r) { ... });          // false: 404
//   Snippet s = kargo.fetch_snippet(url);   // job threads only

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kargo/core/deadline.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/result.hpp"
#include "kargo/upstream/circuit_breaker.hpp"

namespace kargo {
struct Config;
}

namespace kargo::upstream {

class UpstreamChannel;

struct KargoOptions {
  std::string base_url;                    // KARGO_API_BASE_URL
  std::optional<std::string> api_key;      // KARGO_API_KEY; none: campaign calls are 503
  std::vector<std::string> snippet_hosts;  // KARGO_SNIPPET_HOSTS
  std::size_t max_snippet_bytes = 1u << 20;
  std::size_t max_response_bytes = 4u << 20;  // campaign API answers

  static KargoOptions from_config(const Config& config);
};

struct Snippet {
  std::string body;
  std::string content_type;  // as Kargo sent it ("" when absent)
  std::string url;           // the URL that answered (after allowed redirects)
};
using SnippetResult = std::variant<Snippet, Error>;

struct KargoCampaign {
  std::string id, name, status, advertiser_id, start_date, end_date;
  std::optional<double> budget;
};

struct KargoCampaignPage {
  std::vector<KargoCampaign> campaigns;
  int64_t total = 0;
};

// What POST /v1/campaigns and PUT /v1/campaigns/{id} send.
struct KargoCampaignFields {
  std::string name, advertiser_id, start_date, end_date;  // dates YYYY-MM-DD
  double budget = 0;
  std::vector<std::string> placement_types;
  std::string optimization_goal;
  std::string external_id;  // our campaign id: Kargo refuses a second campaign with it (409)
};

struct KargoCreateResult {
  std::string id;
  bool adopted = false;  // Kargo already had a campaign with this external_id (an earlier push)
};

class KargoClient {
 public:
  using SnippetCallback = std::function<void(SnippetResult)>;

  // `channel` ("kargo") must outlive the client and its calls in flight.
  KargoClient(UpstreamChannel& channel, KargoOptions options);
  ~KargoClient();
  KargoClient(const KargoClient&) = delete;
  KargoClient& operator=(const KargoClient&) = delete;

  bool configured() const;  // KARGO_API_KEY set
  CircuitState circuit_state() const;
  const KargoOptions& options() const;

  // GET <url>. Needs no API key (the key is sent when there is one). `done` runs once, on an
  // upstream client thread (or at once, on the calling thread, when the URL is refused before any
  // call).
  void fetch_snippet(const std::string& url, const Deadline& deadline, SnippetCallback done);
  // GET /v1/campaigns?page&per_page (page >= 1, per_page 1-100).
  void list_campaigns(int page, int per_page, const Deadline& deadline, Completion<KargoCampaignPage> done);
  // POST /v1/campaigns -> {id}; a 409 naming the campaign that already has this external_id is
  // that campaign (adopted), so repeating a create never makes a second one.
  void create_campaign(const KargoCampaignFields& fields, const Deadline& deadline,
                       Completion<KargoCreateResult> done);
  // PUT /v1/campaigns/{id}: true, or false when Kargo has no campaign with this id (deleted there:
  // 404).
  void update_campaign(const std::string& id, const KargoCampaignFields& fields, const Deadline& deadline,
                       Completion<bool> done);
  // A cheap read for /health/detailed (GET /v1/campaigns?page=1&per_page=1).
  void probe(const Deadline& deadline, Completion<Done> done);

  // Blocking forms, for job worker threads (and tests) only. Throw kargo::Error.
  Snippet fetch_snippet(const std::string& url);
  KargoCampaignPage list_campaigns(int page, int per_page);
  KargoCreateResult create_campaign(const KargoCampaignFields& fields);
  [[nodiscard]] bool update_campaign(const std::string& id, const KargoCampaignFields& fields);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// 503 EXTERNAL_API_ERROR "Kargo is not configured" (KARGO_API_KEY).
Error kargo_not_configured();

}  // namespace kargo::upstream
