// Reports: the report_refresh pull (request, tick, job steps), the report documents and their
// exports. The data flow, the windows and the formulas are in docs/REPORTS.md.
#include "kargo/service/reports.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <pqxx/pqxx>

#include "kargo/bulk/sheet.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/job_kinds.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/core/time.hpp"
#include "kargo/core/validator.hpp"
#include "kargo/domain/report.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;
using upstream::DspReportRequest;
using upstream::DspReportType;

constexpr const char* kReportTickName = "report_tick";
constexpr size_t kMaxCampaignIds = 1000;
constexpr const char* kExportKind = "report_export";
constexpr const char* kExportPrefix = "export_";
constexpr size_t kExportIdBytes = 16;
constexpr std::chrono::hours kExportLifetime{24};

// A campaign id that cannot exist is as unknown as one that does not (404, before any lookup).
void check_campaign_id(const std::string& id) {
  if (!is_resource_id(id, "camp_")) throw Error::not_found("campaign", id);
}

// An unusable value in a downloaded report: the attempt fails (502) and the job retries it.
[[noreturn]] void malformed(const std::string& what) {
  std::string message = "amazon_dsp: the report download is malformed: " + what;
  throw Error(codes::kExternalApi, message, message);
}

int64_t count_of(int64_t value, const char* column, const std::string& date) {
  if (value < 0) malformed(std::string(column) + " is negative (" + std::to_string(value) + ") on " + date);
  return value;
}

int64_t cents_of(double amount, const std::string& date) {
  if (!(amount >= 0) || amount > 1e12) malformed("totalCost " + std::to_string(amount) + " on " + date);
  return std::llround(amount * 100.0);
}

store::DeliveryDay delivery_of(const upstream::DspCampaignRow& row) {
  return {row.campaign_id,
          row.creative_id,
          row.date,
          count_of(row.impressions, "impressions", row.date),
          count_of(row.clicks, "clicks", row.date),
          count_of(row.purchases, "purchases", row.date),
          cents_of(row.total_cost, row.date)};
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// The cache keys of the report documents: every value that decides the content. Campaign ids
// and dates are checked before (camp_ + hex, YYYY-MM-DD), so "|" cannot occur in them.
std::string key_of(const store::PerformanceQuery& q) {
  return "performance|" + q.campaign_id + "|" + q.start_date + "|" + q.end_date + "|" + q.granularity;
}
std::string key_of(const store::ViewabilityQuery& q) {
  return "viewability|" + q.campaign_id + "|" + q.start_date + "|" + q.end_date + "|" + q.vendor.value_or("");
}

// --- exports ---

bulk::Number count_cell(const json& v) { return {v.get<double>(), 0}; }
bulk::Number money_cell(const json& v) { return {v.get<double>(), 2}; }
bulk::Number rate_cell(const json& v) { return {v.get<double>(), -1}; }
bulk::Date date_cell(const json& v) { return {*parse_date(v.get<std::string>())}; }

// A campaign name as a text cell: one that a spreadsheet would run as a formula (=, +, -, @, tab,
// carriage return first) gets a leading apostrophe, as OWASP advises for csv exports.
std::string text_cell(const json& v) {
  std::string text = v.get<std::string>();
  if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos) {
    text.insert(0, "'");
  }
  return text;
}

bulk::Workbook performance_book(const std::vector<json>& docs) {
  bulk::Workbook book;
  const std::vector<std::string> figures{"Impressions", "Clicks", "Conversions", "Spend", "CTR %",
                                         "Conversion Rate %", "Cost per Click", "Cost per Conversion"};
  auto columns = [&](std::vector<std::string> first) {
    first.insert(first.end(), figures.begin(), figures.end());
    return first;
  };
  // Both sheets first: add_sheet may move the earlier ones.
  book.add_sheet("Campaign Performance", columns({"Campaign ID", "Campaign Name", "Period Start", "Period End"}));
  book.add_sheet("Totals", columns({"Campaign ID", "Campaign Name", "Start Date", "End Date"}));
  auto& rows = book.sheets[0];
  auto& totals = book.sheets[1];
  auto append = [](bulk::Row& row, const json& m) {
    row.insert(row.end(), {count_cell(m["impressions"]), count_cell(m["clicks"]), count_cell(m["conversions"]),
                           money_cell(m["spend"]), rate_cell(m["ctr"]), rate_cell(m["conversion_rate"]),
                           money_cell(m["cost_per_click"]), money_cell(m["cost_per_conversion"])});
  };
  for (const auto& doc : docs) {
    const std::string id = doc["campaign_id"], name = text_cell(doc["campaign_name"]);
    for (const auto& r : doc["rows"]) {
      bulk::Row row{id, name, date_cell(r["period_start"]), date_cell(r["period_end"])};
      append(row, r);
      rows.rows.push_back(std::move(row));
    }
    bulk::Row row{id, name, date_cell(doc["start_date"]), date_cell(doc["end_date"])};
    append(row, doc["totals"]);
    totals.rows.push_back(std::move(row));
  }
  return book;
}

