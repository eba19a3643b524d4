// upstream.test.mjs: the upstream backend through lighttpd: a second openai-fcgi
// in mock mode as a well-behaved upstream, and a small node server that
// misbehaves on purpose (drops, stalls, garbage, split events, 4xx/429/5xx,
// floods that never end a line or an event, drips that never end, forged
// headers, invalid UTF-8, error bodies with newlines).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, freePort, frontUnavailable, startServer, TOKEN } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msgs = [{ role: 'user', content: 'Hello!' }];
const TPM_KEY = 'e2e-upstream-tpm-key-01234';  // 1000 tokens per minute on the proxy

function chunk(model, content, finish = null) {
  return JSON.stringify({
    id: 'chatcmpl-bad', object: 'chat.completion.chunk', created: 1, model,
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
  });
}

function completion(model, content) {
  return JSON.stringify({
    id: 'chatcmpl-bad', object: 'chat.completion', created: 1, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

// "caf\xff\xfe!": content with two bytes that are not UTF-8.
const BROKEN = '@@BROKEN@@';
const withBroken = (json) => {
  const [a, b] = json.split(BROKEN);
  return Buffer.concat([Buffer.from(a), Buffer.from('caf'), Buffer.from([0xff, 0xfe]), Buffer.from('!'), Buffer.from(b)]);
};

const FLOOD_MAX = 128 << 20;  // what a flood sends at most if nobody stops it

// Writes first, then unit again and again (in 64 KiB writes, as fast as the
// reader takes them) until the connection is closed or FLOOD_MAX went out;
// resolves to the bytes written.
async function flood(res, first, unit) {
  const block = Buffer.from(unit.repeat(Math.ceil(65536 / unit.length)));
  let sent = first.length;
  res.write(first);
  while (!res.destroyed && sent < FLOOD_MAX) {
    sent += block.length;
    if (!res.write(block)) {
      await new Promise((r) => {
        const done = () => { res.off('drain', done); res.off('close', done); r(); };
        res.on('drain', done); res.on('close', done);
      });
    }
  }
  return sent;
}

// Writes unit every `every` ms until the connection is closed.
async function drip(res, unit, every) {
  while (!res.destroyed) { res.write(unit); await sleep(every); }
}

// A raw 429 whose Retry-After line is what the mode says: node's own
// response writer refuses CR, LF and NUL in a header, as it should.
function raw429(res, retryLine) {
  const body = JSON.stringify({ error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
  res.socket.end(`HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n${retryLine}\r\n`
    + `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
}

// The misbehaving upstream: what it does depends on the model it is asked for.
function badUpstream() {
  const seen = [];
  const closed = {};
  const started = {};
  const sent = {};
  const conns = { n: 0 };
  const thinking = { now: 0, most: 0 };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      const b = body ? JSON.parse(body) : {};
      seen.push({ url: req.url, headers: req.headers, body: b });
      if (req.method === 'GET' && req.url.endsWith('/models')) {
        // a model list that takes its time (upstream "slowlist", discover = true)
        await sleep(2500);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'slow-listed', object: 'model', created: 7, owned_by: 'slowpoke' }] }));
        return;
      }
      const m = b.model;
      started[m] = Date.now();
      res.on('close', () => { closed[m] = Date.now(); });
      const sse = () => res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const ev = (s) => res.write(`data: ${s}\n\n`);
      switch (m) {
        case 'drop':
          if (b.stream) { sse(); ev(chunk(m, 'one')); await sleep(50); }
          res.socket.destroy();
          break;
        case 'stall-first':
          await sleep(3000);
          if (!res.destroyed) res.end('{}');
          break;
        case 'stall-between':
          sse(); ev(chunk(m, 'one'));
          await sleep(3000);
          if (!res.destroyed) { ev(chunk(m, 'two', 'stop')); res.end('data: [DONE]\n\n'); }
          break;
        case 'garbage':
          if (b.stream) { sse(); res.end('data: {"id": oops\n\n'); } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('not json{');
          }
          break;
        case 'split': {
          // CRLF and LF, comments and keep-alives, a multi-line data field,
          // every event cut mid-line across writes
          sse();
          const text = `: keep-alive\r\n\r\ndata: ${chunk(m, 'Hel')}\r\n\r\n:ping\n\n`
            + `data: ${chunk(m, 'lo').replace('"choices"', '\n"choices"').replace(/\n/, '\ndata: ')}\n\n`
            + `event: message\ndata: ${chunk(m, null, 'stop')}\n\ndata: [DONE]\n\n`;
          for (let i = 0; i < text.length; i += 7) { res.write(text.slice(i, i + 7)); await sleep(2); }
          res.end();
          break;
        }
        case 'pace':
          sse();
          for (let i = 0; i < 5; i++) { ev(chunk(m, `w${i} `)); await sleep(200); }
          ev(chunk(m, null, 'stop')); res.end('data: [DONE]\n\n');
          break;
        case 'forever':
          sse();
          for (let i = 0; i < 100 && !res.destroyed; i++) { ev(chunk(m, `w${i} `)); await sleep(100); }
          res.end();
          break;
        case 'r429':
          res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '3', 'retry-after-ms': '2500' });
          res.end(JSON.stringify({ error: { message: 'Rate limit reached for upstream', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
          break;
        case 'r500':
          res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('internal detail: db down');
          break;
        case 'r400':
          res.writeHead(400, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'context too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }));
          break;
        case 'r404':
          res.writeHead(404, { 'Content-Type': 'text/html' }); res.end('<h1>nope</h1>');
          break;
        case 'r500-lines':
          // an error body whose lines would pass for our own log lines
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end('first line\n2026-12-01T00:00:00.000Z openai-fcgi[1] INFO: forged-by-upstream\r\nthird line');
          break;
        // floods: a line that never ends, an event that never ends, a comment
        // that never ends; before any event, or after one
        case 'endless-line': sse(); sent[m] = await flood(res, 'data: ', 'x'); break;
        case 'endless-line-after': sse(); ev(chunk(m, 'one')); sent[m] = await flood(res, 'data: ', 'x'); break;
        case 'endless-event': sse(); sent[m] = await flood(res, '', `data: ${chunk(m, 'x')}\n`); break;
        case 'endless-event-after':
          sse(); ev(chunk(m, 'one')); sent[m] = await flood(res, '', 'data\n'); break;
        case 'endless-comment': sse(); sent[m] = await flood(res, ': ', 'keep-alive '); break;
        // drips: complete keep-alives every 10 ms (live, so only the total
        // limit ends them), or one byte every 0.5 s of a line or a body
        case 'keepalive-drip': sse(); await drip(res, ': keep-alive\n\n', 10); break;
        case 'keepalive-drip-after': sse(); ev(chunk(m, 'one')); await drip(res, ': keep-alive\n\n', 10); break;
        case 'slow-drip':
          if (b.stream) { sse(); res.write('d'); await drip(res, 'a', 500); } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }); res.write('{'); await drip(res, ' ', 500);
          }
          break;
        // forged or broken Retry-After lines
        case 'inject-cr': raw429(res, 'Retry-After: 5\rX-Injected: yes'); break;
        case 'inject-lf': raw429(res, 'Retry-After: 5\nX-Injected: yes'); break;
        case 'inject-nul': raw429(res, 'Retry-After: 5\0X-Injected: yes'); break;
        case 'inject-long': raw429(res, `Retry-After: ${'9'.repeat(8000)}`); break;
        case 'inject-ms': raw429(res, 'Retry-After: soon\r\nretry-after-ms: 1500\rX-Injected: yes'); break;
        case 'retry-date': raw429(res, `Retry-After: ${new Date(Date.now() + 30000).toUTCString()}`); break;
        case 'retry-junk': raw429(res, 'Retry-After: 5, 6\r\nretry-after-ms: -1'); break;
        // whole answers in the shapes a relay that keeps the bytes must get
        // right: spaced out, the model twice at the top and once inside,
        // escapes (kept as bytes); one that only a lenient parser takes
        // (a comment, trailing commas, single quotes, a raw tab); a key
        // written with an escape
        case 'shapes':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{\n  "id" : "chatcmpl-shapes", "model": "first",\r\n  "object": "chat.completion", "created": 1,\n'
            + '  "choices": [ { "index": 0, "message": { "role": "assistant", "model": "inner",\n'
            + '    "content": "caf\\u00e9 \\"q\\" \\u2028 a\\/b \u00fc" }, "finish_reason": "stop" } ],\n'
            + '  "usage": { "prompt_tokens": 7, "completion_tokens": 11, "total_tokens": 18 },\n  "model": "second"\n}\n');
          break;
        case 'lenient':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"id":"chatcmpl-lenient",/* c */"object":"chat.completion","created":1,\'model\':"m",'
            + '"choices":[{"index":0,"message":{"role":"assistant","content":"x\ty"},"finish_reason":"stop"},],'
            + '"usage":{"prompt_tokens":5,"completion_tokens":13,"total_tokens":18,},}');
          break;
        case 'escaped-key':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"id":"chatcmpl-esc","object":"chat.completion","created":1,"mod\\u0065l":"m",'
            + '"choices":[{"index":0,"message":{"role":"assistant","content":"e"},"finish_reason":"stop"}],'
            + '"usage":{"prompt_tokens":3,"completion_tokens":17,"total_tokens":20}}');
          break;
        // bytes that are not UTF-8 inside the model's text
        case 'utf8':
          if (b.stream) {
            sse();
            res.write(Buffer.concat([Buffer.from('data: '), withBroken(chunk(m, BROKEN)), Buffer.from('\n\n')]));
            ev(chunk(m, null, 'stop')); res.end('data: [DONE]\n\n');
          } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(withBroken(completion(m, BROKEN)));
          }
          break;
        // stream events in the shapes a relay that keeps their bytes must
        // get right: one over several data: lines, spaced out, the model
        // twice at the top and once inside, escapes; a key written with an
        // escape (the tree's); usage null in a content chunk, and the
        // usage-only last chunk a client that did not ask must not get
        case 'sshapes':
          sse();
          res.write('data: {"id":"chatcmpl-ss","object":"chat.completion.chunk",\r\n'
            + 'data:  "created":1, "model" : "first",\n'
            + 'data:  "choices":[ {"index":0,"delta":{"role":"assistant","model":"inner",'
            + '"content":"caf\\u00e9 \\"q\\" \\u2028 a\\/b \u00fc"},"finish_reason":null} ],\n'
            + 'data:  "model":"second" }\n\n');
          ev('{"id":"chatcmpl-ss","object":"chat.completion.chunk","created":1,"mod\\u0065l":"m",'
            + '"choices":[{"index":0,"delta":{"content":"-"},"finish_reason":null}]}');
          ev('{ "id":"chatcmpl-ss", "object":"chat.completion.chunk","created":1,"model":"m",'
            + '"choices":[ { "index":0, "delta":{"content":"!"}, "finish_reason": "stop" } ] , "usage" : null }');
          ev('{"id":"chatcmpl-ss","object":"chat.completion.chunk","created":1,"model":"m","choices":[ ],'
            + '"usage":{"prompt_tokens":7,"completion_tokens":11,"total_tokens":18}}');
          res.end('data: [DONE]\n\n');
          break;
        // numbers only a lenient parser takes, where a model's logprobs sit
        case 'nonfinite': {
          const lp = '"logprobs":{"content":[{"token":"n","logprob":NaN,"bytes":[110],"top_logprobs":[{"token":"n","logprob":-Infinity,"bytes":[110]}]}]}';
          if (b.stream) {
            sse();
            ev(`{"id":"chatcmpl-nf","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"n"},${lp},"finish_reason":null}]}`);
            ev(chunk(m, null, 'stop')); res.end('data: [DONE]\n\n');
          } else {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(`{"id":"chatcmpl-nf","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"n"},${lp},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1e999,"total_tokens":2}}`);
          }
          break;
        }
        // the first request on a connection is answered; a later one on the
        // same connection ends it without a byte (it had closed just then)
        case 'once-per-conn':
          res.socket.served = (res.socket.served || 0) + 1;
          if (res.socket.served > 1) { res.socket.destroy(); break; }
          res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(completion(m, 'fresh'));
          break;
        // answered, then the connection closed while it is idle
        case 'close-idle':
          res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(completion(m, 'then closed'));
          setTimeout(() => res.socket?.destroy(), 50);
          break;
        // a model that thinks in silence before it answers, as a whole
        // answer or a stream; how many think at once, and the most that did
        case 'think':
          thinking.now++;
          thinking.most = Math.max(thinking.most, thinking.now);
          await sleep(1500);
          thinking.now--;
          if (res.destroyed) break;
          if (b.stream) { sse(); ev(chunk(m, 'thought')); ev(chunk(m, null, 'stop')); res.end('data: [DONE]\n\n'); } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(completion(m, 'thought'));
          }
          break;
        default:
          res.writeHead(500); res.end();
      }
    });
  });
  srv.on('connection', () => { conns.n++; });
  return { srv, seen, closed, started, sent, conns, thinking };
}

