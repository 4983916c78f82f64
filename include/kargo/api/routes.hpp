#pragma once
// The route handlers, one class per resource file in src/api/. Each takes the services it uses in
// its constructor (built once by the composition root, app/app.cpp) and adds its routes to the
// router; a handler parses the request, calls one service method and builds the answer with
// http/envelope. Handlers include nothing of upstream/ or jobs/.
//
//   api::CampaignRoutes campaigns(campaign_service);
//   campaigns.add_to(router);          // the object must outlive the router

#include <chrono>
#include <cstddef>
#include <string>

namespace kargo {
struct Config;
class Metrics;
class ErrorStats;
class AuthService;
namespace http {
class Router;
}
namespace service {
class AmazonService;
class CampaignService;
class CreativeService;
class HealthService;
class JobService;
class KargoService;
class ReportService;
class SheetService;
class WebhookService;
}  // namespace service
}  // namespace kargo

namespace kargo::api {

using SystemTime = std::chrono::system_clock::time_point;

// /, /health, /health/live|ready|detailed|status|metrics
class HealthRoutes {
 public:
  HealthRoutes(service::HealthService& health, const Config& config, Metrics& metrics, SystemTime started_at,
               std::string process_role);
  void add_to(http::Router& router);

 private:
  service::HealthService& health_;
  const Config& config_;
  Metrics& metrics_;
  SystemTime started_at_;
  std::string process_role_;
};

// /docs (Swagger UI) and its files, /docs/reference, /docs/openapi.yaml, /docs/openapi.json
class DocsRoutes {
 public:
  void add_to(http::Router& router);
};

// /api/auth/token, /api/auth/users
class AuthRoutes {
 public:
  explicit AuthRoutes(AuthService& auth) : auth_(auth) {}
  void add_to(http::Router& router);

 private:
  AuthService& auth_;
};

// /api/errors/*, /api/performance/summary
class OpsRoutes {
 public:
  OpsRoutes(Metrics& metrics, ErrorStats& errors, SystemTime started_at)
      : metrics_(metrics), errors_(errors), started_at_(started_at) {}
  void add_to(http::Router& router);

 private:
  Metrics& metrics_;
  ErrorStats& errors_;
  SystemTime started_at_;
};

// /api/campaigns*
class CampaignRoutes {
 public:
  explicit CampaignRoutes(service::CampaignService& campaigns) : campaigns_(campaigns) {}
  void add_to(http::Router& router);

 private:
  service::CampaignService& campaigns_;
};

// /api/jobs*
class JobRoutes {
 public:
  explicit JobRoutes(service::JobService& jobs) : jobs_(jobs) {}
  void add_to(http::Router& router);

 private:
  service::JobService& jobs_;
};

// /api/creatives*
class CreativeRoutes {
 public:
  CreativeRoutes(service::CreativeService& creatives, size_t max_upload_bytes)
      : creatives_(creatives), max_upload_bytes_(max_upload_bytes) {}
  void add_to(http::Router& router);

 private:
  service::CreativeService& creatives_;
  size_t max_upload_bytes_;
};

// /api/integrations/*
class IntegrationRoutes {
 public:
  IntegrationRoutes(service::AmazonService& amazon, service::KargoService& kargo) : amazon_(amazon), kargo_(kargo) {}
  void add_to(http::Router& router);

 private:
  service::AmazonService& amazon_;
  service::KargoService& kargo_;
};

// /api/bulk/*, POST /api/campaigns/{id}/bulk-sheet
class BulkRoutes {
 public:
  BulkRoutes(service::SheetService& sheets, size_t max_upload_bytes)
      : sheets_(sheets), max_upload_bytes_(max_upload_bytes) {}
  void add_to(http::Router& router);

 private:
  service::SheetService& sheets_;
  size_t max_upload_bytes_;
};

// /api/reports/refresh, /campaign-performance, /viewability, /export, /download/{export_id}
class ReportRoutes {
 public:
  explicit ReportRoutes(service::ReportService& reports) : reports_(reports) {}
  void add_to(http::Router& router);

 private:
  service::ReportService& reports_;
};

// /api/webhooks, /api/webhooks/{id}, .../deliveries, .../ping, .../deliveries/{id}/redeliver
class WebhookRoutes {
 public:
  explicit WebhookRoutes(service::WebhookService& hooks) : hooks_(hooks) {}
  void add_to(http::Router& router);

 private:
  service::WebhookService& hooks_;
};

}  // namespace kargo::api