bulk::Workbook viewability_book(const std::vector<json>& docs) {
  bulk::Workbook book;
  const std::vector<std::string> figures{"Impressions",       "Measurable Impressions", "Viewable Impressions",
                                         "Measurable Rate %", "Viewability Rate %",     "Avg Time in View (s)"};
  auto columns = [&](std::vector<std::string> first) {
    first.insert(first.end(), figures.begin(), figures.end());
    return first;
  };
  book.add_sheet("Viewability", columns({"Campaign ID", "Campaign Name", "Date", "Vendor"}));
  book.add_sheet("Totals", columns({"Campaign ID", "Campaign Name", "Vendor"}));
  auto& rows = book.sheets[0];
  auto& totals = book.sheets[1];
  auto append = [](bulk::Row& row, const json& f) {
    row.insert(row.end(), {count_cell(f["impressions"]), count_cell(f["measurable_impressions"]),
                           count_cell(f["viewable_impressions"]), rate_cell(f["measurable_rate"]),
                           rate_cell(f["viewability_rate"]), rate_cell(f["avg_time_in_view"])});
  };
  for (const auto& doc : docs) {
    const std::string id = doc["campaign_id"], name = text_cell(doc["campaign_name"]);
    for (const auto& r : doc["rows"]) {
      bulk::Row row{id, name, date_cell(r["date"]), r["vendor"].get<std::string>()};
      append(row, r);
      rows.rows.push_back(std::move(row));
    }
    for (const auto& [vendor, f] : doc["totals_by_vendor"].items()) {
      bulk::Row row{id, name, vendor};
      append(row, f);
      totals.rows.push_back(std::move(row));
    }
  }
  return book;
}

}  // namespace

// At most `n` holders at a time; a free place goes to the waiter of the lowest rank (the earliest
// unit), so the first windows get through and are written while the later ones still download.
class ReportService::Gate {
 public:
  explicit Gate(size_t n) : free_(std::max<size_t>(n, 1)) {}
  class Place {
   public:
    explicit Place(Gate& gate) : gate_(gate) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() { gate_.release(); }

   private:
    Gate& gate_;
  };
  // Blocks until the caller holds a place; the place is left when the result is destroyed.
  [[nodiscard]] std::unique_ptr<Place> enter(size_t rank) {
    std::unique_lock lock(mutex_);
    waiting_.insert(rank);
    cv_.wait(lock, [&] { return free_ > 0 && *waiting_.begin() == rank; });
    waiting_.erase(waiting_.begin());
    --free_;
    return std::make_unique<Place>(*this);
  }

