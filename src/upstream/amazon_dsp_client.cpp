#include "kargo/upstream/amazon_dsp_client.hpp"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "json_answer.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/gzip.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"

namespace kargo::upstream {
namespace {

using detail::JsonAnswer;
using nlohmann::json;

constexpr const char* kAmazonService = "amazon_dsp";
constexpr std::size_t kMaxBatch = 100;         // campaigns, ad groups per create / patch [R1]
constexpr std::size_t kMaxAssociations = 20;   // per association call [R4]
constexpr std::size_t kMaxFilterValues = 100;  // values per list filter [R7]
constexpr std::size_t kMaxPages = 1000;        // a list that pages on beyond this is broken
constexpr const char* kReportContentType = "application/vnd.createasyncreportrequest.v3+json";

std::string path_segment(std::string_view id) {
  return boost::urls::encode(id, boost::urls::unreserved_chars);
}

template <typename T>
std::vector<std::vector<T>> chunks(const std::vector<T>& all, std::size_t size) {
  std::vector<std::vector<T>> out;
  for (std::size_t i = 0; i < all.size(); i += size) {
    out.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(i),
                     all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + size)));
  }
  return out;
}

// Chunks of a filter's values; an empty filter is one empty chunk ("no filter").
std::vector<std::vector<std::string>> filter_chunks(const std::vector<std::string>& values) {
  if (values.empty()) return {{}};
  return chunks(values, kMaxFilterValues);
}

// 502 for an answer status the call has no rule for, with Amazon's own words when it sent any
// ({"code","details"} elsewhere, {"message"} on throttling).
[[noreturn]] void refuse_amazon(const HttpResponse& res, const std::string& what) {
  std::string code, details;
  if (auto doc = JsonAnswer::try_object(res.body)) {
    if ((*doc)["code"].is_string()) code = (*doc)["code"].get<std::string>();
    for (const char* key : {"details", "message", "description"}) {
      if (details.empty() && (*doc)[key].is_string())
        details = detail::excerpt((*doc)[key].get<std::string>(), 200);
    }
  }
  detail::refused(kAmazonService, res, what,
                  (code.empty() ? "" : " " + code) + (details.empty() ? "" : ": " + details));
}

// One item of a batch answer, by its position in the request.
struct BatchItem {
  bool ok = false;
  const json* entry = nullptr;  // the success or error entry
  std::vector<DspItemError> errors;
};

// Reads a 207 (or 200) batch answer for `n` request items: `success` / `error` arrays, each
// optional ([R2] omits empty ones). Errors carry `errors: [{errorCode, errorMessage}]`; the real
// association API's `{code, description}` shape is read too ([R4]). Items the answer skips are
// failures, never silent successes.
std::vector<BatchItem> read_batch(const JsonAnswer& in, const json& doc, std::size_t n) {
  if (!doc.is_object()) in.malformed("the body is not a JSON object");
  std::vector<BatchItem> out(n);
  std::vector<bool> answered(n, false);
  auto index_of = [&](const json& entry, const char* list) {
    auto i = in.integer(entry, "index");
    if (i < 0 || static_cast<std::size_t>(i) >= n) {
      in.malformed(std::string(list) + "[].index " + std::to_string(i) + " is not an item of the request");
    }
    answered[static_cast<std::size_t>(i)] = true;
    return static_cast<std::size_t>(i);
  };
  if (doc.contains("success") && !doc["success"].is_null()) {
    const auto& list = in.array(doc, "success");
    for (std::size_t k = 0; k < list.size(); ++k) {
      const auto& e = in.element(list, k, "success");
      out[index_of(e, "success")] = BatchItem{true, &e, {}};
    }
  }
  if (doc.contains("error") && !doc["error"].is_null()) {
    const auto& list = in.array(doc, "error");
    for (std::size_t k = 0; k < list.size(); ++k) {
      const auto& e = in.element(list, k, "error");
      BatchItem item{false, &e, {}};
      if (e.contains("errors")) {
        const auto& errors = in.array(e, "errors");
        for (std::size_t j = 0; j < errors.size(); ++j) {
          const auto& x = in.element(errors, j, "errors");
          item.errors.push_back({in.optional_string(x, "errorCode").value_or("UNKNOWN"),
                                 in.optional_string(x, "errorMessage").value_or("")});
        }
      } else {
        auto message = in.optional_string(e, "description");
        if (!message) message = in.optional_string(e, "errorMessage");
        item.errors.push_back(
            {in.optional_string(e, "code").value_or(in.optional_string(e, "errorCode").value_or("UNKNOWN")),
             message.value_or("")});
      }
      if (item.errors.empty()) item.errors.push_back({"UNKNOWN", "Amazon reported an error without details"});
      out[index_of(e, "error")] = std::move(item);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!answered[i]) out[i].errors.push_back({"NO_RESULT", "Amazon's answer has no result for this item"});
  }
  return out;
}

bool has_code(const std::vector<DspItemError>& errors, std::string_view code) {
  return std::any_of(errors.begin(), errors.end(), [&](const DspItemError& e) { return e.code == code; });
}

json flights_json(const std::vector<DspFlight>& flights) {
  json list = json::array();
  for (const auto& f : flights) {
    json item{{"startDateTime", f.start}, {"endDateTime", f.end}, {"budgetAmount", f.budget}};
    if (!f.flight_id.empty()) item["flightId"] = f.flight_id;
    list.push_back(std::move(item));
  }
  return {{"flights", std::move(list)}};
}

