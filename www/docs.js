// docs.js: starts Swagger UI on the openapi.json beside this page, so that /api/docs reads /api/openapi.json
'use strict';
window.ui = window.SwaggerUIBundle({
  url: new URL('openapi.json', document.baseURI).href,
  dom_id: '#swagger-ui',
  // Stock Swagger UI shows a badge fetched from validator.swagger.io: this
  // page talks to no host but its own.
  validatorUrl: null,
  deepLinking: true,
  displayRequestDuration: true,
  // The key typed in "Authorize" stays in this page's memory only.
  persistAuthorization: false,
});
