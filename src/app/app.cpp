// The composition root: every long-lived dependency is built here, once, and handed down.
#include "kargo/app/app.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "kargo/api/routes.hpp"
#include "kargo/app/context.hpp"
#include "kargo/auth/auth_service.hpp"
#include "kargo/core/blocking_pool.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error.hpp"
#include "kargo/core/error_stats.hpp"
#include "kargo/core/log.hpp"
#include "kargo/core/metrics.hpp"
#include "kargo/domain/creative/macros.hpp"
#include "kargo/http/pipeline.hpp"
#include "kargo/http/router.hpp"
#include "kargo/http/server.hpp"
#include "kargo/jobs/bulk_import.hpp"
#include "kargo/jobs/kinds.hpp"
#include "kargo/jobs/runner.hpp"
#include "kargo/store/campaigns.hpp"
#include "kargo/store/creatives.hpp"
#include "kargo/store/database.hpp"
#include "kargo/store/idempotency.hpp"
#include "kargo/store/jobs.hpp"
#include "kargo/store/migrations.hpp"
#include "kargo/store/rate_limiter.hpp"
#include "kargo/store/redis.hpp"
#include "kargo/store/resource_cache.hpp"
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

const char* ctx_role(Mode mode) { return mode == Mode::kServe ? "serve" : "worker"; }