std::vector<DspFlight> read_flights(const JsonAnswer& in, const json& obj) {
  std::vector<DspFlight> out;
  if (!obj.contains("flights") || obj["flights"].is_null()) return out;
  const auto& wrapper = in.object(obj, "flights");
  const auto& list = in.array(wrapper, "flights");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& f = in.element(list, i, "flights.flights");
    out.push_back({in.string(f, "startDateTime"), in.string(f, "endDateTime"), in.number(f, "budgetAmount"),
                   in.optional_string(f, "flightId").value_or("")});
  }
  return out;
}

// optimization.goalSetting.kpi when present.
std::string read_kpi(const JsonAnswer& in, const json& obj) {
  if (!obj.contains("optimization") || obj["optimization"].is_null()) return "";
  const auto& opt = in.object(obj, "optimization");
  if (!opt.contains("goalSetting") || opt["goalSetting"].is_null()) return "";
  return in.optional_string(in.object(opt, "goalSetting"), "kpi").value_or("");
}

}  // namespace

AmazonDspOptions AmazonDspOptions::from_config(const Config& config) {
  AmazonDspOptions o;
  o.base_url = config.amazon_dsp_base_url;
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  o.client_id = config.amazon_client_id.value_or("");
  o.profile_id = config.amazon_profile_id.value_or("");
  o.configured = config.amazon_configured();
  o.report_poll_initial = std::chrono::milliseconds(config.report_poll_initial_ms);
  o.report_poll_max = std::chrono::milliseconds(config.report_poll_max_ms);
  o.report_timeout = std::chrono::seconds(config.report_timeout_seconds);
  return o;
}

// A report file can hold a hundred thousand rows. It is read with nlohmann's SAX interface, row
// by row, straight into the caller's rows: a DOM of the file (a std::map per row) cost several
// times the CPU and memory. Only the columns asked for are kept.
class ReportRows : public nlohmann::json_sax<json> {
 public:
  struct Cell {
    enum class Kind { kMissing, kNull, kString, kInteger, kUnsigned, kFloat, kOther } kind = Kind::kMissing;
    int64_t integer = 0;
    uint64_t unsigned_integer = 0;
    double number = 0;
    std::string text;
  };
  // The current row as the callback sees it: typed reads with JsonAnswer's messages.
  class Row {
   public:
    Row(const JsonAnswer& in, const std::vector<std::string_view>& columns, const std::vector<Cell>& cells)
        : in_(in), columns_(columns), cells_(cells) {}
    bool present(size_t c) const {
      return cells_[c].kind != Cell::Kind::kMissing && cells_[c].kind != Cell::Kind::kNull;
    }
    std::string string(size_t c) const {
      if (cells_[c].kind != Cell::Kind::kString) fail(c, "a string");
      return cells_[c].text;
    }
    std::optional<std::string> optional_string(size_t c) const {
      if (!present(c)) return std::nullopt;
      return string(c);
    }
    int64_t integer(size_t c) const {
      if (cells_[c].kind == Cell::Kind::kInteger) return cells_[c].integer;
      if (cells_[c].kind == Cell::Kind::kUnsigned) {
        if (cells_[c].unsigned_integer > static_cast<uint64_t>(INT64_MAX)) {
          in_.malformed(std::string(columns_[c]) + " is out of range");
        }
        return static_cast<int64_t>(cells_[c].unsigned_integer);
      }
      fail(c, "a whole number");
    }
    double number(size_t c) const {
      switch (cells_[c].kind) {
        case Cell::Kind::kInteger: return static_cast<double>(cells_[c].integer);
        case Cell::Kind::kUnsigned: return static_cast<double>(cells_[c].unsigned_integer);
        case Cell::Kind::kFloat: return cells_[c].number;
        default: fail(c, "a number");
      }
    }

   private:
    [[noreturn]] void fail(size_t c, const char* type) const {
      in_.malformed(std::string(columns_[c]) + " missing or not " + type);
    }
    const JsonAnswer& in_;
    const std::vector<std::string_view>& columns_;
    const std::vector<Cell>& cells_;
  };

  // Calls `on_row` for each object of the file's top-level array; anything else is malformed.
  static void read(const std::string& text, const JsonAnswer& in, const std::vector<std::string_view>& columns,
                   const std::function<void(const Row&)>& on_row) {
    ReportRows reader(in, columns, on_row);
    bool ok = json::sax_parse(text, &reader);
    if (!ok || !reader.seen_array_) in.malformed("the report file is not a JSON array", text);
  }

