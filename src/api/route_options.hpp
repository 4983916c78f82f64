#pragma once
// Internal to src/api: the access and execution options several route files share, defined once.
// A route with its own deadline or body limit names its options in its own file.
#include "kargo/http/router.hpp"

namespace kargo::api {

inline constexpr http::RouteOptions kPublicInline{.authenticated = false, .execution = http::Execution::kInline};
inline constexpr http::RouteOptions kViewer{.min_role = Role::kViewer};
inline constexpr http::RouteOptions kViewerInline{.min_role = Role::kViewer, .execution = http::Execution::kInline};
inline constexpr http::RouteOptions kViewerAsync{.min_role = Role::kViewer, .execution = http::Execution::kAsync};
inline constexpr http::RouteOptions kEditor{.min_role = Role::kEditor};
inline constexpr http::RouteOptions kEditorAsync{.min_role = Role::kEditor, .execution = http::Execution::kAsync};
// A POST that creates: a retried call with the same Idempotency-Key must not create twice.
inline constexpr http::RouteOptions kEditorCreate{.min_role = Role::kEditor, .idempotent_create = true};
inline constexpr http::RouteOptions kAdmin{.min_role = Role::kAdmin};
inline constexpr http::RouteOptions kAdminCreate{.min_role = Role::kAdmin, .idempotent_create = true};

}  // namespace kargo::api
