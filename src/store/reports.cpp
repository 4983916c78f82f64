#include "kargo/store/reports.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <tuple>
#include <unordered_map>

#include "kargo/store/database.hpp"
#include "sql.hpp"

namespace kargo::store {
namespace {

// Both report documents are built by PostgreSQL (one round trip, passed through as text). The
// ratios come from campaign_performance() and viewability_figures(), the same functions the
// campaign resource uses, so a report's totals and a campaign's `performance` cannot disagree.
#define KARGO_PERFORMANCE_FIELDS(m)                                                                  \
  "'impressions', " m "->'impressions', 'clicks', " m "->'clicks', 'conversions', " m               \
  "->'conversions', 'spend', " m "->'spend', 'ctr', " m "->'ctr', 'conversion_rate', " m           \
  "->'conversion_rate', 'cost_per_click', " m "->'cost_per_click', 'cost_per_conversion', " m      \
  "->'cost_per_conversion'"

// $1 campaign, $2 start, $3 end, $4 date_trunc unit (day | week | month), $5 granularity name.
// Every period of the range has a row (a period without delivery is all zeros): `sums` buckets
// the stored days, `periods` lists the buckets; the first and last are cut at the range's ends.
// date_trunc('week') starts weeks on Monday (ISO). `figures` is MATERIALIZED and holds jsonb:
// otherwise the planner copies the figures expression into each of the eight fields that read
// it, and every `->` re-parses json text (a year of days cost 25 ms instead of a few).
constexpr const char* kPerformance =
    "WITH sums AS ("
    " SELECT greatest(date_trunc($4::text, d.day::timestamp)::date, $2::date) AS period_start,"
    " sum(d.impressions)::bigint AS impressions, sum(d.clicks)::bigint AS clicks,"
    " sum(d.conversions)::bigint AS conversions, sum(d.spend) AS spend"
    " FROM campaign_performance_daily d"
    " WHERE d.campaign_id = $1 AND d.day BETWEEN $2::date AND $3::date GROUP BY 1), "
    "periods AS ("
    " SELECT greatest(g::date, $2::date) AS period_start,"
    " least((g + ('1 ' || $4::text)::interval)::date - 1, $3::date) AS period_end"
    " FROM generate_series(date_trunc($4::text, $2::date::timestamp), $3::date::timestamp,"
    " ('1 ' || $4::text)::interval) g), "
    "figures AS MATERIALIZED ("
    " SELECT p.period_start, p.period_end, campaign_performance(coalesce(s.impressions, 0),"
    " coalesce(s.clicks, 0), coalesce(s.conversions, 0), coalesce(s.spend, 0))::jsonb AS m"
    " FROM periods p LEFT JOIN sums s USING (period_start)) "
    "SELECT json_build_object('campaign_id', c.id, 'campaign_name', c.name, 'granularity', $5::text,"
    " 'start_date', to_char($2::date, 'YYYY-MM-DD'), 'end_date', to_char($3::date, 'YYYY-MM-DD'),"
    " 'rows', (SELECT coalesce(json_agg(json_build_object("
    "'period_start', to_char(r.period_start, 'YYYY-MM-DD'), 'period_end', to_char(r.period_end, 'YYYY-MM-DD'), "
    KARGO_PERFORMANCE_FIELDS("r.m") ") ORDER BY r.period_start), '[]') FROM figures r),"
    " 'totals', (SELECT campaign_performance(coalesce(sum(impressions), 0)::bigint, coalesce(sum(clicks), 0)::bigint,"
    " coalesce(sum(conversions), 0)::bigint, coalesce(sum(spend), 0)) FROM sums))::text "
    "FROM campaigns c WHERE c.id = $1";

// Summed measurements of `v` rows as viewability_figures(); the average time in view is weighted
// by viewable impressions.
#define KARGO_VIEWABILITY_SUMS(v)                                                                   \
  "viewability_figures(coalesce(sum(" v ".impressions), 0)::bigint, coalesce(sum(" v                \
  ".measurable_impressions), 0)::bigint, coalesce(sum(" v ".viewable_impressions), 0)::bigint, sum(" v \
  ".avg_time_in_view * " v ".viewable_impressions) / nullif(sum(" v ".viewable_impressions), 0))"

// $1 campaign, $2 start, $3 end, $4 vendor (NULL: both). Rows are the measured days only: a day
// without a measurement is not a day at 0 % viewability. `totals` pools the rows returned;
// `totals_by_vendor` has each vendor asked for, zeros when it measured nothing. `measured` is
// MATERIALIZED jsonb for the reason given above.
constexpr const char* kViewability =
    "WITH v AS (SELECT * FROM campaign_viewability_daily"
    " WHERE campaign_id = $1 AND day BETWEEN $2::date AND $3::date AND ($4::text IS NULL OR vendor = $4::text)), "
    "measured AS MATERIALIZED (SELECT v.day, v.vendor, viewability_figures(v.impressions, v.measurable_impressions,"
    " v.viewable_impressions, v.avg_time_in_view)::jsonb AS f FROM v) "
    "SELECT json_build_object('campaign_id', c.id, 'campaign_name', c.name, 'vendor', $4::text,"
    " 'start_date', to_char($2::date, 'YYYY-MM-DD'), 'end_date', to_char($3::date, 'YYYY-MM-DD'),"
    " 'rows', (SELECT coalesce(json_agg(json_build_object('date', to_char(r.day, 'YYYY-MM-DD'), 'vendor', r.vendor,"
    " 'impressions', r.f->'impressions', 'measurable_impressions', r.f->'measurable_impressions',"
    " 'viewable_impressions', r.f->'viewable_impressions', 'measurable_rate', r.f->'measurable_rate',"
    " 'viewability_rate', r.f->'viewability_rate', 'avg_time_in_view', r.f->'avg_time_in_view')"
    " ORDER BY r.day, r.vendor), '[]') FROM measured r),"
    " 'totals', (SELECT " KARGO_VIEWABILITY_SUMS("v") " FROM v),"
    " 'totals_by_vendor', (SELECT json_object_agg(k.vendor, k.f ORDER BY k.vendor) FROM ("
    " SELECT n.vendor, " KARGO_VIEWABILITY_SUMS("v") " AS f"
    " FROM (VALUES ('double_verify'), ('ias')) AS n(vendor) LEFT JOIN v ON v.vendor = n.vendor"
    " WHERE $4::text IS NULL OR n.vendor = $4::text GROUP BY n.vendor) k))::text "
    "FROM campaigns c WHERE c.id = $1";

constexpr const char* kReportable =
    "SELECT id, advertiser_id, amazon_campaign_id FROM campaigns WHERE amazon_campaign_id IS NOT NULL "
    "AND ($1::text[] IS NULL OR id = ANY($1::text[])) ORDER BY advertiser_id, id";

constexpr const char* kExisting = "SELECT id FROM campaigns WHERE id = ANY($1::text[])";

constexpr const char* kInFlight =
    "SELECT id FROM campaigns WHERE amazon_campaign_id IS NOT NULL AND status <> 'draft' "
    "AND start_date <= $2::date AND end_date >= $1::date ORDER BY id";

// Locks the window's campaigns in id order: two pulls of the same campaigns queue up instead of
// interleaving their deletes and copies (and cannot deadlock), and a campaign cannot be deleted
// while its rows are written (the daily tables have no foreign key: migrations/0009).
constexpr const char* kLockReportCampaigns =
    "SELECT id, amazon_campaign_id FROM campaigns WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE";
constexpr const char* kCreativeIds =
    "SELECT amazon_creative_id, id FROM creatives WHERE amazon_creative_id = ANY($1::text[]) FOR SHARE";
constexpr const char* kDeleteWindow[] = {
    "DELETE FROM campaign_performance_daily WHERE campaign_id = ANY($1::text[]) AND day BETWEEN $2::date AND $3::date",
    "DELETE FROM creative_performance_daily WHERE campaign_id = ANY($1::text[]) AND day BETWEEN $2::date AND $3::date",
    "DELETE FROM campaign_viewability_daily WHERE campaign_id = ANY($1::text[]) AND day BETWEEN $2::date AND $3::date",
};
// `spent` is the sum of everything reported for the campaign (every day, not only this window).
// Neither version nor updated_at moves: a report is not an edit, and must not make a user's
// If-Match fail.
constexpr const char* kSettle =
    "UPDATE campaigns c SET spent = coalesce((SELECT sum(d.spend) FROM campaign_performance_daily d "
    "WHERE d.campaign_id = c.id), 0), report_through = greatest(c.report_through, $2::date), "
    "report_pulled_at = clock_timestamp() WHERE c.id = ANY($1::text[])";

constexpr const char* kMaxAge =
    "SELECT greatest(coalesce(max(extract(epoch FROM clock_timestamp() - "
    "(coalesce(report_through + 1, start_date)::timestamp AT TIME ZONE 'UTC'))), 0), 0)::float8 "
    "FROM campaigns WHERE amazon_campaign_id IS NOT NULL AND status = 'active' "
    "AND start_date <= (clock_timestamp() AT TIME ZONE 'UTC')::date";

// $1..$2: the periodic pull's window (kInFlight's campaigns). A campaign never pulled counts from
// when it joined them: its start date, or its sync to Amazon when that came later.
constexpr const char* kMaxPullAge =
    "SELECT greatest(coalesce(max(extract(epoch FROM clock_timestamp() - coalesce(report_pulled_at, "
    "greatest(start_date::timestamp AT TIME ZONE 'UTC', last_synced_at)))), 0), 0)::float8 "
    "FROM campaigns WHERE amazon_campaign_id IS NOT NULL AND status <> 'draft' "
    "AND start_date <= $2::date AND end_date >= $1::date";

// The documents of an export read one snapshot: a pull that commits meanwhile shows in every
// campaign of the file or in none.
constexpr const char* kSnapshot = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

// PostgreSQL's json builders put " : " and ", " between keys, values and elements; a year of
// daily rows is a quarter smaller without them, and every cached copy is sent that many times.
// The spaces outside strings go (a document built by PostgreSQL is valid JSON).
std::string compact(const std::string& doc) {
  std::string out;
  out.reserve(doc.size());
  bool in_string = false, escaped = false;
  for (char c : doc) {
    if (in_string) {
      out.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
      out.push_back(c);
      in_string = c == '"';
    }
  }
  return out;
}

const char* trunc_unit(const std::string& granularity) {
  if (granularity == "weekly") return "week";
  if (granularity == "monthly") return "month";
  return "day";
}

// The text of a COPY ... FROM STDIN, written row by row into one buffer and handed to PostgreSQL
// in chunks of about a megabyte. libpqxx 6.4's stream_to formats and escapes every field into a
// string of its own (a tenth of kargo-dsp's CPU in a pull); its tablewriter, deprecated in 6.4
// but the one class that takes raw COPY text, sends ours as is (PostgreSQL reads COPY data as a
// stream, so a chunk may hold many lines).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class CopyText {
 public:
  CopyText(pqxx::transaction_base& tx, const char* table, const std::vector<std::string>& columns)
      : writer_(tx, table, columns.begin(), columns.end()) {
    buffer_.reserve(kChunk + 256);
  }
  // Text (escaped as COPY's text format wants it).
  CopyText& text(std::string_view v) {
    separate();
    for (char c : v) {
      switch (c) {
        case '\\': buffer_ += "\\\\"; break;
        case '\t': buffer_ += "\\t"; break;
        case '\n': buffer_ += "\\n"; break;
        case '\r': buffer_ += "\\r"; break;
        default: buffer_ += c;
      }
    }
    return *this;
  }
  CopyText& number(int64_t v) {
    separate();
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
    buffer_.append(digits, end);
    return *this;
  }
  CopyText& number(double v) {
    separate();
    char digits[32];
    auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
    buffer_.append(digits, end);
    return *this;
  }
  // Cents as numeric text ("12.05").
  CopyText& money(int64_t cents) {
    number(cents / 100);
    buffer_.push_back('.');
    buffer_.push_back(static_cast<char>('0' + (cents % 100) / 10));
    buffer_.push_back(static_cast<char>('0' + cents % 10));
    return *this;
  }
  void end_row() {
    buffer_.push_back('\n');
    first_ = true;
    if (buffer_.size() >= kChunk) flush();
  }
  void complete() {
    flush();
    writer_.complete();
  }

