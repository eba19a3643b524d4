// redis.test.mjs: STATE_BACKEND=redis with Debian's redis-server started here:
// two "hosts" (two openai-fcgi deployments with their own STATE_DIRs, each
// behind its own lighttpd) share one Redis and admit exactly a key's limit
// between them, requests and tokens; Redis killed (REDIS_ON_FAILURE closed:
// 503, open: admitted and counted in /metrics), restarted (exact again
// without restarting us), slow (DEBUG SLEEP: the timeout path); over TCP,
// a unix socket, a password and an ACL user.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { app, call, expectError, freePort, startServer, top, TOKEN, TOKEN2 } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const haveRedis = spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli']).status === 0;

// A redis-server of our own: on a free loopback port (or a unix socket
// only), with a password or an ACL user when asked, no persistence, DEBUG
// allowed from loopback. Stopped and restarted by PID.
async function startRedis({ unix = false, password, user } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-redis-'));
  fs.chmodSync(dir, 0o755);
  const port = unix ? 0 : await freePort();
  const sock = path.join(dir, 'redis.sock');
  const lines = [`port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no', `dir ${dir}`,
    'enable-debug-command local', 'protected-mode no', `logfile ${dir}/redis.log`];
  if (unix) lines.push(`unixsocket ${sock}`, 'unixsocketperm 777');
  if (password && !user) lines.push(`requirepass ${password}`);
  if (user) lines.push('user default off', `user ${user} on >${password} ~* &* +@all`);
  const conf = path.join(dir, 'redis.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const auth = user ? ['--user', user, '--pass', password] : password ? ['-a', password] : [];
  const where = unix ? ['-s', sock] : ['-p', String(port)];
  const cli = (...args) => spawnSync('redis-cli', [...where, ...auth, '--no-auth-warning', ...args],
    { encoding: 'utf8' });
  const r = {
    dir, port, sock, proc: null,
    url: unix ? `unix://${password ? `:${password}@` : ''}${sock}`
      : `redis://${user ? `${user}:${encodeURIComponent(password)}@` : password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}/3`,
    cli,
    async start() {
      r.proc = spawn('redis-server', [conf], { stdio: 'ignore', detached: true });
      for (let i = 0; i < 100; i++) {
        if (cli('PING').stdout.trim() === 'PONG') return;
        await sleep(50);
      }
      throw new Error(`redis-server did not start: ${fs.readFileSync(`${dir}/redis.log`, 'utf8')}`);
    },
    async kill() {
      if (!r.proc) return;
      const p = r.proc;
      r.proc = null;
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      for (let i = 0; i < 100 && p.exitCode === null && p.signalCode === null; i++) await sleep(20);
    },
    async stop() { await r.kill(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
  await r.start();
  return r;
}

// n requests at once, spread over the hosts in turn.
async function spread(hosts, n, send) {
  return Promise.all(Array.from({ length: n }, (_, i) => send(hosts[i % hosts.length])));
}
const models = (srv) => call(srv, 'GET', '/v1/models');

function statuses(rs) {
  const c = {};
  for (const r of rs) c[r.status] = (c[r.status] || 0) + 1;
  return c;
}

// Two deployments, each with its own STATE_DIR behind its own lighttpd
// (2 FastCGI processes x 4 threads), sharing the Redis at url.
async function twoHosts(url, env = {}) {
  // Timeouts far above the defaults' 50 ms: these count, and the machine
  // running the suite may be loaded; the fault tests set their own.
  const e = { STATE_BACKEND: 'redis', REDIS_URL: url, RATE_LIMIT_PER_MINUTE: '10',
    REDIS_CONNECT_TIMEOUT_MS: '2000', REDIS_TIMEOUT_MS: '2000', ...env };
  return Promise.all([startServer({ processes: 2, env: e }), startServer({ processes: 2, env: e })]);
}

// 30 at once over both hosts against 10 a minute: exactly 10 pass (plus one
// per 6 s the burst took, on a loaded machine), the rest get OpenAI's 429.
function checkExactTen(rs, ms, hosts = []) {
  const refills = Math.floor(ms / 6000);
  const ok = rs.filter((r) => r.status === 200);
  const limited = rs.filter((r) => r.status === 429);
  const said = () => hosts.flatMap((h) => h.log().split('\n').filter((l) => l.includes('redis'))).slice(0, 10).join('\n');
  assert.equal(ok.length + limited.length, rs.length, `${JSON.stringify(statuses(rs))}\n${ok.length + limited.length < rs.length ? said() : ''}`);
  assert.ok(ok.length >= 10 && ok.length <= 10 + refills, `${ok.length} admitted in ${ms} ms`);
  for (const r of limited) {
    expectError(assert, r, 429, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'requests');
    assert.ok(Number(r.headers.get('retry-after-ms')) > 0);
  }
  for (const r of ok) assert.equal(r.headers.get('x-ratelimit-limit-requests'), '10');
  if (!refills) assert.equal(Math.min(...ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests')))), 0);
}

async function timedBurst(hosts, n = 30, send = models) {
  const t0 = performance.now();
  const rs = await spread(hosts, n, send);
  return { rs, ms: performance.now() - t0 };
}

describe('two hosts share one Redis on loopback', { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
  let redis; let a; let b;
  before(async () => {
    redis = await startRedis();
    [a, b] = await twoHosts(redis.url, { RATE_LIMIT_TOKENS_PER_MINUTE: '0' });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('30 requests at once over both hosts against a limit of 10 admit exactly 10', async () => {
    const { rs, ms } = await timedBurst([a, b]);
    checkExactTen(rs, ms, [a, b]);
    // each host served some of them: the limit was shared, not split
    assert.ok(rs.filter((r, i) => i % 2 === 0).length === 15);
    // the other key is untouched, on either host
    const other = await call(b, 'GET', '/v1/models', { token: TOKEN2 });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('x-ratelimit-remaining-requests'), '9');
    // the state is in Redis under the prefix, in database 3 of the URL
    const keys = redis.cli('-n', '3', 'KEYS', 'openai-fcgi:rl:*').stdout.trim().split('\n');
    assert.ok(keys.length >= 2, keys.join(','));
    // nothing in either host's own file: each counts in Redis only
    for (const h of [a, b]) assert.equal(fs.existsSync(h.env.RATE_LIMIT_FILE), false);
  });

  test('the script lives in Redis once: flushed (as by a restart), it is loaded again', async () => {
    assert.equal(redis.cli('SCRIPT', 'FLUSH').stdout.trim(), 'OK');
    const r = await call(a, 'GET', '/v1/models', { token: TOKEN2 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '8');
  });
});

describe('tokens per minute over two hosts sharing one Redis', { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
  let redis; let a; let b;
  const LIMIT = 1000;
  before(async () => {
    redis = await startRedis();
    [a, b] = await twoHosts(redis.url, { RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_TOKENS_PER_MINUTE: String(LIMIT) });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('reservations from both hosts never hold more than the limit; settlement gives back', async () => {
    // an embeddings request reserves its input's tokens and is settled
    // with the same count: its cost is exact, whenever answers settle
    const body = { model: 'blueprint-embedding', input: 'word '.repeat(110), encoding_format: 'float' };
    const probe = await call(a, 'POST', '/v1/embeddings', { body, token: TOKEN });
    assert.equal(probe.status, 200, probe.text);
    const cost = probe.json.usage.total_tokens;
    const fits = Math.floor(LIMIT / cost);
    assert.ok(fits >= 3 && fits <= 12, `cost ${cost}`);
    const n = fits * 3;
    const { rs, ms } = await timedBurst([a, b], n, (h) => call(h, 'POST', '/v1/embeddings', { body, token: TOKEN2 }));
    const refills = Math.floor(ms / (60000 * cost / LIMIT));
    const ok = rs.filter((r) => r.status === 200);
    assert.ok(ok.length >= fits && ok.length <= fits + refills, `${ok.length} of ${n} admitted, ${fits} fit (${ms} ms)`);
    for (const r of rs.filter((x) => x.status !== 200)) {
      expectError(assert, r, 429, 'rate_limit_exceeded');
      assert.equal(r.json.error.type, 'tokens');
      assert.match(r.json.error.message, /on tokens per min \(TPM\): Limit 1000, Used \d+, Requested \d+/);
    }
    assert.equal(ok.length + rs.filter((r) => r.status === 429).length, n);
    // a chat request reserves its max_tokens and is settled with what it
    // used: the unused part is back for the other host at once
    const chat = { model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 500 };
    const c1 = await call(a, 'POST', '/v1/chat/completions', { body: chat, token: TOKEN });
    assert.equal(c1.status, 200, c1.text);
    const used = c1.json.usage.total_tokens;
    assert.ok(used < 400, `the answer used ${used} of its 500: nothing to give back`);
    const after1 = await call(b, 'GET', '/v1/models', { token: TOKEN });
    const remaining = Number(after1.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(remaining >= LIMIT - cost - used - 2 && remaining <= LIMIT - used,
      `remaining ${remaining} after ${cost} + ${used} used`);
  });
});

// Kill, restart and slow Redis under one mode or the other.
for (const mode of ['closed', 'open']) {
  describe(`Redis goes away and comes back, REDIS_ON_FAILURE=${mode}`, { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
    let redis; let a; let b;
    before(async () => {
      redis = await startRedis();
      [a, b] = await twoHosts(redis.url, { REDIS_ON_FAILURE: mode, REDIS_TIMEOUT_MS: '500', REDIS_CONNECT_TIMEOUT_MS: '500' });
    });
    after(async () => {
      await Promise.allSettled([a?.stop(), b?.stop()]);
      await redis?.stop();
    });

    test('killed mid-run: each request is answered at once as the mode says; restarted: exact again', async () => {
      const first = await timedBurst([a, b], 6);
      assert.deepEqual(statuses(first.rs), { 200: 6 });
      // killed while requests are under way
      const during = spread([a, b], 20, models);
      await redis.kill();
      const mid = await during;
      for (const r of mid) assert.ok([200, 429, 503].includes(r.status), `${r.status} ${r.text}`);
      const t0 = performance.now();
      const down = await spread([a, b], 20, models);
      const downMs = performance.now() - t0;
      if (mode === 'closed') {
        for (const r of down) {
          expectError(assert, r, 503, 'limits_unavailable');
          assert.equal(r.json.error.type, 'server_error');
          assert.match(r.json.error.message, /rate limits/);
          assert.doesNotMatch(r.json.error.message, /127\.0\.0\.1|redis:|ECONN/i);
        }
      } else {
        for (const r of down) assert.equal(r.status, 200, r.text);
      }
      // no request waited on a Redis that is gone: 20 requests over 16
      // workers, each failing within its connect timeout at most
      assert.ok(downMs < 5000, `20 requests took ${downMs} ms with Redis down`);
      const log = a.log() + b.log();
      assert.match(log, new RegExp(`STATE_BACKEND=redis: .*REDIS_ON_FAILURE=${mode}`));
      // logged once per 10 s, not per request
      const lines = log.split('\n').filter((l) => l.includes('ERROR') && l.includes('STATE_BACKEND=redis'));
      assert.ok(lines.length <= 8, `${lines.length} outage lines`);
      // /metrics counts the requests let through (or refused) unchecked
      const m = await call(a, 'GET', '/metrics', { token: null });
      assert.equal(m.status, 200);
      const status = mode === 'open' ? 200 : 503;
      const counted = m.text.match(new RegExp(`^openai_fcgi_limits_unchecked_total\\{status="${status}"\\} (\\d+)$`, 'm'));
      assert.ok(counted && Number(counted[1]) >= 10, m.text.split('\n').filter((l) => l.includes('unchecked')).join('\n'));

      // back, empty (a restarted Redis forgot its keys and its script):
      // exact counting resumes on both hosts without restarting them
      await redis.start();
      let ok = false;
      for (let i = 0; i < 60 && !ok; i++) {
        const probe = await Promise.all([a, b].map((h) => call(h, 'GET', '/v1/models', { token: TOKEN2 })));
        // counted again: a 200 or a 429 that carries the limit's headers
        ok = probe.every((r) => [200, 429].includes(r.status) && r.headers.get('x-ratelimit-limit-requests') === '10');
        if (!ok) await sleep(100);
      }
      assert.ok(ok, 'the hosts did not count in Redis again after its restart');
      // every thread that failed is past its backoff (at most 1 s) by now
      await sleep(1500);
      const { rs, ms } = await timedBurst([a, b]);
      checkExactTen(rs, ms, [a, b]);
      assert.match(a.log() + b.log(), /reachable again/);
    });

    test('a Redis that answers slowly (DEBUG SLEEP) hits the timeout, not the request', async () => {
      const sleeper = spawn('redis-cli', ['-p', String(redis.port), 'DEBUG', 'SLEEP', '5'], { stdio: 'ignore' });
      const woke = new Promise((r) => sleeper.on('exit', r));
      await sleep(200);
      const t0 = performance.now();
      const rs = await spread([a, b], 8, (h) => call(h, 'GET', '/v1/models', { token: TOKEN2 }));
      const ms = performance.now() - t0;
      await woke;
      // each request gave up after REDIS_TIMEOUT_MS (500 ms), long before
      // Redis woke up (5 s)
      assert.ok(ms < 4000, `8 requests took ${ms} ms against a Redis asleep for 5 s`);
      if (mode === 'closed') for (const r of rs) expectError(assert, r, 503, 'limits_unavailable');
      else for (const r of rs) assert.equal(r.status, 200, r.text);
      assert.match(a.log() + b.log(), /no answer in time/);
      // awake again: counted (after the thread's backoff)
      let back = false;
      for (let i = 0; i < 40 && !back; i++) {
        const r = await call(a, 'GET', '/v1/models', { token: TOKEN2 });
        back = [200, 429].includes(r.status) && r.headers.get('x-ratelimit-limit-requests') === '10';
        if (!back) await sleep(100);
      }
      assert.ok(back);
    });
  });
}

describe('Redis on a unix socket, with a password, with an ACL user', { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
  const cases = [
    ['a unix socket', { unix: true }],
    ['a unix socket with requirepass', { unix: true, password: 'sock-pass' }],
    ['requirepass over TCP', { password: 'p@ss:w/rd' }],
    ['an ACL user', { user: 'oaf', password: 'acl-secret' }],
  ];
  for (const [name, opts] of cases) {
    test(`${name}: two hosts admit exactly 10 between them`, async () => {
      const redis = await startRedis(opts);
      let hosts = [];
      try {
        hosts = await twoHosts(redis.url);
        const { rs, ms } = await timedBurst(hosts);
        checkExactTen(rs, ms, hosts);
      } finally {
        await Promise.allSettled(hosts.map((h) => h.stop()));
        await redis.stop();
      }
    });
  }

  test('a wrong password is an outage (503), said in the log without the password', async () => {
    const redis = await startRedis({ password: 'right-one' });
    let srv;
    try {
      srv = await startServer({ env: { STATE_BACKEND: 'redis', REDIS_URL: redis.url.replace('right-one', 'wrong-one') } });
      const r = await call(srv, 'GET', '/v1/models');
      expectError(assert, r, 503, 'limits_unavailable');
      const log = srv.log();
      assert.match(log, /AUTH refused/);
      assert.doesNotMatch(log, /wrong-one/);
    } finally {
      await srv?.stop();
      await redis.stop();
    }
  });
});

describe('STATE_BACKEND=redis is checked at start', () => {
  test('without REDIS_URL, or with a malformed one, start-up is refused naming the setting', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-redis-cfg-'));
    try {
      for (const [url, re] of [[undefined, /STATE_BACKEND=redis needs REDIS_URL/], ['redis://h:99999', /REDIS_URL: the port/],
        ['http://h', /REDIS_URL: it must start with redis:\/\/ or unix:\/\//]]) {
        const env = { PATH: process.env.PATH, ENVIRONMENT: 'test', STATE_DIR: dir, STATE_BACKEND: 'redis', API_AUTH_TOKENS: TOKEN };
        if (url) env.REDIS_URL = url;
        const r = spawnSync(app, ['--check-config'], { env, encoding: 'utf8' });
        assert.notEqual(r.status, 0, r.stdout);
        assert.match(r.stderr + r.stdout, re);
      }
      // a prefix that would leave no room for the key names
      const env = { PATH: process.env.PATH, ENVIRONMENT: 'test', STATE_DIR: dir, STATE_BACKEND: 'redis', API_AUTH_TOKENS: TOKEN,
        REDIS_URL: 'redis://127.0.0.1:6379/0', REDIS_KEY_PREFIX: 'p'.repeat(65) };
      const r = spawnSync(app, ['--check-config'], { env, encoding: 'utf8' });
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(r.stderr + r.stdout, /REDIS_KEY_PREFIX: longer than 64 bytes/);
      env.REDIS_KEY_PREFIX = 'p'.repeat(64);
      assert.equal(spawnSync(app, ['--check-config'], { env, encoding: 'utf8' }).status, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('usage and budgets of two hosts add up in one Redis', { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
  let redis; let a; let b; let confDir;
  const DAY = 80;
  const fingerprint = (t) => `key_${crypto.createHash('sha256').update(t).digest('hex').slice(0, 8)}`;
  const usage = (srv) => {
    const env = { ...srv.env };
    delete env.LOG_FILE;
    const r = spawnSync(app, ['--usage', '--json'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const requestsOf = (rows, key, model) => rows.filter((x) => x.key === key && x.model === model)
    .reduce((s, x) => ({ requests: s.requests + x.requests, tokens: s.tokens + x.prompt_tokens + x.completion_tokens }),
      { requests: 0, tokens: 0 });
  before(async () => {
    redis = await startRedis();
    confDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-redis-budget-'));
    fs.chmodSync(confDir, 0o755);
    const conf = path.join(confDir, 'openai-fcgi.conf');
    fs.writeFileSync(conf, `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + `keys = ( { token = "${TOKEN}"; tokens_per_day = ${DAY}; } );\n`);
    [a, b] = await twoHosts(redis.url, { RATE_LIMIT_PER_MINUTE: '100000', OPENAI_FCGI_CONFIG: conf });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await redis?.stop();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  test('--usage and /metrics of either host count both; a day budget spent on one host is spent on the other', async () => {
    const body = { model: 'blueprint-standard', messages: [{ role: 'user', content: 'count me' }] };
    let tokens = 0;
    // TOKEN2 has no budget: 6 requests, 3 on each host
    for (let i = 0; i < 6; i++) {
      const r = await call(i % 2 ? b : a, 'POST', '/v1/chat/completions', { body, token: TOKEN2 });
      assert.equal(r.status, 200, r.text);
      tokens += r.json.usage.total_tokens;
    }
    let rows;
    for (let i = 0; i < 50; i++) {
      rows = usage(a);
      if (requestsOf(rows, fingerprint(TOKEN2), 'blueprint-standard').requests === 6) break;
      await sleep(100);
    }
    assert.deepEqual(requestsOf(rows, fingerprint(TOKEN2), 'blueprint-standard'), { requests: 6, tokens });
    assert.deepEqual(requestsOf(usage(b), fingerprint(TOKEN2), 'blueprint-standard'), { requests: 6, tokens });
    const m = await call(b, 'GET', '/metrics', { token: null });
    const line = m.text.split('\n').find((l) => l.startsWith('openai_fcgi_requests_total{')
      && l.includes('route="/v1/chat/completions"') && l.includes('status="200"') && l.includes(fingerprint(TOKEN2)));
    assert.ok(line && line.endsWith(' 6'), line);

    // the budget: spent by requests to both hosts, refused by both after
    let used = 0;
    let n = 0;
    for (; n < 40 && used < DAY; n++) {
      const r = await call(n % 2 ? b : a, 'POST', '/v1/chat/completions', { body, token: TOKEN });
      assert.equal(r.status, 200, `request ${n} refused with ${used} of ${DAY} used: ${r.text}`);
      used += r.json.usage.total_tokens;
      for (let i = 0; i < 50 && requestsOf(usage(a), fingerprint(TOKEN), 'blueprint-standard').requests < n + 1; i++) await sleep(100);
    }
    assert.ok(n > 1 && used >= DAY, `${used} in ${n}`);
    for (const h of [a, b]) {
      const r = await call(h, 'POST', '/v1/chat/completions', { body, token: TOKEN });
      expectError(assert, r, 429, 'insufficient_quota');
    }
  });
});

describe('upstream cooldowns of two hosts in one Redis', { skip: !haveRedis && 'redis-server is not installed', timeout: 180000 }, () => {
  let redis; let a; let b; let confDir; let busy; let spare;
  const hits = { busy: 0, spare: 0 };
  // busy answers 429 with a Retry-After of 5 s; spare answers.
  const upstream = (name, status) => http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hits[name]++;
      if (status === 429) {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '5' });
        res.end(JSON.stringify({ error: { message: 'busy', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'chatcmpl-cd', object: 'chat.completion', created: 1, model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: `from ${name}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  });
  const listen = async (srv) => {
    const port = await freePort();
    await new Promise((r) => srv.listen(port, '127.0.0.1', r));
    return `http://127.0.0.1:${port}`;
  };
  before(async () => {
    redis = await startRedis();
    busy = upstream('busy', 429);
    spare = upstream('spare', 200);
    const [bu, su] = [await listen(busy), await listen(spare)];
    confDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-redis-cd-'));
    fs.chmodSync(confDir, 0o755);
    const conf = path.join(confDir, 'openai-fcgi.conf');
    const t = 'timeouts = { connect_ms = 1000; first_byte_ms = 2000; idle_ms = 5000; total_ms = 10000; };';
    fs.writeFileSync(conf, `upstreams = ( { name = "busy"; base_url = "${bu}/v1"; ${t} }, { name = "spare"; base_url = "${su}/v1"; ${t} } );
models = ( { id = "cd"; backend = "upstream"; deployments = (
  { upstream = "busy"; model = "cd-busy"; priority = 0; }, { upstream = "spare"; model = "cd-spare"; priority = 1; } ); } );
`);
    [a, b] = await twoHosts(redis.url, { RATE_LIMIT_PER_MINUTE: '100000', OPENAI_FCGI_CONFIG: conf, UPSTREAM_RETRIES: '1' });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    for (const u of [busy, spare]) if (u) { u.closeAllConnections(); u.close(); }
    await redis?.stop();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  test("a deployment's 429 on one host cools it on the other too", async () => {
    const body = { model: 'cd', messages: [{ role: 'user', content: 'hi' }] };
    const r1 = await call(a, 'POST', '/v1/chat/completions', { body });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.headers.get('x-openai-fcgi-deployment'), 'spare/cd-spare');
    assert.equal(hits.busy, 1);
    // the other host (its own STATE_DIR, so its own cooldown file) knows
    for (let i = 0; i < 4; i++) {
      const r = await call(b, 'POST', '/v1/chat/completions', { body });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'spare/cd-spare');
    }
    assert.equal(hits.busy, 1, 'asked again on the other host within its Retry-After');
  });
});