  bool null() override { return value(Cell::Kind::kNull); }
  bool boolean(bool) override { return value(Cell::Kind::kOther); }
  bool number_integer(number_integer_t v) override {
    if (Cell* c = cell()) {
      c->kind = Cell::Kind::kInteger;
      c->integer = v;
    }
    return scalar();
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (Cell* c = cell()) {
      c->kind = Cell::Kind::kUnsigned;
      c->unsigned_integer = v;
    }
    return scalar();
  }
  bool number_float(number_float_t v, const string_t&) override {
    if (Cell* c = cell()) {
      c->kind = Cell::Kind::kFloat;
      c->number = v;
    }
    return scalar();
  }
  bool string(string_t& v) override {
    if (Cell* c = cell()) {
      c->kind = Cell::Kind::kString;
      c->text.assign(v);  // a copy, but both buffers keep their capacity (no allocation per cell)
    }
    return scalar();
  }
  bool binary(binary_t&) override { return value(Cell::Kind::kOther); }
  bool start_object(std::size_t) override {
    if (depth_ == 1) {
      for (auto& c : cells_) c.kind = Cell::Kind::kMissing;
    } else if (depth_ == 0) {
      return false;  // the file is an object, not an array of rows
    } else {
      value(Cell::Kind::kOther);
    }
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 2) {
      auto it = std::find(columns_.begin(), columns_.end(), k);
      current_ = it == columns_.end() ? -1 : static_cast<int>(it - columns_.begin());
    }
    return true;
  }
  bool end_object() override {
    if (--depth_ == 1) {
      on_row_(Row(in_, columns_, cells_));
      ++rows_;
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) {
      seen_array_ = true;
    } else if (depth_ == 1) {
      in_.malformed("rows[" + std::to_string(rows_) + "] is not an object");
    } else {
      value(Cell::Kind::kOther);
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  ReportRows(const JsonAnswer& in, const std::vector<std::string_view>& columns,
             const std::function<void(const Row&)>& on_row)
      : in_(in), columns_(columns), on_row_(on_row), cells_(columns.size()) {}
  // The cell of the current key, for a value directly inside a row.
  Cell* cell() { return depth_ == 2 && current_ >= 0 ? &cells_[static_cast<size_t>(current_)] : nullptr; }
  bool scalar() {
    if (depth_ == 1) in_.malformed("rows[" + std::to_string(rows_) + "] is not an object");
    return depth_ > 0;
  }
  bool value(Cell::Kind kind) {
    if (Cell* c = cell()) c->kind = kind;
    return scalar();
  }

  const JsonAnswer& in_;
  const std::vector<std::string_view>& columns_;
  const std::function<void(const Row&)>& on_row_;
  std::vector<Cell> cells_;
  int depth_ = 0;
  int current_ = -1;
  size_t rows_ = 0;
  bool seen_array_ = false;
};

struct AmazonDspClient::Impl {
  Impl(UpstreamChannel& c, LwaTokenManager& t, AmazonDspOptions o)
      : channel(c), tokens(t), options(std::move(o)) {}

  void require_configured() const {
    if (!options.configured) throw amazon_not_configured();
  }

  // One API call with the four headers. A 401 means the token is no good (expired early,
  // revoked): drop it, refresh once, send once more; a second 401 is an error.
  HttpResponse send(const std::string& account, const std::string& method, const std::string& target,
                    const std::string& endpoint, std::string body, Idempotency idempotency,
                    const char* content_type = "application/json") {
    require_configured();
    if (account.empty()) {
      throw Error(codes::kInternal, "internal error", "AmazonDspClient called without an advertiser account");
    }
    for (int round = 0;; ++round) {
      auto token = tokens.token_sync();
      if (auto* e = std::get_if<Error>(&token)) throw *e;
      const auto& bearer = std::get<AccessToken>(token).value;
      OutboundRequest request{.method = method,
                              .url = options.base_url + target,
                              .headers = {{"Authorization", "Bearer " + bearer},
                                          {"Amazon-Advertising-API-ClientId", options.client_id},
                                          {"Amazon-Advertising-API-Scope", options.profile_id},
                                          {"Amazon-Ads-AccountId", account},
                                          {"Accept", "application/json"}},
                              .body = body,
                              .max_response_bytes = options.max_response_bytes};
      if (!request.body.empty()) request.headers.emplace_back("Content-Type", content_type);
      HttpResponse res =
          channel.call_sync({.endpoint = endpoint, .request = std::move(request), .idempotency = idempotency})
              .value();
      if (res.status != 401) return res;
      tokens.invalidate(bearer);
      if (round > 0) {
        std::string external = "amazon_dsp rejected the access token after a refresh (HTTP 401)";
        throw Error(codes::kExternalApi, external,
                    external + " on " + method + " " + endpoint + ": " + detail::excerpt(res.body));
      }
      log::info("amazon_dsp answered 401; refreshing the access token once", {{"endpoint", endpoint}});
    }
  }

  // A POST read (`/list`) paged through nextToken; returns every item object.
  std::vector<json> list_all(const std::string& account, const std::string& path, const char* items_name,
                             json filters, std::size_t max_results) {
    JsonAnswer in(kAmazonService, "POST " + path);
    std::vector<json> out;
    std::optional<std::string> next;
    for (std::size_t page = 0;; ++page) {
      if (page >= kMaxPages) in.malformed("more than " + std::to_string(kMaxPages) + " pages");
      json body = filters;
      body["maxResults"] = max_results;
      if (next) body["nextToken"] = *next;
      auto res = send(account, "POST", path, path, body.dump(), Idempotency::kIdempotent);
      if (res.status != 200) refuse_amazon(res, "POST " + path);
      auto doc = in.parse(res);
      if (!doc.is_object()) in.malformed("the body is not a JSON object");
      const auto& items = in.array(doc, items_name);
      for (std::size_t i = 0; i < items.size(); ++i) out.push_back(in.element(items, i, items_name));
      next = in.optional_string(doc, "nextToken");
      if (!next || next->empty()) break;
    }
    return out;
  }

  // externalId -> id of the objects that exist under the account.
  using Lookup = std::function<std::map<std::string, std::string>(const std::vector<std::string>&)>;

  // Creates `items` (request JSON, in the caller's order) in batches of 100 after looking their
  // externalIds up, so that repeating a create (a job retried after a crash, a response lost on
  // the way back) never makes a second object: existing ones are reported ok() + existing, and
  // an upstream DUPLICATE_EXTERNAL_ID is resolved by another look-up.
  std::vector<DspItemResult> create_with_lookup(const std::string& account, const std::string& path,
                                                const char* array_name, const char* id_field,
                                                const std::vector<json>& items,
                                                const std::vector<std::string>& external_ids,
                                                const Lookup& lookup) {
    std::vector<DspItemResult> results(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) results[i].index = i;
    auto adopt = [&](const std::vector<std::size_t>& indices) {
      std::vector<std::string> wanted;
      for (auto i : indices) {
        if (!external_ids[i].empty()) wanted.push_back(external_ids[i]);
      }
      if (wanted.empty()) return std::vector<std::size_t>(indices);
      auto found = lookup(wanted);
      std::vector<std::size_t> missing;
      for (auto i : indices) {
        auto it = external_ids[i].empty() ? found.end() : found.find(external_ids[i]);
        if (it == found.end()) {
          missing.push_back(i);
          continue;
        }
        results[i].id = it->second;
        results[i].existing = true;
        results[i].errors.clear();
      }
      return missing;
    };
    std::vector<std::size_t> all(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) all[i] = i;
    auto to_send = adopt(all);

    JsonAnswer in(kAmazonService, "POST " + path);
    std::vector<std::size_t> duplicates;
    for (const auto& batch : chunks(to_send, kMaxBatch)) {
      json body{{array_name, json::array()}};
      for (auto i : batch) body[array_name].push_back(items[i]);
      // Not retried by the channel once sent: the look-up above is what makes a repeat safe.
      auto res = send(account, "POST", path, path, body.dump(), Idempotency::kByMethod);
      if (res.status != 207 && res.status != 200) refuse_amazon(res, "POST " + path);
      auto doc = in.parse(res);
      auto answers = read_batch(in, doc, batch.size());
      for (std::size_t k = 0; k < batch.size(); ++k) {
        auto& r = results[batch[k]];
        if (answers[k].ok) {
          r.id = in.string(*answers[k].entry, id_field);
        } else {
          r.errors = std::move(answers[k].errors);
          if (has_code(r.errors, "DUPLICATE_EXTERNAL_ID")) duplicates.push_back(batch[k]);
        }
      }
    }
    if (!duplicates.empty()) adopt(duplicates);
    return results;
  }

  // PATCH in batches of 100; `ids` are the objects' ids in request order.
  std::vector<DspItemResult> patch(const std::string& account, const std::string& path,
                                   const char* array_name, const std::vector<json>& items,
                                   const std::vector<std::string>& ids) {
    std::vector<DspItemResult> results(items.size());
    std::vector<std::size_t> all(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      results[i].index = all[i] = i;
      results[i].id = ids[i];
    }
    JsonAnswer in(kAmazonService, "PATCH " + path);
    for (const auto& batch : chunks(all, kMaxBatch)) {
      json body{{array_name, json::array()}};
      for (auto i : batch) body[array_name].push_back(items[i]);
      // Setting fields to given values is safe to repeat.
      auto res = send(account, "PATCH", path, path, body.dump(), Idempotency::kIdempotent);
      if (res.status != 207 && res.status != 200) refuse_amazon(res, "PATCH " + path);
      auto doc = in.parse(res);
      auto answers = read_batch(in, doc, batch.size());
      for (std::size_t k = 0; k < batch.size(); ++k) results[batch[k]].errors = std::move(answers[k].errors);
    }
    return results;
  }

  std::map<std::string, std::string> lookup_external(const std::string& account, const std::string& path,
                                                     const char* items_name, const char* id_field,
                                                     const std::vector<std::string>& external_ids,
                                                     bool include_form, std::size_t max_results) {
    JsonAnswer in(kAmazonService, "POST " + path);
    std::map<std::string, std::string> found;
    for (const auto& chunk : chunks(external_ids, kMaxFilterValues)) {
      json filter = include_form ? json{{"include", chunk}} : json(chunk);
      for (const auto& item :
           list_all(account, path, items_name, {{"externalIdFilter", filter}}, max_results)) {
        auto ext = in.optional_string(item, "externalId");
        if (ext) found.emplace(*ext, in.string(item, id_field));
      }
    }
    return found;
  }

  // The report file's text (gunzipped under the cap).
  std::string download(const DspReport& report) {
    require_configured();
    JsonAnswer in(kAmazonService, "the report download");
    if (report.status != "COMPLETED" || report.url.empty()) {
      throw Error(codes::kInternal, "internal error",
                  "report " + report.report_id + " is " + report.status + ", not COMPLETED with a url");
    }
    if (!parse_url(report.url)) in.malformed("the report url is not an http(s) URL");
    // A pre-signed URL: no Authorization or Amazon-* header, and the file is gzip itself (not a
    // Content-Encoding), so it is fetched raw and inflated here under the cap.
    HttpResponse res = channel
                           .call_sync({.endpoint = "/reporting/reports/{reportId}/download",
                                       .request = {.url = report.url,
                                                   .max_response_bytes = options.max_report_bytes,
                                                   .decode_content = false}})
                           .value();
    if (res.status != 200) refuse_amazon(res, "the report download");
    std::string text;
    try {
      text = gunzip(res.body, options.max_report_bytes);
    } catch (const GzipError& e) {
      if (e.status() == GzipDecoder::Status::kTooLarge) {
        in.malformed("the report file is larger than " + std::to_string(options.max_report_bytes) +
                     " bytes decoded");
      }
      in.malformed(std::string("the report file is not valid gzip (") + e.what() + ")");
    }
    return text;
  }

  UpstreamChannel& channel;
  LwaTokenManager& tokens;
  AmazonDspOptions options;
};

AmazonDspClient::AmazonDspClient(UpstreamChannel& channel, LwaTokenManager& tokens, AmazonDspOptions options)
    : impl_(std::make_unique<Impl>(channel, tokens, std::move(options))) {
  // The endpoint labels this client's calls use (metrics templates, never raw paths).
  for (const char* endpoint :
       {"/dsp/v1/campaigns", "/dsp/v1/campaigns/list", "/dsp/v1/adGroups", "/dsp/v1/adGroups/list",
        "/dsp/v1/adCreatives", "/dsp/v1/adCreatives/list", "/dsp/v1/adCreatives/{id}/moderation",
        "/dsp/v1/adCreatives/associations/adGroups", "/reporting/reports", "/reporting/reports/{reportId}",
        "/reporting/reports/{reportId}/download"}) {
    channel.declare_endpoint(endpoint);
  }
}

AmazonDspClient::~AmazonDspClient() = default;

bool AmazonDspClient::configured() const { return impl_->options.configured; }
CircuitState AmazonDspClient::circuit_state() const { return impl_->channel.circuit_state(); }
LwaTokenManager& AmazonDspClient::tokens() { return impl_->tokens; }

// ---- campaigns --------------------------------------------------------------------------------

std::vector<DspItemResult> AmazonDspClient::create_campaigns(const std::string& account,
                                                             const std::vector<DspCampaign>& items) {
  impl_->require_configured();
  std::vector<json> bodies;
  std::vector<std::string> external_ids;
  for (const auto& c : items) {
    json item{{"name", c.name},
              {"advertiserId", account},
              {"flights", flights_json(c.flights)},
              {"optimization", {{"goalSetting", {{"kpi", c.kpi}}}}},
              {"frequencies", json::array({{{"frequencyType", "UNCAPPED"}}})}};
    if (!c.external_id.empty()) item["externalId"] = c.external_id;
    bodies.push_back(std::move(item));
    external_ids.push_back(c.external_id);
  }
  return impl_->create_with_lookup(account, "/dsp/v1/campaigns", "campaigns", "campaignId", bodies,
                                   external_ids, [&](const std::vector<std::string>& ext) {
                                     return impl_->lookup_external(account, "/dsp/v1/campaigns/list",
                                                                   "campaigns", "campaignId", ext, false,
                                                                   100);
                                   });
}

std::vector<DspCampaignInfo> AmazonDspClient::list_campaigns(const std::string& account,
                                                             const DspCampaignFilter& filter) {
  impl_->require_configured();
  JsonAnswer in(kAmazonService, "POST /dsp/v1/campaigns/list");
  std::vector<DspCampaignInfo> out;
  std::set<std::string> seen;
  for (const auto& ids : filter_chunks(filter.campaign_ids)) {
    for (const auto& ext : filter_chunks(filter.external_ids)) {
      json filters = json::object();
      if (!ids.empty()) filters["campaignIdFilter"] = ids;
      if (!ext.empty()) filters["externalIdFilter"] = ext;
      for (const auto& c : impl_->list_all(account, "/dsp/v1/campaigns/list", "campaigns", filters, 100)) {
        DspCampaignInfo info{.campaign_id = in.string(c, "campaignId"),
                             .advertiser_id = in.optional_string(c, "advertiserId").value_or(""),
                             .external_id = in.optional_string(c, "externalId").value_or(""),
                             .name = in.optional_string(c, "name").value_or(""),
                             .state = in.optional_string(c, "state").value_or(""),
                             .delivery_status = in.optional_string(c, "deliveryStatus").value_or(""),
                             .flights = read_flights(in, c),
                             .kpi = read_kpi(in, c)};
        if (seen.insert(info.campaign_id).second) out.push_back(std::move(info));
      }
    }
  }
  return out;
}

std::vector<DspItemResult> AmazonDspClient::update_campaigns(const std::string& account,
                                                             const std::vector<DspCampaignUpdate>& items) {
  impl_->require_configured();
  std::vector<json> bodies;
  std::vector<std::string> ids;
  for (const auto& u : items) {
    json item{{"campaignId", u.campaign_id}};
    if (u.name) item["name"] = *u.name;
    if (u.state) item["state"] = *u.state;
    if (u.flights) item["flights"] = flights_json(*u.flights);
    if (u.kpi) item["optimization"] = {{"goalSetting", {{"kpi", *u.kpi}}}};
    bodies.push_back(std::move(item));
    ids.push_back(u.campaign_id);
  }
  return impl_->patch(account, "/dsp/v1/campaigns", "campaigns", bodies, ids);
}

// ---- ad groups --------------------------------------------------------------------------------

std::vector<DspItemResult> AmazonDspClient::create_ad_groups(const std::string& account,
                                                             const std::vector<DspAdGroup>& items) {
  impl_->require_configured();
  std::vector<json> bodies;
  std::vector<std::string> external_ids;
  for (const auto& g : items) {
    json item{
        {"campaignId", g.campaign_id},
        {"name", g.name},
        {"inventoryType", g.inventory_type},
        {"startDateTime", g.start},
        {"endDateTime", g.end},
        {"creativeRotationType", "RANDOM"},
        {"optimization", {{"bidStrategy", "SPEND_BUDGET_IN_FULL"}, {"automateBudgetAllocation", false}}},
        {"pacing", {{"deliveryProfile", "EVEN"}, {"catchUpBoostPercentage", 0}}}};
    if (!g.external_id.empty()) item["externalId"] = g.external_id;
    if (g.budget) item["budgetAmount"] = *g.budget;
    if (g.base_bid) item["bid"] = {{"baseBid", *g.base_bid}};
    bodies.push_back(std::move(item));
    external_ids.push_back(g.external_id);
  }
  return impl_->create_with_lookup(account, "/dsp/v1/adGroups", "adGroups", "adGroupId", bodies, external_ids,
                                   [&](const std::vector<std::string>& ext) {
                                     return impl_->lookup_external(account, "/dsp/v1/adGroups/list",
                                                                   "adGroups", "adGroupId", ext, false, 100);
                                   });
}

std::vector<DspAdGroupInfo> AmazonDspClient::list_ad_groups(const std::string& account,
                                                            const DspAdGroupFilter& filter) {
  impl_->require_configured();
  JsonAnswer in(kAmazonService, "POST /dsp/v1/adGroups/list");
  std::vector<DspAdGroupInfo> out;
  std::set<std::string> seen;
  for (const auto& ids : filter_chunks(filter.ad_group_ids)) {
    for (const auto& campaigns : filter_chunks(filter.campaign_ids)) {
      for (const auto& ext : filter_chunks(filter.external_ids)) {
        json filters = json::object();
        if (!ids.empty()) filters["adGroupIdFilter"] = ids;
        if (!campaigns.empty()) filters["campaignIdFilter"] = campaigns;
        if (!ext.empty()) filters["externalIdFilter"] = ext;
        for (const auto& g : impl_->list_all(account, "/dsp/v1/adGroups/list", "adGroups", filters, 100)) {
          DspAdGroupInfo info{.ad_group_id = in.string(g, "adGroupId"),
                              .campaign_id = in.string(g, "campaignId"),
                              .external_id = in.optional_string(g, "externalId").value_or(""),
                              .name = in.optional_string(g, "name").value_or(""),
                              .state = in.optional_string(g, "state").value_or(""),
                              .inventory_type = in.optional_string(g, "inventoryType").value_or(""),
                              .start = in.optional_string(g, "startDateTime").value_or(""),
                              .end = in.optional_string(g, "endDateTime").value_or(""),
                              .budget = in.optional_number(g, "budgetAmount")};
          if (seen.insert(info.ad_group_id).second) out.push_back(std::move(info));
        }
      }
    }
  }
  return out;
}

std::vector<DspItemResult> AmazonDspClient::update_ad_groups(const std::string& account,
                                                             const std::vector<DspAdGroupUpdate>& items) {
  impl_->require_configured();
  std::vector<json> bodies;
  std::vector<std::string> ids;
  for (const auto& u : items) {
    json item{{"adGroupId", u.ad_group_id}};
    if (u.name) item["name"] = *u.name;
    if (u.state) item["state"] = *u.state;
    if (u.start) item["startDateTime"] = *u.start;
    if (u.end) item["endDateTime"] = *u.end;
    if (u.budget) item["budgetAmount"] = *u.budget;
    if (u.base_bid) item["bid"] = {{"baseBid", *u.base_bid}};
    bodies.push_back(std::move(item));
    ids.push_back(u.ad_group_id);
  }
  return impl_->patch(account, "/dsp/v1/adGroups", "adGroups", bodies, ids);
}

// ---- creatives --------------------------------------------------------------------------------

std::vector<DspItemResult> AmazonDspClient::create_ad_creatives(const std::string& account,
                                                                const std::vector<DspCreative>& items) {
  impl_->require_configured();
  std::vector<DspItemResult> results(items.size());
  std::vector<std::string> wanted;
  for (std::size_t i = 0; i < items.size(); ++i) {
    results[i].index = i;
    const auto& c = items[i];
    if (c.type == DspTagType::kAudio) {
      results[i].errors.push_back({"UNSUPPORTED_FORMAT",
                                   "Amazon DSP has no upload endpoint for audio creatives; upload it in the "
                                   "Amazon DSP console"});
    } else if (c.tag_source.empty()) {
      results[i].errors.push_back({"MISSING_FIELD", "the creative has no processed markup (tagSource)"});
    } else if (!c.external_id.empty()) {
      wanted.push_back(c.external_id);
    }
  }
  auto found_by_external = [&](const std::vector<std::string>& ext) {
    std::map<std::string, std::string> found;
    for (const auto& info : list_ad_creatives(account, ext))
      found.emplace(info.external_id, info.ad_creative_id);
    return found;
  };
  auto existing = wanted.empty() ? std::map<std::string, std::string>() : found_by_external(wanted);

  JsonAnswer in(kAmazonService, "POST /dsp/v1/adCreatives");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& c = items[i];
    auto& r = results[i];
    if (!r.errors.empty()) continue;
    if (auto it = existing.find(c.external_id); !c.external_id.empty() && it != existing.end()) {
      r.id = it->second;
      r.existing = true;
      continue;
    }
    json tag{{"tagSource", c.tag_source},
             {"tagType", c.type == DspTagType::kDisplay ? "DISPLAY" : "VAST"},
             {"destinationOnAmazon", "OFF_AMAZON"}};
    json props{{"adCreativeFormatType", "THIRD_PARTY"}, {"thirdPartyTag", std::move(tag)}};
    if (c.type == DspTagType::kDisplay) {
      props["creativeSizes"] =
          json::array({{{"width", c.width}, {"height", c.height}, {"responsive", false}}});
    }
    json body{{"name", c.name},
              {"language", c.language},
              {"country", c.country},
              {"adCreativeFormatProperties", std::move(props)}};
    if (!c.external_id.empty()) body["externalId"] = c.external_id;
    // One creative per call [R3]; not retried once sent (the look-up makes a repeat safe).
    auto res = impl_->send(account, "POST", "/dsp/v1/adCreatives", "/dsp/v1/adCreatives", body.dump(),
                           Idempotency::kByMethod);
    if (res.status == 200 || res.status == 201) {
      auto doc = in.parse(res);
      r.id = in.string(doc.is_object() ? doc : json::object(), "adCreativeId");
      continue;
    }
    if (res.status != 400 && res.status != 422) refuse_amazon(res, "POST /dsp/v1/adCreatives");
    auto doc = JsonAnswer::try_object(res.body).value_or(json::object());
    std::string code = doc["code"].is_string() ? doc["code"].get<std::string>() : "BAD_REQUEST";
    std::string details =
        doc["details"].is_string() ? detail::excerpt(doc["details"].get<std::string>(), 300) : "";
    if (code == "DUPLICATE_EXTERNAL_ID" && !c.external_id.empty()) {
      auto again = found_by_external({c.external_id});
      if (auto it = again.find(c.external_id); it != again.end()) {
        r.id = it->second;
        r.existing = true;
        continue;
      }
    }
    r.errors.push_back({code, details.empty()
                                  ? "Amazon refused the creative (HTTP " + std::to_string(res.status) + ")"
                                  : details});
  }
  return results;
}