const badModels = ['drop', 'stall-first', 'stall-between', 'garbage', 'split', 'pace', 'forever',
  'r429', 'r500', 'r400', 'r404', 'r500-lines', 'endless-line', 'endless-line-after', 'endless-event',
  'endless-event-after', 'endless-comment', 'keepalive-drip', 'keepalive-drip-after', 'slow-drip',
  'inject-cr', 'inject-lf', 'inject-nul', 'inject-long', 'inject-ms', 'retry-date', 'retry-junk', 'utf8',
  'shapes', 'lenient', 'escaped-key', 'nonfinite', 'sshapes', 'once-per-conn', 'close-idle'];

// The upstream "short" is the same server with a total limit of SHORT_TOTAL_MS.
const SHORT_TOTAL_MS = 3000;

function proxyConfig(dir, upUrl, badUrl) {
  const models = badModels.map((m) => `{ id = "bad-${m}"; backend = "upstream"; upstream = "bad"; upstream_model = "${m}"; }`);
  for (const m of ['keepalive-drip', 'keepalive-drip-after', 'slow-drip', 'r400']) {
    models.push(`{ id = "short-${m}"; backend = "upstream"; upstream = "short"; upstream_model = "${m}"; }`);
  }
  models.push('{ id = "unreachable"; backend = "upstream"; base_url = "http://127.0.0.1:1/v1"; }');
  const conf = `upstreams = (
  { name = "mock"; base_url = "${upUrl}/v1"; api_key_env = "MOCK_UP_KEY"; discover = true; discover_ttl_s = 60; },
  { name = "bad"; base_url = "${badUrl}/v1"; api_key_env = "BAD_UP_KEY"; headers = ( "X-Team: blue" );
    timeouts = { connect_ms = 1000; first_byte_ms = 1000; idle_ms = 1000; total_ms = 20000; }; },
  { name = "short"; base_url = "${badUrl}/v1";
    timeouts = { connect_ms = 1000; first_byte_ms = 1000; idle_ms = 1000; total_ms = ${SHORT_TOTAL_MS}; }; },
  { name = "native"; base_url = "${upUrl}/v1"; api_key_env = "MOCK_UP_KEY"; responses = "native"; },
  { name = "slowlist"; base_url = "${badUrl}/v1"; discover = true; discover_ttl_s = 2;
    timeouts = { connect_ms = 1000; first_byte_ms = 5000; idle_ms = 5000; total_ms = 10000; }; },
  { name = "thinker"; base_url = "${badUrl}/v1";
    timeouts = { connect_ms = 1000; first_byte_ms = 5000; idle_ms = 5000; total_ms = 10000; }; },
  { name = "badnative"; base_url = "${badUrl}/v1"; api_key_env = "BAD_UP_KEY"; responses = "native";
    timeouts = { connect_ms = 1000; first_byte_ms = 1000; idle_ms = 1000; total_ms = 20000; }; }
);
models = (
  ${models.join(',\n  ')},
  { id = "slow"; backend = "upstream"; upstream = "mock"; upstream_model = "blueprint-advanced"; },
  { id = "native-std"; backend = "upstream"; upstream = "native"; upstream_model = "blueprint-standard"; },
  { id = "native-drop"; backend = "upstream"; upstream = "badnative"; upstream_model = "drop"; },
  { id = "think"; backend = "upstream"; upstream = "thinker"; upstream_model = "think"; }
);
`;
  const file = path.join(dir, 'proxy.conf');
  fs.writeFileSync(file, `${conf}keys = ( { token = "${TPM_KEY}"; name = "up-tpm"; tokens_per_minute = 1000; } );\n`);
  return file;
}

