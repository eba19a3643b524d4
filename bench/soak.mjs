// soak.mjs: ten minutes of mixed traffic through lighttpd, the app's RSS, fds and threads sampled; writes soak-results.md
//
// Run by bench/soak, which builds build-bench/ and sets top_srcdir and
// top_builddir. The app under test runs behind lighttpd under spawn-fcgi
// (SOAK_PROCESSES x SOAK_THREADS) and forwards some models to a second
// openai-fcgi (a well-behaved upstream) and to a node server that drops,
// stalls, sends garbage and errors on purpose (as tests/e2e/upstream.test.mjs).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort, startServer, TOKEN } from '../tests/e2e/harness.mjs';

const DURATION_S = Number(process.env.DURATION || 600);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S || 5);
const CLIENTS = Number(process.env.SOAK_CLIENTS || 12);
const PROCESSES = Number(process.env.SOAK_PROCESSES || 2);
const THREADS = Number(process.env.SOAK_THREADS || 8);
const LIMITED = 'soak-limited-key-0123456789';   // keys[]: 30 requests a minute
const LIMIT = 30;
const OUT = process.env.SOAK_OUT || path.join(process.env.top_srcdir || '.', 'bench', 'soak-results.md');
// Flat means: the last quarter's peak within these of the first quarter's.
const RSS_MARGIN = 0.10;        // +10 % ...
const RSS_SLACK_KIB = 1024;     // ... + 1 MiB, for malloc arenas still filling
const FD_SLACK = 4;             // connections in flight at the moment of a sample

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msgs = [{ role: 'user', content: 'Hello from the soak test' }];
const pick = (a) => a[Math.floor(Math.random() * a.length)];

// ---- the misbehaving upstream: what it does depends on the model asked for ----
function chunk(model, content, finish = null) {
  return JSON.stringify({
    id: 'chatcmpl-soak', object: 'chat.completion.chunk', created: 1, model,
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
  });
}

function badUpstream() {
  return http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      let b = {};
      try { b = JSON.parse(body); } catch { /* a GET */ }
      const m = b.model;
      const sse = () => res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const ev = (s) => res.write(`data: ${s}\n\n`);
      switch (m) {
        case 'drop':
          if (b.stream) { sse(); ev(chunk(m, 'one')); await sleep(20); }
          res.socket.destroy();
          break;
        case 'stall-first':   // past the first-byte limit (2 s)
          await sleep(3000);
          if (!res.destroyed) res.end('{}');
          break;
        case 'stall-between': // past the idle limit (2 s) after one event
          sse(); ev(chunk(m, 'one'));
          await sleep(3000);
          if (!res.destroyed) res.end('data: [DONE]\n\n');
          break;
        case 'garbage':
          if (b.stream) { sse(); res.end('data: {"id": oops\n\n'); } else {
            res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('not json{');
          }
          break;
        case 'r429':
          res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '3' });
          res.end(JSON.stringify({ error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
          break;
        case 'r500':
          res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('internal detail');
          break;
        default:
          res.writeHead(404); res.end();
      }
    });
  });
}

// What a client may get back from each misbehaving model: its own status, or
// 200 for a stream whose head went out before the fault (the fault then
// arrives as an error event).
const BAD = {
  drop: [200, 502], 'stall-first': [504], 'stall-between': [200, 502, 504], garbage: [200, 502],
  r429: [429], r500: [502],
};

function soakConfig(dir, upUrl, badUrl) {
  const bad = Object.keys(BAD).map((m) => `{ id = "bad-${m}"; backend = "upstream"; upstream = "bad"; upstream_model = "${m}"; }`);
  const conf = `upstreams = (
  { name = "good"; base_url = "${upUrl}/v1"; api_key_env = "SOAK_UP_KEY"; },
  { name = "bad"; base_url = "${badUrl}/v1";
    timeouts = { connect_ms = 2000; first_byte_ms = 2000; idle_ms = 2000; total_ms = 10000; }; }
);
models = (
  { id = "canned"; owned_by = "soak"; backend = "mock"; mock = { mode = "canned"; delay_ms = 2; }; },
  { id = "echo"; owned_by = "soak"; backend = "mock"; mock = { mode = "echo"; delay_ms = 2; }; },
  { id = "relay"; backend = "upstream"; upstream = "good"; upstream_model = "blueprint-standard"; },
  ${bad.join(',\n  ')}
);
keys = ( { token = "${LIMITED}"; requests_per_minute = ${LIMIT}; } );
`;
  const file = path.join(dir, 'soak.conf');
  fs.writeFileSync(file, conf);
  return file;
}

