// Retention: the periodic `retention` job deletes what is past its age, in batches, and nothing
// else: rows still in use (a queued job's upload, a pending delivery's attempts, a file not yet
// expired, a job not finished) stay whatever their age. Two instances tick; one job runs per tick.
#include <gtest/gtest.h>

#include <thread>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using namespace std::chrono_literals;

std::string hex(char c, size_t n) { return std::string(n, c); }

// psql's -tA answer without its final newline.
std::string value(const FreshDatabase& db, const std::string& sql) {
  auto out = db.sql(sql);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Old and young rows of every table the job cleans, written directly (the API cannot backdate).
void seed(const FreshDatabase& db) {
  db.sql(
      // Jobs: five finished 40 days ago (more than one batch of 3), one finished yesterday, one
      // queued 40 days ago (never finished: kept).
      "INSERT INTO jobs (id, kind, status, max_attempts, created_by, created_at, finished_at) "
      "SELECT 'job_a0000000000' || g, 'bulk_import', 'succeeded', 1, 'test', "
      "now() - interval '41 days', now() - interval '40 days' FROM generate_series(1, 5) g;"
      "INSERT INTO jobs (id, kind, status, max_attempts, created_by, finished_at) VALUES "
      "('job_b00000000001', 'bulk_import', 'failed', 1, 'test', now() - interval '1 day');"
      "INSERT INTO jobs (id, kind, status, max_attempts, created_by, created_at, payload, run_after) VALUES "
      "('job_c00000000001', 'bulk_import_paused', 'queued', 1, 'test', now() - interval '40 days', "
      "'{\"upload_id\": \"upload_" + hex('b', 32) + "\"}', now() + interval '1 day');"
      // Bulk uploads: an old one nobody needs, an old one a queued job still needs, a young one.
      "INSERT INTO bulk_uploads (id, bytes, size, created_by, created_at) VALUES "
      "('upload_" + hex('a', 32) + "', 'x', 1, 'test', now() - interval '10 days'),"
      "('upload_" + hex('b', 32) + "', 'x', 1, 'test', now() - interval '10 days'),"
      "('upload_" + hex('c', 32) + "', 'x', 1, 'test', now() - interval '1 day');"
      // Generated files: expired 40 days ago (row deleted), expired a minute ago (bytes dropped,
      // row kept: its download answers 410), not expired (untouched).
      "INSERT INTO generated_files (id, kind, filename, content_type, bytes, size, created_by, expires_at) VALUES "
      "('sheet_" + hex('1', 32) + "', 'bulk_sheet', 'a.xlsx', 'x/y', 'abc', 3, 'test', now() - interval '40 days'),"
      "('sheet_" + hex('2', 32) + "', 'bulk_sheet', 'b.xlsx', 'x/y', 'abc', 3, 'test', now() - interval '1 minute'),"
      "('sheet_" + hex('3', 32) + "', 'bulk_sheet', 'c.xlsx', 'x/y', 'abc', 3, 'test', now() + interval '1 day');"
      // Idempotency keys: past the 24 h replay window, and within it.
      "INSERT INTO idempotency_keys (actor, key, method, route, body_sha256, created_at) VALUES "
      "('test', 'old-key', 'POST', '/api/campaigns', 'h', now() - interval '25 hours'),"
      "('test', 'young-key', 'POST', '/api/campaigns', 'h', now() - interval '1 hour');"
      // Periodic ticks: eight days old, and an hour old.
      "INSERT INTO periodic_ticks (name, bucket, at) VALUES "
      "('old_tick', 1, now() - interval '8 days'), ('young_tick', 1, now() - interval '1 hour');"
      // Webhooks: a delivery delivered 40 days ago and its attempt (deleted); a delivery still
      // pending since 40 days and its old attempt (kept); a recent attempt (kept).
      "INSERT INTO webhooks (id, url, events, secret, created_by, active) VALUES "
      "('wh_" + hex('d', 12) + "', 'https://example.com/h', '{campaign.created}', 'whsec-0123456789abcdef', "
      "'test', false);"
      "INSERT INTO webhook_deliveries (id, webhook_id, event, data, event_at, status, attempts, created_at, "
      "finished_at) VALUES "
      "('dlv_" + hex('e', 32) + "', 'wh_" + hex('d', 12) + "', 'campaign.created', '{}', now(), 'delivered', 1, "
      "now() - interval '41 days', now() - interval '40 days'),"
      "('dlv_" + hex('f', 32) + "', 'wh_" + hex('d', 12) + "', 'campaign.created', '{}', now(), 'pending', 1, "
      "now() - interval '41 days', NULL);"
      "INSERT INTO webhook_attempts (delivery_id, webhook_id, event, attempt, duration_ms, created_at) VALUES "
      "('dlv_" + hex('e', 32) + "', 'wh_" + hex('d', 12) + "', 'campaign.created', 1, 1, now() - interval '40 days'),"
      "('dlv_" + hex('f', 32) + "', 'wh_" + hex('d', 12) + "', 'campaign.created', 1, 1, now() - interval '40 days'),"
      "('dlv_" + hex('e', 32) + "', 'wh_" + hex('d', 12) + "', 'campaign.created', 2, 1, now() - interval '1 day');");
}

TEST(Retention, DeletesWhatIsPastItsAgeInBatchesAndNothingElse) {
  FreshDatabase db;
  db.migrate();
  seed(db);
  EnvOverrides env{{"DATABASE_URL", db.url()},
                   {"RETENTION_INTERVAL_SECONDS", "2"},
                   {"RETENTION_BATCH_SIZE", "3"},
                   {"WEBHOOK_CONCURRENCY", "0"}};
  ServerProcess a({.env = env});
  ServerProcess b({.mode = "worker", .env = env});
  auto count = [&](const std::string& sql) { return std::stoi(db.sql(sql)); };
  ASSERT_TRUE(wait_until(
      [&] { return count("SELECT count(*) FROM jobs WHERE kind = 'retention' AND status = 'succeeded'") >= 2; },
      60s, 200ms))
      << db.sql("SELECT string_agg(id || ' ' || status || ' ' || coalesce(error, ''), '; ') FROM jobs "
                "WHERE kind = 'retention'");
  a.stop();
  b.stop();

  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE id LIKE 'job_a%'"), 0) << "finished 40 days ago";
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE id IN ('job_b00000000001', 'job_c00000000001')"), 2);
  EXPECT_EQ(value(db, "SELECT string_agg(right(id, 1), '' ORDER BY id) FROM bulk_uploads"), "bc");
  EXPECT_EQ(value(db, "SELECT string_agg(right(id, 1) || ':' || (bytes IS NOT NULL)::text, ' ' ORDER BY id) "
                   "FROM generated_files"),
            "2:false 3:true");
  EXPECT_EQ(value(db, "SELECT string_agg(key, ' ') FROM idempotency_keys"), "young-key");
  EXPECT_EQ(count("SELECT count(*) FROM periodic_ticks WHERE name IN ('old_tick', 'young_tick')"), 1);
  EXPECT_EQ(value(db, "SELECT string_agg(right(id, 1), '') FROM webhook_deliveries"), "f");
  EXPECT_EQ(value(db, "SELECT string_agg(right(delivery_id, 1) || attempt, ' ' ORDER BY delivery_id, attempt) "
                   "FROM webhook_attempts"),
            "e2 f1");

  // The first run's result names what it deleted (a later run finds nothing more).
  auto first = nlohmann::json::parse(
      value(db, "SELECT result::text FROM jobs WHERE kind = 'retention' AND status = 'succeeded' "
             "ORDER BY finished_at LIMIT 1"));
  EXPECT_EQ(first["deleted"]["jobs"], 5) << first;
  EXPECT_EQ(first["deleted"]["bulk_uploads"], 1) << first;
  EXPECT_EQ(first["deleted"]["generated_files"], 1) << first;
  EXPECT_EQ(first["deleted"]["generated_files_bytes"], 1) << first;
  EXPECT_EQ(first["deleted"]["idempotency_keys"], 1) << first;
  EXPECT_EQ(first["deleted"]["webhook_deliveries"], 1) << first;
  EXPECT_EQ(first["deleted"]["webhook_attempts"], 1) << first;
  EXPECT_EQ(first["batch_size"], 3);

  // Two instances, one job per tick.
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE kind = 'retention'"),
            count("SELECT count(*) FROM periodic_ticks WHERE name = 'retention_tick' AND job_id IS NOT NULL"));
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT payload->>'tick' FROM jobs WHERE kind = 'retention' "
                  "GROUP BY 1 HAVING count(*) > 1) dup"),
            0);
}

TEST(Retention, ZeroIntervalRunsNothing) {
  FreshDatabase db;
  db.migrate();
  seed(db);
  ServerProcess a({.env = {{"DATABASE_URL", db.url()}, {"RETENTION_INTERVAL_SECONDS", "0"},
                           {"WEBHOOK_CONCURRENCY", "0"}}});
  std::this_thread::sleep_for(3s);
  a.stop();
  EXPECT_EQ(value(db, "SELECT count(*) FROM jobs WHERE kind = 'retention'"), "0");
  EXPECT_EQ(value(db, "SELECT count(*) FROM jobs WHERE id LIKE 'job_a%'"), "5");
}

}  // namespace
}  // namespace kargo::itest
