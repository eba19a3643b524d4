// failover.test.mjs: a model on several deployments: the order they are
// tried in, the retry budget, no retry once a byte went out, cooldowns shared
// by two processes, an upstream's Retry-After honoured, the environment's
// comma-separated URLs with one upstream killed; keep-alive pings seen by a
// raw client; a non-streaming client that leaves aborting the upstream.
// Upstreams: small node servers whose behaviour the test sets per model, and
// second openai-fcgi instances in mock mode.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expectError, freePort, frontUnavailable, makeTempDir, startServer, TOKEN } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msgs = [{ role: 'user', content: 'Hello!' }];

function chunk(model, content, finish = null) {
  return JSON.stringify({
    id: 'chatcmpl-fo', object: 'chat.completion.chunk', created: 1, model,
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
  });
}

function completion(model, content) {
  return JSON.stringify({
    id: 'chatcmpl-fo', object: 'chat.completion', created: 1, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

// An upstream named name: what it does with a model is mode[model] ('ok'
// by default); every request is noted in hits, every close in closed.
function upstream(name) {
  const u = { name, mode: {}, hits: [], closed: {} };
  u.count = (model) => u.hits.filter((h) => h.model === model).length;
  u.srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      const b = body ? JSON.parse(body) : {};
      const m = b.model;
      u.hits.push({ model: m, stream: !!b.stream, at: Date.now() });
      res.on('close', () => { u.closed[m] = Date.now(); });
      const mode = u.mode[m] || 'ok';
      const sse = () => res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const ev = (s) => res.write(`data: ${s}\n\n`);
      if (mode === 'ok') {
        if (b.stream) {
          sse(); ev(chunk(m, `from ${name}`)); ev(chunk(m, null, 'stop')); res.end('data: [DONE]\n\n');
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(completion(m, `from ${name}`));
        }
      } else if (/^\d{3}$/.test(mode)) {
        res.writeHead(Number(mode), { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `${name} says ${mode}`, type: 'server_error', param: null, code: null } }));
      } else if (mode.startsWith('429:')) {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': mode.slice(4) });
        res.end(JSON.stringify({ error: { message: `${name} is busy`, type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
      } else if (mode === 'stall') {
        await sleep(3000);
        if (!res.destroyed) { res.writeHead(500); res.end(); }
      } else if (mode === 'drop-after-event') {
        sse(); ev(chunk(m, `one from ${name}`)); await sleep(50); res.socket.destroy();
      } else if (mode === 'hold') {
        // a whole answer that takes its time: nothing until the client leaves
        while (!res.destroyed && Date.now() - u.hits.at(-1).at < 20000) await sleep(20);
        if (!res.destroyed) res.end(completion(m, 'late'));
      } else if (mode === 'think') {
        // a stream that starts, thinks in silence for 2.6 s, then answers
        sse(); ev(chunk(m, 'first ')); await sleep(2600);
        if (!res.destroyed) { ev(chunk(m, 'second', 'stop')); res.end('data: [DONE]\n\n'); }
      }
    });
  });
  return u;
}

async function listen(u) {
  const port = await freePort();
  await new Promise((r) => u.srv.listen(port, '127.0.0.1', r));
  u.url = `http://127.0.0.1:${port}`;
  return u;
}

const timeouts = 'timeouts = { connect_ms = 1000; first_byte_ms = 1000; idle_ms = 5000; total_ms = 30000; };';

function config(dir, a, b, c, deadUrl) {
  const dep = (up, model, priority = 0) => `{ upstream = "${up}"; model = "${model}"; priority = ${priority}; }`;
  const pair = (id) => `{ id = "${id}"; backend = "upstream"; deployments = ( ${dep('a', `${id}-a`)}, ${dep('b', `${id}-b`, 1)} ); }`;
  const models = ['order', 'stream-order', 'first-byte', 'no-retry', 'not-4xx', 'cool', 'ra', 'all-down', 'think', 'hold'].map(pair);
  models.push(`{ id = "dead-first"; backend = "upstream"; deployments = ( ${dep('dead', 'dead-first-d')}, ${dep('a', 'dead-first-a', 1)} ); }`);
  models.push(`{ id = "budget"; backend = "upstream"; deployments = ( ${dep('a', 'budget-a')}, ${dep('b', 'budget-b', 1)}, ${dep('c', 'budget-c', 2)} ); }`);
  const conf = `upstreams = (
  { name = "a"; base_url = "${a.url}/v1"; ${timeouts} },
  { name = "b"; base_url = "${b.url}/v1"; ${timeouts} },
  { name = "c"; base_url = "${c.url}/v1"; ${timeouts} },
  { name = "dead"; base_url = "${deadUrl}/v1"; ${timeouts} }
);
models = (
  ${models.join(',\n  ')}
);
`;
  const file = path.join(dir, 'failover.conf');
  fs.writeFileSync(file, conf);
  return file;
}

// Reads an SSE answer raw: its data events and its comment lines, in order.
async function rawStream(url, body) {
  const t0 = Date.now();
  const r = await fetch(url, {
    method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const items = [];
  if (!(r.headers.get('content-type') || '').startsWith('text/event-stream')) {
    return { status: r.status, headers: r.headers, items, text: await r.text() };
  }
  const dec = new TextDecoder();
  let buf = '';
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      const at = Date.now() - t0;
      if (ev.startsWith(':')) { items.push({ at, comment: ev }); continue; }
      const data = ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      items.push({ at, data, json: data === '[DONE]' ? null : JSON.parse(data) });
    }
  }
  return { status: r.status, headers: r.headers, items };
}

const text = (items) => items.filter((e) => e.json && e.json.choices)
  .map((e) => (e.json.choices[0] && e.json.choices[0].delta.content) || '').join('');

async function waitFor(cond, ms = 5000) {
  for (let t = 0; t < ms && !cond(); t += 20) await sleep(20);
  return cond();
}

// The access-log line of request id in srv's log.
function accessLine(srv, id) {
  return srv.log().split('\n').find((l) => l.includes(' access ') && l.includes(id)) || '';
}

describe('failover between deployments', () => {
  let a; let b; let c; let dir; let shared; let px; let px2; let env;
  before(async () => {
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => listen(upstream(n))));
    dir = fs.mkdtempSync('/tmp/oaf-failover-conf-');
    fs.chmodSync(dir, 0o755);
    shared = makeTempDir();  // one STATE_DIR for both processes: one cooldown file
    const deadUrl = `http://127.0.0.1:${await freePort()}`;  // nothing listens there
    env = {
      OPENAI_FCGI_CONFIG: config(dir, a, b, c, deadUrl), STATE_DIR: shared,
      UPSTREAM_RETRIES: '1', UPSTREAM_FAILURES: '2', UPSTREAM_COOLDOWN_S: '3', STREAM_PING_S: '1',
    };
    px = await startServer({ threads: 2, env });
    px2 = await startServer({ threads: 2, env });
  });
  after(async () => {
    for (const u of [a, b, c]) { if (u) { u.srv.closeAllConnections(); u.srv.close(); } }
    if (px) await px.stop();
    if (px2) await px2.stop();
    for (const d of [dir, shared]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  const ask = (srv, model, extra = {}) => call(srv, 'POST', '/v1/chat/completions', { body: { model, messages: msgs, ...extra } });

  test('the best group answers; a 5xx, 503 or 429 there moves on to the next, said in a header and the log', async () => {
    let r = await ask(px, 'order');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'from a');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'a/order-a');
    assert.equal(b.count('order-b'), 0);
    for (const mode of ['500', '503', '502', '429:0']) {
      a.mode['order-a'] = mode;
      const before = [a.count('order-a'), b.count('order-b')];
      r = await ask(px, 'order');
      assert.equal(r.status, 200, `${mode}: ${r.text}`);
      assert.equal(r.json.choices[0].message.content, 'from b', mode);
      assert.equal(r.json.model, 'order');
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/order-b', mode);
      assert.equal(r.headers.get('retry-after'), null, `${mode}: the 429 of a deployment we left is not passed on`);
      assert.deepEqual([a.count('order-a') - before[0], b.count('order-b') - before[1]], [1, 1], mode);
      const ha = a.hits.filter((h) => h.model === 'order-a').at(-1);
      const hb = b.hits.filter((h) => h.model === 'order-b').at(-1);
      assert.ok(ha.at <= hb.at, 'a was asked before b');
      await waitFor(() => accessLine(px, r.headers.get('x-request-id')));
      assert.match(accessLine(px, r.headers.get('x-request-id')), / 200 .* deployment=b\/order-b/);
      // two failures in a row would cool a down (UPSTREAM_FAILURES=2): a
      // success in between starts the count again
      a.mode['order-a'] = 'ok';
      r = await ask(px, 'order');
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'a/order-a', mode);
    }
  });

  test('streams fail over too, before their first byte', async () => {
    b.mode['stream-order-b'] = 'ok';
    a.mode['stream-order-a'] = '500';
    const s = await rawStream(`${px.url}/v1/chat/completions`, { model: 'stream-order', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('x-openai-fcgi-deployment'), 'b/stream-order-b');
    assert.equal(text(s.items), 'from b');
    assert.equal(s.items.at(-1).data, '[DONE]');
    assert.equal(a.count('stream-order-a'), 1);
  });

  test('an unreachable deployment, or one silent past first_byte_ms, is left for the next', async () => {
    let r = await ask(px, 'dead-first');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'a/dead-first-a');
    a.mode['first-byte-a'] = 'stall';
    const t0 = Date.now();
    r = await ask(px, 'first-byte');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/first-byte-b');
    assert.ok(Date.now() - t0 < 2900, `took ${Date.now() - t0} ms: a's first-byte limit is 1 s`);
  });

  test('the retry budget: UPSTREAM_RETRIES=1 tries two deployments, never a third; the last error is answered', async () => {
    a.mode['budget-a'] = '500';
    b.mode['budget-b'] = '429:7';
    const r = await ask(px, 'budget');
    expectError(assert, r, 429, 'rate_limit_exceeded');
    assert.equal(r.json.error.message, 'b is busy');
    assert.equal(r.headers.get('retry-after'), '7');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/budget-b');
    assert.deepEqual([a.count('budget-a'), b.count('budget-b'), c.count('budget-c')], [1, 1, 0]);
  });

  test('no retry once a byte went to the client, nor for a 4xx', async () => {
    a.mode['no-retry-a'] = 'drop-after-event';
    const s = await rawStream(`${px.url}/v1/chat/completions`, { model: 'no-retry', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(text(s.items), 'one from a');
    assert.equal(s.items.at(-1).json.error.type, 'server_error');
    assert.equal(b.count('no-retry-b'), 0);
    a.mode['not-4xx-a'] = '400';
    const r = await ask(px, 'not-4xx');
    assert.equal(r.status, 400);
    assert.equal(b.count('not-4xx-b'), 0);
  });

  test('K failures in a row cool a deployment down for every process sharing the state file', async () => {
    a.mode['cool-a'] = '500';
    for (let i = 0; i < 2; i++) {
      const r = await ask(px, 'cool');
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/cool-b');
    }
    assert.equal(a.count('cool-a'), 2);
    await waitFor(() => px.log().includes('deployment a/cool-a: cooling down'));
    // the other process, which never saw a fail, leaves it alone too
    for (let i = 0; i < 3; i++) {
      const r = await ask(px2, 'cool');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/cool-b');
    }
    assert.equal(a.count('cool-a'), 2, 'a was asked while cooling down');
    // UPSTREAM_COOLDOWN_S=3: then it is asked again
    a.mode['cool-a'] = 'ok';
    await sleep(3200);
    const r = await ask(px2, 'cool');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'a/cool-a');
  });

  test("an upstream 429's Retry-After is its cooldown, at once", async () => {
    a.mode['ra-a'] = '429:3';
    let r = await ask(px, 'ra');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/ra-b');
    r = await ask(px2, 'ra');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'b/ra-b');
    assert.equal(a.count('ra-a'), 1, 'asked again within its Retry-After');
    a.mode['ra-a'] = 'ok';
    await sleep(3200);
    r = await ask(px, 'ra');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'a/ra-a');
  });

  test('all down: the last error, mapped as ever; every one cooling: the one that cools first is still tried', async () => {
    a.mode['all-down-a'] = '503';
    b.mode['all-down-b'] = '500';
    for (let i = 0; i < 3; i++) {
      const r = await ask(px, 'all-down');
      expectError(assert, r, 502, 'upstream_error');
      assert.ok(!r.text.includes('says'), 'the upstream 5xx body stays in our log');
    }
    // both have cooled (2 failures in a row): one is still tried, alone
    const before = a.count('all-down-a') + b.count('all-down-b');
    const r = await ask(px, 'all-down');
    expectError(assert, r, 502, 'upstream_error');
    assert.equal(a.count('all-down-a') + b.count('all-down-b') - before, 1);
  });

  test('a silent upstream stream gets a keep-alive comment at least every STREAM_PING_S', async () => {
    // behind nginx, which tells of a departed client by itself, there is no
    // probe: what the raw client hears in a 2.6 s silence is STREAM_PING_S=1
    const why = frontUnavailable('nginx-tcp');
    const srv = why ? px : await startServer({ front: 'nginx-tcp', threads: 2, env });
    a.mode['think-a'] = 'think';
    try {
      const s = await rawStream(`${srv.url}/v1/chat/completions`, { model: 'think', messages: msgs });
      assert.equal(s.status, 200);
      assert.equal(text(s.items), 'first second');
      const first = s.items.findIndex((e) => e.json);
      const second = s.items.findIndex((e, i) => i > first && e.json);
      const pings = s.items.slice(first + 1, second).filter((e) => e.comment === ': keep-alive');
      if (why) {
        assert.ok(pings.length >= 2, `${pings.length} keep-alives`);  // lighttpd: the probe too
      } else {
        // the 0.5 s probe would make about five
        assert.ok(pings.length >= 1 && pings.length <= 3, `${pings.length} keep-alives in 2.6 s at 1 s`);
      }
      for (let i = first + 1; i <= second; i++) {
        assert.ok(s.items[i].at - s.items[i - 1].at < 1600, `a silence of ${s.items[i].at - s.items[i - 1].at} ms`);
      }
    } finally {
      if (srv !== px) await srv.stop();
    }
  });

  // Every whole answer alike: chat, and the legacy completions relayed to the
  // upstream's own endpoint and the Responses API translated to chat, which
  // were logged 500 (an error answered into the closed connection) before a
  // handler could say that its client was gone.
  test('behind nginx, a non-streaming client that leaves aborts the upstream within a second; logged 499 with its usage', async (t) => {
    const why = frontUnavailable('nginx-tcp');
    if (why) { t.skip(why); return; }
    const ng = await startServer({ front: 'nginx-tcp', threads: 2, env });
    const asks = [
      ['chat/completions', { model: 'hold', messages: msgs }],
      ['chat/completions', { model: 'hold', messages: msgs }],
      ['chat/completions', { model: 'hold', messages: msgs }],
      ['completions', { model: 'hold', prompt: 'Say hi' }],
      ['responses', { model: 'hold', input: 'Say hi' }],
    ];
    try {
      a.mode['hold-a'] = 'hold';
      for (let i = 0; i < asks.length; i++) {
        delete a.closed['hold-a'];
        const ctl = new AbortController();
        const id = `req-leaves-${i}`;
        const p = fetch(`${ng.url}/v1/${asks[i][0]}`, {
          method: 'POST', signal: ctl.signal,
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'X-Request-Id': id },
          body: JSON.stringify(asks[i][1]),
        }).catch(() => {});
        assert.ok(await waitFor(() => a.hits.filter((h) => h.model === 'hold-a').length > i), 'the upstream was asked');
        await sleep(300);
        const leftAt = Date.now();
        ctl.abort();
        await p;
        assert.ok(await waitFor(() => a.closed['hold-a'], 3000), 'the upstream request is still open');
        assert.ok(a.closed['hold-a'] - leftAt < 1000, `closed ${a.closed['hold-a'] - leftAt} ms after the client left`);
        assert.ok(await waitFor(() => accessLine(ng, id)));
        assert.match(accessLine(ng, id), / 499 0 .*tokens=\d+\+0 deployment=a\/hold-a client_gone$/);
      }
      assert.equal(b.count('hold-b'), 0, 'a client that left is not a failure to move on from');
    } finally {
      await ng.stop();
    }
  });
});

