#include "kargo/service/sheets.hpp"

#include <algorithm>
#include <chrono>

#include "kargo/bulk/sheet.hpp"
#include "kargo/bulk/sheet_reader.hpp"
#include "kargo/core/digest.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/job_kinds.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/time.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/store/bulk_sources.hpp"
#include "kargo/store/database.hpp"

namespace kargo::service {
namespace {

using nlohmann::json;

// bulk_import jobs: a sheet that cannot be applied now (database down) is tried again; a bad
// sheet never gets this far (it is read before it is queued).
constexpr int kImportAttempts = 3;
constexpr const char* kSheetKind = "bulk_sheet";
// The id is the download link's only secret: 128 random bits (the contract asks for >= 96).
constexpr const char* kSheetPrefix = "sheet_";
constexpr size_t kSheetIdBytes = 16;
constexpr std::chrono::hours kSheetLifetime{24};
constexpr const char* kZipType = "application/zip";
// A whole sheet is one transaction: 50 000 rows take longer than an interactive statement deadline.
constexpr std::chrono::minutes kApplyTimeout{5};
// How long a read waits for one of the process's large-read slots (bulk::read_workbook).
constexpr std::chrono::seconds kRequestSlotWait{5};
constexpr std::chrono::minutes kJobSlotWait{10};

// The writes of a valid plan, in an order that lets each see the one before: new campaigns,
// campaign fields, new associations, then line items (which may belong to a new association).
// Returns the campaigns written; `created` tells whether a campaign was created.
std::vector<std::string> write_plan(pqxx::transaction_base& tx, const bulk::UploadPlan& plan,
                                    const std::string& actor, bool& created,
                                    const std::function<void(int, int)>& progress) {
  std::vector<std::string> written;
  int total = static_cast<int>(plan.creates.size() + plan.updates.size() + plan.associations.size() +
                               plan.line_items.size());
  int done = 0;
  auto step = [&] {
    ++done;
    if (progress) progress(done, total);
  };
  if (progress) progress(0, total);
  for (const auto& c : plan.creates) {
    written.push_back(CampaignService::create_in(tx, c.fields, {}, actor));
    created = true;
    step();
  }
  for (const auto& u : plan.updates) {
    CampaignService::update_in(tx, u.id, u.body, std::nullopt, actor);
    written.push_back(u.id);
    step();
  }
  // One associate_in per campaign (one audit entry listing its new creatives), in sheet order.
  std::vector<std::pair<std::string, std::vector<std::string>>> by_campaign;
  for (const auto& a : plan.associations) {
    auto it = std::find_if(by_campaign.begin(), by_campaign.end(),
                           [&](const auto& p) { return p.first == a.campaign_id; });
    if (it == by_campaign.end()) it = by_campaign.insert(by_campaign.end(), {a.campaign_id, {}});
    it->second.push_back(a.creative_id);
  }
  for (const auto& [id, creative_ids] : by_campaign) {
    CampaignService::associate_in(tx, id, creative_ids, actor);
    written.push_back(id);
    for (size_t i = 0; i < creative_ids.size(); ++i) step();
  }
  for (const auto& li : plan.line_items) {
    std::optional<double> budget;
    if (li.budget_cents) budget = static_cast<double>(*li.budget_cents) / 100.0;
    CampaignService::update_line_item_in(tx, li.campaign_id, li.creative_id, budget, li.status, actor);
    written.push_back(li.campaign_id);
    step();
  }
  std::sort(written.begin(), written.end());
  written.erase(std::unique(written.begin(), written.end()), written.end());
  return written;
}

}  // namespace

bulk::ParsedUpload read_upload(std::string_view bytes, std::chrono::milliseconds slot_wait) {
  try {
    auto book = bulk::read_workbook(bytes, {.max_inflated_bytes = bulk::kMaxUploadInflatedBytes,
                                            .max_data_rows = bulk::kMaxUploadRows,
                                            .slot_wait = slot_wait});
    return bulk::parse_upload(book);
  } catch (const bulk::WorkbookError& e) {
    throw Error::validation({{"file", e.what()}});
  } catch (const bulk::WorkbookBusy& e) {
    // Every large-read slot is taken (docs/BULK.md "Memory and concurrent reads").
    throw Error(codes::kServiceUnavailable, "too many large sheets are being read; retry shortly", e.what())
        .with_header("Retry-After", "5");
  }
}

SheetService::SheetService(store::Database& db, store::BulkSheetReader& sources, store::GeneratedFileStore& files,
                           store::BulkUploadStore& uploads, CampaignService& campaigns, JobService& jobs)
    : db_(db), sources_(sources), files_(files), uploads_(uploads), campaigns_(campaigns), jobs_(jobs) {}

json SheetService::generate(const std::vector<std::string>& campaign_ids, const SheetOptions& options,
                            const std::string& actor) {
  auto book = bulk::build_bulk_sheet(sources_.orders(campaign_ids), options.contents);
  std::string id = random_id(kSheetPrefix, kSheetIdBytes);
  auto today = today_utc();
  store::NewGeneratedFile file{.id = id,
                               .kind = kSheetKind,
                               .filename = "kargo-bulk-sheet-" + format_date(today) + "-" +
                                           id.substr(std::string_view(kSheetPrefix).size(), 8) +
                                           (options.csv ? ".zip" : ".xlsx"),
                               .content_type = options.csv ? kZipType : bulk::kXlsxContentType,
                               .bytes = options.csv ? bulk::write_csv_zip(book) : bulk::write_xlsx(book),
                               .record_count = book.record_count(),
                               .sheets = book.sheet_names(),
                               .created_by = actor,
                               .lifetime = kSheetLifetime};
  auto expires_at = files_.save(file);
  // A sheet is a read of campaigns: a log line, no audit entry (docs/BULK.md).
  log::info("bulk sheet generated", {{"sheet_id", id},
                                     {"campaigns", campaign_ids.size()},
                                     {"format", options.csv ? "csv" : "xlsx"},
                                     {"file_size", file.bytes.size()},
                                     {"record_count", file.record_count},
                                     {"actor", actor}});
  return {{"sheet_id", id},
          {"download_url", "/api/bulk/download/" + id},
          {"expires_at", expires_at},
          {"file_size", file.bytes.size()},
          {"record_count", file.record_count},
          {"sheets", file.sheets},
          {"format", options.csv ? "csv" : "xlsx"}};
}

store::GeneratedFile SheetService::download(const std::string& id) {
  if (!is_resource_id(id, kSheetPrefix, kSheetIdBytes)) throw Error::not_found("bulk sheet", id);
  auto file = files_.fetch(id, kSheetKind);
  if (!file) throw Error::not_found("bulk sheet", id);
  if (file->expired) throw Error(codes::kGone, "bulk sheet " + id + " has expired; generate a new one");
  return std::move(*file);
}

UploadAnswer SheetService::upload(std::string_view bytes, const std::string& filename, bool validate_only,
                                  bool async, const std::string& actor) {
  // A request waits a few seconds at most for a large-read slot (it holds a database pool thread).
  auto parsed = read_upload(bytes, kRequestSlotWait);
  if (async) {
    auto job_id = uploads_.enqueue(bytes, filename, validate_only, actor, kinds::kBulkImport, kImportAttempts);
    jobs_.wake();
    return {std::nullopt, job_id};
  }
  return {apply(parsed, validate_only, actor, std::nullopt, nullptr), std::nullopt};
}

json SheetService::apply_stored(const std::string& upload_id, const std::function<void(int, int)>& progress) {
  auto upload = uploads_.fetch(upload_id);
  if (!upload) throw Error::not_found("upload", upload_id);
  if (upload->report) return *upload->report;
  // A job thread may wait longer for a large-read slot: a busy reader is not a failed attempt.
  auto parsed = read_upload(upload->bytes, kJobSlotWait);
  // Progress counts rows: the check of every row first (half of the total), then the writes.
  int rows = static_cast<int>(parsed.rows_processed());
  auto report = [&](int done, int total) {
    if (!progress) return;
    progress(total == 0 ? rows
                        : rows / 2 + static_cast<int>(static_cast<int64_t>(rows - rows / 2) * done / total),
             rows);
  };
  if (progress) progress(0, rows);
  auto result = apply(parsed, upload->validate_only, upload->created_by, upload_id, report);
  if (progress) progress(rows, rows);
  return result.report;
}

UploadResult SheetService::apply(const bulk::ParsedUpload& upload, bool validate_only, const std::string& actor,
                                 const std::optional<std::string>& upload_id,
                                 const std::function<void(int, int)>& progress) {
  UploadResult result;
  std::vector<std::string> written;
  bool created = false;
  auto refs = upload.refs();
  db_.transact(
      [&](pqxx::transaction_base& tx) {
        result = UploadResult{};
        written.clear();
        created = false;
        if (upload_id) {
          if (auto report = store::BulkUploadStore::lock_report(tx, *upload_id)) {
            result.report = std::move(*report);
            result.valid = result.report.value("valid", false);
            return;  // applied by an earlier attempt of the job
          }
        }
        auto campaigns = store::BulkUploadStore::lock_campaigns(tx, refs.campaign_ids);
        auto creatives = store::BulkUploadStore::creative_states(tx, refs.creative_ids);
        auto plan = bulk::plan_upload(upload, campaigns, creatives);
        result.valid = plan.valid();
        if (plan.valid() && !validate_only) written = write_plan(tx, plan, actor, created, progress);
        result.report = plan.report();
        if (upload_id) store::BulkUploadStore::record_report(tx, *upload_id, result.report);
      },
      kApplyTimeout);
  // After the commit: every campaign written loses its cached copy (docs/CAMPAIGNS.md "Caching").
  for (const auto& id : written) campaigns_.invalidate(id);
  if (created) campaigns_.invalidate_pages();
  log::info("bulk sheet uploaded", {{"valid", result.valid},
                                    {"validate_only", validate_only},
                                    {"rows_processed", result.report.value("rows_processed", 0)},
                                    {"campaigns_written", written.size()},
                                    {"actor", actor}});
  return result;
}

}  // namespace kargo::service
