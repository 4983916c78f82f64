// The composition root: every long-lived dependency is built here, once, and handed down.
#include "kargo/app/app.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "kargo/api/routes.hpp"
#include "kargo/auth/auth_service.hpp"
#include "kargo/bulk/sheet.hpp"
#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/error_stats.hpp"
#include "kargo/core/job_kinds.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/domain/creative/macros.hpp"
#include "kargo/http/pipeline.hpp"
#include "kargo/http/router.hpp"
#include "kargo/http/server.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/service/amazon.hpp"
#include "kargo/service/campaigns.hpp"
#include "kargo/service/creatives.hpp"
#include "kargo/service/health.hpp"
#include "kargo/service/jobs.hpp"
#include "kargo/service/kargo.hpp"
#include "kargo/service/reports.hpp"
#include "kargo/service/retention.hpp"
#include "kargo/service/sheets.hpp"
#include "kargo/service/webhook_dispatcher.hpp"
#include "kargo/service/webhooks.hpp"
#include "kargo/store/bulk_sources.hpp"
#include "kargo/store/bulk_uploads.hpp"
#include "kargo/store/campaign_sync.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/generated_files.hpp"
#include "kargo/store/idempotency.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/kargo_push.hpp"
#include "kargo/store/migrations.hpp"
#include "kargo/store/rate_limiter.hpp"
#include "kargo/store/webhooks.hpp"
#include "kargo/store/redis.hpp"
#include "kargo/store/reports.hpp"
#include "kargo/store/resource_cache.hpp"
#include "kargo/store/retention.hpp"
#include "kargo/store/users.hpp"
#include "kargo/upstream/amazon_dsp_client.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/kargo_client.hpp"
#include "kargo/upstream/lwa_token_manager.hpp"
#include "kargo/upstream/upstream_health.hpp"

