#include "kargo/service/kargo.hpp"

#include <map>
#include <mutex>
#include <vector>

#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/store/kargo_push.hpp"
#include "kargo/upstream/kargo_client.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Kargo's campaign list is read in pages of this size and cached per page.
constexpr int kKargoPageSize = 100;
// Contract: "cached <= 60 s". Half of that, so an operator who just changed something at Kargo
// sees it soon; the cache is there to spare Kargo a call per UI page view.
constexpr std::chrono::seconds kKargoCacheTtl{30};

json campaign_json(const upstream::KargoCampaign& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"status", c.status},
          {"advertiser_id", c.advertiser_id},
          {"start_date", c.start_date.empty() ? json() : json(c.start_date)},
          {"end_date", c.end_date.empty() ? json() : json(c.end_date)},
          {"budget", c.budget ? json(*c.budget) : json()}};
}

// kargo_settings of a push: placement types (1-64 characters of [a-z0-9_-], at most 20) and the
// optimization goal (one of the campaign goal_kpi values). Both optional: the defaults are the
// formats of the campaign's creatives and its goal_kpi.
struct KargoSettings {
  std::optional<std::vector<std::string>> placement_types;
  std::optional<std::string> optimization_goal;
};

KargoSettings read_kargo_settings(Validator& v) {
  KargoSettings out;
  const json* settings = v.object("kargo_settings");
  if (!settings) return out;
  Validator s = v.nested(*settings, "kargo_settings");
  auto slug = [](std::string_view text) {
    return text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string_view::npos;
  };
  out.placement_types =
      s.string_array("placement_types", {.min_length = 1,
                                         .max_length = 64,
                                         .accept = slug,
                                         .accept_message = "must be lower-case letters, digits, _ or -"});
  if (out.placement_types && out.placement_types->size() > 20) {
    s.add(s.field_name("placement_types"), "must hold at most 20 placement types");
  }
  out.optimization_goal =
      s.enumeration("optimization_goal", {"viewability", "ctr", "conversions", "reach", "video_completion"});
  return out;
}

}  // namespace

// Kargo's campaigns in process memory, per Kargo page of 100, for kKargoCacheTtl. In process
// rather than in Redis: it is a read-through copy of someone else's data, a miss costs one Kargo
// call, and each instance holding its own copy for 30 s is within the contract's 60 s. One fill
// per page at a time: a burst of requests makes one Kargo call, the others wait for its answer
// (as callbacks: no thread waits). A push through this instance clears it.
struct KargoService::Cache {
  struct Entry {
    upstream::KargoCampaignPage page;
    std::chrono::system_clock::time_point fetched_at;
    Clock::time_point expires;
  };
  using EntryDone = std::function<void(Result<Entry>)>;

  void get(upstream::KargoClient& kargo, size_t page, const Deadline& deadline, EntryDone done) {
    {
      std::lock_guard lock(mutex);
      if (auto it = pages.find(page); it != pages.end() && Clock::now() < it->second.expires) {
        auto entry = it->second;
        return done(std::move(entry));
      }
      auto& waiting = filling[page];
      waiting.push_back(std::move(done));
      if (waiting.size() > 1) return;  // a fill is in flight: wait for it
    }
    kargo.list_campaigns(static_cast<int>(page), kKargoPageSize, deadline,
                         [this, page](Result<upstream::KargoCampaignPage> r) {
                           std::vector<EntryDone> callers;
                           std::optional<Result<Entry>> out;
                           {
                             std::lock_guard lock(mutex);
                             if (auto* e = std::get_if<Error>(&r)) {
                               out = *e;
                             } else {
                               Entry entry{std::move(std::get<upstream::KargoCampaignPage>(r)),
                                           std::chrono::system_clock::now(), Clock::now() + kKargoCacheTtl};
                               pages[page] = entry;
                               out = std::move(entry);
                             }
                             callers.swap(filling[page]);
                             filling.erase(page);
                           }
                           for (auto& c : callers) c(*out);
                         });
  }

  void clear() {
    std::lock_guard lock(mutex);
    pages.clear();
  }

  std::mutex mutex;
  std::map<size_t, Entry> pages;
  std::map<size_t, std::vector<EntryDone>> filling;
};

KargoService::KargoService(upstream::KargoClient& kargo, store::KargoPushStore& pushes, CampaignService& campaigns,
                           BlockingPool& pool)
    : kargo_(kargo), pushes_(pushes), campaigns_(campaigns), pool_(pool), cache_(std::make_shared<Cache>()) {}

KargoService::~KargoService() = default;

bool KargoService::configured() const { return kargo_.configured(); }