std::vector<DspCreativeInfo> AmazonDspClient::list_ad_creatives(
    const std::string& account, const std::vector<std::string>& external_ids) {
  impl_->require_configured();
  JsonAnswer in(kAmazonService, "POST /dsp/v1/adCreatives/list");
  std::vector<DspCreativeInfo> out;
  for (const auto& ext : filter_chunks(external_ids)) {
    json filters = json::object();
    if (!ext.empty()) filters["externalIdFilter"] = {{"include", ext}};  // the creative APIs' form [R3]
    for (const auto& c : impl_->list_all(account, "/dsp/v1/adCreatives/list", "adCreatives", filters, 50)) {
      out.push_back({in.string(c, "adCreativeId"), in.optional_string(c, "externalId").value_or(""),
                     in.optional_string(c, "name").value_or("")});
    }
  }
  return out;
}

DspModeration AmazonDspClient::get_moderation(const std::string& account, const std::string& ad_creative_id) {
  impl_->require_configured();
  const std::string endpoint = "/dsp/v1/adCreatives/{id}/moderation";
  JsonAnswer in(kAmazonService, "GET " + endpoint);
  auto res =
      impl_->send(account, "GET", "/dsp/v1/adCreatives/" + path_segment(ad_creative_id) + "/moderation",
                  endpoint, "", Idempotency::kByMethod);
  if (res.status == 404) {
    throw Error(codes::kExternalApi, "amazon_dsp has no ad creative " + ad_creative_id,
                "moderation of ad creative " + ad_creative_id + ": HTTP 404 " + detail::excerpt(res.body));
  }
  if (res.status != 200) refuse_amazon(res, "GET " + endpoint);
  auto doc = in.parse(res);
  if (!doc.is_object()) in.malformed("the body is not a JSON object");
  const auto& statuses = in.array(doc, "adCreativeStatuses");
  const json* mine = nullptr;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    const auto& s = in.element(statuses, i, "adCreativeStatuses");
    if (!mine || in.optional_string(s, "adCreativeId") == ad_creative_id) mine = &s;
  }
  if (!mine) in.malformed("adCreativeStatuses is empty");
  DspModeration out{in.string(*mine, "adCreativeModerationStatus"), {}};
  if (mine->contains("adExperiences") && !(*mine)["adExperiences"].is_null()) {
    const auto& experiences = in.array(*mine, "adExperiences");
    for (std::size_t i = 0; i < experiences.size(); ++i) {
      const auto& e = in.element(experiences, i, "adExperiences");
      if (!e.contains("reasons") || e["reasons"].is_null()) continue;
      for (const auto& reason : in.array(e, "reasons")) {
        if (!reason.is_string()) in.malformed("adExperiences[].reasons holds a value that is not a string");
        out.reasons.push_back(reason.get<std::string>());
      }
    }
  }
  return out;
}

