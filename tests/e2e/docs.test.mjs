// docs.test.mjs: /openapi.json, /docs, /redoc, /playground and their assets over real HTTP:
// types, security headers, no way out of the asset table, the DOCS setting, under / and /api.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, checkout, expectError, startServer, TOKEN } from './harness.mjs';

const WWW = path.join(checkout, 'www');
const PAGES = { '/docs': 'docs.html', '/redoc': 'redoc.html', '/playground': 'playground.html' };
const DOCS_PATHS = ['/openapi.json', '/docs', '/redoc', '/playground', '/docs/docs.js', '/docs/swagger-ui.css'];
const PRODUCTION = { ENVIRONMENT: 'production', HOST: '127.0.0.1', PORT: '8000', LOG_LEVEL: 'INFO' };

function assertPageHeaders(r, what) {
  const csp = r.headers.get('content-security-policy') || '';
  assert.match(csp, /frame-ancestors 'none'/, what);
  assert.match(csp, /script-src 'self'(;|$)/, `${what}: no inline script, no other host`);
  assert.doesNotMatch(csp, /unsafe-eval|\*|https?:/, what);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(r.headers.get('x-frame-options'), 'DENY', what);
}

// The local URLs a page loads (src= and href=), relative to the page.
function references(html) {
  return [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
}

for (const mount of ['/', '/api']) {
  describe(`docs pages mounted at ${mount}`, () => {
    let srv;
    before(async () => { srv = await startServer({ mount, env: { DOCS_DIR: WWW } }); });
    after(async () => { await srv.stop(); });

    test('each page is its file, HTML, with CSP, nosniff and no framing, and needs no key', async () => {
      for (const [url, file] of Object.entries(PAGES)) {
        const r = await call(srv, 'GET', url, { token: null });
        assert.equal(r.status, 200, url);
        assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', url);
        assert.equal(r.text, fs.readFileSync(path.join(WWW, file), 'utf8'), url);
        assertPageHeaders(r, url);
        assert.equal(r.headers.get('x-ratelimit-limit-requests'), null, `${url} is not counted`);
        assert.doesNotMatch(r.text, /<script>|<script [^>]*>[^<]|\bon[a-z]+="/i, `${url}: no inline script`);
      }
    });

    test('every asset a page references is served with its type, from this host only', async () => {
      const types = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', png: 'image/png', json: 'application/json' };
      for (const url of Object.keys(PAGES)) {
        const page = await call(srv, 'GET', url, { token: null });
        const refs = references(page.text);
        assert.ok(refs.length >= 2, url);
        for (const ref of refs) {
          assert.doesNotMatch(ref, /^(https?:)?\/\//, `${url} references ${ref} on another host`);
          assert.doesNotMatch(ref, /^\//, `${url}: ${ref} would miss the mount prefix`);
          const r = await fetch(new URL(ref, `${srv.url}${url}`));
          const body = Buffer.from(await r.arrayBuffer());
          if (['docs', 'redoc'].includes(ref)) { assert.equal(r.status, 200, ref); continue; }
          assert.equal(r.status, 200, `${url} -> ${ref}`);
          assert.equal(r.headers.get('content-type'), types[ref.split('.').pop()], ref);
          assert.equal(r.headers.get('x-content-type-options'), 'nosniff', ref);
          assert.equal(Number(r.headers.get('content-length')), body.length, ref);
        }
      }
    });

    test('/openapi.json is the committed document, as JSON', async () => {
      const r = await call(srv, 'GET', '/openapi.json', { token: null });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json');
      assert.deepEqual(r.json, JSON.parse(fs.readFileSync(path.join(WWW, 'openapi.json'), 'utf8')));
      assert.equal(r.json.openapi, '3.1.0');
    });

    // (A path whose tail is a route is that route under a mount prefix:
    // /docs/%2e%2e%2fopenapi.json is /openapi.json, a row of the table.)
    test('no URL reaches a file outside the table', async () => {
      for (const p of ['/docs/package.json', '/docs/.npmrc', '/docs/node_modules', '/docs/openapi.json',
        '/docs/swagger-ui-bundle.js.map', '/docs/%2e%2e%2fpackage.json', '/docs/..%2f..%2fpyproject.toml',
        '/docs/%2e%2e%2fdocs.html', '/docs/%2e%2e%2f%2e%2e%2fwww%2fdocs.js',
        '/docs/docs.html', '/docs/DOCS.JS', '/docs/swagger-ui.css%00', `/docs/${'a'.repeat(300)}`]) {
        const r = await call(srv, 'GET', p, { token: null });
        // lighttpd refuses some of these itself (a NUL, a path above its
        // root), in HTML: still a 4xx, still no file.
        if (!r.json) { assert.ok([400, 404].includes(r.status), `${p}: ${r.status}`); continue; }
        if (r.status === 400) { expectError(assert, r, 400, r.json.error.code); continue; }
        expectError(assert, r, 404, 'unknown_url');
      }
      const r = await call(srv, 'POST', '/docs', { token: null, body: {} });
      expectError(assert, r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), 'OPTIONS, GET');
    });

    test('API calls made from the pages are authenticated and counted as any other', async () => {
      expectError(assert, await call(srv, 'GET', '/v1/models', { token: null }), 401, 'missing_api_key');
      const r = await call(srv, 'GET', '/v1/models', { token: TOKEN });
      assert.equal(r.status, 200);
      assert.ok(r.headers.get('x-ratelimit-remaining-requests'));
    });
  });
}

// What a path answers, minus what differs between any two requests.
async function answerOf(srv, method, p) {
  const r = await call(srv, method, p, { token: null });
  const headers = [...r.headers].filter(([k]) => !['x-request-id', 'openai-processing-ms', 'date', 'content-length'].includes(k));
  return { status: r.status, headers, body: r.text.replace(/\/(docs|redoc|playground|openapi\.json)[^ )]*|\/no-such-page/g, '<path>') };
}

describe('DOCS off: the pages are 404 exactly as any unknown path', () => {
  for (const [name, env] of [['production by default', PRODUCTION], ['DOCS=off in test', { DOCS: 'off' }],
    ['staging by default', { ...PRODUCTION, ENVIRONMENT: 'staging' }]]) {
    test(name, async () => {
      const srv = await startServer({ mount: '/api', env: { DOCS_DIR: WWW, ...env } });
      try {
        for (const method of ['GET', 'OPTIONS', 'POST']) {
          const unknown = await answerOf(srv, method, '/no-such-page');
          assert.equal(unknown.status, 404);
          for (const p of [...DOCS_PATHS, '/docs/swagger-ui-bundle.js']) {
            assert.deepEqual(await answerOf(srv, method, p), unknown, `${method} ${p}`);
          }
        }
        assert.equal((await call(srv, 'GET', '/v1/models')).status, 200, 'the API itself is served');
      } finally { await srv.stop(); }
    });
  }

  test('DOCS=on serves them in production too', async () => {
    const srv = await startServer({ env: { DOCS_DIR: WWW, ...PRODUCTION, DOCS: 'on' } });
    try {
      for (const p of DOCS_PATHS) assert.equal((await call(srv, 'GET', p, { token: null })).status, 200, p);
    } finally { await srv.stop(); }
  });
});

test('a DOCS_DIR without the files: 404 envelope, and the log names the file', async () => {
  const srv = await startServer({ env: { DOCS_DIR: path.join(checkout, 'no-such-dir') } });
  try {
    expectError(assert, await call(srv, 'GET', '/docs/swagger-ui-bundle.js', { token: null }), 404, 'unknown_url');
    assert.match(srv.log(), /no-such-dir\/node_modules\/swagger-ui-dist\/swagger-ui-bundle\.js: No such file/);
  } finally { await srv.stop(); }
});

test('DOCS=maybe refuses start-up, naming the setting', async () => {
  const { spawnSync } = await import('node:child_process');
  const { app } = await import('./harness.mjs');
  const r = spawnSync(app, ['--check-config'], { env: { PATH: process.env.PATH, ENVIRONMENT: 'test', DOCS: 'maybe',
    PYPROJECT_PATH: path.join(checkout, 'pyproject.toml'), STATE_DIR: '/tmp' }, encoding: 'utf8' });
  assert.equal(r.status, 78);
  assert.match(r.stderr, /DOCS \(environment\): must be one of auto\|on\|off, got "maybe"/);
});
