// Starts Swagger UI on the /docs page (src/api/docs_routes.cpp). A file of its own rather than an
// inline script, so that the page's Content-Security-Policy can refuse every inline script.
"use strict";

window.ui = SwaggerUIBundle({
  // Relative to /docs, so the page also works behind a proxy that serves the API under a prefix.
  url: "docs/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  // The base layout: no top bar, whose URL box would load any other spec into this page.
  layout: "BaseLayout",
  deepLinking: true,
  tryItOutEnabled: true,
  filter: true,
  displayRequestDuration: true,
  // The bearer token lives in this page's memory only: not in localStorage, where any script
  // running on this origin could read it and where it would outlive the browser session.
  persistAuthorization: false,
  // Never send the document to validator.swagger.io: the base layout shows no validator badge,
  // and this keeps it so. The page loads nothing from outside the service.
  validatorUrl: null,
});
