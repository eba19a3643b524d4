// usage.test.mjs: usage accounting (--usage) exact across 4 FastCGI processes
// and CGI runs, tokens_per_day / tokens_per_month budgets (429
// insufficient_quota), GET /metrics (who may read it, never counted against
// a key, promtool check metrics, a real Prometheus scraping it and answering
// a query), and the usage file damaged while serving.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { app, call, expectError, freePort, startServer, testEnv, top, TOKEN, TOKEN2 } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fingerprint = (t) => `key_${crypto.createHash('sha256').update(t).digest('hex').slice(0, 8)}`;
const MODEL = 'blueprint-standard';
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// One chat completion, whole or streamed with include_usage; its usage as
// the client saw it (prompt, completion), or null for an error.
async function chat(srv, { token = TOKEN, stream = false, model = MODEL, text = 'count these words' } = {}) {
  const body = { model, messages: [{ role: 'user', content: text }] };
  if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  const r = await call(srv, 'POST', '/v1/chat/completions', { token, body });
  if (r.status !== 200) return { status: r.status, r, usage: null };
  let usage = r.json?.usage;
  if (stream) {
    for (const line of r.text.split('\n')) {
      if (!line.startsWith('data: {')) continue;
      const ev = JSON.parse(line.slice(6));
      if (ev.usage) usage = ev.usage;
    }
  }
  assert.ok(usage, `no usage in ${r.text.slice(0, 300)}`);
  return { status: 200, r, usage: { prompt: usage.prompt_tokens, completion: usage.completion_tokens } };
}

// openai-fcgi --usage [args], with the settings of srv; parsed when --json.
// Without LOG_FILE: a CLI run logs to stderr, not into the server's log.
const cliEnv = (env, extra = {}) => {
  const e = { ...env, ...extra };
  delete e.LOG_FILE;
  return e;
};

