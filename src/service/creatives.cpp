#include "kargo/service/creatives.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/job_kinds.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/creative/record.hpp"
#include "kargo/domain/creative/transform.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/idempotency.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using store::CreativeStore;

// The Kargo client's field errors (snippet_url: a refused host, a 404, an oversized snippet) under
// the route's prefix ("creative_config.").
Error with_prefix(const Error& e, const std::string& prefix) {
  if (e.details().empty() || prefix.empty()) return e;
  std::vector<FieldError> details;
  for (const auto& d : e.details()) {
    details.push_back({d.field == "snippet_url" ? prefix + "snippet_url" : d.field, d.message});
  }
  return Error::validation(std::move(details));
}

json field_errors_json(const Error& e) {
  json out = json::array();
  for (const auto& d : e.details()) out.push_back({{"field", d.field}, {"message", d.message}});
  return out;
}

// Inserts a processed creative and returns its resource; with a claim, the answer for
// Idempotency-Key replays is stored in the same transaction.
std::string insert_creative(store::Database& db, const json& fields, const std::string& actor,
                            const std::optional<std::string>& campaign_id,
                            const std::optional<IdempotencyClaim>& claim, const RenderAnswer& render) {
  std::string out;
  db.transact([&](pqxx::transaction_base& tx) {
    auto id = CreativeStore::insert(tx, fields, actor);
    if (campaign_id) CampaignService::associate_in(tx, *campaign_id, {id}, actor);
    out = CreativeStore::load(tx, id).value();
    if (claim && render) {
      auto answer = render(out);
      store::record_idempotent_response(tx, *claim, answer.status, answer.body);
    }
  });
  return out;
}

// After a creative changed (re-processed, failed, deleted), the campaigns it belongs to may have
// gained or lost their only ready creative.
std::vector<std::string> settle_campaigns_of(pqxx::transaction_base& tx, const std::string& id,
                                             const std::string& actor) {
  std::vector<std::string> ids;
  for (const auto& c : CreativeStore::campaigns_of(tx, id)) {
    CampaignService::settle_readiness(tx, c.campaign_id, actor);
    ids.push_back(c.campaign_id);
  }
  return ids;
}

// A failure that repeating cannot fix: the snippet is gone or refused, the transform refuses it,
// the stored configuration no longer passes. Upstream outages (502, 503) are not.
bool fails_for_good(const Error& e) { return e.http_status() == 422 || e.http_status() == 404; }

}  // namespace

void require_creative_id(const std::string& id) {
  if (!is_resource_id(id, "crv_")) throw Error::not_found("creative", id);
}

std::string cache_key(const CreativeQuery& q) {
  const auto& f = q.filter;
  return page_key(q.limit, q.offset, {&f.campaign_id, &f.format, &f.media_type, &f.status});
}

CreativeService::CreativeService(store::Database& db, store::CreativeStore& store, store::ResourceCache& pages,
                                 CampaignService& campaigns, JobService& jobs, upstream::KargoClient& kargo,
                                 BlockingPool& pool, const domain::MacroTable& macros, Metrics& metrics,
                                 CreativeOptions options)
    : db_(db),
      store_(store),
      pages_(pages),
      campaigns_(campaigns),
      jobs_(jobs),
      kargo_(kargo),
      pool_(pool),
      macros_(macros),
      metrics_(metrics),
      options_(std::move(options)) {
  for (auto format : {domain::CreativeFormat::kRunway, domain::CreativeFormat::kInstreamVideo,
                      domain::CreativeFormat::kEnhancedPreroll, domain::CreativeFormat::kAudio}) {
    for (auto phase : {domain::ViewabilityPhase::kPhase1, domain::ViewabilityPhase::kPhase2}) {
      metrics_.declare_creative(domain::format_name(format), domain::phase_name(phase));
    }
  }
}