int run(const Config& cfg, Mode mode) {
  Metrics metrics;
  ErrorStats errors;
  store::Database db(cfg.database_url, cfg.database_pool_size,
                     std::chrono::milliseconds(cfg.database_acquire_timeout_ms), &metrics,
                     std::chrono::milliseconds(cfg.database_statement_timeout_ms));
  store::Redis redis(cfg.redis_url, &metrics);
  // One blocking thread per pooled connection: a thread never waits for a connection that
  // another thread of the same pool holds idle.
  BlockingPool blocking(cfg.database_pool_size, std::chrono::milliseconds(cfg.database_acquire_timeout_ms));
  store::UserStore users(db);
  AuthService auth(users, cfg.secret_key, cfg.jwt_expire_minutes);
  store::RateLimiter limiter(&redis, cfg.rate_limit_per_minute, cfg.rate_limit_burst);
  store::IdempotencyRecords idempotency(db);
  store::CampaignStore campaigns(db);
  store::ResourceCache campaign_cache(redis, "campaign", std::chrono::seconds(60));
  // One outbound HTTP client (its own I/O thread) and one channel per upstream: each upstream has
  // its own circuit breaker and metrics label, all share the connection pools.
  upstream::HttpClient http_client(upstream::HttpClientOptions::from_config(cfg));
  upstream::UpstreamChannel lwa_channel(http_client, metrics,
                                        upstream::ChannelOptions::from_config("amazon_lwa", cfg));
  upstream::UpstreamChannel amazon_channel(http_client, metrics,
                                           upstream::ChannelOptions::from_config("amazon_dsp", cfg));
  upstream::UpstreamChannel kargo_channel(http_client, metrics,
                                          upstream::ChannelOptions::from_config("kargo", cfg));
  upstream::LwaTokenManager amazon_tokens(lwa_channel, upstream::LwaCredentials::from_config(cfg));
  upstream::AmazonDspClient amazon(amazon_channel, amazon_tokens,
                                   upstream::AmazonDspOptions::from_config(cfg));
  upstream::KargoClient kargo(kargo_channel, upstream::KargoOptions::from_config(cfg));
  upstream::UpstreamHealth upstream_health(amazon_tokens, amazon, kargo);
  store::JobStore job_store(db);
  store::CreativeStore creative_store(db);
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
                              .owner_prefix = ctx_role(mode)});

  AppContext ctx{cfg,
                 metrics,
                 errors,
                 db,
                 redis,
                 blocking,
                 auth,
                 std::chrono::system_clock::now(),
                 mode == Mode::kServe ? "serve" : "worker",
                 campaigns,
                 campaign_cache,
                 job_store,
                 job_runner,
                 creative_store,
                 macros,

                 amazon,
                 kargo,
                 upstream_health};
  http::Router router;
  api::register_health_routes(router, ctx);
  if (mode == Mode::kServe) {
    api::register_docs_routes(router, ctx);
    api::register_auth_routes(router, ctx);
    api::register_ops_routes(router, ctx);
    api::register_campaign_routes(router, ctx);
    api::register_job_routes(router, ctx);
    api::register_creative_routes(router, ctx);
    api::register_integration_routes(router, ctx);
    api::register_bulk_routes(router, ctx);
  }

  http::Pipeline pipeline(router, {cfg.max_body_bytes, cfg.max_upload_bytes, cfg.cors_allowed_origins},
                          metrics, errors, blocking, auth, limiter, &idempotency);
  http::ServerOptions opts;
  opts.host = cfg.host;
  opts.port = mode == Mode::kServe ? cfg.port : cfg.worker_port;
  opts.io_threads = mode == Mode::kServe ? cfg.io_threads : 1;
  http::Server server(opts, pipeline);
  try {
    server.bind();
  } catch (const std::exception& e) {
    log::critical("cannot start", {{"error", e.what()}});
    return 1;
  }
  server.every(std::chrono::seconds(5), [&] {
    auto s = db.stats();
    metrics.set_db_pool(s.in_use, s.open - s.in_use);
  });

  // Cache invalidations that Redis missed are retried in both modes: `worker` processes write
  // campaigns too (amazon_sync).
  server.every(std::chrono::seconds(1),
               [&] { blocking.submit([&] { campaign_cache.flush_pending(); }, [] {}); });
  if (cfg.sync_interval_seconds > 0 && cfg.amazon_configured()) {
    // The periodic Amazon sync (contract section 6). Every process checks a few times per
    // interval; the database lets exactly one instance enqueue per tick (store::CampaignStore::
    // enqueue_tick, docs/DECISIONS.md).
    auto check = std::chrono::seconds(std::clamp(cfg.sync_interval_seconds / 4, 1u, 30u));
    server.every(check, [&] {
      blocking.submit(
          [&] {
            try {
              if (auto job =
                      campaigns.enqueue_tick("amazon_sync_tick", cfg.sync_interval_seconds, jobs::kAmazonSync,
                                             static_cast<int>(cfg.sync_max_attempts))) {
                job_runner.wake();
                log::info("sync tick: amazon_sync enqueued", {{"job_id", *job}});
              }
            } catch (const std::exception& e) {
              log::warn("sync tick failed", {{"error", e.what()}});
            }
          },
          [] {});
    });
  }
  if (mode == Mode::kServe) {
    // Campaigns whose end date passed become completed (contract section 3). Every instance may
    // run it: the update skips rows another instance holds.
    server.every(std::chrono::seconds(cfg.campaign_end_check_seconds), [&] {
      blocking.submit(
          [&] {
            try {
              for (const auto& id : campaigns.complete_ended()) {
                campaign_cache.invalidate(id);
                log::info("campaign completed: end date passed", {{"campaign_id", id}});
              }
            } catch (const std::exception& e) {
              log::warn("completing ended campaigns failed", {{"error", e.what()}});
            }
          },
          [] {});
    });
  }

  std::optional<AdminBootstrap> bootstrap;
  if (mode == Mode::kServe) bootstrap.emplace(cfg, auth);
  if (cfg.secret_key_generated) {
    log::warn("SECRET_KEY not set: using a random key for this run (tokens end with the process)");
  }
  log::info("listening", {{"process", ctx.process_role},
                          {"host", cfg.host},
                          {"port", server.port()},
                          {"io_threads", opts.io_threads},
                          {"environment", cfg.environment}});
  // Both `serve` and `worker` run jobs (contract section 1); the queue depth gauge is refreshed
  // off the I/O threads.
  jobs::register_job_kinds(job_runner, ctx);
  jobs::register_bulk_import(job_runner, ctx);
  job_runner.start();
  server.every(std::chrono::seconds(5), [&] {
    blocking.submit(
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
  job_runner.stop();
  blocking.stop();
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
    std::cerr << "error: " << e.external_message() << "\n";
    for (const auto& d : e.details()) std::cerr << "error: " << d.field << ": " << d.message << "\n";
    return e.http_status() == 422 ? 2 : 1;
  }
  std::cout << "created user " << username << " (" << role_text << ")\n";
  return 0;
}

}  // namespace kargo::app