function usageCli(srv, args = ['--json'], extraEnv = {}) {
  const r = spawnSync(app, ['--usage', ...args], { env: cliEnv(srv.env, extraEnv), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return args.includes('--json') ? JSON.parse(r.stdout) : r.stdout;
}

// The --usage rows of key (and model) summed over days.
function usageOf(rows, key, model = MODEL) {
  const sum = { requests: 0, prompt: 0, completion: 0, errors: {} };
  for (const row of rows.filter((x) => x.key === key && x.model === model)) {
    sum.requests += row.requests;
    sum.prompt += row.prompt_tokens;
    sum.completion += row.completion_tokens;
    for (const [s, n] of Object.entries(row.errors)) sum.errors[s] = (sum.errors[s] || 0) + n;
  }
  return sum;
}

// A request is recorded after its answer went out: wait until check() holds.
async function eventually(check, ms = 10000) {
  let last;
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    try { return await check(); } catch (e) { last = e; }
  }
  throw last;
}

// GET /metrics run as one CGI request of the real binary, from addr.
function cgiMetrics(env, addr, auth) {
  const r = spawnSync(app, [], { env: { ...cliEnv(env), GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET',
    REQUEST_URI: '/metrics', REMOTE_ADDR: addr, ...(auth ? { HTTP_AUTHORIZATION: auth } : {}) },
  encoding: 'utf8' });
  return { status: Number(/^Status: (\d+)/m.exec(r.stdout)?.[1]), text: r.stdout };
}

describe('usage accounting: 4 FastCGI processes x 4 threads and a CGI front share one usage file', () => {
  let fcgi;
  let cgi;
  before(async () => {
    fcgi = await startServer({ processes: 4, threads: 4 });
    cgi = await startServer({ cgi: true, env: { USAGE_FILE: path.join(fcgi.dir, 'usage') } });
    fcgi.env.USAGE_FILE = path.join(fcgi.dir, 'usage');
  });
  after(async () => {
    await cgi?.stop();
    await fcgi?.stop();
  });

  test('--usage --json adds up exactly what was sent, per key, with errors by status', async () => {
    const jobs = [];
    const send = (srv, opts) => jobs.push(chat(srv, opts).then((d) => ({ ...d, key: fingerprint(opts.token) })));
    for (let i = 0; i < 60; i++) {
      send(fcgi, { token: i % 3 ? TOKEN : TOKEN2, stream: i % 2 === 0, text: `words ${'x '.repeat(i % 9)}` });
    }
    for (let i = 0; i < 6; i++) send(cgi, { token: TOKEN, stream: i % 2 === 1, text: `cgi ${'y '.repeat(i)}` });
    for (let i = 0; i < 5; i++) send(fcgi, { token: TOKEN2, model: 'no-such-model' });
    const done = await Promise.all(jobs);
    const want = {};
    for (const d of done) {
      const { key } = d;
      if (d.status !== 200) continue;
      want[key] ||= { requests: 0, prompt: 0, completion: 0 };
      want[key].requests++;
      want[key].prompt += d.usage.prompt;
      want[key].completion += d.usage.completion;
    }
    assert.equal(done.filter((d) => d.status === 200).length, 66);
    assert.equal(done.filter((d) => d.status === 404).length, 5);
    await eventually(() => {
      const rows = usageCli(fcgi);
      for (const t of [TOKEN, TOKEN2]) {
        const got = usageOf(rows, fingerprint(t));
        assert.deepEqual({ requests: got.requests, prompt: got.prompt, completion: got.completion },
          want[fingerprint(t)], fingerprint(t));
      }
      // the unknown model has no model label (never the client's text)
      assert.deepEqual(usageOf(rows, fingerprint(TOKEN2), '').errors, { 404: 5 });
      assert.ok(!JSON.stringify(rows).includes('no-such-model'));
    });
    // the text table and --since
    const table = usageCli(fcgi, []);
    assert.match(table.split('\n')[0], /^DAY\s+KEY\s+MODEL\s+REQUESTS\s+PROMPT\s+COMPLETION\s+ERRORS/);
    assert.match(table, new RegExp(`${fingerprint(TOKEN)}\\s+${MODEL}\\s+${want[fingerprint(TOKEN)].requests}\\s`));
    assert.deepEqual(usageCli(fcgi, ['--since', '2999-01-01', '--json']), []);
    const bad = spawnSync(app, ['--usage', '--since', '2026-02-30'], { env: fcgi.env, encoding: 'utf8' });
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /--since takes a date/);
  });

  test('kept across restarts: a new process reads the same counts', async () => {
    const before1 = usageOf(usageCli(fcgi), fingerprint(TOKEN)).requests;
    await chat(cgi, { token: TOKEN });   // a CGI run is a fresh process
    await eventually(() => assert.equal(usageOf(usageCli(fcgi), fingerprint(TOKEN)).requests, before1 + 1));
  });

  test('the usage file truncated, garbled or deleted while serving: no failure, a warning, counting goes on', async () => {
    const file = fcgi.env.USAGE_FILE;
    const damage = [
      () => fs.truncateSync(file, 0),
      () => fs.truncateSync(file, 5000),
      () => { const fd = fs.openSync(file, 'r+'); fs.writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, 0); fs.closeSync(fd); },
      () => fs.unlinkSync(file),
    ];
    for (const hurt of damage) {
      let running = true;
      const statuses = [];
      const load = Array.from({ length: 4 }, async () => {
        while (running) statuses.push((await chat(fcgi, { token: TOKEN2 })).status);
      });
      await sleep(150);
      hurt();
      await sleep(300);
      running = false;
      await Promise.all(load);
      assert.ok(statuses.length > 0);
      assert.deepEqual([...new Set(statuses)], [200]);
      // exact again from here on, across the 4 processes and CGI
      await sleep(200);
      const base = usageOf(usageCli(fcgi), fingerprint(TOKEN2)).requests;
      await Promise.all([...Array.from({ length: 12 }, () => chat(fcgi, { token: TOKEN2 })),
        chat(cgi, { token: TOKEN2 }), chat(cgi, { token: TOKEN2 })]);
      await eventually(() => assert.equal(usageOf(usageCli(fcgi), fingerprint(TOKEN2)).requests, base + 14));
    }
    assert.match(fcgi.log(), /WARNING.*usage file .*rebuilding it/);
    const health = await call(fcgi, 'GET', '/health');
    assert.equal(health.status, 200);
  });
});