json CreativeService::process_snippet(std::string_view snippet, const domain::CreativeConfig& config,
                                      const std::string& snippet_url, std::string_view snippet_field) {
  auto format = domain::format_name(config.format);
  auto phase = domain::phase_name(config.viewability.phase);
  auto started = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  try {
    auto result = domain::transform(snippet, config, macros_);
    double elapsed = seconds();
    metrics_.observe_creative(format, phase, "success", elapsed);
    return domain::creative_fields(config, result, snippet, snippet_url, elapsed * 1000.0,
                                   format_timestamp(std::chrono::system_clock::now()));
  } catch (const Error& e) {
    metrics_.observe_creative(format, phase, "failed", seconds());
    if (e.details().empty() || snippet_field == domain::kSnippetField) throw;
    std::vector<FieldError> details;
    for (const auto& d : e.details()) {
      details.push_back({d.field == domain::kSnippetField ? std::string(snippet_field) : d.field, d.message});
    }
    throw Error::validation(std::move(details));
  }
}

std::string CreativeService::create_uploaded(const json& config, const std::optional<UploadedFile>& file,
                                             const std::optional<std::string>& campaign_id,
                                             const std::string& actor,
                                             const std::optional<IdempotencyClaim>& claim,
                                             const RenderAnswer& render) {
  Validator v;
  if (!file) v.add("file", "is required: the snippet file (HTML or VAST XML)");
  std::optional<domain::CreativeConfig> parsed;
  try {
    parsed = domain::parse_creative_config(config);
  } catch (const Error& e) {
    for (const auto& d : e.details()) v.add(d.field, d.message);
  }
  v.check();
  json fields = process_snippet(file->body, *parsed, "upload://" + file->filename.value_or("snippet"), "file");
  auto doc = insert_creative(db_, fields, actor, campaign_id, claim, render);
  changed();
  if (campaign_id) campaigns_.invalidate(*campaign_id);
  return doc;
}

void CreativeService::process(const json& body, const Call& call, const std::optional<IdempotencyClaim>& claim,
                              RenderAnswer render, Completion<std::string> done) {
  Validator v(body);
  const json* config = v.object("creative_config", {.required = true});
  v.check();
  auto parsed = domain::parse_creative_config(
      *config, {.prefix = "creative_config.", .snippet_hosts = &options_.snippet_hosts});
  std::string url = *parsed.snippet_url;
  kargo_.fetch_snippet(url, call.deadline, [this, parsed, url, call, claim, render, done](upstream::SnippetResult r) {
    if (auto* e = std::get_if<Error>(&r)) return done(with_prefix(*e, "creative_config."));
    auto snippet = std::make_shared<std::string>(std::move(std::get<upstream::Snippet>(r).body));
    on_database<std::string>(
        pool_, call,
        [this, parsed, url, snippet, claim, render, actor = call.actor] {
          auto fields = process_snippet(*snippet, parsed, url, "snippet");
          auto doc = insert_creative(db_, fields, actor, std::nullopt, claim, render);
          changed();
          return doc;
        },
        done);
  });
}

// Fetches snippets a few at a time; the results come back in the order of the URLs.
class CreativeService::Fetched : public std::enable_shared_from_this<Fetched> {
 public:
  using Done = std::function<void(std::vector<Result<std::string>>)>;
  Fetched(upstream::KargoClient& kargo, std::vector<std::string> urls, Deadline deadline, size_t limit, Done done)
      : kargo_(kargo),
        urls_(std::move(urls)),
        results_(urls_.size()),
        deadline_(deadline),
        limit_(std::max<size_t>(1, limit)),
        done_(std::move(done)) {}

  void start() {
    if (urls_.empty()) return done_({});
    pump();
  }

 private:
  void pump() {
    std::vector<size_t> launch;
    {
      std::lock_guard lock(mutex_);
      while (next_ < urls_.size() && next_ - finished_ < limit_) launch.push_back(next_++);
    }
    for (size_t i : launch) {
      kargo_.fetch_snippet(urls_[i], deadline_, [self = shared_from_this(), i](upstream::SnippetResult r) {
        self->settle(i, std::move(r));
      });
    }
  }

