// Starts Swagger UI on this server's own OpenAPI document. A file rather than an inline
// script, so that the page's Content-Security-Policy allows scripts from this server only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // No request to Swagger's public validator: nothing leaves for a third party.
  validatorUrl: null,
});
