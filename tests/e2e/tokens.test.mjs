// tokens.test.mjs: per-key policy through lighttpd + 4 FastCGI processes x 4
// threads: tokens per minute exact across processes (reserve, settle, OpenAI's
// tokens 429 and headers), a request larger than the limit refused at once,
// models a key may use, not_before/expires, max_streams (freed when a stream
// ends and when its worker is killed), key names and tokens in the access log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, startServer, top, TOKEN, TOKEN2 } from './harness.mjs';

const KEYS = {
  tpm: 'e2e-tpm-key-0123456789abc',        // 1000 tokens per minute
  settle: 'e2e-settle-key-0123456789a',    // 1000 tokens per minute, for settlement
  models: 'e2e-models-key-0123456789a',    // blueprint-standard only
  expired: 'e2e-expired-key-0123456789',
  early: 'e2e-early-key-0123456789abc',
  streams: 'e2e-streams-key-0123456789',   // max_streams 2
};
const LIMIT = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const chat = (extra = {}) => ({
  model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }], ...extra,
});

// A stream opened and read up to its first event: it holds its lease then.
async function openStream(srv, token, body = chat({ stream: true, max_tokens: 200 })) {
  const ac = new AbortController();
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST', signal: ac.signal,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status !== 200) return { status: r.status, json: await r.json(), headers: r.headers };
  const reader = r.body.getReader();
  await reader.read();
  return { status: 200, reader, close: () => ac.abort() };
}

// The worker processes that hold an open descriptor of the lease file: a
// stream's worker holds one for as long as the stream lasts.
function leaseHolders(srv) {
  const file = `${srv.env.RATE_LIMIT_FILE}.streams`;
  // the app's processes: spawn-fcgi's, and the workers of a master among them
  const kids = srv.pids.flatMap((pid) => spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n').filter(Boolean).map(Number));
  return [...srv.pids, ...kids].filter((pid) => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file; } catch { return false; }
      });
    } catch { return false; }
  });
}

// Finds a body whose answer uses exactly its max_tokens (its reservation is
// then its real cost, so the count cannot depend on when answers settle),
// sends 4 times what fits at once with token, and checks that exactly what
// fits passed, with OpenAI's tokens 429 and headers for the rest. name: how
// messages call the key. Returns the body and its cost.
async function tpmBurst(srv, token, name) {
  // TOKEN2, without a token limit, finds the body
  const prompt = 'word '.repeat(150);
  let body; let cost;
  for (let m = 30; m < 60 && !body; m++) {
    const b = chat({ messages: [{ role: 'user', content: prompt }], max_tokens: m });
    const probe = await call(srv, 'POST', '/v1/chat/completions', { body: b, token: TOKEN2 });
    assert.equal(probe.status, 200, probe.text);
    if (probe.json.usage.completion_tokens === m) { body = b; cost = probe.json.usage.total_tokens; }
  }
  assert.ok(body, 'no max_tokens the mock uses exactly');
  const fits = Math.floor(LIMIT / cost);
  assert.ok(fits >= 3 && fits <= 8, `cost ${cost}`);
  const n = fits * 4;
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: n }, () =>
    call(srv, 'POST', '/v1/chat/completions', { body, token })));
  const ms = performance.now() - t0;
  const ok = rs.filter((r) => r.status === 200);
  const limited = rs.filter((r) => r.status === 429);
  assert.equal(ok.length + limited.length, n, rs.map((r) => `${r.status} ${r.text}`).join('\n'));
  // 1000/min frees `cost` tokens every 60000 * cost / 1000 ms.
  const refills = Math.floor(ms / (60 * cost));
  if (refills) console.log(`# burst took ${(ms / 1000).toFixed(1)} s: ${refills} refill(s) allowed`);
  assert.ok(ok.length >= fits && ok.length <= fits + refills, `${ok.length} admitted of ${n}, ${fits} fit`);
  for (const r of rs) {
    assert.equal(r.headers.get('x-ratelimit-limit-tokens'), String(LIMIT));
    assert.match(r.headers.get('x-ratelimit-remaining-tokens'), /^\d+$/);
    assert.match(r.headers.get('x-ratelimit-reset-tokens'), /^(\d+m)?\d+(\.\d+)?(ms|s)$/);
  }
  for (const r of ok) assert.ok(Number(r.headers.get('x-ratelimit-remaining-tokens')) <= LIMIT - cost);
  if (!refills) {
    const least = Math.min(...ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-tokens'))));
    assert.ok(least < cost, `least remaining ${least}`);
  }
  const message = new RegExp(`^Rate limit reached for blueprint-standard in key ${name} on tokens per min `
    + `\\(TPM\\): Limit ${LIMIT}, Used (\\d+), Requested ${cost}\\. Please try again in [\\d.]+m?s\\.$`);
  for (const r of limited) {
    expectError(assert, r, 429, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'tokens');
    const m = r.json.error.message.match(message);
    assert.ok(m, r.json.error.message);
    assert.ok(Number(m[1]) + cost > LIMIT, r.json.error.message);
    const wait = Number(r.headers.get('retry-after-ms'));
    assert.ok(wait > 0 && wait <= 60 * cost, `retry-after-ms ${wait}`);
    assert.equal(r.headers.get('retry-after'), String(Math.ceil(wait / 1000)));
    assert.ok(Number(r.headers.get('x-ratelimit-remaining-tokens')) < cost);
  }
  return { body, cost };
}

