// mock-bounds.test.mjs: hostile schemas, huge answers and large bodies through a real
// lighttpd: a 400 or a bounded 200 cut with finish_reason length, the worker alive after,
// its memory given back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, makeTempDir, startServer, TOKEN } from './harness.mjs';

const MiB = 1 << 20;
const MAX_ANSWER_BYTES = MiB;     // common/backend_mock.h: all choices' text together
const MAX_STREAM_EVENTS = 8192;   // content events of one stream

const hello = [{ role: 'user', content: 'Hello!' }];
const tool = (parameters) => [{ type: 'function', function: { name: 'probe', parameters } }];
const withTool = (parameters, extra = {}) => ({
  model: 'blueprint-standard', messages: hello, tools: tool(parameters), tool_choice: 'required', ...extra,
});
const withSchema = (schema, extra = {}) => ({
  model: 'blueprint-standard', messages: hello,
  response_format: { type: 'json_schema', json_schema: { name: 'shape', schema } }, ...extra,
});
const props = (n, value, required = false) => ({
  type: 'object',
  properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, value])),
  ...(required ? { required: Array.from({ length: n }, (_, i) => `p${i}`) } : {}),
});
const words = (n) => Array.from({ length: n }, (_, i) => `word${i % 10}`).join(' ');

// The app's pid (spawn-fcgi's child) and a field of its /proc status, in kB.
const isApp = (pid) => {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('openai-fcgi'); } catch { return false; }
};
// The process that answers: the app's worker (a child of its master when
// spawn-fcgi runs `openai-fcgi --processes N`), else the app itself.
const appPid = (srv) => {
  const app = srv.pids.find(isApp);
  const kids = spawnSync('pgrep', ['-P', String(app)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
    .map(Number).filter(isApp);
  return kids.length ? kids[0] : app;
};
const statusKb = (pid, field) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : NaN;
};

// Reads an SSE answer: its size, the content events and every choice's finish_reason.
async function stream(srv, body) {
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  const finish = new Map();
  let contentEvents = 0, done = false;
  for (const ev of text.split('\n\n')) {
    if (!ev.startsWith('data: ')) continue;
    const data = ev.slice(6);
    if (data === '[DONE]') { done = true; continue; }
    const chunk = JSON.parse(data);
    for (const c of chunk.choices) {
      if (c.delta?.content) contentEvents++;
      if (c.finish_reason) finish.set(c.index, c.finish_reason);
    }
  }
  return { bytes: Buffer.byteLength(text), contentEvents, finish, done };
}

describe('the mock within its bounds, through lighttpd + spawn-fcgi', () => {
  let srv, pid, asanDir;
  before(async () => {
    // Freed memory must go back at once for RSS to tell: no ASan quarantine.
    asanDir = makeTempDir();
    srv = await startServer({
      threads: 4,
      env: {
        MOCK_STREAM_DELAY_MS: '0',
        MAX_BODY_BYTES: String(32 * MiB),
        ASAN_OPTIONS: `log_path=${asanDir}/asan:detect_leaks=1:quarantine_size_mb=0`,
      },
    });
    pid = appPid(srv);
    assert.ok(pid, 'the app process');
  });
  after(async () => {
    await srv.stop();
    const reports = fs.readdirSync(asanDir).map((f) => fs.readFileSync(path.join(asanDir, f), 'utf8')).join('\n');
    fs.rmSync(asanDir, { recursive: true, force: true });
    if (reports) throw new Error(`sanitizer reports:\n${reports}`);
  });

  test('schemas no instance of which fits the bounds: 400 naming the schema', async () => {
    const hostile = [
      props(60, { $ref: '#' }, true),                                      // required self-reference
      { $defs: { a: { type: 'object', properties: { b: { $ref: '#/$defs/b' } }, required: ['b'] },
        b: { type: 'array', minItems: 2, items: { $ref: '#/$defs/a' } } }, $ref: '#/$defs/a' },  // mutual
      { type: 'array', minItems: 1e300, items: { type: 'integer' } },
      { type: 'object', properties: { s: { type: 'string', minLength: 1e12 } }, required: ['s'] },
      { type: 'object', properties: { n: { type: 'integer', minimum: 2, maximum: 1.5 } }, required: ['n'] },
      { allOf: [{ allOf: [{ $ref: '#' }] }] },
    ];
    for (const schema of hostile) {
      const t = await call(srv, 'POST', '/v1/chat/completions', { body: withTool(schema) });
      expectError(assert, t, 400, 'invalid_function_parameters', 'tools[0].function.parameters');
      assert.match(t.json.error.message, /^Invalid schema for function 'probe': /);
      const s = await call(srv, 'POST', '/v1/chat/completions', { body: withSchema(schema, { stream: true }) });
      expectError(assert, s, 400, 'invalid_json_schema', 'response_format.json_schema.schema');
      assert.match(s.json.error.message, /^Invalid schema for response_format 'shape': /);
    }
  });

  test('optional recursion, wide and deep schemas, extreme numbers: a small valid instance', async () => {
    const cases = [
      [props(150, { $ref: '#' }), (a) => Object.keys(a).length === 150 && Object.keys(a.p0).length === 0],
      [props(5000, { $ref: '#' }), (a) => typeof a === 'object'],
      [{ type: 'object', properties: { next: { anyOf: [{ $ref: '#' }, { type: 'null' }] } }, required: ['next'] },
        (a) => a.next.next === null],
      [{ type: 'object', properties: { n: { type: 'integer', minimum: 1e300 },
        m: { type: 'integer', maximum: -1e300 }, k: { type: 'array', minItems: -1e300, maxItems: 1e300 } },
      required: ['n', 'm'] }, (a) => a.n === 1e300 && a.m === -1e300 && Array.isArray(a.k)],
    ];
    for (const [schema, ok] of cases) {
      const r = await call(srv, 'POST', '/v1/chat/completions', { body: withTool(schema) });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      const args = r.json.choices[0].message.tool_calls[0].function.arguments;
      assert.ok(args.length <= 64 * 1024);
      assert.ok(ok(JSON.parse(args)), args.slice(0, 300));
    }
  });

  test('a 10,000-word const to 128 streamed choices: cut, within events and bytes', async () => {
    const s = await stream(srv, withSchema({ const: words(10000) }, { n: 128 }));
    assert.ok(s.done);
    assert.equal(s.finish.size, 128);
    for (const f of s.finish.values()) assert.equal(f, 'length');
    assert.ok(s.contentEvents <= MAX_STREAM_EVENTS, `${s.contentEvents} events`);
    assert.ok(s.bytes < 4 * MiB, `${s.bytes} bytes`);
  });

  test('echo of a huge last message, n 128: each choice cut, the answer within bytes', async () => {
    const body = { model: 'blueprint-experimental', n: 128, messages: [{ role: 'user', content: words(200000) }] };
    const r = await call(srv, 'POST', '/v1/chat/completions', { body });
    assert.equal(r.status, 200);
    assert.equal(r.json.choices.length, 128);
    let total = 0;
    for (const c of r.json.choices) {
      assert.equal(c.finish_reason, 'length');
      total += Buffer.byteLength(c.message.content);
    }
    assert.ok(total <= MAX_ANSWER_BYTES, `${total} bytes of text`);
    assert.ok(Buffer.byteLength(r.text) < 2 * MiB);
    // the model's max_output_tokens (4096 by default) cuts one choice
    const one = await call(srv, 'POST', '/v1/chat/completions', { body: { ...body, n: 1 } });
    assert.equal(one.json.choices[0].finish_reason, 'length');
    assert.ok(one.json.usage.completion_tokens <= 4096);
  });

  test('a 24 MB body: answered, and its memory given back afterwards', async (t) => {
    const small = { model: 'blueprint-experimental', messages: [{ role: 'user', content: 'warm up' }] };
    for (let i = 0; i < 8; i++) assert.equal((await call(srv, 'POST', '/v1/chat/completions', { body: small })).status, 200);
    const before = statusKb(pid, 'VmRSS');
    const big = { model: 'blueprint-experimental', messages: [{ role: 'user', content: 'x '.repeat(12 * MiB) }] };
    for (let i = 0; i < 2; i++) {
      const r = await call(srv, 'POST', '/v1/chat/completions', { body: big });
      assert.equal(r.status, 200);
      assert.equal(r.json.choices[0].finish_reason, 'length');
    }
    const peak = statusKb(pid, 'VmHWM');
    const afterKb = statusKb(pid, 'VmRSS');
    // the body alone was 24 MB; what stays is a fraction of it
    assert.ok(peak - before > 24 * 1024, `peak ${peak} kB, before ${before} kB`);
    t.diagnostic(`VmRSS ${before} kB before, VmHWM ${peak} kB, VmRSS ${afterKb} kB after`);
    assert.ok(afterKb - before < 12 * 1024, `RSS ${before} kB before, ${afterKb} kB after (peak ${peak} kB)`);
  });

  test('the worker is alive and answers normally afterwards', async () => {
    assert.equal(appPid(srv), pid);
    const h = await call(srv, 'GET', '/health', { token: null });
    assert.equal(h.status, 200);
    const r = await call(srv, 'POST', '/v1/chat/completions', { body: { model: 'blueprint-standard', messages: hello } });
    assert.equal(r.status, 200);
    assert.equal(r.json.choices[0].finish_reason, 'stop');
    assert.match(r.json.choices[0].message.content, /^THIS IS THE MOCKED CHAT RESPONSE/);
  });
});