  void settle(size_t i, upstream::SnippetResult r) {
    bool all = false;
    {
      std::lock_guard lock(mutex_);
      if (auto* e = std::get_if<Error>(&r)) {
        results_[i] = std::move(*e);
      } else {
        results_[i] = std::move(std::get<upstream::Snippet>(r).body);
      }
      all = ++finished_ == urls_.size();
    }
    if (!all) return pump();
    std::vector<Result<std::string>> out;
    out.reserve(results_.size());
    for (auto& r : results_) out.push_back(std::move(*r));
    done_(std::move(out));
  }

  upstream::KargoClient& kargo_;
  std::vector<std::string> urls_;
  std::vector<std::optional<Result<std::string>>> results_;
  Deadline deadline_;
  size_t limit_;
  Done done_;
  std::mutex mutex_;
  size_t next_ = 0, finished_ = 0;
};

void CreativeService::fetch_all(std::vector<std::string> urls, const Call& call,
                                std::function<void(std::vector<Result<std::string>>)> done) {
  std::make_shared<Fetched>(kargo_, std::move(urls), call.deadline, options_.max_parallel_fetches, std::move(done))
      ->start();
}

void CreativeService::reprocess(const json& body, const Call& call, Completion<json> done) {
  Validator v(body);
  auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = true});
  if (ids && (ids->empty() || ids->size() > 100)) v.add("creative_ids", "must hold 1-100 creative ids");
  v.check();
  struct Item {
    std::string id;
    std::optional<json> stored;  // the stored configuration (and original_snippet of uploads)
    bool uploaded = false;
    std::optional<Result<std::string>> snippet;
  };
  auto items = std::make_shared<std::vector<Item>>();
  for (const auto& id : *ids) items->push_back({id, std::nullopt, false, std::nullopt});

  // 1. The stored configurations (database), 2. the snippets (Kargo, asynchronously),
  // 3. transform and store each (database).
  auto step3 = [this, items, call, done] {
    on_database<json>(
        pool_, call,
        [this, items, actor = call.actor] {
          // One creative: the new processing stored, or, when it fails for good, the creative
          // marked failed with the reason (and the error passed on for the `failed` list).
          auto reprocess_one = [&](Item& item) -> std::string {
            if (!item.stored) throw Error::not_found("creative", item.id);
            try {
              json config = *item.stored;
              config.erase("original_snippet");
              if (item.uploaded) config.erase("snippet_url");
              auto parsed = domain::parse_creative_config(
                  config, {.snippet_hosts = item.uploaded ? nullptr : &options_.snippet_hosts});
              std::string url = item.stored->value("snippet_url", "");
              std::string snippet = item.uploaded ? item.stored->value("original_snippet", "")
                                                  : take(std::move(*item.snippet));
              auto fields = process_snippet(snippet, parsed, url, "snippet");
              auto doc = change(item.id, actor, [&](pqxx::transaction_base& tx) {
                return CreativeStore::replace_processing(tx, item.id, fields, actor);
              });
              if (!doc) throw Error::not_found("creative", item.id);
              return *doc;
            } catch (const Error& e) {
              if (fails_for_good(e)) {
                change(item.id, actor, [&](pqxx::transaction_base& tx) {
                  return CreativeStore::mark_failed(tx, item.id, e.external_message(), actor);
                });
              }
              throw;
            }
          };
          json results = json::array(), failed = json::array();
          for (auto& item : *items) {
            try {
              results.push_back(json::parse(reprocess_one(item)));
            } catch (const Error& e) {
              json f = {{"creative_id", item.id}, {"error", e.external_message()}, {"code", e.code().name}};
              if (!e.details().empty()) f["details"] = field_errors_json(e);
              failed.push_back(std::move(f));
            }
          }
          return json{{"results", results}, {"failed", failed}};
        },
        done);
  };
  on_database<Done>(
      pool_, call,
      [this, items] {
        for (auto& item : *items) {
          if (!is_resource_id(item.id, "crv_")) continue;
          item.stored = store_.config_of(item.id);
          if (item.stored) item.uploaded = item.stored->value("snippet_url", "").starts_with("upload://");
        }
        return Done{};
      },
      [this, items, call, done, step3](Result<Done> r) {
        if (auto* e = std::get_if<Error>(&r)) return done(*e);
        std::vector<std::string> urls;
        std::vector<size_t> which;
        for (size_t i = 0; i < items->size(); ++i) {
          const auto& item = (*items)[i];
          if (!item.stored || item.uploaded) continue;
          urls.push_back(item.stored->value("snippet_url", ""));
          which.push_back(i);
        }
        fetch_all(std::move(urls), call, [items, which, step3](std::vector<Result<std::string>> fetched) {
          for (size_t k = 0; k < which.size(); ++k) (*items)[which[k]].snippet = std::move(fetched[k]);
          step3();
        });
      });
}

