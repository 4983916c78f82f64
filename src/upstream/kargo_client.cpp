#include "kargo/upstream/kargo_client.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <nlohmann/json.hpp>

#include "json_answer.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/upstream/channel.hpp"

namespace kargo::upstream {
namespace {

using detail::JsonAnswer;
using nlohmann::json;

constexpr const char* kKargoService = "kargo";
constexpr const char* kSnippetEndpoint = "/snippet";  // metrics label: snippet URLs vary
constexpr const char* kCampaignsEndpoint = "/v1/campaigns";
constexpr const char* kCampaignEndpoint = "/v1/campaigns/{id}";

Error snippet_problem(std::string message) {
  return Error::validation({{"snippet_url", std::move(message)}});
}

std::string mib(std::size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// 503: the key is set but Kargo does not take it (a configuration problem, not an outage).
Error key_rejected(const HttpResponse& res) {
  std::string external = "Kargo rejected KARGO_API_KEY (HTTP " + std::to_string(res.status) + ")";
  return Error(codes::kExternalApi, external, external + ": " + detail::excerpt(res.body)).with_status(503);
}

// 502 for a status the call has no rule for, with Kargo's own words ({"error","message"}).
[[noreturn]] void refuse_kargo(const HttpResponse& res, const std::string& what) {
  std::string words;
  if (auto doc = JsonAnswer::try_object(res.body)) {
    if ((*doc)["error"].is_string()) words = (*doc)["error"].get<std::string>();
    if ((*doc)["message"].is_string()) {
      words += (words.empty() ? "" : ": ") + detail::excerpt((*doc)["message"].get<std::string>(), 200);
    }
    if ((*doc)["fields"].is_object()) {
      std::string fields;
      for (const auto& [field, problem] : (*doc)["fields"].items()) {
        fields += (fields.empty() ? "" : "; ") + field + " " +
                  (problem.is_string() ? detail::excerpt(problem.get<std::string>(), 100) : problem.dump());
      }
      words += " (" + fields + ")";
    }
  }
  detail::refused(kKargoService, res, what, words.empty() ? "" : " " + words);
}

json fields_json(const KargoCampaignFields& f) {
  return {{"name", f.name},
          {"advertiser_id", f.advertiser_id},
          {"budget", f.budget},
          {"start_date", f.start_date},
          {"end_date", f.end_date},
          {"placement_types", f.placement_types},
          {"optimization_goal", f.optimization_goal},
          {"external_id", f.external_id}};
}

}  // namespace

KargoOptions KargoOptions::from_config(const Config& config) {
  KargoOptions o;
  o.base_url = config.kargo_api_base_url;
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  o.api_key = config.kargo_api_key;
  o.snippet_hosts = config.kargo_snippet_hosts;
  return o;
}

Error kargo_not_configured() {
  return Error(codes::kExternalApi, "Kargo is not configured", "Kargo is not configured: set KARGO_API_KEY")
      .with_status(503);
}

struct KargoClient::Impl {
  Impl(UpstreamChannel& c, KargoOptions o) : channel(c), options(std::move(o)) {
    // Built once: a snippet fetch is the hottest outbound call, and every header is a string copy.
    headers.emplace_back("Accept", "*/*");
    if (options.api_key && !options.api_key->empty())
      headers.emplace_back("Authorization", "Bearer " + *options.api_key);
  }

  // The campaign API's headers: the snippet headers with Accept: application/json.
  HeaderList api_headers() const {
    HeaderList h = headers;
    h[0].second = "application/json";
    return h;
  }

  // What a snippet fetch's outcome means for the caller (see the header).
  SnippetResult snippet_outcome(UpstreamResult r, const std::optional<std::string>& refused_redirect) const {
    if (!r.ok()) {
      switch (r.failure().value_or(FailureKind::kConnect)) {
        case FailureKind::kRedirect: {
          if (refused_redirect) {
            return snippet_problem("redirects to " + *refused_redirect +
                                   ", which is not in KARGO_SNIPPET_HOSTS");
          }
          std::string why = r.error().external_message();
          if (why.starts_with(std::string(kKargoService) + ": ")) why.erase(0, std::string(kKargoService).size() + 2);
          return snippet_problem("its redirects cannot be followed: " + why);
        }
        case FailureKind::kTooLarge:
          return snippet_problem("the snippet is larger than " + mib(options.max_snippet_bytes));
        default:
          return r.error();
      }
    }
    HttpResponse& res = r.response();
    if (res.status == 404 || res.status == 410) {
      return snippet_problem("Kargo has no snippet at this URL (HTTP " + std::to_string(res.status) + ")");
    }
    if (res.status != 200) return status_error(kKargoService, res);
    if (res.body.empty()) return snippet_problem("the snippet at this URL is empty");
    return Snippet{std::move(res.body), std::string(res.header("content-type").value_or("")),
                   std::move(res.url)};
  }

