// surface.test.mjs: POST /v1/responses, /v1/completions and /v1/embeddings through a real
// lighttpd with the app under spawn-fcgi: what every route has (auth, the
// rate-limit headers, CORS, request ids, the body limit, the error envelope,
// the access log), unbuffered streams, clients that go away, and models
// asked for what they do not serve.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, expectError, startServer, TOKEN } from './harness.mjs';

const MODEL = 'blueprint-standard';
const routes = {
  '/v1/responses': (extra = {}) => ({ model: MODEL, input: 'Hello!', ...extra }),
  '/v1/completions': (extra = {}) => ({ model: MODEL, prompt: 'Hello!', ...extra }),
};

// Reads an SSE answer, noting when each event arrived.
async function readEvents(r) {
  const arrivals = [];
  let text = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    const s = dec.decode(chunk, { stream: true });
    const now = performance.now();
    for (let i = 0; i < (s.match(/\n\n/g) || []).length; i++) arrivals.push(now);
    text += s;
  }
  return { arrivals, text, events: text.split('\n\n').filter(Boolean) };
}

const post = (srv, p, body, headers = {}) => fetch(`${srv.url}${p}`, {
  method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

for (const mount of ['/', '/api']) {
  describe(`the Responses and completions routes, lighttpd + spawn-fcgi at ${mount}`, () => {
    let srv;
    before(async () => { srv = await startServer({ mount, env: { MOCK_STREAM_DELAY_MS: '50' } }); });
    after(async () => { await srv.stop(); });

    for (const [p, body] of Object.entries(routes)) {
      test(`${p}: auth, rate-limit headers, request id, CORS, the envelope`, async () => {
        expectError(assert, await call(srv, 'POST', p, { body: body(), token: null }), 401, 'missing_api_key');
        const ok = await call(srv, 'POST', p, { body: body(), headers: { 'X-Request-Id': 'surface-1', Origin: 'http://a.example' } });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.headers.get('x-request-id'), 'surface-1');
        assert.ok(ok.headers.get('x-ratelimit-limit-requests'));
        assert.ok(ok.headers.get('x-ratelimit-remaining-requests'));
        assert.ok(ok.headers.get('openai-processing-ms'));
        assert.equal(ok.headers.get('access-control-allow-origin'), '*');
        const pre = await fetch(`${srv.url}${p}`, {
          method: 'OPTIONS', headers: { Origin: 'http://a.example', 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(pre.status, 204);
        assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
        expectError(assert, await call(srv, 'GET', p), 405, 'method_not_allowed');
        const bad = await post(srv, p, '{"model":');
        assert.equal(bad.status, 400);
        assert.deepEqual(Object.keys((await bad.json()).error), ['message', 'type', 'param', 'code']);
        const big = await post(srv, p, 'x'.repeat(2 << 20));
        assert.equal(big.status, 413);
        await big.text();
        expectError(assert, await call(srv, 'POST', p, { body: body({ model: 'blueprint-embedding' }) }),
          400, null, 'model');
        assert.match(srv.log(), new RegExp(`POST "${mount === '/' ? '' : mount}${p}" 200`));
      });
    }

    test('/v1/responses streams unbuffered: words 50 ms apart arrive spread out', async () => {
      const r = await post(srv, '/v1/responses', routes['/v1/responses']({ stream: true }));
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      const { arrivals, events, text } = await readEvents(r);
      assert.ok(!text.includes('\r'), 'LF only');
      const parsed = events.map((e) => {
        const m = /^event: (\S+)\ndata: (.*)$/.exec(e);
        assert.ok(m, e);
        return { name: m[1], data: JSON.parse(m[2]), at: arrivals.shift() };
      });
      assert.deepEqual(parsed.map((e) => e.data.sequence_number), parsed.map((_, i) => i));
      assert.equal(parsed.at(-1).name, 'response.completed');
      const words = parsed.filter((e) => e.name === 'response.output_text.delta').map((e) => e.at);
      assert.ok(words.length >= 5);
      assert.ok(words.at(-1) - words[0] >= 4 * 50 * 0.6, `spread ${(words.at(-1) - words[0]).toFixed(0)} ms`);
    });

    test('/v1/completions streams data-only chunks, unbuffered, [DONE] last', async () => {
      const r = await post(srv, '/v1/completions', routes['/v1/completions']({ stream: true, max_tokens: 8 }));
      assert.equal(r.status, 200);
      const { arrivals, events } = await readEvents(r);
      assert.equal(events.at(-1), 'data: [DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
      assert.ok(chunks.every((c) => c.object === 'text_completion'));
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
      assert.ok(arrivals.at(-1) - arrivals[0] >= 4 * 50 * 0.6, `spread ${(arrivals.at(-1) - arrivals[0]).toFixed(0)} ms`);
    });

    test('/v1/embeddings: auth, rate-limit headers, request id, CORS, the envelope, chat models refused', async () => {
      const p = '/v1/embeddings';
      const body = (extra = {}) => ({ model: 'blueprint-embedding', input: 'Hello!', ...extra });
      expectError(assert, await call(srv, 'POST', p, { body: body(), token: null }), 401, 'missing_api_key');
      const ok = await call(srv, 'POST', p, { body: body(), headers: { 'X-Request-Id': 'emb-1', Origin: 'http://a.example' } });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.headers.get('x-request-id'), 'emb-1');
      assert.ok(ok.headers.get('x-ratelimit-remaining-requests'));
      assert.equal(ok.headers.get('access-control-allow-origin'), '*');
      assert.equal(ok.json.data[0].embedding.length, 1536);
      const pre = await fetch(`${srv.url}${p}`, {
        method: 'OPTIONS', headers: { Origin: 'http://a.example', 'Access-Control-Request-Method': 'POST' },
      });
      assert.equal(pre.status, 204);
      expectError(assert, await call(srv, 'GET', p), 405, 'method_not_allowed');
      const big = await post(srv, p, 'x'.repeat(2 << 20));
      assert.equal(big.status, 413);
      await big.text();
      expectError(assert, await call(srv, 'POST', p, { body: body({ model: MODEL }) }), 400, null, 'model');
      expectError(assert, await call(srv, 'POST', p, { body: body({ input: '' }) }), 400, null);
      assert.match(srv.log(), new RegExp(`POST "${mount === '/' ? '' : mount}${p}" 200`));
    });

    test('/v1/embeddings: a large answer arrives whole; a client that leaves during one frees its worker', async () => {
      const input = Array.from({ length: 600 }, (_, i) => `document number ${i}`);
      const r = await call(srv, 'POST', '/v1/embeddings', { body: { model: 'blueprint-embedding', input, encoding_format: 'float' } });
      assert.equal(r.status, 200);
      assert.equal(r.json.data.length, 600);
      assert.equal(r.json.data[599].index, 599);
      assert.equal(r.json.usage.prompt_tokens, r.json.usage.total_tokens);
      for (let i = 0; i < 4; i++) {
        const res = await post(srv, '/v1/embeddings', { model: 'blueprint-embedding', input: Array(2048).fill('x y z'), encoding_format: 'float' });
        const reader = res.body.getReader();
        await reader.read();
        await reader.cancel();
      }
      const rs = await Promise.all([1, 2, 3, 4].map(() => call(srv, 'POST', '/v1/embeddings',
        { body: { model: 'blueprint-embedding', input: 'still here' } })));
      for (const x of rs) assert.equal(x.status, 200);
    });

    test('clients that go away mid-stream leave the workers free', async () => {
      for (const [p, body] of Object.entries(routes)) {
        for (let i = 0; i < 4; i++) {
          const r = await post(srv, p, body({ stream: true, ...(p === '/v1/completions' ? { max_tokens: 100 } : {}) }));
          const reader = r.body.getReader();
          await reader.read();
          await reader.cancel();  // closes the connection mid-stream
        }
      }
      // 4 threads: streams still held would queue these behind 1 s streams.
      const rs = await Promise.all(Object.entries(routes).flatMap(([p, body]) =>
        [1, 2].map(() => call(srv, 'POST', p, { body: body() }))));
      for (const r of rs) assert.equal(r.status, 200);
      assert.match(srv.log(), /client_gone/);
    });
  });
}