namespace kargo::app {
namespace {

enum class Mode { kServe, kWorker };

// Creates the bootstrap admin once PostgreSQL answers; retries in the background so a database
// that starts after the service does not stop it from coming up.
class AdminBootstrap {
 public:
  AdminBootstrap(const Config& cfg, AuthService& auth) {
    if (!cfg.admin_username || !cfg.admin_password) return;
    thread_ = std::thread([this, user = *cfg.admin_username, pw = *cfg.admin_password, &auth] {
      for (int attempt = 0; !stop_; ++attempt) {
        try {
          auth.ensure_admin(user, pw);
          log::info("bootstrap admin ready", {{"username", user}});
          return;
        } catch (const std::exception& e) {
          if (attempt % 10 == 0)
            log::warn("bootstrap admin not created yet; retrying", {{"error", e.what()}});
        }
        for (int i = 0; i < 20 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~AdminBootstrap() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

const char* process_role(Mode mode) { return mode == Mode::kServe ? "serve" : "worker"; }

int run(const Config& cfg, Mode mode) {
  const auto started_at = std::chrono::system_clock::now();
  Metrics metrics;
  ErrorStats errors;
  store::Database db(cfg.database_url, cfg.database_pool_size,
                     std::chrono::milliseconds(cfg.database_acquire_timeout_ms), &metrics,
                     std::chrono::milliseconds(cfg.database_statement_timeout_ms));
  store::Redis redis(cfg.redis_url, &metrics);
  // The database pool's threads: one per pooled connection, so a thread never waits for a
  // connection that another thread of the same pool holds idle. Database work only: upstream
  // calls run on the upstream client's own threads (docs/ARCHITECTURE.md, "Executors").
  BlockingPool pool(cfg.database_pool_size, std::chrono::milliseconds(cfg.database_acquire_timeout_ms));
  store::UserStore users(db);
  AuthService auth(users, cfg.secret_key, cfg.jwt_expire_minutes);
  store::RateLimiter limiter(&redis, cfg.rate_limit_per_minute, cfg.rate_limit_burst);
  store::IdempotencyRecords idempotency(db);
  store::CampaignStore campaign_store(db);
  store::CampaignSyncStore sync_store(db);
  store::KargoPushStore push_store(db);
  store::CreativeStore creative_store(db);
  store::JobStore job_store(db);
  store::BulkSheetReader sheet_sources(db);
  store::GeneratedFileStore generated_files(db);
  store::BulkUploadStore uploads(db);
  store::ReportStore report_store(db);
  store::WebhookStore webhook_store(db);
  store::RetentionStore retention_store(db);
  store::ResourceCache campaign_cache(redis, "campaign", std::chrono::seconds(60));
  // Creative list pages (single creatives are not cached: a row read is one round trip).
  store::ResourceCache creative_pages(redis, "creative", std::chrono::seconds(60));
  // Report documents (GET /api/reports/*), retired when a pull writes or a campaign changes; up to
  // 32 MB of them also kept in this process (a year of days is ~75 KB: only the generation is
  // asked of Redis when the local copy is current).
  store::ResourceCache report_pages(redis, "report", std::chrono::seconds(300), 32u << 20);
  // One outbound HTTP client (its own I/O thread) and one channel per upstream: each upstream has
  // its own circuit breaker, concurrency bound and metrics label; all share the connection pools.
  upstream::HttpClient http_client(upstream::HttpClientOptions::from_config(cfg));
  upstream::UpstreamChannel lwa_channel(http_client, metrics,
                                        upstream::ChannelOptions::from_config("amazon_lwa", cfg));
  upstream::UpstreamChannel amazon_channel(http_client, metrics,
                                           upstream::ChannelOptions::from_config("amazon_dsp", cfg));
  upstream::UpstreamChannel kargo_channel(http_client, metrics,
                                          upstream::ChannelOptions::from_config("kargo", cfg));
  upstream::LwaTokenManager amazon_tokens(lwa_channel, upstream::LwaCredentials::from_config(cfg));
  upstream::AmazonDspClient amazon(amazon_channel, amazon_tokens, upstream::AmazonDspOptions::from_config(cfg));
  upstream::KargoClient kargo(kargo_channel, upstream::KargoOptions::from_config(cfg));
  upstream::UpstreamHealth upstream_health(http_client, amazon_tokens, amazon, kargo);
  domain::MacroTable macros = domain::MacroTable::defaults();
  try {
    if (cfg.amazon_macros_file) macros = domain::MacroTable::load_file(*cfg.amazon_macros_file);
  } catch (const ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return 2;
  }
  jobs::JobRunner job_runner(job_store, metrics,
                             {.threads = cfg.job_concurrency,
                              .lease = std::chrono::seconds(cfg.job_lease_seconds),
                              .owner_prefix = process_role(mode)});

  // The services: the use cases, each built once and handed to the handlers and job kinds.
  service::JobService job_service(job_store, [&job_runner] { job_runner.wake(); });
  service::CampaignService campaigns(db, campaign_store, campaign_cache, {&creative_pages, &report_pages});
  service::CreativeService creatives(db, creative_store, creative_pages, campaigns, job_service, kargo, pool, macros,
                                     metrics,
                                     {.snippet_hosts = cfg.kargo_snippet_hosts,
                                      .amazon_configured = cfg.amazon_configured()});
  service::SheetService sheets(db, sheet_sources, generated_files, uploads, campaigns, job_service);
  service::KargoService kargo_service(kargo, push_store, campaigns, pool);
  service::AmazonService amazon_service(db, sync_store, campaign_store, creative_store, creative_pages, campaigns,
                                        job_service, amazon, pool,
                                        {.configured = cfg.amazon_configured(),
                                         .sync_max_attempts = static_cast<int>(cfg.sync_max_attempts),
                                         .sync_interval_seconds = cfg.sync_interval_seconds});
  service::ReportService reports(report_store, report_pages, generated_files, campaigns, job_service, amazon, metrics,
                                 {.configured = cfg.amazon_configured(),
                                  .max_attempts = static_cast<int>(cfg.report_max_attempts),
                                  .interval_seconds = cfg.report_interval_seconds});
  service::WebhookService webhooks(webhook_store, {.allow_private = cfg.webhook_allow_private});
  service::RetentionService retention(retention_store, job_service,
                                     {.interval_seconds = cfg.retention_interval_seconds,
                                      .batch = cfg.retention_batch_size,
                                      .files = std::chrono::days(cfg.retention_files_days),
                                      .jobs = std::chrono::days(cfg.retention_jobs_days),
                                      .uploads = std::chrono::days(cfg.retention_uploads_days),
                                      .ticks = std::chrono::days(cfg.retention_ticks_days),
                                      .webhooks = std::chrono::days(cfg.retention_webhooks_days)});
  service::HealthService health(db, redis, upstream_health, job_service, pool);

  // The handlers.
  api::HealthRoutes health_routes(health, cfg, metrics, started_at, process_role(mode));
  api::DocsRoutes docs_routes;
  api::AuthRoutes auth_routes(auth);
  api::OpsRoutes ops_routes(metrics, errors, started_at);
  api::CampaignRoutes campaign_routes(campaigns);
  api::JobRoutes job_routes(job_service);
  api::CreativeRoutes creative_routes(creatives, cfg.max_upload_bytes);
  api::IntegrationRoutes integration_routes(amazon_service, kargo_service);
  api::BulkRoutes bulk_routes(sheets, cfg.max_upload_bytes);
  api::ReportRoutes report_routes(reports);
  api::WebhookRoutes webhook_routes(webhooks);
  http::Router router;
  health_routes.add_to(router);
  if (mode == Mode::kServe) {
    docs_routes.add_to(router);
    auth_routes.add_to(router);
    ops_routes.add_to(router);
    campaign_routes.add_to(router);
    job_routes.add_to(router);
    creative_routes.add_to(router);
    integration_routes.add_to(router);
    bulk_routes.add_to(router);
    report_routes.add_to(router);
    webhook_routes.add_to(router);
  }

  for (const auto& route : router.routes()) metrics.declare_http_route(route->method, route->path);
  http::Pipeline pipeline(router,
                          {cfg.max_body_bytes, cfg.max_upload_bytes, cfg.cors_allowed_origins,
                           std::chrono::milliseconds(cfg.request_timeout_ms)},
                          metrics, errors, pool, auth, limiter, &idempotency);
  http::ServerOptions opts;
  opts.host = cfg.host;
  opts.port = mode == Mode::kServe ? cfg.port : cfg.worker_port;
  opts.io_threads = mode == Mode::kServe ? cfg.io_threads : 1;
  opts.shutdown_delay = std::chrono::seconds(cfg.shutdown_delay_seconds);
  opts.shutdown_grace = std::chrono::seconds(cfg.shutdown_grace_seconds);
  http::Server server(opts, pipeline);
  server.on_drain([&health] { health.set_draining(); });
  try {
    server.bind();
  } catch (const std::exception& e) {
    log::critical("cannot start", {{"error", e.what()}});
    return 1;
  }

  // Periodic work, off the I/O threads (on the database pool).
  auto in_background = [&pool](const char* what, std::function<void()> work) {
    pool.submit(
        [what, work = std::move(work)] {
          try {
            work();
          } catch (const std::exception& e) {
            log::warn(std::string(what) + " failed", {{"error", e.what()}});
          }
        },
        [] {});
  };
  // health_ready for the readiness alerts, whether or not anything probes /health/ready.
  server.every(std::chrono::seconds(5),
               [&] { in_background("readiness check", [&] { metrics.set_ready(health.ready().healthy); }); });
  server.every(std::chrono::seconds(5), [&] {
    auto s = db.stats();
    metrics.set_db_pool(s.in_use, s.open - s.in_use);
  });
  // Cache invalidations that Redis missed are retried in both modes: `worker` processes write
  // campaigns too (amazon_sync).
  server.every(std::chrono::seconds(1), [&] { in_background("cache flush", [&] { campaigns.flush_cache(); }); });
  if (cfg.sync_interval_seconds > 0 && cfg.amazon_configured()) {
    // The periodic Amazon sync (contract section 6). Every process checks a few times per
    // interval; the database lets exactly one instance enqueue per tick (store::JobStore::
    // enqueue_tick, docs/DECISIONS.md).
    auto check = std::chrono::seconds(std::clamp(cfg.sync_interval_seconds / 4, 1u, 30u));
    server.every(check, [&] {
      in_background("sync tick", [&] {
        if (auto job = amazon_service.tick()) log::info("sync tick: amazon_sync enqueued", {{"job_id", *job}});
      });
    });
  }
  if (cfg.report_interval_seconds > 0 && cfg.amazon_configured()) {
    // The periodic report pull (contract section 6), elected like the sync tick.
    auto check = std::chrono::seconds(std::clamp(cfg.report_interval_seconds / 4, 1u, 30u));
    server.every(check, [&] {
      in_background("report tick", [&] {
        if (auto job = reports.tick()) log::info("report tick: report_refresh enqueued", {{"job_id", *job}});
      });
    });
  }
  if (cfg.amazon_configured()) {
    // report_age_seconds and report_pull_age_seconds, for the staleness alert.
    server.every(std::chrono::seconds(15), [&] { in_background("report age", [&] { reports.publish_age(); }); });
  }
  if (cfg.retention_interval_seconds > 0) {
    // Old rows deleted (docs/RUNBOOK.md, "Retention"), elected like the sync tick.
    auto check = std::chrono::seconds(std::clamp(cfg.retention_interval_seconds / 4, 1u, 30u));
    server.every(check, [&] {
      in_background("retention tick", [&] {
        if (auto job = retention.tick()) log::info("retention tick: retention enqueued", {{"job_id", *job}});
      });
    });
  }
  if (mode == Mode::kServe) {
    // Campaigns whose end date passed become completed (contract section 3). Every instance may
    // run it: the update skips rows another instance holds.
    server.every(std::chrono::seconds(cfg.campaign_end_check_seconds), [&] {
      in_background("completing ended campaigns", [&] {
        for (const auto& id : campaigns.complete_ended()) {
          log::info("campaign completed: end date passed", {{"campaign_id", id}});
        }
      });
    });
  }

  if (mode == Mode::kServe) {
    // xlsx sheets and exports need a writable temporary directory (a read-only root needs one
    // mounted: deploy/kubernetes mounts an emptyDir at /tmp).
    if (auto problem = bulk::temp_dir_problem()) {
      log::warn("temporary directory not writable",
                {{"dir", bulk::temp_dir()}, {"error", *problem}, {"effect", "xlsx sheets and exports fail"}});
    }
  }
  std::optional<AdminBootstrap> bootstrap;
  if (mode == Mode::kServe) bootstrap.emplace(cfg, auth);
  if (cfg.secret_key_generated) {
    log::warn("SECRET_KEY not set: using a random key for this run (tokens end with the process)");
  }
  log::info("listening", {{"process", process_role(mode)},
                          {"host", cfg.host},
                          {"port", server.port()},
                          {"io_threads", opts.io_threads},
                          {"environment", cfg.environment}});
  // Both `serve` and `worker` run jobs (contract section 1). A process without Amazon DSP
  // credentials does not claim the Amazon jobs: it could only fail them ("not configured") and use
  // up their attempts, while a configured process sharing the database would have run them. Only a
  // configured process can enqueue them (the routes answer 503 otherwise), so they wait for one.
  jobs::AmazonUploadJob upload_job(amazon_service);
  jobs::AmazonSyncJob sync_job(amazon_service,
                               {.max_attempts = static_cast<int>(cfg.sync_max_attempts),
                                .backoff = std::chrono::seconds(cfg.sync_retry_backoff_seconds)});
  jobs::BulkImportJob import_job(sheets);
  jobs::RetentionJob retention_job(retention);
  jobs::ReportRefreshJob report_job(reports,
                                    {.max_attempts = static_cast<int>(cfg.report_max_attempts),
                                     .backoff = std::chrono::seconds(cfg.report_retry_backoff_seconds)});
  if (cfg.amazon_configured()) {
    job_runner.add_kind(upload_job.definition());
    job_runner.add_kind(sync_job.definition());
    job_runner.add_kind(report_job.definition());
  } else {
    log::info("amazon jobs not run by this process: Amazon DSP is not configured",
              {{"kinds", std::string(kinds::kAmazonUpload) + "," + kinds::kAmazonSync + "," +
                             kinds::kReportRefresh}});
  }
  job_runner.add_kind(import_job.definition());
  job_runner.add_kind(retention_job.definition());
  job_runner.start();
  // Both `serve` and `worker` deliver webhooks (docs/WEBHOOKS.md).
  service::WebhookDispatcher webhook_dispatcher(
      webhook_store, metrics,
      {.allow_private = cfg.webhook_allow_private,
       .timeout = std::chrono::seconds(cfg.webhook_timeout_seconds),
       .retry_base = std::chrono::milliseconds(cfg.webhook_retry_base_ms),
       .max_attempts = static_cast<int>(cfg.webhook_max_attempts),
       .deactivate_after = std::chrono::seconds(cfg.webhook_deactivate_after_seconds),
       .senders = cfg.webhook_concurrency,
       .poll = std::chrono::milliseconds(cfg.webhook_poll_ms),
       // Three attempts' worth: a sender renews it after every batch (at most two attempts).
       .lease = std::chrono::seconds(3 * cfg.webhook_timeout_seconds),
       .owner_prefix = std::string(process_role(mode)) + "-webhooks"});
  if (cfg.webhook_concurrency > 0) {
    webhook_dispatcher.start();
  } else {
    log::info("webhooks not delivered by this process (WEBHOOK_CONCURRENCY=0)");
  }
  // The queue depth gauge is refreshed off the I/O threads.
  server.every(std::chrono::seconds(5), [&] {
    pool.submit(
        [&] {
          try {
            job_runner.publish_queue_depth();
          } catch (const std::exception&) {
            // The database is down: /health/ready says so; the gauge keeps its last value.
          }
        },
        [] {});
  });
  server.run();
  webhook_dispatcher.stop();
  job_runner.stop();
  pool.stop();
  log::info("stopped");
  return 0;
}

}  // namespace

int serve(const Config& config) { return run(config, Mode::kServe); }
int worker(const Config& config) { return run(config, Mode::kWorker); }

int migrate(const Config& config, const std::string& action) {
  store::Database db(config.database_url, 1, std::chrono::milliseconds(30000), nullptr,
                     std::chrono::hours(1));
  try {
    if (action == "status") {
      for (const auto& m : store::migration_status(db)) {
        std::cout << (m.applied ? "applied " : "pending ") << m.name
                  << (m.applied ? "  " + m.applied_at : std::string()) << "\n";
      }
      return 0;
    }
    auto applied = store::migrate_up(db);
    std::cout << (applied.empty() ? "schema is up to date"
                                  : "applied " + std::to_string(applied.size()) + " migration(s)")
              << "\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "migrate failed: " << e.external_message() << " (" << e.internal_message() << ")\n";
    return 1;
  }
}

int create_user(const Config& config, const std::string& username, const std::string& role_text,
                std::istream& in) {
  auto role = parse_role(role_text);
  std::string password;
  std::getline(in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  store::Database db(config.database_url, 1, std::chrono::milliseconds(30000), nullptr,
                     std::chrono::hours(1));
  store::UserStore users(db);
  AuthService auth(users, config.secret_key, config.jwt_expire_minutes);
  try {
    auth.create_user({username, password, role.value_or(Role::kNone)}, "cli");
  } catch (const Error& e) {
    // A validation error's message already sums up its details: print each problem once.
    if (e.details().empty()) std::cerr << "error: " << e.external_message() << "\n";
    for (const auto& d : e.details()) std::cerr << "error: " << d.field << ": " << d.message << "\n";
    return e.http_status() == 422 ? 2 : 1;
  }
  std::cout << "created user " << username << " (" << role_text << ")\n";
  return 0;
}

}  // namespace kargo::app
