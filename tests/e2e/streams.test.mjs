// streams.test.mjs: many concurrent streams through one process, more than its
// THREADS: they wait in the wait loop with no thread each (LOOP_STREAMS), past
// it the pool adds a thread per stream (STREAM_THREADS) and ends them when
// idle; every stream complete and in order, relayed ones too, nothing refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { call, startServer, TOKEN } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msgs = [{ role: 'user', content: 'Hello!' }];

// The serving process's thread count (main, THREADS workers, the reserve, the
// added ones): spawn-fcgi.sh starts a master (app.pids) with one worker.
function appThreads(srv) {
  const master = fs.readFileSync(`${srv.dir}/app.pids`, 'utf8').split('\n').filter((l) => l.trim())[0];
  const [pid] = fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/);
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m)[1]);
}

// One stream, read whole: its status, the text of its deltas in order, and
// whether [DONE] came last after a finish_reason.
async function stream(srv, model) {
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: msgs }),
  });
  const body = await r.text();
  const events = body.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  let text = ''; let finish = null;
  for (const e of events.slice(0, -1)) {
    const c = JSON.parse(e);
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  return { status: r.status, text, finish, done: events.at(-1) === '[DONE]', events: events.length };
}

async function wholeText(srv, model) {
  const r = await call(srv, 'POST', '/v1/chat/completions', { body: { model, messages: msgs } });
  assert.equal(r.status, 200);
  return r.json.choices[0].message.content;
}

function accessLines(srv) {
  return srv.log().split('\n').filter((l) => / access .*"\/v1\/chat\/completions"/.test(l));
}

// main, the workers, the reserve, the wait loop, and what the runtime may add
const FEW_THREADS = 8;

describe('many concurrent streams through one process', () => {
  let up; let px;
  before(async () => {
    // 1 worker: every stream but one waits in the loop, or would hold an added thread
    up = await startServer({ threads: 1, env: { MOCK_STREAM_DELAY_MS: '20', STREAM_THREADS: '256' } });
    px = await startServer({
      threads: 2,
      env: {
        UPSTREAM_BASE_URL: `${up.url}/v1`, UPSTREAM_API_KEY: TOKEN,
        UPSTREAM_MODELS: 'relay=blueprint-standard', STREAM_THREADS: '256',
      },
    });
  });
  after(async () => {
    if (px) await px.stop();
    if (up) await up.stop();
  });

  test('96 mock streams at once on 1 worker: all complete, in order, while /health answers, no thread added', async () => {
    const want = await wholeText(up, 'blueprint-standard');
    const before = accessLines(up).length;
    const all = Promise.all(Array.from({ length: 96 }, () => stream(up, 'blueprint-standard')));
    await sleep(150);  // the streams are under way (20 ms a word, ~20 words)
    const h = await call(up, 'GET', '/health');
    assert.equal(h.status, 200);
    const peak = appThreads(up);
    const res = await all;
    for (const s of res) {
      assert.equal(s.status, 200);
      assert.equal(s.text, want);
      assert.equal(s.finish, 'stop');
      assert.ok(s.done, 'ends with [DONE]');
    }
    assert.ok(peak <= FEW_THREADS, `the streams waited in the loop, not on threads (${peak} at the peak)`);
    const lines = accessLines(up).slice(before);
    assert.equal(lines.filter((l) => / 200 /.test(l) && /tokens=\d+\+\d+/.test(l)).length, 96);
  });

  test('64 relayed streams at once: each upstream stream complete, usage settled, no 5xx', async () => {
    const want = await wholeText(px, 'relay');
    const before = accessLines(px).length;
    let peak = 0; let running = true;
    const watch = (async () => { while (running) { peak = Math.max(peak, appThreads(px)); await sleep(20); } })();
    const res = await Promise.all(Array.from({ length: 64 }, () => stream(px, 'relay')));
    running = false;
    await watch;
    assert.ok(peak <= FEW_THREADS, `the relayed streams waited in the loop, not on threads (${peak} at the peak)`);
    for (const s of res) {
      assert.equal(s.status, 200);
      assert.equal(s.text, want);
      assert.equal(s.finish, 'stop');
      assert.ok(s.done);
    }
    const lines = accessLines(px).slice(before);
    assert.equal(lines.length, 64);
    assert.ok(lines.every((l) => / 200 /.test(l) && /tokens=[1-9]\d*\+[1-9]\d*/.test(l)), lines.join('\n'));
  });
});

describe('a full wait loop: the streams past LOOP_STREAMS hold threads', () => {
  let srv;
  before(async () => {
    srv = await startServer({ threads: 1, env: { MOCK_STREAM_DELAY_MS: '20', STREAM_THREADS: '256', LOOP_STREAMS: '4' } });
  });
  after(async () => { if (srv) await srv.stop(); });

  test('LOOP_STREAMS=4: 48 mock streams all complete; 4 wait in the loop, the others add threads', async () => {
    const want = await wholeText(srv, 'blueprint-standard');
    const all = Promise.all(Array.from({ length: 48 }, () => stream(srv, 'blueprint-standard')));
    await sleep(150);
    const peak = appThreads(srv);
    const res = await all;
    for (const s of res) {
      assert.equal(s.status, 200);
      assert.equal(s.text, want);
      assert.ok(s.done);
    }
    assert.ok(peak > 24, `the streams the loop had no room for held threads (${peak} at the peak)`);
  });
});