// ---- associations -----------------------------------------------------------------------------

std::vector<DspAssociationResult> AmazonDspClient::associate(const std::string& account,
                                                             const std::vector<DspAssociation>& items) {
  impl_->require_configured();
  const std::string path = "/dsp/v1/adCreatives/associations/adGroups";
  JsonAnswer in(kAmazonService, "POST " + path);
  std::vector<DspAssociationResult> results(items.size());
  std::vector<std::size_t> all(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    results[i] = {i, items[i].ad_creative_id, items[i].ad_group_id, {}};
    all[i] = i;
  }
  for (const auto& batch : chunks(all, kMaxAssociations)) {
    json list = json::array();
    for (auto i : batch) {
      const auto& a = items[i];
      json item{{"adCreativeId", a.ad_creative_id}, {"adGroupId", a.ad_group_id}};
      if (a.state) item["state"] = *a.state;
      if (a.weight) item["weight"] = *a.weight;
      if (a.start) item["startDate"] = *a.start;
      if (a.end) item["endDate"] = *a.end;
      list.push_back(std::move(item));
    }
    // Associating a pair again succeeds again [R4]: safe to retry.
    auto res = impl_->send(account, "POST", path, path, json{{"associations", std::move(list)}}.dump(),
                           Idempotency::kIdempotent);
    if (res.status != 207 && res.status != 200) refuse_amazon(res, "POST " + path);
    auto doc = in.parse(res);
    auto answers = read_batch(in, doc, batch.size());
    for (std::size_t k = 0; k < batch.size(); ++k) results[batch[k]].errors = std::move(answers[k].errors);
  }
  return results;
}