  void fetch_snippet(const std::string& url, const Deadline& deadline, SnippetCallback done) {
    auto parsed = parse_url(url);
    if (!parsed) return done(snippet_problem("must be an absolute http(s) URL"));
    if (!host_allowed(*parsed, options.snippet_hosts)) {
      return done(snippet_problem("host " + parsed->authority() + " is not in KARGO_SNIPPET_HOSTS"));
    }
    // Set by the redirect check, read by the completion: both run on the same call's client thread.
    auto refused = std::make_shared<std::optional<std::string>>();
    // The allow-list is read through a pointer: the Impl outlives the call (the completion
    // holds it), and copying the list per call would cost more than the check.
    UpstreamCall call{
        .endpoint = kSnippetEndpoint,
        .request = {.url = url,
                    .headers = headers,
                    .max_response_bytes = options.max_snippet_bytes,
                    .follow_redirect =
                        [hosts = &options.snippet_hosts, refused](const Url& to) {
                          if (host_allowed(to, *hosts)) return true;
                          *refused = to.authority();
                          return false;
                        }},
        .deadline = deadline,
    };
    channel.call(std::move(call), [this, refused, done = std::move(done)](UpstreamResult r) {
      done(snippet_outcome(std::move(r), *refused));
    });
  }

  // A campaign API call. `read` turns Kargo's answer into the caller's value (it may throw a
  // kargo::Error: the answer is unusable or says no); it runs on the client thread.
  template <class T>
  void send(const std::string& method, const std::string& target, const std::string& endpoint,
            std::string body, const Deadline& deadline, std::function<T(HttpResponse&)> read,
            Completion<T> done) {
    if (!configured()) return done(kargo_not_configured());
    OutboundRequest request{.method = method,
                            .url = options.base_url + target,
                            .headers = api_headers(),
                            .body = std::move(body),
                            .max_response_bytes = options.max_response_bytes};
    if (!request.body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    channel.call({.endpoint = endpoint, .request = std::move(request), .deadline = deadline},
                 [read = std::move(read), done = std::move(done)](UpstreamResult r) {
                   if (!r.ok()) return done(r.error());
                   done(capture<T>([&] {
                     HttpResponse& res = r.response();
                     if (res.status == 401 || res.status == 403) throw key_rejected(res);
                     return read(res);
                   }));
                 });
  }

  bool configured() const { return options.api_key && !options.api_key->empty(); }

  UpstreamChannel& channel;
  KargoOptions options;
  HeaderList headers;  // Accept, and Authorization when there is a key
};

KargoClient::KargoClient(UpstreamChannel& channel, KargoOptions options)
    : impl_(std::make_shared<Impl>(channel, std::move(options))) {
  for (const char* endpoint : {kSnippetEndpoint, kCampaignsEndpoint, kCampaignEndpoint}) {
    channel.declare_endpoint(endpoint);
  }
}

KargoClient::~KargoClient() = default;

bool KargoClient::configured() const { return impl_->configured(); }
CircuitState KargoClient::circuit_state() const { return impl_->channel.circuit_state(); }
const KargoOptions& KargoClient::options() const { return impl_->options; }

void KargoClient::fetch_snippet(const std::string& url, const Deadline& deadline, SnippetCallback done) {
  // The completion holds the Impl alive: the client may go away while a fetch is in flight.
  impl_->fetch_snippet(url, deadline,
                       [keep = impl_, done = std::move(done)](SnippetResult r) { done(std::move(r)); });
}

void KargoClient::list_campaigns(int page, int per_page, const Deadline& deadline,
                                 Completion<KargoCampaignPage> done) {
  std::string target = std::string(kCampaignsEndpoint) + "?page=" + std::to_string(page) +
                       "&per_page=" + std::to_string(per_page);
  impl_->send<KargoCampaignPage>(
      "GET", target, kCampaignsEndpoint, "", deadline,
      [](HttpResponse& res) {
        JsonAnswer in(kKargoService, std::string("GET ") + kCampaignsEndpoint);
        if (res.status != 200) refuse_kargo(res, std::string("GET ") + kCampaignsEndpoint);
        auto doc = in.parse(res);
        if (!doc.is_object()) in.malformed("the body is not a JSON object");
        KargoCampaignPage out;
        const auto& list = in.array(doc, "campaigns");
        for (std::size_t i = 0; i < list.size(); ++i) {
          const auto& c = in.element(list, i, "campaigns");
          out.campaigns.push_back(
              {in.id(c, "id"), in.string(c, "name"), in.optional_string(c, "status").value_or(""),
               in.optional_string(c, "advertiser_id").value_or(""),
               in.optional_string(c, "start_date").value_or(""), in.optional_string(c, "end_date").value_or(""),
               in.optional_number(c, "budget")});
        }
        out.total = in.integer(doc, "total");
        if (out.total < 0) in.malformed("total is negative");
        return out;
      },
      std::move(done));
}

void KargoClient::create_campaign(const KargoCampaignFields& fields, const Deadline& deadline,
                                  Completion<KargoCreateResult> done) {
  // Not retried once sent; a repeat is made safe by external_id (409 below), not by the channel.
  impl_->send<KargoCreateResult>(
      "POST", kCampaignsEndpoint, kCampaignsEndpoint, fields_json(fields).dump(), deadline,
      [](HttpResponse& res) -> KargoCreateResult {
        JsonAnswer in(kKargoService, std::string("POST ") + kCampaignsEndpoint);
        if (res.status == 200 || res.status == 201) {
          auto doc = in.parse(res);
          return {in.id(doc.is_object() ? doc : json::object(), "id"), false};
        }
        if (res.status == 409) {
          auto doc = JsonAnswer::try_object(res.body);
          if (doc && doc->contains("id")) return {in.id(*doc, "id"), true};
          in.malformed("a 409 that does not name the existing campaign", res.body);
        }
        refuse_kargo(res, std::string("POST ") + kCampaignsEndpoint);
      },
      std::move(done));
}

void KargoClient::update_campaign(const std::string& id, const KargoCampaignFields& fields,
                                  const Deadline& deadline, Completion<bool> done) {
  std::string target =
      std::string(kCampaignsEndpoint) + "/" + boost::urls::encode(id, boost::urls::unreserved_chars);
  impl_->send<bool>(
      "PUT", target, kCampaignEndpoint, fields_json(fields).dump(), deadline,
      [](HttpResponse& res) {
        if (res.status == 200 || res.status == 204) return true;
        if (res.status == 404) return false;
        refuse_kargo(res, std::string("PUT ") + kCampaignEndpoint);
      },
      std::move(done));
}

void KargoClient::probe(const Deadline& deadline, Completion<Done> done) {
  impl_->send<Done>(
      "GET", std::string(kCampaignsEndpoint) + "?page=1&per_page=1", kCampaignsEndpoint, "", deadline,
      [](HttpResponse& res) {
        if (res.status != 200) refuse_kargo(res, std::string("GET ") + kCampaignsEndpoint);
        return Done{};
      },
      std::move(done));
}

Snippet KargoClient::fetch_snippet(const std::string& url) {
  return await_result<Snippet>([&](Completion<Snippet> done) { fetch_snippet(url, {}, std::move(done)); });
}

KargoCampaignPage KargoClient::list_campaigns(int page, int per_page) {
  return await_result<KargoCampaignPage>(
      [&](Completion<KargoCampaignPage> done) { list_campaigns(page, per_page, {}, std::move(done)); });
}

KargoCreateResult KargoClient::create_campaign(const KargoCampaignFields& fields) {
  return await_result<KargoCreateResult>(
      [&](Completion<KargoCreateResult> done) { create_campaign(fields, {}, std::move(done)); });
}

bool KargoClient::update_campaign(const std::string& id, const KargoCampaignFields& fields) {
  return await_result<bool>([&](Completion<bool> done) { update_campaign(id, fields, {}, std::move(done)); });
}

}  // namespace kargo::upstream
