// wire.test.mjs: what the SDK hides, read raw with plain fetch: SSE framing,
// the Content-Type of every answer, and CORS for browser clients of the SDK.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import OpenAI from 'openai';
import { TOKEN } from '../e2e/harness.mjs';
import { start as startServer } from '../e2e/proxy.mjs';
import { otest } from './oracle.mjs';

const auth = { Authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'Content-Type': 'application/json' };
const chat = (extra = {}) => JSON.stringify({
  model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }], ...extra,
});

// Every kind of answer the server gives, and the type each must carry.
const ANSWERS = [
  ['GET', '/health', {}, undefined, 'application/json'],
  ['GET', '/v1', {}, undefined, 'application/json'],
  ['GET', '/v1/models', auth, undefined, 'application/json'],
  ['GET', '/v1/models/blueprint-standard', auth, undefined, 'application/json'],
  ['GET', '/v1/models/gpt-none', auth, undefined, 'application/json'],
  ['GET', '/v1/models', {}, undefined, 'application/json'],
  ['GET', '/v1/nope', auth, undefined, 'application/json'],
  ['DELETE', '/v1/models', auth, undefined, 'application/json'],
  ['POST', '/v1/chat/completions', json, '{"model":', 'application/json'],
  ['POST', '/v1/chat/completions', { ...auth, 'Content-Type': 'text/plain' }, 'x', 'application/json'],
  ['POST', '/v1/chat/completions', json, chat({ temperature: 9 }), 'application/json'],
  ['POST', '/v1/chat/completions', json, chat(), 'application/json'],
  ['POST', '/v1/chat/completions', json, chat({ stream: true }), 'text/event-stream'],
  ['POST', '/v1/chat/completions', json, chat({ stream: true, model: 'nope' }), 'application/json'],
];

describe('the wire, read raw', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '0' } }); });
  after(async () => { await srv.stop(); });

  // Reads a whole stream through the oracle (schemas, role, [DONE] checked there).
  async function stream(oracle, body) {
    const r = await oracle.fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: json, body });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    return r.text();
  }

  otest('SSE framing: "data: <one line>" events, LF only, [DONE] last', async (oracle) => {
    for (const body of [chat({ stream: true }), chat({ stream: true, n: 2, stream_options: { include_usage: true } }),
      chat({ stream: true, max_tokens: 3 })]) {
      const text = await stream(oracle, body);
      assert.ok(!text.includes('\r'), 'LF only');
      assert.match(text, /^data: /);
      assert.ok(text.endsWith('\n\ndata: [DONE]\n\n'), 'the last event is data: [DONE]');
      const events = text.slice(0, -2).split('\n\n');
      for (const e of events) assert.match(e, /^data: [^\n]+$/);
      assert.equal(events.filter((e) => e === 'data: [DONE]').length, 1);
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      assert.equal(chunks[0].choices[0].finish_reason, null);
    }
    const withUsage = oracle.exchanges[1].events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    assert.deepEqual(withUsage.at(-1).choices, []);
    assert.equal(typeof withUsage.at(-1).usage.total_tokens, 'number');
  });

  otest('every answer names its Content-Type', async (oracle) => {
    for (const [method, p, headers, body, type] of ANSWERS) {
      const r = await oracle.fetch(`${srv.url}${p}`, { method, headers, body });
      assert.equal(r.headers.get('content-type')?.split(';')[0], type, `${method} ${p} ${body ?? ''}`);
      await r.text();
    }
    assert.ok(oracle.exchanges.some((x) => x.status === 401) && oracle.exchanges.some((x) => x.status === 415));
  });

  otest('CORS: a preflight allows what the SDK sends; every answer carries the headers', async (oracle) => {
    // The headers the SDK really sends, as a browser would announce them.
    await new OpenAI({ apiKey: TOKEN, baseURL: `${srv.url}/v1`, fetch: oracle.fetch, maxRetries: 0 }).models.list();
    const sent = oracle.exchanges[0].requestHeaders.split('\n').map((l) => l.split(':')[0])
      .filter((h) => !['accept', 'content-type', 'user-agent'].includes(h));
    assert.ok(sent.includes('authorization') && sent.some((h) => h.startsWith('x-stainless-')), sent.join());
    for (const method of ['GET', 'POST']) {
      const pre = await oracle.fetch(`${srv.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': method,
          'Access-Control-Request-Headers': [...sent, 'content-type'].join(', ') },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      assert.match(pre.headers.get('access-control-allow-methods'), new RegExp(`\\b${'POST'}\\b`));
      const allowed = pre.headers.get('access-control-allow-headers').toLowerCase().split(/\s*,\s*/);
      for (const h of [...sent, 'content-type']) {
        assert.ok(allowed.includes(h) || allowed.includes('*') ||
          (h.startsWith('x-stainless-') && allowed.includes('x-stainless-*')), `${h} not in ${allowed}`);
      }
    }
    for (const [method, p, headers, body] of ANSWERS) {
      const r = await oracle.fetch(`${srv.url}${p}`, { method, headers: { ...headers, Origin: 'https://app.example' }, body });
      const what = `${method} ${p} ${body ?? ''} -> ${r.status}`;
      assert.equal(r.headers.get('access-control-allow-origin'), '*', what);
      const exposed = (r.headers.get('access-control-expose-headers') || '').toLowerCase();
      for (const h of ['x-request-id', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests',
        'x-ratelimit-reset-requests', 'retry-after']) assert.ok(exposed.includes(h), `${what}: ${h} not exposed`);
      assert.match(r.headers.get('vary') || '', /Origin/, what);
      await r.text();
    }
  });
});
