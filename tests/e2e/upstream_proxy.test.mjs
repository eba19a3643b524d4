// upstream_proxy.test.mjs: the proxy variables libcurl honours still route the
// upstream through a proxy, now that the relay tells libcurl "no proxy" once
// when none is set; HTTP_PROXY (a CGI request's Proxy: header) never does.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { call, freePort, startServer } from './harness.mjs';

const msgs = [{ role: 'user', content: 'Hello!' }];

function listen(srv) {
  return freePort().then((port) => new Promise((r) => srv.listen(port, '127.0.0.1', () => r(`http://127.0.0.1:${port}`))));
}

// The upstream: a whole chat answer for every request, each one counted.
function upstream() {
  const seen = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      seen.push({ url: req.url, body });
      const model = JSON.parse(body).model;
      const answer = JSON.stringify({
        id: 'chatcmpl-proxied', object: 'chat.completion', created: 1, model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  return { srv, seen };
}

// A forward proxy for plain http: a request in absolute form (what a
// client sends a proxy) is passed on to its origin, each one counted.
function forwardProxy() {
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push(req.url);
    const target = new URL(req.url);
    const out = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search,
      method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    out.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(out);
  });
  return { srv, seen };
}

describe('upstream through a proxy from the environment', () => {
  let up, proxy, upUrl, proxyUrl;
  before(async () => {
    up = upstream();
    proxy = forwardProxy();
    upUrl = await listen(up.srv);
    proxyUrl = await listen(proxy.srv);
  });
  after(() => {
    for (const s of [up.srv, proxy.srv]) { s.closeAllConnections(); s.close(); }
  });

  // Each app relays three requests, so that every one of its transfers
  // (a kept handle's too) is seen to go where the environment says.
  async function relayThree(env) {
    const app = await startServer({ threads: 1, env: {
      UPSTREAM_BASE_URL: `${upUrl}/v1`, UPSTREAM_API_KEY: 'sk-upstream', UPSTREAM_MODELS: 'relayed=up-model', ...env,
    } });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await call(app, 'POST', '/v1/chat/completions', { body: { model: 'relayed', messages: msgs } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.model, 'relayed');
      }
    } finally {
      await app.stop();
    }
  }

  for (const name of ['http_proxy', 'all_proxy', 'ALL_PROXY']) {
    test(`${name} set: every transfer goes through the proxy`, async () => {
      const before = proxy.seen.length;
      await relayThree({ [name]: proxyUrl });
      assert.deepEqual(proxy.seen.slice(before), Array(3).fill(`${upUrl}/v1/chat/completions`));
    });
  }

  for (const env of [{}, { HTTP_PROXY: 'PROXY' }, { https_proxy: 'PROXY' }]) {
    const what = Object.keys(env).join() || 'no proxy variable';
    test(`${what}: straight to the upstream, the proxy never asked`, async () => {
      const before = proxy.seen.length, reached = up.seen.length;
      const set = Object.fromEntries(Object.keys(env).map((k) => [k, proxyUrl]));
      await relayThree(set);
      assert.equal(proxy.seen.length, before);
      assert.equal(up.seen.length, reached + 3);
      assert.ok(up.seen.slice(reached).every((s) => s.url === '/v1/chat/completions' && JSON.parse(s.body).model === 'up-model'));
    });
  }
});