 private:
  static constexpr size_t kChunk = 64u << 10;  // stays in cache (libpqxx and libpq copy it twice)
  void separate() {
    if (!first_) buffer_.push_back('\t');
    first_ = false;
  }
  void flush() {
    if (buffer_.empty()) return;
    buffer_.pop_back();  // write_raw_line ends the chunk's last line itself
    writer_.write_raw_line(buffer_);
    buffer_.clear();
  }
  pqxx::tablewriter writer_;
  std::string buffer_;
  bool first_ = true;
};
#pragma GCC diagnostic pop

// Rows with the same key are added up (as a coarser groupBy would); an average time in view is
// weighted by viewable impressions.
struct Delivery {
  int64_t impressions = 0, clicks = 0, conversions = 0, spend_cents = 0;
  void add(const DeliveryDay& d) {
    impressions += d.impressions;
    clicks += d.clicks;
    conversions += d.conversions;
    spend_cents += d.spend_cents;
  }
};
struct Measurement {
  int64_t impressions = 0, measurable = 0, viewable = 0;
  double time_weight = 0;
  void add(const ViewabilityDay& v) {
    impressions += v.impressions;
    measurable += v.measurable;
    viewable += v.viewable;
    time_weight += v.avg_time_in_view * static_cast<double>(v.viewable);
  }
  double avg_time_in_view() const { return viewable == 0 ? 0.0 : time_weight / static_cast<double>(viewable); }
};

}  // namespace