describe('the added threads are bounded and end when idle', () => {
  let srv;
  before(async () => {
    // LOOP_STREAMS=0: every stream holds a thread, as a process without the loop does
    srv = await startServer({ threads: 1, env: { MOCK_STREAM_DELAY_MS: '20', STREAM_THREADS: '2', LOOP_STREAMS: '0' } });
  });
  after(async () => { if (srv) await srv.stop(); });

  // The pool keeps up to 4 spare threads while it may grow, and an added
  // thread ends after 10 s idle: the start-up's probes already added 2.
  async function settled() {
    let n = appThreads(srv);
    for (let still = 0; still < 110;) {  // 11 s without a change: longer than the idle end
      await sleep(100);
      const m = appThreads(srv);
      still = m === n ? still + 1 : 0;
      n = m;
    }
    return n;
  }

  test('short answers never add threads, even when every worker is busy with them', async () => {
    const rest = await settled();
    let peak = 0; let running = true;
    const watch = (async () => { while (running) { peak = Math.max(peak, appThreads(srv)); await sleep(5); } })();
    for (let round = 0; round < 4; round++) {
      // on the chat route, which may stream: the reserve takes what the one worker cannot
      const rs = await Promise.all(Array.from({ length: 48 }, () => call(srv, 'POST', '/v1/chat/completions',
        { body: { model: 'blueprint-standard', messages: msgs } })));
      for (const r of rs) assert.equal(r.status, 200);
    }
    running = false;
    await watch;
    assert.equal(peak, rest, `threads went from ${rest} to ${peak} for answers that never streamed`);
  });

  test('STREAM_THREADS=2: 12 streams all served (the rest wait), exactly 2 threads added, ended when idle', async () => {
    const want = await wholeText(srv, 'blueprint-standard');
    const rest = await settled();  // main, the worker, the reserve, whatever the runtime adds
    let peak = 0; let running = true;
    const watch = (async () => { while (running) { peak = Math.max(peak, appThreads(srv)); await sleep(10); } })();
    const res = await Promise.all(Array.from({ length: 12 }, () => stream(srv, 'blueprint-standard')));
    running = false;
    await watch;
    for (const s of res) {
      assert.equal(s.status, 200);
      assert.equal(s.text, want);
      assert.ok(s.done);
    }
    assert.equal(peak, rest + 2, `2 threads added at most, and used: ${peak} against ${rest} at rest`);
    assert.equal(await settled(), rest);
    const again = await stream(srv, 'blueprint-standard');
    assert.equal(again.text, want);
  });
});

// A FastCGI request whose reader takes nothing: the app's connection fills
// (behind lighttpd or nginx a client that stops reading fills theirs,
// after they have taken megabytes); its stream, in the loop, waits there
// for room, and must not hold up the other streams waiting in that loop.
function fcgiRecord(type, content) {
  const h = Buffer.alloc(8);
  h.writeUInt8(1, 0); h.writeUInt8(type, 1); h.writeUInt16BE(1, 2);
  h.writeUInt16BE(content.length, 4);
  return Buffer.concat([h, content]);
}
function fcgiParams(vars) {
  const parts = [];
  for (const [k, v] of Object.entries(vars)) {
    const kb = Buffer.from(k); const vb = Buffer.from(v);
    const len = (n) => { if (n < 128) return Buffer.from([n]); const b = Buffer.alloc(4); b.writeUInt32BE(n | 0x80000000); return b; };
    parts.push(len(kb.length), len(vb.length), kb, vb);
  }
  return Buffer.concat(parts);
}