 private:
  void release() {
    {
      std::lock_guard lock(mutex_);
      ++free_;
    }
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::multiset<size_t> waiting_;
  size_t free_;
};

// One pull: a group of campaigns of one advertiser over one window.
struct ReportService::Unit {
  std::string advertiser;
  std::vector<store::ReportableCampaign> campaigns;
  domain::DateRange window;
  std::string key;  // stable over attempts: the window and a digest of the campaign ids
  size_t rank = 0;  // its place in the job: earlier units go first through the gates
};

// The two limits of one job's units: downloading, and writing.
struct ReportService::Gates {
  Gate downloads, writes;
};

ReportService::ReportService(store::ReportStore& store, store::ResourceCache& pages,
                             store::GeneratedFileStore& files, CampaignService& campaigns, JobService& jobs,
                             upstream::AmazonDspClient& amazon, Metrics& metrics, ReportOptions options)
    : store_(store),
      pages_(pages),
      files_(files),
      campaigns_(campaigns),
      jobs_(jobs),
      amazon_(amazon),
      metrics_(metrics),
      options_(options) {}

json ReportService::enqueue_refresh(const json& body, const std::string& actor) {
  Validator v(body);
  auto ids = v.string_array("campaign_ids", {.min_length = 1, .max_length = 64});
  if (ids && (ids->empty() || ids->size() > kMaxCampaignIds)) {
    v.add("campaign_ids", "must hold 1-" + std::to_string(kMaxCampaignIds) +
                              " campaign ids (leave it out to pull every campaign with an Amazon DSP campaign)");
  }
  auto range = domain::read_date_range(v, v.string("start_date", {.required = true}),
                                       v.string("end_date", {.required = true}));
  const auto today = today_utc();
  if (range && std::chrono::sys_days(range->start) > std::chrono::sys_days(today)) {
    v.add("start_date", "must not be after today (" + format_date(today) + " UTC): there is nothing to report yet");
  }
  v.check();
  if (!options_.configured) throw upstream::amazon_not_configured();
  // Days after today have no delivery yet: the pull stops at today.
  if (std::chrono::sys_days(range->end) > std::chrono::sys_days(today)) range->end = today;

  json payload{{"start_date", range->start_text()}, {"end_date", range->end_text()}};
  json resolved = json::array();
  if (ids) {
    std::vector<std::string> distinct;
    for (const auto& id : *ids) {
      if (std::find(distinct.begin(), distinct.end(), id) == distinct.end()) distinct.push_back(id);
    }
    require_campaigns(distinct);
    auto reportable = store_.reportable(distinct);
    std::vector<FieldError> not_synced;
    for (const auto& id : distinct) {
      bool found = std::any_of(reportable.begin(), reportable.end(), [&](const auto& c) { return c.id == id; });
      if (!found) {
        not_synced.push_back({"campaign_ids", "campaign " + id +
                                                  " has no Amazon DSP campaign yet: sync it first "
                                                  "(POST /api/integrations/amazon-dsp/sync)"});
      }
    }
    if (!not_synced.empty()) throw Error::validation(std::move(not_synced));
    payload["campaign_ids"] = distinct;
    resolved = distinct;
  } else {
    for (const auto& c : store_.reportable(std::nullopt)) resolved.push_back(c.id);
  }
  auto job_id = jobs_.enqueue(kinds::kReportRefresh, payload, actor, options_.max_attempts);
  log::info("report refresh queued", {{"job_id", job_id},
                                      {"campaigns", resolved.size()},
                                      {"start_date", range->start_text()},
                                      {"end_date", range->end_text()},
                                      {"actor", actor}});
  return {{"job_id", job_id},
          {"campaign_ids", resolved},
          {"start_date", range->start_text()},
          {"end_date", range->end_text()}};
}

void ReportService::require_campaigns(const std::vector<std::string>& ids) {
  for (const auto& id : ids) check_campaign_id(id);
  if (auto missing = store_.first_missing(ids)) throw Error::not_found("campaign", *missing);
}

std::optional<std::string> ReportService::tick() {
  const int days = options_.restate_days;
  auto job = jobs_.store().enqueue_tick(
      kReportTickName, options_.interval_seconds, kinds::kReportRefresh, options_.max_attempts,
      [days](pqxx::transaction_base& tx) -> std::optional<json> {
        // Amazon restates recent days: the last few are pulled again for every campaign whose
        // flight overlaps them (in flight, or ended within them).
        auto range = domain::last_days(today_utc(), days);
        auto ids = store::ReportStore::in_flight(tx, range.start_text(), range.end_text());
        if (ids.empty()) return std::nullopt;
        return json{{"campaign_ids", ids}, {"start_date", range.start_text()}, {"end_date", range.end_text()}};
      });
  if (job) jobs_.wake();
  return job;
}

json ReportService::refresh(const json& payload, json& state, int attempt,
                            const std::function<void(int, int)>& progress) {
  Validator v(payload);
  auto range = domain::read_date_range(v, v.string("start_date", {.required = true}),
                                       v.string("end_date", {.required = true}));
  auto ids = v.string_array("campaign_ids");
  if (!v.ok() || !range) throw Error(codes::kInternal, "internal error", "report_refresh: a malformed payload");
  if (!options_.configured) throw upstream::amazon_not_configured();

  // Group by advertiser (the Amazon-Ads-AccountId of the calls), at most campaigns_per_report
  // campaigns per report; every group is pulled for every window.
  auto campaigns = store_.reportable(ids);
  std::vector<Unit> units;
  const auto windows = domain::windows(*range);
  for (size_t i = 0; i < campaigns.size();) {
    size_t end = i;
    while (end < campaigns.size() && end - i < options_.campaigns_per_report &&
           campaigns[end].advertiser_id == campaigns[i].advertiser_id) {
      ++end;
    }
    std::vector<store::ReportableCampaign> group(campaigns.begin() + static_cast<std::ptrdiff_t>(i),
                                                 campaigns.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<std::string> group_ids;
    for (const auto& c : group) group_ids.push_back(c.id);
    const std::string digest = sha256_hex(join(group_ids, ",")).substr(0, 16);
    for (const auto& w : windows) {
      units.push_back({group.front().advertiser_id, group, w, w.start_text() + ".." + w.end_text() + "|" + digest,
                       units.size()});
    }
    i = end;
  }

  if (!state.contains("units") || !state["units"].is_object()) state["units"] = json::object();
  json& done_units = state["units"];
  const int total = static_cast<int>(units.size());
  int done = 0;
  for (const auto& unit : units) done += done_units.contains(unit.key) ? 1 : 0;
  progress(done, total);
  // The attempt names its reports: a retry after a FAILED report asks for a new one instead of
  // being pointed at the failed one as a duplicate.
  const std::string tag = "a" + std::to_string(attempt) + " " + random_id("", 2);
  // Up to parallel_pulls units at a time, each on a thread of its own (the client's calls block
  // while Amazon prepares the reports), of which parallel_writes write at once.
  // Their results are recorded here, on the job's thread, as they finish; after a failure the
  // units in flight still finish (and are recorded), then the first error fails the attempt.
  Gates gates{Gate(options_.parallel_writes), Gate(options_.parallel_writes)};
  std::deque<std::pair<const Unit*, std::future<json>>> running;
  std::exception_ptr failure;
  auto finish_oldest = [&] {
    auto [unit, result] = std::move(running.front());
    running.pop_front();
    try {
      done_units[unit->key] = result.get();
      progress(++done, total);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  };
  for (const auto& unit : units) {
    if (done_units.contains(unit.key)) continue;
    if (failure) break;
    while (running.size() >= std::max<size_t>(options_.parallel_pulls, 1)) finish_oldest();
    if (failure) break;
    running.emplace_back(&unit, std::async(std::launch::async, [this, &unit, &tag, &gates] { return pull(unit, tag, gates); }));
  }
  while (!running.empty()) finish_oldest();
  if (failure) std::rethrow_exception(failure);

  json rows{{"campaign", 0}, {"creative", 0}, {"viewability", 0}};
  uint64_t ignored = 0;
  for (const auto& unit : units) {
    const json& counts = done_units[unit.key];
    for (const char* report : {"campaign", "creative", "viewability"}) {
      rows[report] = rows[report].get<uint64_t>() + counts.value(report, uint64_t{0});
    }
    ignored += counts.value("ignored", uint64_t{0});
  }
  json skipped = json::array();
  if (ids) {
    for (const auto& id : *ids) {
      bool pulled = std::any_of(campaigns.begin(), campaigns.end(), [&](const auto& c) { return c.id == id; });
      if (!pulled) skipped.push_back({{"campaign_id", id}, {"reason", "no Amazon DSP campaign (or deleted)"}});
    }
  }
  return {{"start_date", range->start_text()},
          {"end_date", range->end_text()},
          {"campaigns", campaigns.size()},
          {"windows", windows.size()},
          {"reports", units.size() * 3},
          {"rows", rows},
          {"ignored_rows", ignored},
          {"skipped", skipped}};
}

json ReportService::pull(const Unit& unit, const std::string& tag, Gates& gates) {
  const std::string from = unit.window.start_text(), to = unit.window.end_text();
  std::vector<std::string> amazon_ids, ids;
  for (const auto& c : unit.campaigns) {
    amazon_ids.push_back(c.amazon_campaign_id);
    ids.push_back(c.id);
  }
  auto request = [&](DspReportType type, bool by_creative, const char* what) {
    DspReportRequest r;
    r.type = type;
    r.by_creative = by_creative;
    r.start_date = from;
    r.end_date = to;
    r.campaign_ids = amazon_ids;
    r.name = std::string("kargo ") + what + " " + from + ".." + to + " " + tag;
    return r;
  };
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  const auto started = Clock::now();
  // The three reports are requested first and awaited together: Amazon prepares them in parallel.
  std::vector<std::string> report_ids{
      amazon_.create_report(unit.advertiser, request(DspReportType::kCampaign, false, "delivery")),
      amazon_.create_report(unit.advertiser, request(DspReportType::kCampaign, true, "creative delivery")),
      amazon_.create_report(unit.advertiser, request(DspReportType::kViewability, false, "viewability"))};
  auto reports = amazon_.wait_for_reports(unit.advertiser, report_ids);
  for (const auto& r : reports) {
    if (r.status != "COMPLETED") {
      std::string message = "amazon_dsp: report " + r.report_id + " " + r.status +
                            (r.failure_reason.empty() ? "" : ": " + r.failure_reason);
      throw Error(codes::kExternalApi, message, message);
    }
  }

  const double ready_ms = ms_since(started);
  auto downloading_place = gates.downloads.enter(unit.rank);
  const auto downloading = Clock::now();
  store::PulledWindow window{ids, from, to, {}, {}, {}};
  for (const auto& row : amazon_.download_campaign_rows(reports[0])) window.campaigns.push_back(delivery_of(row));
  for (const auto& row : amazon_.download_campaign_rows(reports[1], /*by_creative=*/true)) {
    window.creatives.push_back(delivery_of(row));
  }
  for (const auto& row : amazon_.download_viewability_rows(reports[2])) {
    auto vendor = domain::vendor_from_amazon(row.vendor);
    if (!vendor) continue;  // a vendor the service does not keep
    if (row.measurable_impressions > row.impressions || row.viewable_impressions > row.measurable_impressions) {
      malformed("viewability counts out of order (viewable <= measurable <= impressions) on " + row.date);
    }
    if (!(row.average_time_in_view_seconds >= 0)) malformed("averageTimeInViewSeconds on " + row.date);
    store::ViewabilityDay day;
    day.amazon_campaign_id = row.campaign_id;
    day.day = row.date;
    day.vendor = *vendor;
    day.impressions = count_of(row.impressions, "impressions", row.date);
    day.measurable = count_of(row.measurable_impressions, "measurableImpressions", row.date);
    day.viewable = count_of(row.viewable_impressions, "viewableImpressions", row.date);
    day.avg_time_in_view = row.average_time_in_view_seconds;
    window.viewability.push_back(std::move(day));
  }

  const double download_ms = ms_since(downloading);
  downloading_place.reset();
  auto writing_place = gates.writes.enter(unit.rank);
  const auto writing = Clock::now();
  auto counts = store_.replace_window(window);
  const double write_ms = ms_since(writing);
  campaigns_.invalidate(ids);
  metrics_.report_rows_ingested("campaign", static_cast<double>(counts.campaign_rows));
  metrics_.report_rows_ingested("creative", static_cast<double>(counts.creative_rows));
  metrics_.report_rows_ingested("viewability", static_cast<double>(counts.viewability_rows));
  log::info("report window written", {{"advertiser_id", unit.advertiser},
                                      {"campaigns", ids.size()},
                                      {"start_date", from},
                                      {"end_date", to},
                                      {"campaign_rows", counts.campaign_rows},
                                      {"creative_rows", counts.creative_rows},
                                      {"viewability_rows", counts.viewability_rows},
                                      {"ignored_rows", counts.ignored},
                                      {"reports_ready_ms", ready_ms},
                                      {"download_ms", download_ms},
                                      {"write_ms", write_ms},
                                      {"total_ms", ms_since(started)}});
  return {{"campaign", counts.campaign_rows},
          {"creative", counts.creative_rows},
          {"viewability", counts.viewability_rows},
          {"ignored", counts.ignored}};
}

void ReportService::cached_performance(const store::PerformanceQuery& query, std::function<void(Cached)> done) {
  check_campaign_id(query.campaign_id);
  lookup_page(pages_, key_of(query), std::move(done));
}

std::string ReportService::campaign_performance(const store::PerformanceQuery& query,
                                                const std::optional<std::string>& generation) {
  auto doc = store_.campaign_performance(query);
  if (!doc) throw Error::not_found("campaign", query.campaign_id);
  pages_.put_page(key_of(query), generation, *doc);
  return *doc;
}

void ReportService::cached_viewability(const store::ViewabilityQuery& query, std::function<void(Cached)> done) {
  check_campaign_id(query.campaign_id);
  lookup_page(pages_, key_of(query), std::move(done));
}

std::string ReportService::viewability(const store::ViewabilityQuery& query,
                                       const std::optional<std::string>& generation) {
  auto doc = store_.viewability(query);
  if (!doc) throw Error::not_found("campaign", query.campaign_id);
  pages_.put_page(key_of(query), generation, *doc);
  return *doc;
}

json ReportService::export_report(const ExportRequest& request, const std::string& actor) {
  require_campaigns(request.campaign_ids);
  const bool performance = request.report_type == "campaign_performance";
  std::vector<std::string> texts =
      performance ? store_.campaign_performance_many(
                        request.campaign_ids,
                        {.start_date = request.start_date, .end_date = request.end_date,
                         .granularity = request.granularity})
                  : store_.viewability_many(request.campaign_ids, {.start_date = request.start_date,
                                                                   .end_date = request.end_date,
                                                                   .vendor = request.vendor});
  std::vector<json> docs;
  docs.reserve(texts.size());
  for (const auto& t : texts) docs.push_back(json::parse(t));

  store::NewGeneratedFile file;
  file.id = random_id(kExportPrefix, kExportIdBytes);
  file.kind = kExportKind;
  file.created_by = actor;
  file.lifetime = kExportLifetime;
  file.filename = std::string("kargo-") + (performance ? "campaign-performance-" : "viewability-") +
                  request.start_date + "-" + request.end_date + "-" +
                  file.id.substr(std::string_view(kExportPrefix).size(), 8) + "." + request.format;
  if (request.format == "json") {
    json out{{"report_type", request.report_type},
             {"start_date", request.start_date},
             {"end_date", request.end_date},
             {"generated_at", format_timestamp(std::chrono::system_clock::now())}};
    if (performance) out["granularity"] = request.granularity;
    if (!performance) out["vendor"] = request.vendor ? json(*request.vendor) : json(nullptr);
    for (const auto& doc : docs) file.record_count += doc["rows"].size();
    out["campaigns"] = std::move(docs);
    file.content_type = "application/json";
    file.bytes = out.dump();
  } else {
    // The rows sheet first, then the totals per campaign (xlsx only: a csv file holds one table).
    auto book = performance ? performance_book(docs) : viewability_book(docs);
    file.record_count = book.sheets.front().rows.size();
    if (request.format == "xlsx") {
      file.content_type = bulk::kXlsxContentType;
      file.bytes = bulk::write_xlsx(book);
      file.sheets = book.sheet_names();
    } else {
      file.content_type = "text/csv; charset=utf-8";
      file.bytes = bulk::to_csv(book.sheets.front());
    }
  }
  auto expires_at = files_.save(file);
  log::info("report exported", {{"export_id", file.id},
                                {"report_type", request.report_type},
                                {"format", request.format},
                                {"campaigns", request.campaign_ids.size()},
                                {"file_size", file.bytes.size()},
                                {"record_count", file.record_count},
                                {"actor", actor}});
  return {{"export_id", file.id},
          {"download_url", "/api/reports/download/" + file.id},
          {"expires_at", expires_at},
          {"file_size", file.bytes.size()},
          {"record_count", file.record_count},
          {"report_type", request.report_type},
          {"format", request.format}};
}

store::GeneratedFile ReportService::download(const std::string& export_id) {
  auto not_found = [&] { return Error::not_found("export", export_id); };
  if (!is_resource_id(export_id, kExportPrefix, kExportIdBytes)) throw not_found();
  auto file = files_.fetch(export_id, kExportKind);
  if (!file) throw not_found();
  if (file->expired) throw Error(codes::kGone, "export " + export_id + " has expired; export the report again");
  return std::move(*file);
}

void ReportService::publish_age() {
  metrics_.set_report_age(store_.max_report_age_seconds());
  // The pull age measures the periodic pull: without it (interval 0) nothing keeps it low.
  double pull_age = 0;
  if (options_.interval_seconds > 0) {
    auto range = domain::last_days(today_utc(), options_.restate_days);
    pull_age = store_.max_pull_age_seconds(range.start_text(), range.end_text());
  }
  metrics_.set_report_pull_age(pull_age);
}

}  // namespace kargo::service