// ---- reports ----------------------------------------------------------------------------------

std::string AmazonDspClient::create_report(const std::string& account, const DspReportRequest& request) {
  impl_->require_configured();
  bool campaign = request.type == DspReportType::kCampaign;
  if (request.by_creative && !campaign) {
    throw Error(codes::kInternal, "internal error", "a by_creative report must be of type kCampaign");
  }
  const char* type = campaign ? "dspCampaign" : "dspViewability";
  json columns = campaign ? json{"date", "campaignId", "impressions", "clicks", "totalCost", "purchases"}
                          : json{"date",
                                 "campaignId",
                                 "vendor",
                                 "impressions",
                                 "measurableImpressions",
                                 "viewableImpressions",
                                 "averageTimeInViewSeconds"};
  json group_by = json::array({"campaign"});
  if (request.by_creative) {
    group_by.push_back("creative");
    columns.insert(columns.begin() + 2, "creativeId");
  }
  json configuration{
      {"adProduct", "DEMAND_SIDE_PLATFORM"}, {"reportTypeId", type}, {"groupBy", std::move(group_by)},
      {"columns", std::move(columns)},       {"timeUnit", "DAILY"},  {"format", "GZIP_JSON"}};
  if (!request.campaign_ids.empty()) {
    configuration["filters"] = json::array({{{"field", "campaignId"}, {"values", request.campaign_ids}}});
  }
  json body{{"name", request.name.empty()
                         ? "kargo " + std::string(type) + " " + request.start_date + ".." + request.end_date
                         : request.name},
            {"startDate", request.start_date},
            {"endDate", request.end_date},
            {"configuration", std::move(configuration)}};
  JsonAnswer in(kAmazonService, "POST /reporting/reports");
  // The same request twice is answered 425 with the first report's id, so a retry is harmless.
  auto res = impl_->send(account, "POST", "/reporting/reports", "/reporting/reports", body.dump(),
                         Idempotency::kIdempotent, kReportContentType);
  if (res.status == 200 || res.status == 201 || res.status == 202) {
    auto doc = in.parse(res);
    return in.string(doc.is_object() ? doc : json::object(), "reportId");
  }
  if (res.status == 425) {
    auto doc = JsonAnswer::try_object(res.body);
    if (!doc) in.malformed("a 425 without a JSON object", res.body);
    if ((*doc)["reportId"].is_string()) return (*doc)["reportId"].get<std::string>();
    // The real API names the existing report only in the text: "... duplicate of : <id>".
    for (const char* key : {"detail", "details"}) {
      if (!(*doc)[key].is_string()) continue;
      std::string text = (*doc)[key].get<std::string>();
      auto at = text.find("duplicate of :");
      if (at == std::string::npos) continue;
      std::string id = text.substr(at + 14);
      id.erase(0, id.find_first_not_of(' '));
      id.erase(id.find_last_not_of(" .") + 1);
      if (!id.empty()) return id;
    }
    in.malformed("a 425 that does not name the existing report", res.body);
  }
  refuse_amazon(res, "POST /reporting/reports");
}