ReportStore::ReportStore(Database& db) : db_(db) {
  db_.prepare("report_performance", kPerformance);
  db_.prepare("report_viewability", kViewability);
}

std::vector<ReportableCampaign> ReportStore::reportable(const std::optional<std::vector<std::string>>& ids) {
  std::vector<ReportableCampaign> out;
  std::optional<std::string> filter;
  if (ids) filter = text_array(*ids);
  db_.once([&](pqxx::transaction_base& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(kReportable, filter)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
  });
  return out;
}

std::optional<std::string> ReportStore::first_missing(const std::vector<std::string>& ids) {
  std::set<std::string> found;
  db_.once([&](pqxx::transaction_base& tx) {
    found.clear();
    for (const auto& row : tx.exec_params(kExisting, text_array(ids))) found.insert(row[0].as<std::string>());
  });
  for (const auto& id : ids) {
    if (!found.count(id)) return id;
  }
  return std::nullopt;
}

std::vector<std::string> ReportStore::in_flight(pqxx::transaction_base& tx, const std::string& start_date,
                                                const std::string& end_date) {
  std::vector<std::string> out;
  for (const auto& row : tx.exec_params(kInFlight, start_date, end_date)) out.push_back(row[0].as<std::string>());
  return out;
}

WindowCounts ReportStore::replace_window(const PulledWindow& window) {
  // Merge rows with the same key before the COPY (the primary keys allow one row each).
  using Key = std::tuple<std::string, std::string, std::string>;  // campaign, creative|vendor, day
  std::map<Key, Delivery> campaigns, creatives;
  std::map<Key, Measurement> viewability;
  std::vector<std::string> amazon_creatives;
  for (const auto& d : window.campaigns) campaigns[{d.amazon_campaign_id, "", d.day}].add(d);
  for (const auto& d : window.creatives) {
    creatives[{d.amazon_campaign_id, d.amazon_creative_id, d.day}].add(d);
  }
  for (const auto& v : window.viewability) viewability[{v.amazon_campaign_id, v.vendor, v.day}].add(v);
  for (const auto& [key, _] : creatives) {
    if (amazon_creatives.empty() || amazon_creatives.back() != std::get<1>(key)) {
      amazon_creatives.push_back(std::get<1>(key));
    }
  }
  const std::string ids = text_array(window.campaign_ids);
  const auto in_window = [&](const std::string& day) {
    return day >= window.start_date && day <= window.end_date;  // YYYY-MM-DD compares as text
  };

  WindowCounts counts;
  db_.transact(
      [&](pqxx::transaction_base& tx) {
        counts = {};
        std::unordered_map<std::string, std::string> ours;  // Amazon campaign id -> ours
        std::vector<std::string> locked;
        for (const auto& row : tx.exec_params(kLockReportCampaigns, ids)) {
          locked.push_back(row[0].as<std::string>());
          if (!row[1].is_null()) ours.emplace(row[1].as<std::string>(), row[0].as<std::string>());
        }
        std::unordered_map<std::string, std::string> our_creatives;
        if (!amazon_creatives.empty()) {
          for (const auto& row : tx.exec_params(kCreativeIds, text_array(amazon_creatives))) {
            our_creatives.emplace(row[0].as<std::string>(), row[1].as<std::string>());
          }
        }
        const std::string locked_ids = text_array(locked);
        for (const char* sql : kDeleteWindow) tx.exec_params(sql, locked_ids, window.start_date, window.end_date);

        auto campaign_of = [&](const std::string& amazon_id) -> const std::string* {
          auto it = ours.find(amazon_id);
          return it == ours.end() ? nullptr : &it->second;
        };
        {
          CopyText out(tx, "campaign_performance_daily",
                       {"campaign_id", "day", "impressions", "clicks", "conversions", "spend"});
          for (const auto& [key, d] : campaigns) {
            const auto* id = campaign_of(std::get<0>(key));
            if (!id || !in_window(std::get<2>(key))) {
              ++counts.ignored;
              continue;
            }
            out.text(*id).text(std::get<2>(key)).number(d.impressions).number(d.clicks).number(d.conversions);
            out.money(d.spend_cents).end_row();
            ++counts.campaign_rows;
          }
          out.complete();
        }
        {
          CopyText out(tx, "creative_performance_daily",
                       {"campaign_id", "creative_id", "day", "impressions", "clicks", "conversions", "spend"});
          for (const auto& [key, d] : creatives) {
            const auto* id = campaign_of(std::get<0>(key));
            auto creative = our_creatives.find(std::get<1>(key));
            if (!id || creative == our_creatives.end() || !in_window(std::get<2>(key))) {
              ++counts.ignored;
              continue;
            }
            out.text(*id).text(creative->second).text(std::get<2>(key)).number(d.impressions).number(d.clicks);
            out.number(d.conversions).money(d.spend_cents).end_row();
            ++counts.creative_rows;
          }
          out.complete();
        }
        {
          CopyText out(tx, "campaign_viewability_daily",
                       {"campaign_id", "day", "vendor", "impressions", "measurable_impressions",
                        "viewable_impressions", "avg_time_in_view"});
          for (const auto& [key, v] : viewability) {
            const auto* id = campaign_of(std::get<0>(key));
            if (!id || !in_window(std::get<2>(key))) {
              ++counts.ignored;
              continue;
            }
            out.text(*id).text(std::get<2>(key)).text(std::get<1>(key)).number(v.impressions).number(v.measurable);
            out.number(v.viewable).number(v.avg_time_in_view()).end_row();
            ++counts.viewability_rows;
          }
          out.complete();
        }
        tx.exec_params(kSettle, locked_ids, window.end_date);
      },
      std::chrono::minutes(2));
  return counts;
}