describe('budgets: tokens_per_day and tokens_per_month on a key (2 FastCGI processes)', () => {
  let srv;
  let conf;
  const DAY = 60;
  const MONTH = 45;
  const TOKEN3 = 'e2e-third-key-0123456789';
  before(async () => {
    conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-budget-')), 'openai-fcgi.conf');
    fs.writeFileSync(conf, `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + `keys = ( { token = "${TOKEN}"; tokens_per_day = ${DAY}; },\n`
      + `         { token = "${TOKEN3}"; tokens_per_month = ${MONTH}; } );\n`);
    fs.chmodSync(path.dirname(conf), 0o755);
    srv = await startServer({ processes: 2, env: { OPENAI_FCGI_CONFIG: conf } });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(path.dirname(conf), { recursive: true, force: true });
  });

  for (const [name, token, budget] of [['tokens_per_day', TOKEN, DAY], ['tokens_per_month', TOKEN3, MONTH]]) {
    test(`${name} = ${budget}: admitted until spent, then 429 insufficient_quota`, async () => {
      let used = 0;
      let admitted = 0;
      for (let i = 0; i < 40 && used < budget; i++) {
        const d = await chat(srv, { token, stream: i % 2 === 1, text: `spend ${'w '.repeat(i % 4)}` });
        assert.equal(d.status, 200, `request ${i} refused with ${used} of ${budget} used: ${d.r.text}`);
        used += d.usage.prompt + d.usage.completion;
        admitted++;
        // wait until it is recorded, so the next request sees it (no overshoot in this test)
        await eventually(() => assert.equal(usageOf(usageCli(srv), fingerprint(token)).requests, admitted));
      }
      assert.ok(used >= budget && admitted > 1, `spent ${used} in ${admitted}`);
      for (const stream of [false, true]) {
        const d = await chat(srv, { token, stream });
        expectError(assert, d.r, 429, 'insufficient_quota');
        assert.equal(d.r.json.error.type, 'insufficient_quota');
        assert.match(d.r.json.error.message,
          /^You exceeded your current quota, please check your plan and billing details\. /);
      }
      // the other endpoints that spend tokens too; listing models does not
      const rsp = await call(srv, 'POST', '/v1/responses', { token, body: { model: MODEL, input: 'hi' } });
      expectError(assert, rsp, 429, 'insufficient_quota');
      assert.equal((await call(srv, 'GET', '/v1/models', { token })).status, 200);
      // a key without a budget is not affected
      assert.equal((await chat(srv, { token: TOKEN2 })).status, 200);
    });
  }

  test('the refusals are counted: 429s in --usage and in /metrics by kind', async () => {
    await eventually(() => {
      // refused before the body is read: no model
      assert.ok(usageOf(usageCli(srv), fingerprint(TOKEN), '').errors[429] >= 3);
    });
    const m = await call(srv, 'GET', '/metrics', { token: null });
    assert.equal(m.status, 200);
    const n = Number(/^openai_fcgi_rate_limited_total\{kind="insufficient_quota"\} (\d+)$/m.exec(m.text)?.[1]);
    assert.ok(n >= 6, m.text);
    if (have('promtool')) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    }
  });
});

describe('GET /metrics: who may read it, never counted against a key, checked by Prometheus itself', () => {
  let srv;
  let guarded;
  before(async () => {
    srv = await startServer({ processes: 4, threads: 2 });
    guarded = await startServer({ env: { METRICS_TOKEN: 'e2e-metrics-token-0123456789', RATE_LIMIT_PER_MINUTE: '5' } });
  });
  after(async () => {
    await guarded?.stop();
    await srv?.stop();
  });

  test('from loopback without METRICS_TOKEN: served; from elsewhere: 403', async () => {
    const r = await call(srv, 'GET', '/metrics', { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(r.text, /^# TYPE openai_fcgi_requests_total counter$/m);
    const env = testEnv(srv.dir);
    assert.equal(cgiMetrics(env, '127.0.0.1').status, 200);
    assert.equal(cgiMetrics(env, '::1').status, 200);
    for (const addr of ['203.0.113.5', '10.0.0.1', '::ffff:192.0.2.1', '2001:db8::1', '']) {
      const res = cgiMetrics(env, addr);
      assert.equal(res.status, 403, `${addr}: ${res.text}`);
      assert.match(res.text, /"code":"metrics_forbidden"/);
    }
  });

  test('with METRICS_TOKEN: only that bearer token, from anywhere; an API key is not it', async () => {
    expectError(assert, await call(guarded, 'GET', '/metrics', { token: null }), 401, undefined);
    expectError(assert, await call(guarded, 'GET', '/metrics', { token: TOKEN }), 401, 'invalid_key');
    expectError(assert, await call(guarded, 'GET', '/metrics', { token: 'e2e-metrics-token-012345678' }), 401, 'invalid_key');
    const ok = await call(guarded, 'GET', '/metrics', { token: 'e2e-metrics-token-0123456789' });
    assert.equal(ok.status, 200);
    const env = testEnv(guarded.dir, { METRICS_TOKEN: 'e2e-metrics-token-0123456789' });
    assert.equal(cgiMetrics(env, '203.0.113.5', 'Bearer e2e-metrics-token-0123456789').status, 200);
    assert.equal(cgiMetrics(env, '127.0.0.1').status, 401);
  });

  test('scrapes never count against a key or an address', async () => {
    // with the token, without it (401s), from the same address and key
    for (let i = 0; i < 12; i++) {
      assert.equal((await call(guarded, 'GET', '/metrics', { token: 'e2e-metrics-token-0123456789' })).status, 200);
      assert.equal((await call(guarded, 'GET', '/metrics', { token: TOKEN })).status, 401);
    }
    const rs = await Promise.all(Array.from({ length: 7 }, () => call(guarded, 'GET', '/v1/models')));
    assert.equal(rs.filter((r) => r.status === 200).length, 5);   // the key's whole limit is left
  });

  test('requests in flight and open streams: summed over the processes, back to 0 when they end', async () => {
    const slow = await startServer({ processes: 2, threads: 4, env: { MOCK_STREAM_DELAY_MS: '300' } });
    try {
      const gauge = async (name) => {
        const m = await call(slow, 'GET', '/metrics', { token: null });
        return Number(new RegExp(`^openai_fcgi_${name} (\\d+)$`, 'm').exec(m.text)?.[1]);
      };
      const streams = [];
      for (let i = 0; i < 3; i++) {
        const ac = new AbortController();
        const r = await fetch(`${slow.url}/v1/chat/completions`, { method: 'POST', signal: ac.signal,
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'a long answer please' }] }) });
        const reader = r.body.getReader();
        await reader.read();   // its head and first event are out: the stream is open
        streams.push({ ac, reader });
      }
      // a request before these may still be finishing on a loaded machine
      await eventually(async () => {
        assert.equal(await gauge('open_streams'), 3);
        assert.equal(await gauge('requests_in_flight'), 4);   // the three and this scrape
      }, 5000);
      for (const s of streams) s.ac.abort();
      await eventually(async () => {
        assert.equal(await gauge('open_streams'), 0);
        assert.equal(await gauge('requests_in_flight'), 1);
      }, 20000);
    } finally {
      await slow.stop();
    }
  });

  test('upstream errors by upstream: an upstream that refuses connections', async () => {
    const dead = await freePort();   // nothing listens there
    const broken = await startServer({ env: { UPSTREAM_BASE_URL: `http://127.0.0.1:${dead}/v1`,
      UPSTREAM_MODELS: 'gone', UPSTREAM_TIMEOUT_S: '2' } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await chat(broken, { model: 'gone', stream: i === 1 })).status);
      assert.ok(statuses.every((s) => s >= 500), String(statuses));
      await eventually(async () => {
        const m = await call(broken, 'GET', '/metrics', { token: null });
        assert.match(m.text, /^openai_fcgi_upstream_errors_total\{upstream="env"\} 3$/m);
        const byStatus = [...m.text.matchAll(/^openai_fcgi_requests_total\{route="\/v1\/chat\/completions",model="gone",status="(5\d\d)",key="[^"]+"\} (\d+)$/mg)];
        assert.equal(byStatus.reduce((n, x) => n + Number(x[2]), 0), 3);
      });
    } finally {
      await broken.stop();
    }
  });

  test('promtool check metrics accepts the output, with every family filled', { skip: !have('promtool') && 'promtool is not installed (scripts/test installs prometheus)' }, async () => {
    await chat(srv, { token: TOKEN2, stream: true });
    await chat(srv, { token: TOKEN2, model: 'no-such-model' });
    const r = await call(srv, 'GET', '/metrics', { token: null });
    for (const f of ['requests_total', 'prompt_tokens_total', 'request_duration_seconds_bucket',
      'time_to_first_token_seconds_bucket']) {
      assert.match(r.text, new RegExp(`^openai_fcgi_${f}\\{`, 'm'), f);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}\n${r.text}`);
  });

  test('a real Prometheus scrapes it and its query answers the counts sent', { skip: !have('prometheus') && 'prometheus is not installed (scripts/test installs it)' }, async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-prom-'));
    const target = new URL(srv.base).host;
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n`
      + `scrape_configs:\n  - job_name: openai-fcgi\n    metrics_path: /metrics\n`
      + `    static_configs:\n      - targets: ['${target}']\n`);
    const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
    const prom = spawn('prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
    try {
      const sent = 9;
      const token3 = TOKEN;  // a key of its own in the query
      let prompt = 0;
      for (let i = 0; i < sent; i++) {
        const d = await chat(srv, { token: token3, stream: i % 2 === 0 });
        assert.equal(d.status, 200);
        prompt += d.usage.prompt;
      }
      const ask = async (q) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
        const j = await r.json();
        return j.data?.result?.[0]?.value?.[1];
      };
      const key = fingerprint(token3);
      let got;
      let gotPrompt;
      for (const end = Date.now() + 60000; Date.now() < end; await sleep(500)) {
        try {
          got = await ask(`sum(openai_fcgi_requests_total{route="/v1/chat/completions",status="200",key="${key}"})`);
          gotPrompt = await ask(`sum(openai_fcgi_prompt_tokens_total{model="${MODEL}",key="${key}"})`);
        } catch { /* not up yet */ }
        if (got === String(sent) && gotPrompt === String(prompt)) break;
      }
      assert.equal(got, String(sent), fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').slice(-2000));
      assert.equal(gotPrompt, String(prompt));
      const up = await ask('up{job="openai-fcgi"}');
      assert.equal(up, '1');
    } finally {
      prom.kill('SIGTERM');
      for (let i = 0; i < 100 && prom.exitCode === null && prom.signalCode === null; i++) await sleep(50);
      if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