// Reads an SSE answer, noting when each event arrived.
async function streamEvents(url, body, { abortAfter } = {}) {
  const ctl = new AbortController();
  const t0 = Date.now();
  const r = await fetch(url, {
    method: 'POST', signal: ctl.signal,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const events = [];
  let abortedAt;
  if (!(r.headers.get('content-type') || '').startsWith('text/event-stream')) {
    return { status: r.status, headers: r.headers, events, text: await r.text() };
  }
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const part of r.body) {
      buf += dec.decode(part, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!ev.split('\n').some((l) => l.startsWith('data: '))) continue;  // a keep-alive comment
        const data = ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        events.push({ at: Date.now() - t0, data, json: data === '[DONE]' ? null : JSON.parse(data) });
        if (abortAfter && events.length >= abortAfter) { abortedAt = Date.now(); ctl.abort(); break; }
      }
      if (abortedAt) break;
    }
  } catch (e) { if (e.name !== 'AbortError') throw e; }
  return { status: r.status, headers: r.headers, events, abortedAt };
}

const content = (events) => events.filter((e) => e.json && e.json.choices)
  .map((e) => (e.json.choices[0] && e.json.choices[0].delta.content) || '').join('');

async function waitFor(cond, ms = 5000) {
  for (let t = 0; t < ms && !cond(); t += 20) await sleep(20);
  return cond();
}

// The app's own processes behind the front (not the front itself).
function appPids(srv) {
  return srv.pids.filter((pid) => {
    try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('openai-fcgi'); } catch { return false; }
  });
}

// The highest resident set any of them has reached so far (VmHWM), in KiB.
function peakRssKiB(srv) {
  const pids = appPids(srv);
  assert.ok(pids.length > 0, 'no app process found');
  return Math.max(...pids.map((pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1])));
}