void CreativeService::process_bulk(const json& body, const Call& call, Completion<json> done) {
  Validator v(body);
  const json* configs = v.array("creative_configs", {.required = true});
  if (configs && (configs->empty() || configs->size() > 500)) {
    v.add("creative_configs", "must hold 1-500 creative configs");
  }
  auto advertiser = v.string("advertiser_id", {.min_length = 1, .max_length = 64});
  bool upload = v.boolean("upload_to_amazon").value_or(false);
  if (upload && !advertiser) v.add("advertiser_id", "is required when upload_to_amazon is true");
  v.check();
  struct Item {
    std::string name;
    std::optional<domain::CreativeConfig> config;
    std::optional<Error> error;
    std::optional<Result<std::string>> snippet;
  };
  auto items = std::make_shared<std::vector<Item>>(configs->size());
  std::vector<std::string> urls;
  std::vector<size_t> which;
  for (size_t i = 0; i < configs->size(); ++i) {
    auto& item = (*items)[i];
    const json& c = (*configs)[i];
    item.name = c.is_object() && c.contains("name") && c["name"].is_string() ? c["name"].get<std::string>() : "";
    try {
      item.config = domain::parse_creative_config(
          c, {.prefix = "creative_configs[" + std::to_string(i) + "].", .snippet_hosts = &options_.snippet_hosts});
      urls.push_back(*item.config->snippet_url);
      which.push_back(i);
    } catch (const Error& e) {
      item.error = e;
    }
  }
  size_t total = configs->size();
  std::optional<std::string> upload_account;
  if (upload) upload_account = advertiser;
  fetch_all(std::move(urls), call, [this, items, which, call, done, total, upload_account](std::vector<Result<std::string>> fetched) {
    for (size_t k = 0; k < which.size(); ++k) (*items)[which[k]].snippet = std::move(fetched[k]);
    on_database<json>(
        pool_, call,
        [this, items, total, upload_account, actor = call.actor] {
          json results = json::array(), failed_items = json::array();
          std::vector<std::string> created;
          for (auto& item : *items) {
            if (item.config && item.snippet) {
              try {
                std::string snippet = take(std::move(*item.snippet));
                auto fields = process_snippet(snippet, *item.config, *item.config->snippet_url, "snippet");
                auto doc = json::parse(insert_creative(db_, fields, actor, std::nullopt, std::nullopt, nullptr));
                created.push_back(doc["id"]);
                results.push_back(std::move(doc));
                continue;
              } catch (const Error& e) {
                item.error = e;
              }
            }
            json f = {{"creative_name", item.name},
                      {"error", item.error ? item.error->external_message() : "not processed"}};
            if (item.error && !item.error->details().empty()) f["details"] = field_errors_json(*item.error);
            failed_items.push_back(std::move(f));
          }
          if (!created.empty()) changed();
          json out = {{"total_processed", total},
                      {"successful", results.size()},
                      {"failed", failed_items.size()},
                      {"results", results},
                      {"failed_items", failed_items}};
          if (upload_account && !created.empty()) {
            if (!options_.amazon_configured) {
              out["upload_error"] = "Amazon DSP is not configured";
            } else {
              out["upload_job_id"] = jobs_.enqueue(
                  kinds::kAmazonUpload, {{"creative_ids", created}, {"advertiser_id", *upload_account}}, actor, 5);
            }
          }
          return out;
        },
        done);
  });
}