DspReport AmazonDspClient::get_report(const std::string& account, const std::string& report_id) {
  impl_->require_configured();
  const std::string endpoint = "/reporting/reports/{reportId}";
  JsonAnswer in(kAmazonService, "GET " + endpoint);
  auto res = impl_->send(account, "GET", "/reporting/reports/" + path_segment(report_id), endpoint, "",
                         Idempotency::kByMethod);
  if (res.status != 200) refuse_amazon(res, "GET " + endpoint);
  auto doc = in.parse(res);
  if (!doc.is_object()) in.malformed("the body is not a JSON object");
  DspReport out{in.string(doc, "reportId"), in.string(doc, "status"),
                in.optional_string(doc, "url").value_or(""),
                in.optional_string(doc, "failureReason").value_or("")};
  if (out.status == "COMPLETED" && out.url.empty()) in.malformed("a COMPLETED report without a url");
  return out;
}

std::vector<DspReport> AmazonDspClient::wait_for_reports(const std::string& account,
                                                         const std::vector<std::string>& report_ids) {
  impl_->require_configured();
  const auto& options = impl_->options;
  auto started = std::chrono::steady_clock::now();
  auto delay = options.report_poll_initial;
  std::vector<DspReport> out(report_ids.size());
  std::vector<std::size_t> pending(report_ids.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  for (;;) {
    std::vector<std::size_t> unfinished;
    for (auto i : pending) {
      out[i] = get_report(account, report_ids[i]);
      if (out[i].status != "COMPLETED" && out[i].status != "FAILED") unfinished.push_back(i);
    }
    pending = std::move(unfinished);
    if (pending.empty()) return out;
    auto waited = std::chrono::steady_clock::now() - started;
    if (waited + delay > options.report_timeout) {
      std::string external = "amazon_dsp: ";
      for (std::size_t k = 0; k < pending.size(); ++k) {
        external +=
            (k ? ", report " : "report ") + report_ids[pending[k]] + " is still " + out[pending[k]].status;
      }
      external +=
          " after " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(waited).count()) + " s";
      throw Error(codes::kExternalApi, external, external);
    }
    // A job worker's own thread waits here (this API is blocking by design); the channel's
    // retries inside each poll still wait on the client's timers.
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, options.report_poll_max);
  }
}

