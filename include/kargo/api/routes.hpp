#pragma once
// Route registration, one function per resource file in src/api/.
namespace kargo {
struct AppContext;
namespace http {
class Router;
}

namespace api {
void register_health_routes(http::Router& router, AppContext& ctx);    // /, /health/*
void register_auth_routes(http::Router& router, AppContext& ctx);      // /api/auth/*
void register_ops_routes(http::Router& router, AppContext& ctx);       // /api/errors/*, /api/performance/*
void register_docs_routes(http::Router& router, AppContext& ctx);      // /, /docs, /docs/openapi.{yaml,json}
void register_campaign_routes(http::Router& router, AppContext& ctx);  // /api/campaigns*
void register_job_routes(http::Router& router, AppContext& ctx);       // /api/jobs*
void register_creative_routes(http::Router& router, AppContext& ctx);  // /api/creatives*
void register_integration_routes(http::Router& router, AppContext& ctx);  // /api/integrations/*
// /api/bulk/*, POST /api/campaigns/{id}/bulk-sheet
void register_bulk_routes(http::Router& router, AppContext& ctx);
}  // namespace api
}  // namespace kargo