// Starts a request and walks away from it after ms; resolves to when.
async function abandon(url, body, ms) {
  const ctl = new AbortController();
  const p = fetch(url, {
    method: 'POST', signal: ctl.signal,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => r.arrayBuffer()).catch(() => {});
  await sleep(ms);
  const at = Date.now();
  ctl.abort();
  await p;
  return at;
}

describe('upstream backend through lighttpd', () => {
  let up; let px; let bad; let badUrl; let pxEnv; let dir;
  before(async () => {
    up = await startServer({ env: { MOCK_STREAM_DELAY_MS: '20' } });
    bad = badUpstream();
    const port = await freePort();
    await new Promise((r) => bad.srv.listen(port, '127.0.0.1', r));
    badUrl = `http://127.0.0.1:${port}`;
    dir = fs.mkdtempSync('/tmp/oaf-proxy-conf-');
    fs.chmodSync(dir, 0o755);  // the nginx front's app runs as nobody
    pxEnv = {
      OPENAI_FCGI_CONFIG: proxyConfig(dir, up.url, badUrl),
      MOCK_UP_KEY: TOKEN, BAD_UP_KEY: 'sk-bad-upstream-key',
      UPSTREAM_BASE_URL: `${up.url}/v1`, UPSTREAM_API_KEY: TOKEN,
      UPSTREAM_MODELS: 'fast=blueprint-standard,echo=blueprint-experimental', UPSTREAM_TIMEOUT_S: '5',
    };
    px = await startServer({ threads: 2, env: pxEnv });
  });
  after(async () => {
    bad.srv.closeAllConnections(); bad.srv.close();
    if (px) await px.stop();
    if (up) await up.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('32 requests to a model that thinks 1.5 s wait in the loop: all at the upstream at once on 1 worker, /health meanwhile', async () => {
    // STREAM_THREADS=0: no thread is added; on a thread each, the worker and
    // the reserve's one parked place would hold 2 and /health would wait
    const one = await startServer({ threads: 1, env: { ...pxEnv, STREAM_THREADS: '0' } });
    try {
      bad.thinking.most = 0;
      const body = { model: 'think', messages: msgs };
      const all = Promise.all(Array.from({ length: 32 }, (_, i) => (i % 2
        ? call(one, 'POST', '/v1/chat/completions', { body })
        : streamEvents(`${one.url}/v1/chat/completions`, body))));
      await waitFor(() => bad.thinking.now === 32, 1400);
      const h = await call(one, 'GET', '/health');
      assert.equal(h.status, 200);
      assert.equal(bad.thinking.now, 32, 'every request still waiting while /health answered');
      const res = await all;
      assert.equal(bad.thinking.most, 32);
      for (const [i, r] of res.entries()) {
        assert.equal(r.status, 200, JSON.stringify(r.json ?? r.text));
        if (i % 2) assert.equal(r.json.choices[0].message.content, 'thought');
        else assert.equal(content(r.events), 'thought');
      }
    } finally {
      await one.stop();
    }
  });

  test('non-streaming: same answer as the upstream, model mapped back, usage kept, our request id', async () => {
    const body = { model: 'echo', messages: [{ role: 'user', content: 'Say this back' }] };
    const r = await call(px, 'POST', '/v1/chat/completions', { body });
    const direct = await call(up, 'POST', '/v1/chat/completions', { body: { ...body, model: 'blueprint-experimental' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, 'echo');
    assert.equal(r.json.object, 'chat.completion');
    assert.deepEqual(r.json.choices, direct.json.choices);
    assert.deepEqual(r.json.usage, direct.json.usage);
    assert.match(r.headers.get('x-request-id'), /^req_[0-9a-f]{24}$/);
    assert.notEqual(r.headers.get('x-request-id'), direct.headers.get('x-request-id'));
  });

  test('streaming: every event relayed with the model mapped, one usage chunk, [DONE] last', async () => {
    const body = { model: 'fast', messages: msgs, stream_options: { include_usage: true } };
    const s = await streamEvents(`${px.url}/v1/chat/completions`, body);
    const d = await streamEvents(`${up.url}/v1/chat/completions`, { ...body, model: 'blueprint-standard' });
    assert.equal(s.status, 200);
    assert.equal(s.events.at(-1).data, '[DONE]');
    assert.equal(s.events.length, d.events.length);
    assert.equal(content(s.events), content(d.events));
    for (const e of s.events.slice(0, -1)) assert.equal(e.json.model, 'fast');
    assert.equal(s.events.filter((e) => e.json && e.json.usage).length, 1);
  });

  test('tokens: a stream asks the upstream for usage, which settles the key and is dropped for a client that did not ask', async () => {
    const post = (body) => fetch(`${px.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${TPM_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const s = await post({ model: 'fast', messages: msgs, stream: true, max_tokens: 300 });
    assert.equal(s.status, 200);
    const text = await s.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'), text);
    assert.ok(!text.includes('"usage"'), `a usage the client did not ask for:\n${text}`);
    const line = px.log().split('\n').filter((l) => / key=up-tpm tokens=/.test(l)).at(-1);
    const [, p, c] = line.match(/tokens=(\d+)\+(\d+)/).map(Number);
    assert.ok(p > 0 && c > 0, line);
    // a whole answer is settled before its head: what is left says so
    const w = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'fast', messages: msgs, max_tokens: 300 }, token: TPM_KEY });
    assert.equal(w.status, 200, w.text);
    const left = Number(w.headers.get('x-ratelimit-remaining-tokens'));
    const used = w.json.usage.total_tokens;
    assert.ok(left <= 1000 - used && left >= 1000 - used - (p + c) - 1, `left ${left}, used ${used} + ${p + c}`);
    // an upstream that fails gives the reservation back: 850 twice in a row
    for (let i = 0; i < 2; i++) {
      const f = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r500', messages: msgs, max_tokens: 850 }, token: TPM_KEY });
      expectError(assert, f, 502, 'upstream_error');
    }
    // what the upstream was asked, whatever the client said (an upstream
    // that reports no usage keeps the whole reservation: last, here)
    bad.seen.length = 0;
    await (await post({ model: 'bad-split', messages: msgs, stream: true })).text();
    assert.deepEqual(bad.seen.at(-1).body.stream_options, { include_usage: true });
    await (await post({ model: 'bad-split', messages: msgs, stream: true, stream_options: { include_usage: false } })).text();
    assert.deepEqual(bad.seen.at(-1).body.stream_options, { include_usage: true });
  });

  test('the upstream gets the mapped model, our key for it, and the configured headers', async () => {
    bad.seen.length = 0;
    await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r400', messages: msgs, temperature: 0.5 } });
    const got = bad.seen.at(-1);
    assert.equal(got.url, '/v1/chat/completions');
    assert.equal(got.body.model, 'r400');
    assert.equal(got.body.temperature, 0.5);
    assert.equal(got.headers.authorization, 'Bearer sk-bad-upstream-key');
    assert.equal(got.headers['x-team'], 'blue');
  });

  test('each upstream gets its own headers, whichever was asked before, and Accept says what comes back', async () => {
    // "bad" and "short" are one server: a key and X-Team for one, neither for the other
    const asks = [['bad-r400', false], ['short-r400', false], ['bad-r400', true], ['short-r400', true], ['bad-r400', false]];
    for (const [model, stream] of asks) {
      bad.seen.length = 0;
      await call(px, 'POST', '/v1/chat/completions', { body: { model, messages: msgs, stream } });
      const h = bad.seen.at(-1).headers;
      const mine = model.startsWith('bad-');
      assert.equal(h.authorization, mine ? 'Bearer sk-bad-upstream-key' : undefined, model);
      assert.equal(h['x-team'], mine ? 'blue' : undefined, model);
      assert.equal(h.accept, stream ? 'text/event-stream' : undefined, `${model} stream ${stream}`);
      assert.equal(h['content-type'], 'application/json');
    }
  });

  test('connections to the upstream are kept and reused (one handle per worker thread)', async () => {
    await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r400', messages: msgs } });
    const before = bad.conns.n;
    for (let i = 0; i < 8; i++) {
      const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r400', messages: msgs } });
      assert.equal(r.status, 400);
    }
    // the proxy runs 2 threads: at most one new connection for the other one
    assert.ok(bad.conns.n - before <= 1, `${bad.conns.n - before} new connections for 8 requests`);
  });

  // A whole answer's exchange (http1.c) on a connection kept from the last
  // one: the upstream may have closed it meanwhile.
  test('a kept connection the upstream closed while idle is made again, before the request or after it', async () => {
    const asked = (m) => bad.seen.filter((s) => s.body.model === m).length;
    for (let i = 0; i < 4; i++) {
      const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-close-idle', messages: msgs } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.choices[0].message.content, 'then closed');
      await sleep(200);  // its connection is closed by now
    }
    // seen closed before the request went: asked once each
    assert.equal(asked('close-idle'), 4);
    for (let i = 0; i < 4; i++) {
      const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-once-per-conn', messages: msgs } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.choices[0].message.content, 'fresh');
    }
    // the request went on a kept connection that ended without a byte, and
    // once more on a new one: more asks than answers
    assert.ok(asked('once-per-conn') > 4, `${asked('once-per-conn')} asks for 4 answers`);
    await normalWorks();
  });

  test('events split mid-line, CRLF, comments, keep-alives and multi-line data arrive whole', async () => {
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-split', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(content(s.events), 'Hello');
    assert.equal(s.events.at(-1).data, '[DONE]');
    assert.equal(s.events.at(-2).json.choices[0].finish_reason, 'stop');
    assert.equal(s.events[0].json.model, 'bad-split');
  });

  test("streaming keeps the upstream's pacing, event by event", async () => {
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-pace', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(content(s.events), 'w0 w1 w2 w3 w4 ');
    const at = s.events.map((e) => e.at);
    assert.ok(at[0] < 500, `first event after ${at[0]} ms`);
    for (let i = 1; i < 5; i++) assert.ok(at[i] - at[i - 1] >= 120, `gap ${i}: ${at[i] - at[i - 1]} ms`);
  });

  test('unreachable upstream: 502, streaming or not', async () => {
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'unreachable', messages: msgs } });
    expectError(assert, r, 502, 'upstream_unreachable');
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'unreachable', messages: msgs });
    assert.equal(s.status, 502);
    assert.equal(JSON.parse(s.text).error.code, 'upstream_unreachable');
  });

  test('no first byte in time: 504; a stall between events: an error event', async () => {
    const t0 = Date.now();
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-stall-first', messages: msgs } });
    expectError(assert, r, 504, 'upstream_timeout');
    assert.ok(Date.now() - t0 < 2900, `took ${Date.now() - t0} ms`);
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-stall-between', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(content(s.events), 'one');
    const last = s.events.at(-1).json;
    assert.equal(last.error.code, 'upstream_timeout');
  });

  test('an upstream that drops the connection: 502, or an error event mid-stream', async () => {
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-drop', messages: msgs } });
    expectError(assert, r, 502);
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-drop', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(content(s.events), 'one');
    assert.equal(s.events.at(-1).json.error.type, 'server_error');
    assert.ok(!s.events.some((e) => e.data === '[DONE]'));
  });

  test('garbage from the upstream: 502', async () => {
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-garbage', messages: msgs } });
    expectError(assert, r, 502, 'upstream_error');
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-garbage', messages: msgs });
    assert.equal(s.status, 502);
  });

  test('429 passed through with Retry-After and retry-after-ms', async () => {
    for (const stream of [false, true]) {
      const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r429', messages: msgs, stream } });
      expectError(assert, r, 429, 'rate_limit_exceeded');
      assert.equal(r.json.error.message, 'Rate limit reached for upstream');
      assert.equal(r.headers.get('retry-after'), '3');
      assert.equal(r.headers.get('retry-after-ms'), '2500');
    }
  });

  test('4xx passed through (OpenAI-shaped kept, else wrapped); 5xx becomes 502', async () => {
    const r400 = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r400', messages: msgs } });
    expectError(assert, r400, 400, 'context_length_exceeded', 'messages');
    assert.equal(r400.json.error.message, 'context too long');
    const r404 = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r404', messages: msgs } });
    expectError(assert, r404, 404, 'upstream_rejected');
    const r500 = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r500', messages: msgs } });
    expectError(assert, r500, 502, 'upstream_error');
    assert.ok(!r500.text.includes('db down'));
  });

  test('a client that goes away aborts the upstream transfer', async () => {
    delete bad.closed.forever;
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'bad-forever', messages: msgs }, { abortAfter: 2 });
    assert.equal(s.events.length, 2);
    for (let i = 0; i < 40 && !bad.closed.forever; i++) await sleep(50);
    assert.ok(bad.closed.forever, 'upstream request still open 2 s after the client left');
    assert.ok(bad.closed.forever - s.abortedAt < 1500, `closed ${bad.closed.forever - s.abortedAt} ms after`);
  });

  test('GET /v1/models lists configured models and what a discover upstream has', async () => {
    const r = await call(px, 'GET', '/v1/models');
    assert.equal(r.status, 200);
    const ids = r.json.data.map((m) => m.id);
    for (const id of ['fast', 'echo', 'slow', 'bad-drop', 'unreachable', 'blueprint-standard', 'blueprint-advanced'])
      assert.ok(ids.includes(id), `${id} missing from ${ids}`);
    assert.equal(new Set(ids).size, ids.length);
    for (const m of r.json.data) assert.equal(m.object, 'model');
  });

  test('a discovered model works wherever a configured one does: retrieve, chat, embeddings', async () => {
    // blueprint-experimental and blueprint-embedding are not in the proxy's
    // config: only the "mock" upstream's GET /models lists them
    const m = await call(px, 'GET', '/v1/models/blueprint-experimental');
    assert.equal(m.status, 200, m.text);
    assert.deepEqual(Object.keys(m.json), ['id', 'object', 'created', 'owned_by']);
    assert.equal(m.json.id, 'blueprint-experimental');
    assert.equal(m.json.owned_by, 'openai-fcgi');
    const c = await call(px, 'POST', '/v1/chat/completions',
      { body: { model: 'blueprint-experimental', messages: [{ role: 'user', content: 'echo me' }] } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.model, 'blueprint-experimental');
    assert.equal(c.json.choices[0].message.content, 'echo me');
    assert.equal(c.headers.get('x-openai-fcgi-deployment'), 'mock/blueprint-experimental');
    const s = await streamEvents(`${px.url}/v1/chat/completions`, { model: 'blueprint-experimental', messages: msgs });
    assert.equal(s.events.at(-1).data, '[DONE]');
    const e = await call(px, 'POST', '/v1/embeddings', { body: { model: 'blueprint-embedding', input: 'x', encoding_format: 'float' } });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.data[0].embedding.length, 1536);
    expectError(assert, await call(px, 'GET', '/v1/models/listed-nowhere'), 404, 'model_not_found', 'model');
    expectError(assert, await call(px, 'POST', '/v1/chat/completions',
      { body: { model: 'listed-nowhere', messages: msgs } }), 404, 'model_not_found', 'model');
  });

  test('a slow model list holds up only the request that asks for it; the others get the last list', async () => {
    // wait until the slow list is in and has expired (discover_ttl_s = 2)
    for (let i = 0; i < 40; i++) {
      const r = await call(px, 'GET', '/v1/models');
      if (r.json.data.some((x) => x.id === 'slow-listed')) break;
      await sleep(250);
    }
    await sleep(2100);
    const done = [];
    const t0 = Date.now();
    const rs = await Promise.all([0, 1, 2, 3].map(async (i) => {
      await sleep(i * 100);  // the first asks the upstream, the others come while it waits
      const r = await call(px, 'GET', '/v1/models');
      done.push({ i, at: Date.now() - t0, has: r.json.data.some((x) => x.id === 'slow-listed') });
      return r;
    }));
    for (const r of rs) assert.equal(r.status, 200);
    const first = done.find((d) => d.i === 0);
    const others = done.filter((d) => d.i !== 0);
    assert.ok(others.every((d) => d.at < first.at), `answered in ${JSON.stringify(done)}`);
    assert.ok(done.every((d) => d.has), 'every answer has the last good list');
    const got = await call(px, 'GET', '/v1/models/slow-listed');
    assert.equal(got.status, 200);
    assert.equal(got.json.owned_by, 'slowpoke');
    assert.equal(got.json.created, 7);
  });

  // A normal request still gets its answer (no worker left stuck or dead).
  async function normalWorks() {
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'fast', messages: msgs } });
    assert.equal(r.status, 200, r.text);
  }

  test('floods that never end a line, an event or a comment: 502, or an error event after one; memory bounded, the upstream cut off', async () => {
    const url = `${px.url}/v1/chat/completions`;
    const before = peakRssKiB(px);
    const cutOff = async (m, most) => {
      assert.ok(await waitFor(() => bad.sent[m] !== undefined), `${m}: the upstream is still sending`);
      assert.ok(bad.sent[m] < most, `${m}: the upstream wrote ${bad.sent[m]} bytes before we closed`);
    };
    for (const m of ['endless-line', 'endless-event', 'endless-comment']) {
      delete bad.sent[m];
      const s = await streamEvents(url, { model: `bad-${m}`, messages: msgs });
      assert.equal(s.status, 502, `${m}: ${s.text}`);
      assert.equal(JSON.parse(s.text).error.code, 'upstream_error', m);
      await cutOff(m, 16 << 20);
    }
    for (const m of ['endless-line-after', 'endless-event-after']) {
      delete bad.sent[m];
      const s = await streamEvents(url, { model: `bad-${m}`, messages: msgs });
      assert.equal(s.status, 200, m);
      assert.equal(content(s.events), 'one', m);
      assert.equal(s.events.at(-1).json.error.code, 'upstream_error', m);
      assert.ok(!s.events.some((e) => e.data === '[DONE]'), m);
      await cutOff(m, 16 << 20);
    }
    // a whole answer that never ends: cut at UPSTREAM_MAX_BODY_BYTES (16 MiB)
    delete bad.sent['endless-line'];
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-endless-line', messages: msgs } });
    expectError(assert, r, 502, 'upstream_error');
    await cutOff('endless-line', 32 << 20);
    const grown = peakRssKiB(px) - before;
    assert.ok(grown < 64 * 1024, `the app's peak RSS grew by ${grown} KiB`);
    await normalWorks();
  });

  test('drips: keep-alives end at the total limit, bytes that end nothing at the idle limit; 504, or an error event', async () => {
    const url = `${px.url}/v1/chat/completions`;
    const closedWithin = async (m, bound) => {
      assert.ok(await waitFor(() => bad.closed[m] >= bad.started[m]), `${m}: the upstream request is still open`);
      const took = bad.closed[m] - bad.started[m];
      assert.ok(took < bound + 2000, `${m}: closed after ${took} ms (bound ${bound} ms)`);
    };
    // keep-alives every 10 ms: alive, so only the total limit ends them
    // (our head goes out with the first keep-alive we pass on)
    delete bad.closed['keepalive-drip'];
    let s = await streamEvents(url, { model: 'short-keepalive-drip', messages: msgs });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.events.length, 1);
    assert.equal(s.events[0].json.error.code, 'upstream_timeout');
    await closedWithin('keepalive-drip', SHORT_TOTAL_MS);
    delete bad.closed['keepalive-drip-after'];
    s = await streamEvents(url, { model: 'short-keepalive-drip-after', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(content(s.events), 'one');
    assert.equal(s.events.at(-1).json.error.code, 'upstream_timeout');
    await closedWithin('keepalive-drip-after', SHORT_TOTAL_MS);
    // a stream's line, one byte every 0.5 s: no progress, the idle limit (1 s)
    delete bad.closed['slow-drip'];
    s = await streamEvents(url, { model: 'bad-slow-drip', messages: msgs });
    assert.equal(s.status, 504, s.text);
    await closedWithin('slow-drip', 1000);
    // a whole answer, one byte every 0.5 s: first byte and total limits
    delete bad.closed['slow-drip'];
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'short-slow-drip', messages: msgs } });
    expectError(assert, r, 504, 'upstream_timeout');
    await closedWithin('slow-drip', SHORT_TOTAL_MS);
    await normalWorks();
  });

  // The upstream "bad" allows 20 s in all: a client that left must not
  // hold the exchange that long.
  const leftWithin = async (cases) => {
    for (const [m, leftAt] of cases) {
      assert.ok(await waitFor(() => bad.closed[m] >= leftAt, 5000), `${m}: upstream request still open 5 s after the client left`);
      assert.ok(bad.closed[m] - leftAt < 2500, `${m}: closed ${bad.closed[m] - leftAt} ms after the client left`);
    }
  };

  test('a client that leaves a stream is noticed while the upstream sends nothing to relay', async () => {
    const url = `${px.url}/v1/chat/completions`;
    // after an event, then keep-alives only; keep-alives from the start
    delete bad.closed['keepalive-drip-after'];
    const s = await streamEvents(url, { model: 'bad-keepalive-drip-after', messages: msgs }, { abortAfter: 1 });
    assert.equal(s.events.length, 1);
    delete bad.closed['keepalive-drip'];
    const at = await abandon(url, { model: 'bad-keepalive-drip', messages: msgs, stream: true }, 600);
    await leftWithin([['keepalive-drip-after', s.abortedAt], ['keepalive-drip', at]]);
    await normalWorks();
  });

  test('behind nginx, which closes the FastCGI connection when its client leaves: seen with nothing written', async (t) => {
    const why = frontUnavailable('nginx-tcp');
    if (why) { t.skip(why); return; }
    const ng = await startServer({ front: 'nginx-tcp', threads: 2, env: pxEnv });
    try {
      const url = `${ng.url}/v1/chat/completions`;
      const cases = [];
      // a whole answer that drips, a stream's line that drips: nothing to
      // relay, so nothing written; only the hang-up tells
      for (const [m, stream] of [['slow-drip', false], ['slow-drip', true]]) {
        delete bad.closed[m];
        cases.push([m, await abandon(url, { model: `bad-${m}`, messages: msgs, stream }, 400)]);
        await leftWithin(cases.slice(-1));
      }
      const r = await call(ng, 'POST', '/v1/chat/completions', { body: { model: 'fast', messages: msgs } });
      assert.equal(r.status, 200, r.text);
    } finally {
      await ng.stop();
    }
  });

  test('forged or broken Retry-After values are never passed on; what parses is remade by us', async () => {
    const want = {
      'inject-cr': null, 'inject-lf': '5', 'inject-nul': null, 'inject-long': null, 'inject-ms': null, 'retry-junk': null,
    };
    for (const [m, ra] of Object.entries(want)) {
      for (const stream of [false, true]) {
        const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: `bad-${m}`, messages: msgs, stream } });
        assert.equal(r.headers.get('x-injected'), null, m);
        for (const [k, v] of r.headers) assert.doesNotMatch(v, /[\x00-\x1f\x7f]/, `${m}: ${k}`);
        // A parser may refuse the whole answer: libcurl a NUL in a header, http1.c
        // (whole answers) a bare CR too, as RFC 9112 section 2.2 allows.
        if (['inject-nul', 'inject-cr', 'inject-ms'].includes(m) && r.status === 502) {
          expectError(assert, r, 502);
          if (!stream) assert.match(r.json.error.message, /could not be understood/, m);
          continue;
        }
        expectError(assert, r, 429, 'rate_limit_exceeded');
        assert.equal(r.json.error.message, 'slow down', m);
        assert.equal(r.headers.get('retry-after'), ra, m);
        assert.equal(r.headers.get('retry-after-ms'), ra === null ? null : String(Number(ra) * 1000), m);
      }
    }
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-retry-date', messages: msgs } });
    expectError(assert, r, 429, 'rate_limit_exceeded');
    const secs = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(secs) && secs >= 25 && secs <= 31, `an HTTP-date 30 s ahead became ${r.headers.get('retry-after')}`);
    assert.equal(r.headers.get('retry-after-ms'), String(secs * 1000));
    await normalWorks();
  });

  test('whole answers spaced out, with the model twice or inside, escapes, lenient JSON or an escaped key: strict JSON back, the model mapped at the top only, usage counted', async () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    const post = (model, body = {}) => fetch(`${px.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model, messages: msgs, ...body }),
    });
    const cases = [
      ['bad-shapes', 'caf\u00e9 "q" \u2028 a/b \u00fc', '7+11'],
      ['bad-lenient', 'x\ty', '5+13'],
      ['bad-escaped-key', 'e', '3+17'],
    ];
    for (const [model, content, tokens] of cases) {
      const r = await post(model, { user: `case-${model}` });
      assert.equal(r.status, 200, model);
      const text = strict.decode(await r.arrayBuffer());
      const j = JSON.parse(text);  // throws on anything but strict JSON
      assert.equal(j.model, model, text);
      assert.equal(j.choices[0].message.content, content, text);
      assert.ok(!/"(first|second|m)"/.test(text), `an upstream model name left at the top: ${text}`);
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), `bad/${model.slice(4)}`);
      await sleep(50);  // the access log line is written after the answer
      assert.ok(px.log().split('\n').some((l) => l.includes(`tokens=${tokens}`)), `no tokens=${tokens} in the log`);
    }
    // the one inside a choice is the upstream's own field, not its name
    const r = await post('bad-shapes');
    assert.equal((await r.json()).choices[0].message.model, 'inner');
    // what the upstream was asked: the client's body, the model mapped, all else as sent
    bad.seen.length = 0;
    await (await post('bad-shapes', { temperature: 0.25, metadata: { model: 'keep' }, user: 'caf\u00e9' })).text();
    const got = bad.seen.at(-1).body;
    assert.equal(got.model, 'shapes');
    assert.deepEqual(got.metadata, { model: 'keep' });
    assert.equal(got.user, 'caf\u00e9');
    assert.equal(got.temperature, 0.25);
  });

  test('stream events over several data: lines, spaced out, the model twice or inside, escapes, an escaped key, usage asked or not: one strict line each, the model mapped at the top only, usage counted', async () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    const post = (body) => fetch(`${px.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'bad-sshapes', messages: msgs, stream: true, ...body }),
    });
    let before = px.log().split('\n').filter((l) => l.includes('tokens=7+11')).length;
    for (const asked of [false, true]) {
      const r = await post({ ...(asked ? { stream_options: { include_usage: true } } : {}) });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'bad/sshapes');
      const text = strict.decode(await r.arrayBuffer());
      const events = text.split('\n\n').filter((e) => e);
      for (const e of events) assert.ok(e.startsWith('data: ') && !e.includes('\n'), `not one data: line: ${e}`);
      const data = events.map((e) => e.slice(6));
      assert.equal(data.at(-1), '[DONE]');
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));  // throws on anything but strict JSON
      assert.equal(chunks.length, asked ? 4 : 3, text);
      for (const c of chunks) assert.equal(c.model, 'bad-sshapes', text);
      assert.ok(!/"(first|second|m)"/.test(text), `an upstream model name left at the top: ${text}`);
      assert.equal(chunks[0].choices[0].delta.model, 'inner');
      assert.equal(chunks.map((c) => (c.choices[0] ? c.choices[0].delta.content : '')).join(''),
        'caf\u00e9 "q" \u2028 a/b \u00fc-!');
      assert.equal(chunks[2].choices[0].finish_reason, 'stop');
      if (asked) {
        assert.equal(chunks[2].usage, null);
        assert.deepEqual(chunks[3].choices, []);
        assert.equal(chunks[3].usage.completion_tokens, 11);
        // the bytes as they came, but for the model's value
        assert.ok(text.includes('"created":1, "model" : "bad-sshapes",'), text);
      } else {
        for (const c of chunks) assert.ok(!('usage' in c), `usage the client did not ask for: ${text}`);
      }
      await sleep(50);  // the access log line is written after the answer
      const settled = px.log().split('\n').filter((l) => l.includes('tokens=7+11')).length;
      assert.equal(settled, before + 1, 'the usage-only chunk did not settle the tokens');
      before = settled;
    }
  });

  test('invalid UTF-8 from the upstream is replaced by U+FFFD, in a whole answer and in a stream', async () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    const post = (stream) => fetch(`${px.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'bad-utf8', messages: msgs, stream }),
    });
    let r = await post(false);
    assert.equal(r.status, 200);
    const whole = JSON.parse(strict.decode(await r.arrayBuffer()));  // throws on invalid UTF-8
    assert.equal(whole.choices[0].message.content, 'caf\uFFFD\uFFFD!');
    assert.equal(whole.model, 'bad-utf8');
    r = await post(true);
    assert.equal(r.status, 200);
    const text = strict.decode(await r.arrayBuffer());
    const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(JSON.parse(events[0]).choices[0].delta.content, 'caf\uFFFD\uFFFD!');
    assert.match(px.log(), /invalid UTF-8 bytes in the answer replaced/);
    assert.match(px.log(), /invalid UTF-8 bytes in a stream event replaced/);
  });

  test('NaN, Infinity and numbers past a double from the upstream become null, in a whole answer and in a stream', async () => {
    const post = (stream) => fetch(`${px.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'bad-nonfinite', messages: msgs, stream }),
    });
    let r = await post(false);
    assert.equal(r.status, 200);
    const text = await r.text();
    const whole = JSON.parse(text);  // throws on NaN or Infinity
    const lp = whole.choices[0].logprobs.content[0];
    assert.equal(lp.logprob, null, text);
    assert.equal(lp.top_logprobs[0].logprob, null, text);
    assert.equal(whole.usage.completion_tokens, null, text);
    assert.equal(whole.choices[0].message.content, 'n');
    r = await post(true);
    assert.equal(r.status, 200);
    const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
    assert.equal(events.at(-1), '[DONE]');
    const first = JSON.parse(events[0]);
    assert.equal(first.choices[0].logprobs.content[0].logprob, null);
    assert.equal(first.choices[0].delta.content, 'n');
    await waitFor(() => /3 numbers that JSON cannot hold \(NaN, Infinity\) in the answer replaced by null/.test(px.log()));
    assert.match(px.log(), /2 numbers that JSON cannot hold \(NaN, Infinity\) in a stream event replaced by null/);
  });

  test("an upstream's error body with line breaks stays inside one log line", async () => {
    const r = await call(px, 'POST', '/v1/chat/completions', { body: { model: 'bad-r500-lines', messages: msgs } });
    expectError(assert, r, 502, 'upstream_error');
    assert.ok(!r.text.includes('forged'));
    await waitFor(() => px.log().includes('forged-by-upstream'));
    const lines = px.log().split('\n');
    const hits = lines.filter((l) => l.includes('forged-by-upstream'));
    assert.equal(hits.length, 1, hits.join('\n'));
    assert.match(hits[0], / WARNING .*HTTP 500: first line\\n2026-12-01T00:00:00\.000Z .*\\r\\nthird line/);
    assert.ok(!lines.some((l) => l.startsWith('2026-12-01T00:00:00.000Z')), 'a forged line in the log');
  });

  // /v1/responses and /v1/completions through upstreams
  const rsp = (extra) => ({ input: 'Hello!', ...extra });
  const eventTypes = (events) => events.map((e) => e.json?.type);

  test('responses, translated: the upstream is asked for a chat completion, the answer comes back a Response', async () => {
    bad.seen.length = 0;
    await call(px, 'POST', '/v1/responses', { body: rsp({ model: 'bad-r400', instructions: 'Be brief.', max_output_tokens: 20 }) });
    const got = bad.seen.at(-1);
    assert.equal(got.url, '/v1/chat/completions');
    assert.equal(got.body.model, 'r400');
    assert.deepEqual(got.body.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }]);
    assert.equal(got.body.max_completion_tokens, 20);
    const r = await call(px, 'POST', '/v1/responses', { body: rsp({ model: 'fast' }) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'response');
    assert.equal(r.json.model, 'fast');
    assert.equal(r.json.output[0].content[0].text.length > 0, true);
    assert.ok(r.json.usage.total_tokens > 0);
  });

  test('responses, translated: an upstream that breaks off mid-stream ends it with error and response.failed', async () => {
    const s = await streamEvents(`${px.url}/v1/responses`, rsp({ model: 'bad-drop' }));
    assert.equal(s.status, 200);
    const types = eventTypes(s.events);
    assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
    assert.ok(types.includes('response.output_text.delta'));
    assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
    assert.deepEqual(s.events.map((e) => e.json.sequence_number), s.events.map((_, i) => i));
    assert.equal(s.events.at(-1).json.response.status, 'failed');
    // before the head: the upstream's own status
    const r429 = await call(px, 'POST', '/v1/responses', { body: rsp({ model: 'bad-r429', stream: true }) });
    assert.equal(r429.status, 429);
    assert.equal(r429.headers.get('retry-after'), '3');
    expectError(assert, await call(px, 'POST', '/v1/responses', { body: rsp({ model: 'unreachable' }) }), 502);
  });

  test('responses, native: relayed from the upstream\'s /v1/responses event by event, model mapped', async () => {
    const r = await call(px, 'POST', '/v1/responses', { body: rsp({ model: 'native-std' }) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, 'native-std');
    const s = await streamEvents(`${px.url}/v1/responses`, rsp({ model: 'native-std' }));
    const d = await streamEvents(`${up.url}/v1/responses`, rsp({ model: 'blueprint-standard' }));
    assert.deepEqual(eventTypes(s.events), eventTypes(d.events));
    assert.equal(s.events.at(-1).json.type, 'response.completed');
    assert.equal(s.events.at(-1).json.response.model, 'native-std');
    bad.seen.length = 0;
    const drop = await streamEvents(`${px.url}/v1/responses`, rsp({ model: 'native-drop' }));
    assert.equal(bad.seen.at(-1).url, '/v1/responses');
    assert.equal(bad.seen.at(-1).body.model, 'drop');
    assert.deepEqual(eventTypes(drop.events).slice(-2), ['error', 'response.failed']);
  });

  test('completions: relayed to the upstream\'s /v1/completions, model mapped both ways', async () => {
    bad.seen.length = 0;
    await call(px, 'POST', '/v1/completions', { body: { model: 'bad-r400', prompt: 'x', echo: true } });
    assert.equal(bad.seen.at(-1).url, '/v1/completions');
    assert.equal(bad.seen.at(-1).body.model, 'r400');
    assert.equal(bad.seen.at(-1).body.echo, true);
    const r = await call(px, 'POST', '/v1/completions', { body: { model: 'fast', prompt: 'x' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'text_completion');
    assert.equal(r.json.model, 'fast');
    const s = await streamEvents(`${px.url}/v1/completions`, { model: 'fast', prompt: 'x' });
    assert.equal(s.events.at(-1).data, '[DONE]');
    for (const e of s.events.slice(0, -1)) assert.equal(e.json.model, 'fast');
    const drop = await streamEvents(`${px.url}/v1/completions`, { model: 'bad-drop', prompt: 'x' });
    assert.equal(drop.events.at(-1).json.error.type, 'server_error');
  });

  test('no worker is stuck after all of that', async () => {
    const rs = await Promise.all([1, 2, 3, 4].map(() => call(px, 'POST', '/v1/chat/completions',
      { body: { model: 'fast', messages: msgs } })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.doesNotMatch(px.log(), /ERROR|CRITICAL/);
  });
});