DspReport AmazonDspClient::wait_for_report(const std::string& account, const std::string& report_id) {
  return wait_for_reports(account, {report_id}).at(0);
}

std::vector<DspCampaignRow> AmazonDspClient::download_campaign_rows(const DspReport& report,
                                                                    bool by_creative) {
  JsonAnswer in(kAmazonService, "the report download");
  static const std::vector<std::string_view> kColumns{"date",   "campaignId", "orderId",  "creativeId",
                                                      "impressions", "clicks", "purchases", "totalCost"};
  std::vector<DspCampaignRow> out;
  ReportRows::read(impl_->download(report), in, kColumns, [&](const ReportRows::Row& row) {
    auto campaign = row.optional_string(1);
    out.push_back({row.string(0), campaign ? *campaign : row.string(2),
                   by_creative ? row.string(3) : row.optional_string(3).value_or(""), row.integer(4),
                   row.integer(5), row.integer(6), row.number(7)});
  });
  return out;
}

std::vector<DspViewabilityRow> AmazonDspClient::download_viewability_rows(const DspReport& report) {
  JsonAnswer in(kAmazonService, "the report download");
  static const std::vector<std::string_view> kColumns{
      "date",        "campaignId",           "orderId",           "vendor",
      "impressions", "measurableImpressions", "viewableImpressions", "averageTimeInViewSeconds"};
  std::vector<DspViewabilityRow> out;
  ReportRows::read(impl_->download(report), in, kColumns, [&](const ReportRows::Row& row) {
    auto campaign = row.optional_string(1);
    out.push_back({row.string(0), campaign ? *campaign : row.string(2), row.string(3), row.integer(4),
                   row.integer(5), row.integer(6), row.number(7)});
  });
  return out;
}

}  // namespace kargo::upstream