std::string CreativeService::enqueue_upload(const json& body, const std::string& actor) {
  Validator v(body);
  auto ids = v.string_array("creative_ids", {.min_length = 1, .max_length = 64}, {.required = true});
  if (ids && (ids->empty() || ids->size() > 500)) v.add("creative_ids", "must hold 1-500 creative ids");
  auto advertiser = v.string(
      "advertiser_id", {.required = true,
                        .min_length = 1,
                        .max_length = 64,
                        .accept =
                            [](std::string_view s) {
                              return std::all_of(s.begin(), s.end(), [](char c) {
                                return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                              });
                            },
                        .accept_message = "must be 1-64 of A-Z, a-z, 0-9, _ or -"});
  v.check();
  if (!options_.amazon_configured) {
    throw upstream::amazon_not_configured();
  }
  for (const auto& id : *ids) {
    if (!store_.get(id)) throw Error::not_found("creative", id);
  }
  return jobs_.enqueue(kinds::kAmazonUpload, {{"creative_ids", *ids}, {"advertiser_id", *advertiser}}, actor, 5);
}

void CreativeService::changed() { pages_.invalidate_pages(); }

std::optional<std::string> CreativeService::change(const std::string& id, const std::string& actor,
                                                   const std::function<bool(pqxx::transaction_base&)>& write) {
  std::optional<std::string> doc;
  std::vector<std::string> touched;
  db_.transact([&](pqxx::transaction_base& tx) {
    doc.reset();
    if (!write(tx)) return;
    touched = settle_campaigns_of(tx, id, actor);
    doc = CreativeStore::load(tx, id);
  });
  if (!doc) return doc;
  changed();
  for (const auto& c : touched) campaigns_.invalidate(c);
  return doc;
}

void CreativeService::cached_page(const CreativeQuery& query, std::function<void(Cached)> done) {
  lookup_page(pages_, cache_key(query), std::move(done));
}

std::string CreativeService::page(const CreativeQuery& query, const std::optional<std::string>& generation) {
  return keep_page(pages_, cache_key(query), generation, "creatives",
                   store_.list(query.filter, query.limit, query.offset), query.limit, query.offset);
}

std::string CreativeService::get(const std::string& id) {
  auto doc = store_.get(id);
  if (!doc) throw Error::not_found("creative", id);
  return *doc;
}

store::CreativePreview CreativeService::preview(const std::string& id) {
  auto p = store_.preview(id);
  if (!p) throw Error::not_found("creative", id);
  return *p;
}

void CreativeService::remove(const std::string& id, const std::string& actor) {
  std::vector<std::string> campaigns;
  db_.transact([&](pqxx::transaction_base& tx) {
    campaigns.clear();
    if (!CreativeStore::lock(tx, id)) throw Error::not_found("creative", id);
    auto associated = CreativeStore::campaigns_of(tx, id);
    for (const auto& c : associated) {
      if (c.status == "active") {
        throw Error(codes::kConflict, "creative " + id + " is in active campaign " + c.campaign_id +
                                          "; pause the campaign or remove the creative from it first");
      }
    }
    for (const auto& c : associated) {
      store::CampaignStore::remove_association(tx, c.campaign_id, id, actor, "creative deleted");
      CampaignService::settle_readiness(tx, c.campaign_id, actor);
      campaigns.push_back(c.campaign_id);
    }
    CreativeStore::remove(tx, id, actor);
  });
  changed();
  for (const auto& c : campaigns) campaigns_.invalidate(c);
}

}  // namespace kargo::service