void KargoService::campaigns(size_t offset, size_t limit, const Call& call, Completion<json> done) {
  if (!kargo_.configured()) throw upstream::kargo_not_configured();
  size_t first = offset / kKargoPageSize + 1;
  size_t last = (offset + limit - 1) / kKargoPageSize + 1;
  // A slice of at most 100 items spans at most two pages: the first, then maybe the next.
  struct Slice {
    json items = json::array();
    int64_t total = 0;
    std::optional<std::chrono::system_clock::time_point> fetched_at;
    // Adds the page's items that fall in the slice; true when the next page is needed too.
    bool add(const Cache::Entry& entry, size_t page, size_t offset, size_t limit, size_t last) {
      if (!fetched_at || entry.fetched_at < *fetched_at) fetched_at = entry.fetched_at;
      total = entry.page.total;
      size_t base = (page - 1) * kKargoPageSize;
      for (size_t i = 0; i < entry.page.campaigns.size(); ++i) {
        size_t at = base + i;
        if (at >= offset && at < offset + limit) items.push_back(campaign_json(entry.page.campaigns[i]));
      }
      return page < last && entry.page.campaigns.size() == static_cast<size_t>(kKargoPageSize);
    }
    json document(size_t offset, size_t limit) {
      return {{"campaigns", std::move(items)},
              {"total", total},
              {"limit", limit},
              {"offset", offset},
              {"fetched_at", format_timestamp(*fetched_at)}};
    }
  };
  auto slice = std::make_shared<Slice>();
  cache_->get(kargo_, first, call.deadline,
              [this, slice, first, last, offset, limit, call, done](Result<Cache::Entry> r) {
                if (auto* e = std::get_if<Error>(&r)) return done(*e);
                if (!slice->add(std::get<Cache::Entry>(r), first, offset, limit, last)) {
                  return done(slice->document(offset, limit));
                }
                cache_->get(kargo_, first + 1, call.deadline,
                            [slice, first, last, offset, limit, done](Result<Cache::Entry> next) {
                              if (auto* e = std::get_if<Error>(&next)) return done(*e);
                              slice->add(std::get<Cache::Entry>(next), first + 1, offset, limit, last);
                              done(slice->document(offset, limit));
                            });
              });
}

void KargoService::push(const json& body, const Call& call, Completion<json> done) {
  Validator v(body);
  auto id = v.string("campaign_id", {.required = true, .min_length = 1, .max_length = 64});
  auto settings = read_kargo_settings(v);
  v.check();
  if (!is_resource_id(*id, "camp_")) throw Error::not_found("campaign", *id);
  if (!kargo_.configured()) throw upstream::kargo_not_configured();
  const std::string campaign_id = *id;

  // 4. Stores the Kargo id with an audit entry and answers.
  auto record = [this, campaign_id, call, done](std::string kargo_id, std::string action) {
    on_database<json>(
        pool_, call,
        [this, campaign_id, kargo_id, action, actor = call.actor] {
          auto doc = pushes_.record(campaign_id, kargo_id, action, actor);
          if (!doc) throw Error::not_found("campaign", campaign_id);
          campaigns_.invalidate(campaign_id);
          cache_->clear();
          return json{{"campaign_id", campaign_id},
                      {"kargo_campaign_id", kargo_id},
                      {"action", action},
                      {"campaign", json::parse(*doc)}};
        },
        done);
  };
  // 3. Create (a 409 naming an existing campaign with our external id is adopted, then updated).
  auto create = [this, call, done, record](upstream::KargoCampaignFields fields, bool had_id) {
    kargo_.create_campaign(fields, call.deadline,
                           [this, fields, had_id, call, done, record](Result<upstream::KargoCreateResult> r) {
                             if (auto* e = std::get_if<Error>(&r)) return done(*e);
                             auto created = std::get<upstream::KargoCreateResult>(r);
                             if (!created.adopted) return record(created.id, had_id ? "recreated" : "created");
                             kargo_.update_campaign(created.id, fields, call.deadline,
                                                    [id = created.id, done, record](Result<bool> u) {
                                                      if (auto* e = std::get_if<Error>(&u)) return done(*e);
                                                      if (!std::get<bool>(u)) {
                                                        return done(Error(codes::kExternalApi,
                                                                          "kargo named campaign " + id +
                                                                              " and then did not find it"));
                                                      }
                                                      record(id, "updated");
                                                    });
                           });
  };
  // 1. What to push (database), 2. update the stored Kargo id, or create when there is none or
  // Kargo no longer knows it (deleted in Kargo's UI: the user asked for the campaign to be at Kargo).
  on_database<store::KargoPushSource>(
      pool_, call,
      [this, campaign_id] {
        auto source = pushes_.source(campaign_id);
        if (!source) throw Error::not_found("campaign", campaign_id);
        return *source;
      },
      [this, campaign_id, settings, call, done, create, record](Result<store::KargoPushSource> r) {
        if (auto* e = std::get_if<Error>(&r)) return done(*e);
        const auto& source = std::get<store::KargoPushSource>(r);
        upstream::KargoCampaignFields fields{
            .name = source.name,
            .advertiser_id = source.advertiser_id,
            .start_date = source.start_date,
            .end_date = source.end_date,
            .budget = source.budget,
            .placement_types = settings.placement_types.value_or(source.formats),
            .optimization_goal = settings.optimization_goal.value_or(source.goal_kpi),
            .external_id = campaign_id};
        if (!source.kargo_campaign_id) return create(fields, false);
        std::string stored = *source.kargo_campaign_id;
        kargo_.update_campaign(stored, fields, call.deadline,
                               [stored, fields, done, create, record](Result<bool> u) {
                                 if (auto* e = std::get_if<Error>(&u)) return done(*e);
                                 if (std::get<bool>(u)) return record(stored, "updated");
                                 create(fields, true);
                               });
      });
}

}  // namespace kargo::service