describe('UPSTREAM_BASE_URL with several URLs: a model on two openai-fcgi, one killed', () => {
  let up1; let up2; let px;
  before(async () => {
    up1 = await startServer({ env: { MOCK_STREAM_DELAY_MS: '0' } });
    up2 = await startServer({ env: { MOCK_STREAM_DELAY_MS: '0' } });
    const dir = makeTempDir();
    const conf = path.join(dir, 'env-only.conf');
    fs.writeFileSync(conf, '# models come from UPSTREAM_* only\n');
    px = await startServer({
      env: {
        OPENAI_FCGI_CONFIG: conf, UPSTREAM_BASE_URL: `${up1.url}/v1, ${up2.url}/v1`, UPSTREAM_API_KEY: TOKEN,
        UPSTREAM_MODELS: 'fast=blueprint-standard', UPSTREAM_TIMEOUT_S: '5', UPSTREAM_COOLDOWN_S: '60',
      },
    });
  });
  after(async () => {
    if (px) await px.stop();
    if (up2) await up2.stop();
    if (up1) await up1.stop();
  });

  test('tried in order; the model keeps answering when the first is killed, and no longer asks it', async () => {
    const ask = () => call(px, 'POST', '/v1/chat/completions', { body: { model: 'fast', messages: msgs } });
    let r = await ask();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, 'fast');
    assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'env/blueprint-standard');
    await up1.stop();
    up1 = null;
    for (let i = 0; i < 6; i++) {
      r = await ask();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-openai-fcgi-deployment'), 'env2/blueprint-standard');
    }
    // three connect failures in a row (UPSTREAM_FAILURES' default): cooled down
    assert.match(px.log(), /deployment env\/blueprint-standard: cooling down for \d+ ms \(3 failures in a row\)/);
    const tries = px.log().split('\n').filter((l) => l.includes('deployment env/blueprint-standard failed')).length;
    assert.equal(tries, 3, 'the dead one was asked again while cooling down');
    const s = await rawStream(`${px.url}/v1/chat/completions`, { model: 'fast', messages: msgs });
    assert.equal(s.status, 200);
    assert.equal(s.items.at(-1).data, '[DONE]');
    assert.equal(s.headers.get('x-openai-fcgi-deployment'), 'env2/blueprint-standard');
  });
});

