#pragma once
// What handlers may use: every dependency is built once in app.cpp (the composition root) and
// handed down by reference.
#include <chrono>
#include <string>

namespace kargo {
struct Config;
class Metrics;
class ErrorStats;
class BlockingPool;
class AuthService;
namespace store {
class Database;
class Redis;
class CampaignStore;
class ResourceCache;
class JobStore;
class CreativeStore;
}  // namespace store
namespace domain {
class MacroTable;
}
namespace jobs {
class JobRunner;
}
namespace upstream {
class AmazonDspClient;
class KargoClient;
class UpstreamHealth;
}  // namespace upstream

struct AppContext {
  const Config& config;
  Metrics& metrics;
  ErrorStats& errors;
  store::Database& db;
  store::Redis& redis;
  BlockingPool& blocking;
  AuthService& auth;
  std::chrono::system_clock::time_point started_at;
  std::string process_role;  // "serve" or "worker"
  store::CampaignStore& campaigns;
  store::ResourceCache& campaign_cache;  // serialised GET /api/campaigns/{id} answers
  store::JobStore& jobs;
  jobs::JobRunner& job_runner;  // wake() after enqueueing
  store::CreativeStore& creatives;
  const domain::MacroTable& macros;   // AMAZON_MACROS_FILE or the contract's table
  upstream::AmazonDspClient& amazon;  // its tokens() is the Login with Amazon token manager
  upstream::KargoClient& kargo;
  upstream::UpstreamHealth& upstream_health;  // cached amazon_dsp / kargo checks of /health/detailed
};

}  // namespace kargo