std::optional<std::string> ReportStore::campaign_performance(const PerformanceQuery& q) {
  std::optional<std::string> out;
  db_.once([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_prepared("report_performance", q.campaign_id, q.start_date, q.end_date,
                                 trunc_unit(q.granularity), q.granularity);
    if (!rows.empty()) out = compact(rows[0][0].as<std::string>());
  });
  return out;
}

std::optional<std::string> ReportStore::viewability(const ViewabilityQuery& q) {
  std::optional<std::string> out;
  db_.once([&](pqxx::transaction_base& tx) {
    out.reset();
    auto rows = tx.exec_prepared("report_viewability", q.campaign_id, q.start_date, q.end_date, q.vendor);
    if (!rows.empty()) out = compact(rows[0][0].as<std::string>());
  });
  return out;
}

std::vector<std::string> ReportStore::campaign_performance_many(const std::vector<std::string>& ids,
                                                                const PerformanceQuery& q) {
  return documents(ids, [&](pqxx::transaction_base& tx, const std::string& id) {
    return tx.exec_prepared("report_performance", id, q.start_date, q.end_date, trunc_unit(q.granularity),
                            q.granularity);
  });
}

std::vector<std::string> ReportStore::viewability_many(const std::vector<std::string>& ids,
                                                       const ViewabilityQuery& q) {
  return documents(ids, [&](pqxx::transaction_base& tx, const std::string& id) {
    return tx.exec_prepared("report_viewability", id, q.start_date, q.end_date, q.vendor);
  });
}

std::vector<std::string> ReportStore::documents(
    const std::vector<std::string>& ids,
    const std::function<pqxx::result(pqxx::transaction_base&, const std::string&)>& read) {
  std::vector<std::string> out;
  db_.transact(
      [&](pqxx::transaction_base& tx) {
        out.clear();
        tx.exec(kSnapshot);
        for (const auto& id : ids) {
          auto rows = read(tx, id);
          if (!rows.empty()) out.push_back(compact(rows[0][0].as<std::string>()));
        }
      },
      std::chrono::minutes(2));
  return out;
}

double ReportStore::max_report_age_seconds() {
  double age = 0;
  db_.once([&](pqxx::transaction_base& tx) { age = tx.exec1(kMaxAge)[0].as<double>(); });
  return age;
}

double ReportStore::max_pull_age_seconds(const std::string& start_date, const std::string& end_date) {
  double age = 0;
  db_.once([&](pqxx::transaction_base& tx) {
    age = tx.exec_params1(kMaxPullAge, start_date, end_date)[0].as<double>();
  });
  return age;
}

}  // namespace kargo::store
