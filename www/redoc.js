// redoc.js: starts ReDoc on the openapi.json beside this page, in the system's fonts (no web font from elsewhere)
'use strict';
const systemFonts = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
window.Redoc.init(new URL('openapi.json', document.baseURI).href, {
  theme: { typography: { fontFamily: systemFonts, headings: { fontFamily: systemFonts } } },
  expandResponses: '200',
  hideHostname: true,
}, document.getElementById('redoc'));