describe('keep-alives of the mock with a long delay', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { MOCK_STREAM_DELAY_MS: '2300', STREAM_PING_S: '1' } }); });
  after(async () => { if (srv) await srv.stop(); });

  test('a raw client hears ": keep-alive" between words; STREAM_PING_S=0 turns them off', async () => {
    const s = await rawStream(`${srv.url}/v1/chat/completions`, { model: 'blueprint-standard', messages: msgs, max_tokens: 2 });
    assert.equal(s.status, 200);
    const words = s.items.filter((e) => e.json && e.json.choices.length && e.json.choices[0].delta.content);
    assert.equal(words.length, 2);
    const between = s.items.filter((e) => e.comment && e.at > words[0].at && e.at < words[1].at);
    assert.equal(between.length, 2, JSON.stringify(s.items.map((e) => [e.at, e.comment || e.data.slice(0, 40)])));
    for (const e of between) assert.equal(e.comment, ': keep-alive');
    const off = await startServer({ env: { MOCK_STREAM_DELAY_MS: '1500', STREAM_PING_S: '0' } });
    try {
      const q = await rawStream(`${off.url}/v1/chat/completions`, { model: 'blueprint-standard', messages: msgs, max_tokens: 2 });
      assert.equal(q.items.filter((e) => e.comment).length, 0);
    } finally {
      await off.stop();
    }
  });
});
