// api.test.mjs: health, routing, auth, errors, CORS, bad input and chat
// completions through a real lighttpd with the app under spawn-fcgi.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, expectError, startServer, TOKEN } from './harness.mjs';

const chat = (extra = {}) => ({
  model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }], ...extra,
});

for (const mount of ['/', '/api']) {
  describe(`lighttpd + spawn-fcgi mounted at ${mount}`, () => {
    let srv;
    before(async () => { srv = await startServer({ mount, env: { MOCK_STREAM_DELAY_MS: '50' } }); });
    after(async () => { await srv.stop(); });

    test('GET /health answers ok without a key', async () => {
      const r = await call(srv, 'GET', '/health', { token: null });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ok' });
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]{24}$/);
      assert.ok(r.headers.get('openai-processing-ms') !== null);
    });

    test('GET /v1 welcomes without a key', async () => {
      const r = await call(srv, 'GET', '/v1', { token: null });
      assert.equal(r.status, 200);
      assert.match(r.json.message, /^Welcome to openai-fcgi 0\.1\.0 - Version 1$/);
      const slash = await call(srv, 'GET', '/v1/', { token: null });
      assert.equal(slash.status, 200);
    });

    test('unknown path: 404 envelope; wrong method: 405 with Allow', async () => {
      expectError(assert, await call(srv, 'GET', '/nope'), 404, 'unknown_url');
      const r = await call(srv, 'DELETE', '/v1/models');
      expectError(assert, r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), 'OPTIONS, GET');
    });

    test('models list and retrieve', async () => {
      const r = await call(srv, 'GET', '/v1/models');
      assert.equal(r.status, 200);
      assert.equal(r.json.object, 'list');
      assert.deepEqual(r.json.data.map((m) => m.id),
        ['blueprint-standard', 'blueprint-advanced', 'blueprint-experimental', 'blueprint-embedding']);
      for (const m of r.json.data) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.equal(typeof m.owned_by, 'string');
      }
      const one = await call(srv, 'GET', '/v1/models/blueprint-advanced');
      assert.equal(one.status, 200);
      assert.equal(one.json.id, 'blueprint-advanced');
      expectError(assert, await call(srv, 'GET', '/v1/models/gpt-none'), 404, 'model_not_found', 'model');
    });

    test('auth table, row by row', async () => {
      const rows = [
        [undefined, 'missing_api_key'],
        ['Basic abc', 'invalid_auth_format'],
        ['Bearer', 'invalid_auth_format'],
        ['Bearer a b', 'invalid_auth_format'],
        ['Bearer bad$key!0123456789', 'invalid_key_format'],
        ['Bearer wrong-key-0123456789abcdef', 'invalid_key'],
      ];
      for (const [header, code] of rows) {
        const headers = header ? { Authorization: header } : {};
        const r = await call(srv, 'GET', '/v1/models', { token: null, headers });
        expectError(assert, r, 401, code);
        assert.equal(r.json.error.type, 'authentication_error');
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
      const ok = await call(srv, 'GET', '/v1/models', { token: TOKEN });
      assert.equal(ok.status, 200);
    });

    test('CORS: preflight needs no key; answers carry the CORS headers', async () => {
      const r = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization, content-type, x-stainless-os' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.match(r.headers.get('access-control-allow-methods'), /POST/);
      assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
      assert.match(r.headers.get('access-control-allow-headers'), /x-stainless-os/);
      assert.ok(Number(r.headers.get('access-control-max-age')) > 0);
      const g = await call(srv, 'GET', '/v1/models', { headers: { Origin: 'http://example.com' } });
      assert.equal(g.headers.get('access-control-allow-origin'), '*');
      assert.match(g.headers.get('access-control-expose-headers'), /x-request-id/);
      assert.match(g.headers.get('vary'), /Origin/);
    });

    test('x-request-id: a sane client id is kept, a wild one replaced', async () => {
      const kept = await call(srv, 'GET', '/health', { headers: { 'X-Request-Id': 'abc-123' } });
      assert.equal(kept.headers.get('x-request-id'), 'abc-123');
      const wild = await call(srv, 'GET', '/health', { headers: { 'X-Request-Id': 'a b<script>' } });
      assert.match(wild.headers.get('x-request-id'), /^req_/);
    });

    test('bad input gets a 4xx envelope, never a crash', async () => {
      const url = `${srv.url}/v1/chat/completions`;
      const auth = { Authorization: `Bearer ${TOKEN}` };
      const post = async (body, headers) => {
        const r = await fetch(url, { method: 'POST', headers: { ...auth, ...headers }, body });
        const text = await r.text();
        return { status: r.status, headers: r.headers, text, json: JSON.parse(text) };
      };
      expectError(assert, await post('{"model":', { 'Content-Type': 'application/json' }), 400, null);
      expectError(assert, await post('model=x', { 'Content-Type': 'application/x-www-form-urlencoded' }),
        415, 'unsupported_media_type');
      expectError(assert, await post('x'.repeat(2 << 20), { 'Content-Type': 'application/json' }),
        413, 'request_too_large');
      expectError(assert, await post('{"model":"a","model":"b","messages":[]}', { 'Content-Type': 'application/json' }),
        400, 'invalid_value');
      expectError(assert, await post(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
        { 'Content-Type': 'application/json' }), 400, null);
      // lighttpd itself refuses a path that is not UTF-8; the app's own check is unit-tested.
      assert.equal((await call(srv, 'GET', '/v1/models/%ff')).status, 400);
      const huge = await call(srv, 'GET', '/v1/models', { headers: { 'X-Request-Id': 'x'.repeat(9000) } });
      assert.ok([400, 431].includes(huge.status) || huge.status === 200, `${huge.status}`);
      const health = await call(srv, 'GET', '/health');
      assert.equal(health.status, 200);
    });

    test('chat completion, non-streaming', async () => {
      const r = await call(srv, 'POST', '/v1/chat/completions', { body: chat() });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.object, 'chat.completion');
      assert.match(r.json.id, /^chatcmpl-/);
      assert.equal(r.json.model, 'blueprint-standard');
      const c = r.json.choices[0];
      assert.equal(c.message.role, 'assistant');
      assert.match(c.message.content, /^THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT\./);
      assert.equal(c.message.refusal, null);
      assert.equal(c.logprobs, null);
      assert.equal(c.finish_reason, 'stop');
      const u = r.json.usage;
      assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    });

    test('validation: the param path of the offending field', async () => {
      const bad = await call(srv, 'POST', '/v1/chat/completions',
        { body: chat({ messages: [{ role: 'user', content: 'a' }, { role: 'robot', content: 'b' }] }) });
      expectError(assert, bad, 400, 'invalid_value', 'messages[1].role');
      const temp = await call(srv, 'POST', '/v1/chat/completions', { body: chat({ temperature: 3 }) });
      expectError(assert, temp, 400, 'decimal_above_max_value', 'temperature');
      const model = await call(srv, 'POST', '/v1/chat/completions', { body: chat({ model: 'nope' }) });
      expectError(assert, model, 404, 'model_not_found', 'model');
    });

    test('streaming: framing, role first, [DONE] last, events spread 50 ms apart', async () => {
      const r = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(chat({ stream: true, max_tokens: 8 })),
      });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      const arrivals = [];
      let text = '';
      const dec = new TextDecoder();
      for await (const chunk of r.body) {
        const s = dec.decode(chunk, { stream: true });
        for (let i = 0; i < (s.match(/\n\n/g) || []).length; i++) arrivals.push(performance.now());
        text += s;
      }
      assert.ok(!text.includes('\r'), 'LF only');
      const events = text.split('\n\n').filter(Boolean);
      assert.equal(events.at(-1), 'data: [DONE]');
      const chunks = events.slice(0, -1).map((e) => { assert.match(e, /^data: /); return JSON.parse(e.slice(6)); });
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
      for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
      // Words are 50 ms apart at the source: unbuffered, they arrive spread out.
      // The gap after the first event (it rides with the response head) is not judged.
      const gaps = arrivals.slice(2, 5).map((t, i) => t - arrivals[i + 1]);
      assert.ok(arrivals.at(-1) - arrivals[0] >= 150, `spread ${arrivals.at(-1) - arrivals[0]} ms`);
      assert.ok(gaps.every((g) => g >= 30), `gaps ${gaps.map((g) => g.toFixed(1))}`);
    });

    test('a client that disconnects mid-stream leaves the workers free', async () => {
      const gone = () => (srv.log().match(/ 200 \d+ [\d.]+ms .*client_gone/g) || []).length;
      const before = gone();
      for (let i = 0; i < 6; i++) {
        const ac = new AbortController();
        const r = await fetch(`${srv.url}/v1/chat/completions`, {
          method: 'POST', signal: ac.signal,
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(chat({ stream: true })),
        });
        const reader = r.body.getReader();
        await reader.read();
        ac.abort();
      }
      // The pool adds threads for streams, so these need not wait for the
      // aborted ones; each aborted stream must still end at its next word
      // (50 ms), not run its whole second, and say so in the access log.
      const t0 = performance.now();
      const rs = await Promise.all([1, 2, 3, 4].map(() => call(srv, 'POST', '/v1/chat/completions', { body: chat() })));
      for (const r of rs) assert.equal(r.status, 200);
      while (gone() - before < 6 && performance.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 20));
      assert.equal(gone() - before, 6, 'each aborted stream logged client_gone');
      assert.ok(performance.now() - t0 < 1000, 'the aborted streams ended before their words ran out');
    });
  });
}
