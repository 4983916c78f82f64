#include "kargo/store/bulk_uploads.hpp"

#include <map>
#include <pqxx/pqxx>

#include "kargo/core/digest.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/jobs.hpp"

namespace kargo::store {
namespace {

using nlohmann::json;

// A whole sheet is one transaction: 50 000 rows take longer than a request's statement deadline.
constexpr std::chrono::minutes kApplyTimeout{5};
constexpr size_t kUploadIdBytes = 16;

// In id order, so two uploads naming the same campaigns lock them in the same order.
constexpr const char* kLockCampaigns =
    "SELECT id FROM campaigns WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) ORDER BY id FOR "
    "UPDATE";
constexpr const char* kCreatives =
    "SELECT id, status, processed_code IS NOT NULL FROM creatives "
    "WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR SHARE";
constexpr const char* kLockUpload = "SELECT report::text FROM bulk_uploads WHERE id = $1 FOR UPDATE";
constexpr const char* kRecordReport =
    "UPDATE bulk_uploads SET report = $2::jsonb, bytes = NULL, finished_at = clock_timestamp() WHERE id = $1";
constexpr const char* kInsertUpload =
    "INSERT INTO bulk_uploads (id, filename, bytes, size, validate_only, created_by) VALUES ($1, $2, $3, $4, "
    "$5, $6)";
constexpr const char* kFetchUpload =
    "SELECT bytes, filename, validate_only, created_by, report::text FROM bulk_uploads WHERE id = $1";

json id_list(const std::set<std::string>& ids) {
  return json(std::vector<std::string>(ids.begin(), ids.end()));
}

// The writes of a valid plan, in an order that lets each see the one before: new campaigns,
// campaign fields, new associations, then line items (which may belong to a new association).
void write_plan(pqxx::transaction_base& tx, const bulk::UploadPlan& plan, const std::string& actor,
                UploadResult& result, const BulkUploadStore::Progress& progress) {
  int total = static_cast<int>(plan.creates.size() + plan.updates.size() + plan.associations.size() +
                               plan.line_items.size());
  int done = 0;
  auto step = [&] {
    ++done;
    if (progress) progress(done, total);
  };
  if (progress) progress(0, total);
  for (const auto& c : plan.creates) {
    result.written.push_back(CampaignStore::create_in(tx, c.fields, {}, actor));
    result.created = true;
    step();
  }
  for (const auto& u : plan.updates) {
    CampaignStore::update_in(tx, u.id, u.body, std::nullopt, actor);
    result.written.push_back(u.id);
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
    CampaignStore::associate_in(tx, id, creative_ids, actor);
    result.written.push_back(id);
    for (size_t i = 0; i < creative_ids.size(); ++i) step();
  }
  for (const auto& li : plan.line_items) {
    std::optional<double> budget;
    if (li.budget_cents) budget = static_cast<double>(*li.budget_cents) / 100.0;
    CampaignStore::update_line_item_in(tx, li.campaign_id, li.creative_id, budget, li.status, actor);
    result.written.push_back(li.campaign_id);
    step();
  }
}

}  // namespace

UploadResult BulkUploadStore::apply(const bulk::ParsedUpload& upload, bool validate_only,
                                    const std::string& actor, const std::optional<std::string>& upload_id,
                                    const Progress& progress) {
  UploadResult result;
  auto refs = upload.refs();
  db_.transact(
      [&](pqxx::transaction_base& tx) {
        result = UploadResult{};
        if (upload_id) {
          auto row = tx.exec_params(kLockUpload, *upload_id);
          if (!row.empty() && !row[0][0].is_null()) {
            result.report = json::parse(row[0][0].as<std::string>());
            result.valid = result.report.value("valid", false);
            return;  // applied by an earlier attempt of the job
          }
        }
        std::map<std::string, json> campaigns;
        for (const auto& row : tx.exec_params(kLockCampaigns, id_list(refs.campaign_ids).dump())) {
          auto id = row[0].as<std::string>();
          if (auto doc = CampaignStore::load_in(tx, id)) campaigns[id] = json::parse(*doc);
        }
        std::map<std::string, bulk::CreativeState> creatives;
        for (const auto& row : tx.exec_params(kCreatives, id_list(refs.creative_ids).dump())) {
          creatives[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<bool>()};
        }
        auto plan = bulk::plan_upload(upload, campaigns, creatives);
        result.valid = plan.valid();
        if (plan.valid() && !validate_only) write_plan(tx, plan, actor, result, progress);
        result.report = plan.report();
        if (upload_id) tx.exec_params(kRecordReport, *upload_id, result.report.dump());
      },
      kApplyTimeout);
  std::sort(result.written.begin(), result.written.end());
  result.written.erase(std::unique(result.written.begin(), result.written.end()), result.written.end());
  return result;
}

std::string BulkUploadStore::enqueue(std::string_view bytes, const std::string& filename, bool validate_only,
                                     const std::string& actor, const std::string& kind, int max_attempts) {
  std::string job_id;
  db_.transact([&](pqxx::transaction_base& tx) {
    std::string id = random_id("upload_", kUploadIdBytes);
    tx.exec_params(kInsertUpload, id, filename.substr(0, 255), pqxx::binarystring(bytes.data(), bytes.size()),
                   static_cast<int64_t>(bytes.size()), validate_only, actor);
    job_id = JobStore::enqueue(tx, kind, {{"upload_id", id}}, actor, max_attempts);
  });
  return job_id;
}

std::optional<StoredUpload> BulkUploadStore::fetch(const std::string& upload_id) {
  std::optional<StoredUpload> out;
  db_.transact([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_params(kFetchUpload, upload_id);
    if (rows.empty()) return;
    const auto& r = rows[0];
    StoredUpload u;
    if (!r[0].is_null()) u.bytes = pqxx::binarystring(r[0]).str();
    u.filename = r[1].as<std::string>();
    u.validate_only = r[2].as<bool>();
    u.created_by = r[3].as<std::string>();
    if (!r[4].is_null()) u.report = json::parse(r[4].as<std::string>());
    out = std::move(u);
  });
  return out;
}

}  // namespace kargo::store