// ---- the traffic ----
const statusCounts = {};     // kind -> { status -> n }
const unexpected = [];       // the first few, for the report
let unexpectedN = 0;
let requests = 0;

function note(kind, status, ok, detail) {
  requests++;
  const k = (statusCounts[kind] ||= {});
  k[status] = (k[status] || 0) + 1;
  if (!ok) {
    unexpectedN++;
    if (unexpected.length < 10) unexpected.push(`${kind}: ${status} ${String(detail || '').slice(0, 160)}`);
  }
}

// One request: returns the status ('net' for a connection failure, 'hang'
// past 30 s). For a stream, reads every event (or abortAfter of them).
async function send(base, { body, raw, token = TOKEN, stream = false, abortAfter = 0, method = 'POST', p = '/v1/chat/completions' }) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error('hang')), 30000);
  try {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${base}${p}`, {
      method, headers, signal: ctl.signal,
      body: method === 'GET' ? undefined : (raw !== undefined ? raw : JSON.stringify(stream ? { ...body, stream: true } : body)),
    });
    let events = 0; let text = '';
    if ((r.headers.get('content-type') || '').startsWith('text/event-stream')) {
      const dec = new TextDecoder();
      for await (const part of r.body) {
        text += dec.decode(part, { stream: true });
        events = text.split('\n\n').length - 1;
        if (abortAfter && events >= abortAfter) { ctl.abort(new Error('aborted by the client')); break; }
      }
    } else {
      text = await r.text();
    }
    return { status: r.status, text, events };
  } catch (e) {
    if (abortAfter && ctl.signal.aborted && String(ctl.signal.reason?.message).startsWith('aborted')) {
      return { status: 200, text: '', events: abortAfter, aborted: true };
    }
    return { status: ctl.signal.aborted ? 'hang' : 'net', text: `${e.message} ${e.cause?.code || ''}` };
  } finally {
    clearTimeout(timer);
  }
}

const MALFORMED = [
  '{"model":"canned","messages":',                     // cut short
  'not json at all',
  '{"model":"canned","messages":[{"role":"wizard","content":"x"}]}',
  '{"model":"canned","messages":[],"n":0}',
  '{"model":"canned","model":"echo","messages":[]}',   // duplicate key
  '{"model":"canned","messages":[{"role":"user","content":"x"}],"temperature":"hot"}',
  '[' .repeat(100) + ']'.repeat(100),
  '{"model":"canned","messages":[{"role":"user","content":"\\ud800"}]}',
];

// The mix, by weight: what each kind sends and the statuses it may get.
const KINDS = [
  { kind: 'chat', w: 20, run: (b) => send(b, { body: { model: pick(['canned', 'echo']), messages: msgs } }), ok: [200] },
  { kind: 'stream', w: 15, run: (b) => send(b, { stream: true, body: { model: pick(['canned', 'echo']), messages: msgs, stream_options: { include_usage: true } } }), ok: [200], done: true },
  { kind: 'aborted stream', w: 10, run: (b) => send(b, { stream: true, abortAfter: 2, body: { model: 'canned', messages: msgs, n: 4 } }), ok: [200] },
  { kind: 'malformed', w: 10, run: (b) => send(b, { raw: pick(MALFORMED) }), ok: [400] },
  { kind: 'over the limit', w: 10, run: (b) => send(b, { token: LIMITED, body: { model: 'canned', messages: msgs } }), ok: [200, 429] },
  { kind: 'no key', w: 3, run: (b) => send(b, { token: null, body: { model: 'canned', messages: msgs } }), ok: [401] },
  { kind: 'upstream relay', w: 10, run: (b) => send(b, { stream: Math.random() < 0.5, body: { model: 'relay', messages: msgs } }), ok: [200] },
  { kind: 'upstream misbehaving', w: 17, run: null, ok: null },
  { kind: 'health', w: 5, run: (b) => send(b, { method: 'GET', p: '/health', token: null }), ok: [200] },
];
const TOTAL_W = KINDS.reduce((n, k) => n + k.w, 0);

async function oneRequest(base) {
  let r = Math.random() * TOTAL_W;
  const k = KINDS.find((x) => (r -= x.w) < 0) || KINDS[0];
  if (k.kind === 'upstream misbehaving') {
    const m = pick(Object.keys(BAD));
    const res = await send(base, { stream: Math.random() < 0.5, body: { model: `bad-${m}`, messages: msgs } });
    note(`${k.kind} (${m})`, res.status, BAD[m].includes(res.status), res.text);
    return;
  }
  const res = await k.run(base);
  let ok = k.ok.includes(res.status);
  if (ok && k.done && !res.text.includes('data: [DONE]')) ok = false;
  note(k.kind, res.status, ok, res.text);
}

// ---- sampling the app's processes ----
function procSample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (f) => Number((status.match(new RegExp(`^${f}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { rss: field('VmRSS'), anon: field('RssAnon'), threads: field('Threads'), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

function quarterPeaks(samples, pid, key) {
  const q = Math.max(1, Math.floor(samples.length / 4));
  const vals = samples.map((s) => s.procs[pid][key]);
  return { first: Math.max(...vals.slice(0, q)), last: Math.max(...vals.slice(-q)), min: Math.min(...vals), max: Math.max(...vals) };
}

async function main() {
  const t0 = Date.now();
  const up = await startServer({ env: { MOCK_STREAM_DELAY_MS: '2' } });
  // The misbehaving upstream runs in a process of its own: in this one, the
  // clients' work would delay its answers past the limits it is meant to
  // stay within.
  const badPort = await freePort();
  const bad = fork(new URL(import.meta.url).pathname, ['bad-upstream', String(badPort)]);
  await new Promise((r, j) => { bad.once('message', r); bad.once('exit', () => j(new Error('bad upstream did not start'))); });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-soak-conf-'));
  fs.chmodSync(dir, 0o755);
  let px;
  try {
    px = await startServer({
      processes: PROCESSES, threads: THREADS,
      env: {
        OPENAI_FCGI_CONFIG: soakConfig(dir, up.url, `http://127.0.0.1:${badPort}`),
        SOAK_UP_KEY: TOKEN, MOCK_STREAM_DELAY_MS: '2', LOG_LEVEL: 'WARNING',
      },
    });
    const appPids = fs.readFileSync(path.join(px.dir, 'app.pids'), 'utf8').split(/\s+/).filter(Boolean).map(Number);
    const samples = [];
    const sample = () => {
      const procs = {};
      for (const pid of appPids) procs[pid] = procSample(pid);
      samples.push({ t: Math.round((Date.now() - start) / 1000), requests, procs });
    };
    const start = Date.now();
    const end = start + DURATION_S * 1000;
    sample();
    const sampler = setInterval(sample, SAMPLE_S * 1000);
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < end) await oneRequest(px.url);
    }));
    clearInterval(sampler);
    sample();
    const wall = (Date.now() - start) / 1000;
    const alive = appPids.every((pid) => fs.existsSync(`/proc/${pid}`));
    await px.stop();   // throws on sanitizer reports (none in the -O2 build)
    px = null;
    report({ samples, appPids, wall, alive, setup: (start - t0) / 1000 });
  } finally {
    if (px) await px.stop().catch(() => {});
    bad.kill();
    await up.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report({ samples, appPids, wall, alive }) {
  const byClass = {};
  for (const counts of Object.values(statusCounts)) {
    for (const [s, n] of Object.entries(counts)) {
      const c = /^\d+$/.test(s) ? `${s[0]}xx` : s;
      byClass[c] = (byClass[c] || 0) + n;
    }
  }
  const checks = [];
  for (const pid of appPids) {
    const rss = quarterPeaks(samples, pid, 'rss');
    const fds = quarterPeaks(samples, pid, 'fds');
    const thr = quarterPeaks(samples, pid, 'threads');
    const rssBound = Math.round(rss.first * (1 + RSS_MARGIN) + RSS_SLACK_KIB);
    checks.push({ pid, what: 'VmRSS KiB', q: rss, bound: rssBound, ok: rss.last <= rssBound });
    checks.push({ pid, what: 'open fds', q: fds, bound: fds.first + FD_SLACK, ok: fds.last <= fds.first + FD_SLACK });
    checks.push({ pid, what: 'threads', q: thr, bound: thr.first, ok: thr.last <= thr.first });
  }
  const flat = checks.every((c) => c.ok);
  const pass = flat && unexpectedN === 0 && alive;
  const lines = [];
  lines.push('# openai-fcgi soak test results', '');
  lines.push(`Generated by \`bench/soak\` on ${new Date().toISOString().slice(0, 16)}Z; do not edit by hand, run it again.`, '');
  lines.push('## What ran');
  lines.push(`- ${wall.toFixed(0)} s (DURATION=${DURATION_S}) of traffic from ${CLIENTS} concurrent clients (node fetch, one request after another each)`);
  lines.push(`  to lighttpd (lighttpd.conf.example) with openai-fcgi under spawn-fcgi: ${PROCESSES} processes x --threads ${THREADS}, built`);
  lines.push('  with `-O2 -g` in build-bench/; a second openai-fcgi behind its own lighttpd as a well-behaved upstream, and a node');
  lines.push('  server in its own process as a misbehaving one (drops the connection, stalls 3 s, past the first-byte or idle limit of 2 s,');
  lines.push(`  sends garbage, answers 429 or 500). CPU: ${os.cpus()[0]?.model || '?'}, ${os.cpus().length} cores, shared with other jobs.`);
  lines.push(`- ${requests} requests, ${(requests / wall).toFixed(1)} per second. The mix, by weight: ${KINDS.map((k) => `${k.kind} ${k.w}`).join(', ')}.`);
  lines.push(`- The app's processes (${appPids.join(', ')}) sampled every ${SAMPLE_S} s: VmRSS, open fds (/proc/PID/fd), threads; ${samples.length} samples.`);
  lines.push(`- Flat means, per process: the last quarter's peak VmRSS at most the first quarter's peak x ${1 + RSS_MARGIN} + ${RSS_SLACK_KIB} KiB,`);
  lines.push(`  its peak fd count at most the first quarter's + ${FD_SLACK} (connections in flight when sampled), its peak thread count at most the first quarter's.`);
  lines.push('');
  lines.push('## Verdict');
  lines.push(`- **${pass ? 'PASS' : 'FAIL'}**: resources ${flat ? 'flat' : '**not flat**'}; ${unexpectedN} answer(s) outside the expected statuses; app processes ${alive ? 'all alive at the end' : '**not all alive at the end**'}.`);
  for (const u of unexpected) lines.push(`  - unexpected: \`${u.replace(/`/g, "'").replace(/\n/g, ' ')}\``);
  lines.push('');
  lines.push('## Answers by status class');
  lines.push('| class | answers |', '|---|---:|');
  for (const [c, n] of Object.entries(byClass).sort()) lines.push(`| ${c} | ${n} |`);
  lines.push('');
  lines.push('## Answers by kind of request (status: count; every status listed here was expected for its kind unless the verdict lists it)');
  lines.push('| kind | statuses |', '|---|---|');
  for (const [k, counts] of Object.entries(statusCounts).sort()) {
    lines.push(`| ${k} | ${Object.entries(counts).map(([s, n]) => `${s}: ${n}`).join(', ')} |`);
  }
  lines.push('');
  lines.push('## Flatness (first quarter peak, last quarter peak, bound; min..max over the run)');
  lines.push('| process | what | first quarter | last quarter | bound | min..max | |', '|---|---|---:|---:|---:|---|---|');
  for (const c of checks) lines.push(`| ${c.pid} | ${c.what} | ${c.q.first} | ${c.q.last} | ${c.bound} | ${c.q.min}..${c.q.max} | ${c.ok ? 'flat' : '**grew**'} |`);
  lines.push('');
  const every = Math.max(1, Math.round(30 / SAMPLE_S));
  lines.push(`## Samples (every ${every * SAMPLE_S} s; per process: VmRSS KiB / RssAnon KiB / fds / threads)`);
  lines.push(`| t s | requests | ${appPids.join(' | ')} |`, `|---:|---:|${appPids.map(() => '---|').join('')}`);
  samples.forEach((s, i) => {
    if (i % every !== 0 && i !== samples.length - 1) return;
    lines.push(`| ${s.t} | ${s.requests} | ${appPids.map((p) => `${s.procs[p].rss} / ${s.procs[p].anon} / ${s.procs[p].fds} / ${s.procs[p].threads}`).join(' | ')} |`);
  });
  fs.writeFileSync(OUT, `${lines.join('\n')}\n`);
  console.log(lines.slice(0, 20).join('\n'));
  console.log(`wrote ${OUT}`);
  process.exitCode = pass ? 0 : 1;
}

if (process.argv[2] === 'bad-upstream') {
  const srv = badUpstream();
  srv.listen(Number(process.argv[3]), '127.0.0.1', () => process.send('up'));
  process.on('disconnect', () => process.exit(0));
} else {
  main().catch((e) => { console.error(e); process.exit(2); });
}
