#pragma once
// Small helpers shared by the integration tests: environment from scripts/test.sh, waiting on
// conditions (never sleeping for ordering), logins, hand-made JWTs, Prometheus text, and
// control of the PostgreSQL instances test.sh started.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "kargo/core/error_codes.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

namespace kargo::itest {

// The value of a variable scripts/test.sh exports. Missing means the suite was started the
// wrong way: throws, which fails the test with this message (the suite never skips).
std::string required_env(const char* name);

// Polls `pred` until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// prefix + "_" + random hex: unique across tests running in parallel and across runs.
std::string unique_name(const std::string& prefix);

// POST /api/auth/token; throws (failing the test) unless it answers 200 with a token.
std::string login(const HttpClient& http, const Credentials& who);
// Creates a user through POST /api/auth/users as `admin_token`; throws unless 201.
Credentials create_user(const HttpClient& http, const std::string& admin_token, const std::string& role);

// The `field`s of a 422 answer's details (a test failure, and an empty set, for any other status).
std::set<std::string> invalid_fields(const HttpResponse& res);

// obj[key] when it is a string, else "" (log lines carry nulls, e.g. "request_id": null).
std::string json_string(const nlohmann::json& obj, const std::string& key);

// Runs `fn`, which must throw a kargo::Error; returns it (a test failure, and a 500, when it does
// not throw one).
template <typename Fn>
Error expect_error(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no kargo::Error was thrown";
  return Error(codes::kInternal, "none");
}

// --- JWTs made by hand, so tests do not trust the server's own signing code ---
std::string base64url(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);
// header.payload.signature with an HMAC-SHA256 signature over the first two parts.
std::string sign_jwt(const nlohmann::json& header, const nlohmann::json& payload, std::string_view key);
// {"sub","role","iat","exp"} signed HS256 with `key`; exp = now + ttl.
std::string make_token(const std::string& subject, const std::string& role, std::string_view key,
                       std::chrono::seconds ttl = std::chrono::minutes(10));
nlohmann::json jwt_payload(const std::string& token);
int64_t now_epoch();

// --- format checks ---
bool is_iso8601_utc(const std::string& text);           // 2026-01-01T00:00:00Z (fractions allowed)
bool is_generated_request_id(const std::string& text);  // req_ + 16 lower-case hex

// --- Prometheus text format ---
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::vector<Sample> parse_prometheus(const std::string& text);
// Sum of the samples named `name` whose labels include every pair of `labels`.
double metric_sum(const std::vector<Sample>& samples, std::string_view name,
                  const std::map<std::string, std::string>& labels = {});
bool has_metric(const std::vector<Sample>& samples, std::string_view name);

// --- PostgreSQL ---
struct PgUrl {
  std::string user, password, host, database;
  uint16_t port = 5432;
  std::string with_database(const std::string& db) const;
};
PgUrl parse_pg_url(const std::string& url);

// Runs SQL as the superuser `postgres` (scripts/lib.sh initialises the cluster with trust auth).
CommandResult psql_admin(const PgUrl& server, const std::string& sql);
// Runs `sql` on the test database (DATABASE_URL) with psql; throws with psql's error on failure.
// For rows the API does not write (creatives made elsewhere, report data, a stale upstream id).
std::string run_sql(const std::string& sql);

// A database of its own on the shared PostgreSQL (DATABASE_URL's server), dropped at the end of
// the test: for tests that must not see other tests' rows or have their jobs claimed by other
// tests' servers. Empty until migrate() runs `kargo-dsp migrate up` on it.
class FreshDatabase {
 public:
  FreshDatabase();
  ~FreshDatabase();
  FreshDatabase(const FreshDatabase&) = delete;
  FreshDatabase& operator=(const FreshDatabase&) = delete;
  std::string url() const { return server_.with_database(name_); }
  void migrate() const;  // throws unless migrate up succeeds
  // Runs `sql` on this database; throws with psql's error on failure. Returns psql's -tA output.
  std::string sql(const std::string& sql) const;

 private:
  PgUrl server_;
  std::string name_;
};

// pg_ctl on KARGO_TEST_RESTART_PGDATA, run as KARGO_PG_USER when we are root (PostgreSQL
// refuses root). start passes the port again the way scripts/lib.sh pg_start does.
void restart_pg_stop();
void restart_pg_start();

}  // namespace kargo::itest