describe('a reader that takes nothing holds up no other stream', () => {
  let srv;
  before(async () => {
    srv = await startServer({ threads: 1, env: { MOCK_STREAM_DELAY_MS: '1' } });
  });
  after(async () => { if (srv) await srv.stop(); });

  test('a stream of 128 choices to a FastCGI reader that never reads, then 8 streams all complete', async () => {
    const body = Buffer.from(JSON.stringify({
      model: 'blueprint-experimental', stream: true, n: 128,
      messages: [{ role: 'user', content: 'word '.repeat(4000) }],
    }));
    const slow = net.connect(`${srv.dir}/app.sock`);
    slow.pause();  // nothing is ever read
    await new Promise((r) => slow.once('connect', r));
    const params = fcgiParams({
      REQUEST_METHOD: 'POST', REQUEST_URI: '/v1/chat/completions', SCRIPT_NAME: '', PATH_INFO: '/v1/chat/completions',
      CONTENT_TYPE: 'application/json', CONTENT_LENGTH: String(body.length), HTTP_AUTHORIZATION: `Bearer ${TOKEN}`,
      REMOTE_ADDR: '127.0.0.1', SERVER_SOFTWARE: 'test-reader', SERVER_PROTOCOL: 'HTTP/1.1',
    });
    slow.write(Buffer.concat([
      fcgiRecord(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])),  // BEGIN_REQUEST: responder, no keep-alive
      fcgiRecord(4, params), fcgiRecord(4, Buffer.alloc(0)),
      fcgiRecord(5, body), fcgiRecord(5, Buffer.alloc(0)),
    ]));
    await sleep(2000);  // its answer fills the connection, and it waits in the loop
    const t0 = Date.now();
    const deadline = sleep(20000).then(() => { throw new Error('the other streams waited behind the full connection'); });
    const res = await Promise.race([Promise.all(Array.from({ length: 8 }, () => stream(srv, 'blueprint-standard'))), deadline]);
    for (const r of res) {
      assert.equal(r.status, 200);
      assert.ok(r.done, 'ends with [DONE]');
    }
    assert.ok(Date.now() - t0 < 20000);
    slow.destroy();
  });
});

// One FastCGI request on a raw connection that the test never closes:
// resolves once its END_REQUEST came, with the answer and the connection.
// allowHalfOpen: the app's shutdown does not make node end its side too,
// as a front that keeps its end open would not (libfcgi's own close waits
// for that end, 2 s at most).
function rawRequest(srv, bodyObj) {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify(bodyObj));
    const c = net.connect({ path: `${srv.dir}/app.sock`, allowHalfOpen: true });
    let got = Buffer.alloc(0);
    c.on('error', () => {});
    c.on('connect', () => c.write(Buffer.concat([
      fcgiRecord(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])),  // BEGIN_REQUEST: responder, no keep-alive
      fcgiRecord(4, fcgiParams({
        REQUEST_METHOD: 'POST', REQUEST_URI: '/v1/chat/completions', SCRIPT_NAME: '', PATH_INFO: '/v1/chat/completions',
        CONTENT_TYPE: 'application/json', CONTENT_LENGTH: String(body.length), HTTP_AUTHORIZATION: `Bearer ${TOKEN}`,
        REMOTE_ADDR: '127.0.0.1', SERVER_SOFTWARE: 'test-reader', SERVER_PROTOCOL: 'HTTP/1.1',
      })), fcgiRecord(4, Buffer.alloc(0)),
      fcgiRecord(5, body), fcgiRecord(5, Buffer.alloc(0)),
    ])));
    c.on('data', (d) => {
      got = Buffer.concat([got, d]);
      let stdout = ''; let at = 0;
      while (at + 8 <= got.length) {
        const type = got[at + 1]; const len = got.readUInt16BE(at + 4); const pad = got[at + 6];
        if (at + 8 + len + pad > got.length) return;
        if (type === 6) stdout += got.subarray(at + 8, at + 8 + len).toString();
        if (type === 3) { resolve({ c, stdout, ended: Date.now() }); return; }
        at += 8 + len + pad;
      }
    });
    setTimeout(() => reject(new Error('no END_REQUEST')), 10000);
  });
}

// Resolves to when a write to c first fails: the app has closed its end.
async function closedAt(c, within) {
  const t0 = Date.now();
  let failed = null;
  c.on('error', () => { failed ??= Date.now(); });
  while (failed === null && Date.now() - t0 < within) {
    if (!c.destroyed) c.write(fcgiRecord(5, Buffer.alloc(0)), (e) => { if (e) failed ??= Date.now(); });
    await sleep(25);
  }
  return failed;
}

describe('a FastCGI connection is closed as soon as its answer has ended', () => {
  let srv;
  before(async () => {
    srv = await startServer({ threads: 1, env: { MOCK_STREAM_DELAY_MS: '5' } });
  });
  after(async () => { if (srv) await srv.stop(); });

  // libfcgi's own close waits up to 2 s for the front to close first, and
  // holds the thread (or the wait loop) that long: a front that keeps its
  // end open a while cost every request that much
  for (const [what, body] of [
    ['a whole answer, on its worker', { model: 'blueprint-standard', messages: msgs }],
    ['a stream, in the wait loop', { model: 'blueprint-standard', stream: true, messages: msgs }],
  ]) {
    test(`${what}: the app closes its end while the front keeps its own open`, async () => {
      const { c, stdout, ended } = await rawRequest(srv, body);
      assert.match(stdout, /^Status: 200/m);
      assert.match(stdout, body.stream ? /data: \[DONE\]/ : /"object":\s*"chat\.completion"/);
      const at = await closedAt(c, 1500);
      c.destroy();
      assert.ok(at !== null && at - ended < 1000, `closed ${at === null ? 'not within 1.5 s' : `${at - ended} ms`} after END_REQUEST`);
      const h = await call(srv, 'GET', '/health');
      assert.equal(h.status, 200);
    });
  }
});
