// upstream_tls.test.mjs: an HTTPS upstream (nginx terminating TLS in front of
// a second openai-fcgi in mock mode) through the dynamic build's libcurl and
// OpenSSL: whole answers on the kept connection of our own (http1.c), which
// libcurl makes and keeps while openai-fcgi writes and reads on it, and
// streams through libcurl's own HTTP.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, startServer, TOKEN } from './harness.mjs';
import { makeCerts, startTlsProxy, tlsRequests } from './tls.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const KEEPALIVE_S = 1;  // nginx closes an idle client connection after this
const chat = (extra = {}) => ({ model: 'relayed', messages: [{ role: 'user', content: 'Hello!' }], ...extra });

describe('HTTPS upstream', { timeout: 120000 }, () => {
  let dir, upstream, tls, px, wrong;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-tls-'));
    fs.chmodSync(dir, 0o755);  // the app may run as nobody: it reads CA_BUNDLE here
    makeCerts(dir, ['localhost']);
    upstream = await startServer({ env: { MOCK_STREAM_DELAY_MS: '0' } });
    tls = await startTlsProxy(dir, Number(new URL(upstream.url).port), 'localhost', { keepaliveS: KEEPALIVE_S });
    const env = (ca) => ({
      UPSTREAM_BASE_URL: `https://127.0.0.1:${tls.port}/v1`, UPSTREAM_API_KEY: TOKEN,
      UPSTREAM_MODELS: 'relayed=blueprint-standard', CA_BUNDLE: path.join(dir, ca),
    });
    px = await startServer({ threads: 1, env: env('ca.pem') });
    wrong = await startServer({ threads: 1, env: env('wrong-ca.pem') });
  });
  after(async () => {
    for (const s of [px, wrong, upstream]) await s?.stop().catch(() => {});
    if (tls) try { process.kill(tls.pid, 'SIGTERM'); } catch { /* gone */ }
  });

  test('whole answers over one kept TLS connection, then a stream', async () => {
    const from = tlsRequests(dir).length;
    for (let i = 0; i < 5; i++) {
      const r = await call(px, 'POST', '/v1/chat/completions', { body: chat() });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.object, 'chat.completion');
      assert.match(r.json.choices[0].message.content, /MOCKED CHAT RESPONSE/);
    }
    const seen = tlsRequests(dir).slice(from);
    assert.equal(seen.length, 5);
    // one thread, so one connection: made once, then carrying the rest
    assert.equal(new Set(seen.map((s) => s.conn)).size, 1, JSON.stringify(seen));
    assert.deepEqual(seen.map((s) => s.nth), [1, 2, 3, 4, 5]);
    const s = await call(px, 'POST', '/v1/chat/completions', { body: chat({ stream: true }) });
    assert.equal(s.status, 200);
    assert.ok(s.text.trimEnd().endsWith('data: [DONE]'), s.text);
  });

  test('a kept TLS connection the upstream closed while idle is made again', async () => {
    let r = await call(px, 'POST', '/v1/chat/completions', { body: chat() });
    assert.equal(r.status, 200, r.text);
    const before = tlsRequests(dir).at(-1);
    await sleep(KEEPALIVE_S * 1000 + 500);  // nginx has closed it by now
    r = await call(px, 'POST', '/v1/chat/completions', { body: chat() });
    assert.equal(r.status, 200, r.text);
    const now = tlsRequests(dir).at(-1);
    assert.notEqual(now.conn, before.conn);
    assert.equal(now.nth, 1);
    // asked once: the close was seen before the request went
    assert.equal(tlsRequests(dir).filter((s) => s.conn === now.conn).length, 1);
  });

  test('a certificate no CA of CA_BUNDLE signed: the upstream cannot be reached', async () => {
    const r = await call(wrong, 'POST', '/v1/chat/completions', { body: chat() });
    expectError(assert, r, 502, 'upstream_unreachable');
    assert.match(wrong.log(), /SSL|certificate/i);
  });
});