describe('keys with tokens per minute, models, validity and max_streams (lighttpd + 4 FastCGI x 4 threads)', () => {
  let srv;
  let conf;
  before(async () => {
    conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-tokens-')), 'openai-fcgi.conf');
    fs.writeFileSync(conf, `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + 'keys = (\n'
      + `  { token = "${KEYS.tpm}"; name = "tpm-team"; tokens_per_minute = ${LIMIT}; },\n`
      + `  { token = "${KEYS.settle}"; name = "settle-team"; tokens_per_minute = ${LIMIT}; },\n`
      + `  { token = "${KEYS.models}"; name = "one-model"; models = [ "blueprint-standard" ]; },\n`
      + `  { token = "${KEYS.expired}"; expires = "2020-01-01"; },\n`
      + `  { token = "${KEYS.early}"; not_before = "2999-01-01T00:00:00+01:00"; },\n`
      + `  { token = "${KEYS.streams}"; name = "streamer"; max_streams = 2; }\n`
      + ');\n');
    fs.chmodSync(path.dirname(conf), 0o755);
    srv = await startServer({
      processes: 4, threads: 4,
      env: { RATE_LIMIT_PER_MINUTE: '1000', OPENAI_FCGI_CONFIG: conf, MOCK_STREAM_DELAY_MS: '100' },
    });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(path.dirname(conf), { recursive: true, force: true });
  });

  test('tokens per minute: exact across processes, then OpenAI\'s tokens 429 and headers', async () => {
    const { body, cost } = await tpmBurst(srv, KEYS.tpm, 'tpm-team');
    // every answer of the key carries the token headers, a models list too
    const models = await call(srv, 'GET', '/v1/models', { token: KEYS.tpm });
    assert.equal(models.status, 200);
    assert.equal(models.headers.get('x-ratelimit-limit-tokens'), String(LIMIT));
    // a key without a token limit gets no token headers
    const other = await call(srv, 'GET', '/v1/models', { token: TOKEN });
    assert.equal(other.headers.get('x-ratelimit-limit-tokens'), null);
    // the access log names the key and carries each answer's tokens
    const log = srv.log();
    assert.match(log, new RegExp(`access req_\\w+ POST "/v1/chat/completions" 200 \\d+ [\\d.]+ms key=tpm-team tokens=${cost - body.max_tokens}\\+${body.max_tokens}`));
    assert.match(log, /access req_\w+ POST "\/v1\/chat\/completions" 429 \d+ [\d.]+ms key=tpm-team tokens=0\+0/);
  });

  test('a request larger than the whole limit is refused at once, even with tokens left', async () => {
    for (const max of [LIMIT, LIMIT * 5, 2 ** 31 - 1]) {
      const r = await call(srv, 'POST', '/v1/chat/completions',
        { body: chat({ max_completion_tokens: max }), token: KEYS.settle });
      expectError(assert, r, 429, 'rate_limit_exceeded');
      assert.equal(r.json.error.type, 'tokens');
      assert.match(r.json.error.message, new RegExp('^Request too large for blueprint-standard in key settle-team '
        + `on tokens per min \\(TPM\\): Limit ${LIMIT}, Requested \\d+\\. The input or output tokens must be `
        + 'reduced in order to run successfully\\.$'));
      assert.equal(r.headers.get('retry-after'), null, 'no wait would help');
      assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), String(LIMIT), 'and it cost nothing');
    }
    // n choices each may use max_tokens: 3 x 400 is too large too
    const n3 = await call(srv, 'POST', '/v1/chat/completions', { body: chat({ n: 3, max_tokens: 400 }), token: KEYS.settle });
    assert.match(n3.json.error.message, /^Request too large .*Requested 12\d\d\./);
  });

  test('a reservation is settled with the real usage, whole and streamed', async () => {
    // 800 reserved, some 30 used: what was not used is free again at once,
    // so five of them pass where one and a few tokens would without settling
    const big = chat({ max_tokens: 800 });
    const first = await call(srv, 'POST', '/v1/chat/completions', { body: big, token: KEYS.settle });
    assert.equal(first.status, 200, first.text);
    const used = first.json.usage.total_tokens;
    assert.ok(used < 100, `used ${used}`);
    const left = Number(first.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(left >= LIMIT - used - 2 && left <= LIMIT - used, `remaining ${left} after using ${used}`);
    // without the refund a second 800 could not pass for a minute
    const second = await call(srv, 'POST', '/v1/chat/completions', { body: big, token: KEYS.settle });
    assert.equal(second.status, 200, second.text);
    const s = await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${KEYS.settle}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...big, stream: true }),
    });
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('x-ratelimit-limit-tokens'), String(LIMIT));
    const text = await s.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    assert.ok(!text.includes('"usage"'), 'no usage chunk the client did not ask for');
    const third = await call(srv, 'POST', '/v1/chat/completions', { body: big, token: KEYS.settle });
    assert.equal(third.status, 200, third.text);
    // a request refused before its reservation costs nothing
    const bad = await call(srv, 'POST', '/v1/chat/completions',
      { body: chat({ model: 'no-such-model', max_tokens: 800 }), token: KEYS.settle });
    expectError(assert, bad, 404, 'model_not_found', 'model');
    const fourth = await call(srv, 'POST', '/v1/chat/completions', { body: big, token: KEYS.settle });
    assert.equal(fourth.status, 200, fourth.text);
  });

  test('a key outside its models: 404 model_not_found, and /v1/models lists only its own', async () => {
    const list = await call(srv, 'GET', '/v1/models', { token: KEYS.models });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data.map((m) => m.id), ['blueprint-standard']);
    assert.equal((await call(srv, 'GET', '/v1/models/blueprint-standard', { token: KEYS.models })).status, 200);
    for (const id of ['blueprint-advanced', 'blueprint-experimental', 'blueprint-standard-2', 'Blueprint-standard']) {
      const one = await call(srv, 'GET', `/v1/models/${id}`, { token: KEYS.models });
      expectError(assert, one, 404, 'model_not_found', 'model');
      const c = await call(srv, 'POST', '/v1/chat/completions', { body: chat({ model: id }), token: KEYS.models });
      expectError(assert, c, 404, 'model_not_found', 'model');
      assert.equal(c.json.error.message, `The model '${id}' does not exist or you do not have access to it.`);
    }
    const ok = await call(srv, 'POST', '/v1/chat/completions', { body: chat(), token: KEYS.models });
    assert.equal(ok.status, 200, ok.text);
    // other keys see every model
    const all = await call(srv, 'GET', '/v1/models', { token: TOKEN });
    assert.equal(all.json.data.length, 4);  // the three blueprint models and blueprint-embedding
  });

  test('an expired and a not yet valid key: 401 saying so', async () => {
    for (const route of [['GET', '/v1/models'], ['POST', '/v1/chat/completions']]) {
      const old = await call(srv, route[0], route[1], { token: KEYS.expired, body: route[0] === 'POST' ? chat() : undefined });
      expectError(assert, old, 401, 'key_expired');
      assert.equal(old.json.error.type, 'authentication_error');
      assert.match(old.json.error.message, /expired at 2020-01-01T00:00:00Z/);
      assert.equal(old.headers.get('www-authenticate'), 'Bearer');
      const early = await call(srv, route[0], route[1], { token: KEYS.early, body: route[0] === 'POST' ? chat() : undefined });
      expectError(assert, early, 401, 'key_not_yet_valid');
      assert.match(early.json.error.message, /not valid before 2998-12-31T23:00:00Z/);
    }
  });

  test('max_streams: the third concurrent stream is a 429; an ended stream frees its slot', async () => {
    const a = await openStream(srv, KEYS.streams);
    const b = await openStream(srv, KEYS.streams);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const c = await openStream(srv, KEYS.streams);
    assert.equal(c.status, 429);
    assert.equal(c.json.error.type, 'streams');
    assert.equal(c.json.error.code, 'rate_limit_exceeded');
    assert.match(c.json.error.message, /^Too many concurrent streams for key streamer: Limit 2\./);
    // not streaming is not limited by it
    assert.equal((await call(srv, 'POST', '/v1/chat/completions', { body: chat(), token: KEYS.streams })).status, 200);
    // a client that leaves ends its stream at the next event (100 ms apart)
    a.close();
    let d;
    for (let i = 0; i < 40; i++) {
      d = await openStream(srv, KEYS.streams);
      if (d.status === 200) break;
      await sleep(100);
    }
    assert.equal(d.status, 200, 'the slot of the ended stream was not freed');
    assert.equal((await openStream(srv, KEYS.streams)).status, 429);
    b.close();
    d.close();
  });

  test('max_streams: a killed worker frees the slots of its streams', async () => {
    for (let i = 0; i < 40 && leaseHolders(srv).length; i++) await sleep(100);  // the last test's streams end
    const a = await openStream(srv, KEYS.streams);
    const b = await openStream(srv, KEYS.streams);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal((await openStream(srv, KEYS.streams)).status, 429);
    const holders = leaseHolders(srv);
    assert.ok(holders.length >= 1 && holders.length <= 2, `holders ${holders}`);
    for (const pid of holders) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 40 && leaseHolders(srv).some((p) => holders.includes(p)); i++) await sleep(50);
    const c = await openStream(srv, KEYS.streams);
    const d = await openStream(srv, KEYS.streams);
    assert.equal(c.status, 200, 'slots leaked by the killed worker');
    assert.equal(d.status, 200, 'slots leaked by the killed worker');
    c.close();
    d.close();
    a.close();
    b.close();
  });
});

describe('tokens per minute under plain CGI, one process per request', () => {
  let srv;
  let conf;
  before(async () => {
    conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-tokens-cgi-')), 'openai-fcgi.conf');
    fs.writeFileSync(conf, `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + `keys = ( { token = "${KEYS.tpm}"; name = "cgi-team"; tokens_per_minute = ${LIMIT}; } );\n`);
    fs.chmodSync(path.dirname(conf), 0o755);
    srv = await startServer({ cgi: true, env: { RATE_LIMIT_PER_MINUTE: '1000', OPENAI_FCGI_CONFIG: conf } });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(path.dirname(conf), { recursive: true, force: true });
  });

  test('a key\'s tokens per minute hold exactly across CGI runs', async () => {
    await tpmBurst(srv, KEYS.tpm, 'cgi-team');
  });
});
