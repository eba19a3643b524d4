// procman.test.mjs: the master of --processes N behind a real lighttpd:
// a killed worker is replaced, a crash loop backs off, SIGHUP replaces the
// workers without dropping a request, refused settings leave them alone,
// SIGTERM lets a stream finish, and no worker outlives the master; and
// /health answers while every worker thread streams (the reserve thread).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { app, call, freePort, makeTempDir, startServer, testEnv, top, TOKEN } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The workers of a master: its children.
function workersOf(master) {
  const r = spawnSync('pgrep', ['-P', String(master)], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitFor(what, cond, ms = 10000) {
  const t0 = performance.now();
  for (;;) {
    const v = await cond();
    if (v) return performance.now() - t0;
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const masterOf = (srv) => Number(fs.readFileSync(path.join(srv.dir, 'app.pids'), 'utf8').trim());

const chat = (extra = {}) => JSON.stringify({
  model: 'blueprint-standard', messages: [{ role: 'user', content: 'Hello!' }], ...extra,
});

async function post(base, body) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body,
  });
  return r;
}

// Steady load: `lanes` requests at a time, one after the other, until
// stop(); every result with when it started and ended.
function steadyLoad(base, lanes = 4) {
  let running = true;
  const results = [];
  const lane = async (i) => {
    while (running) {
      const start = performance.now();
      let status;
      try {
        const r = i % 2 ? await post(base, chat())
          : await fetch(`${base}/v1/models`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        await r.text();
        status = r.status;
      } catch (e) {
        status = `error ${e.cause?.code || e.message}`;
      }
      results.push({ start, end: performance.now(), status });
    }
  };
  const all = Promise.all([...Array(lanes).keys()].map(lane));
  return { results, async stop() { running = false; await all; return results; } };
}

// A streamed answer read to its end: the text and whether it ended with [DONE].
async function readStream(r) {
  let text = '';
  for await (const chunk of r.body) text += Buffer.from(chunk).toString();
  return text;
}

// The master started by hand with --listen on a unix socket (so that its
// exit status is ours to see), lighttpd in front as in lighttpd.conf.example.
async function startMaster(args, extraEnv = {}) {
  const dir = makeTempDir(false);
  const sock = path.join(dir, 'app.sock');
  const env = testEnv(dir, extraEnv);
  const master = spawn(app, ['--listen', sock, ...args], { cwd: dir, env, stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise((res) => master.on('exit', (code, sig) => res({ code, sig })));
  const front = path.join(dir, 'server.log');
  const log = () => [env.LOG_FILE, front].map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')).join('');
  const srv = { dir, master, exited, log, env, lighttpd: null, base: null };
  srv.stop = async () => {
    for (const p of [master, srv.lighttpd]) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.race([exited, sleep(10000)]);
    if (srv.lighttpd) srv.lighttpd.kill('SIGKILL');
    if (master.exitCode === null) master.kill('SIGKILL');
    const reports = fs.readdirSync(dir).filter((f) => f.startsWith('asan') || f.startsWith('ubsan'));
    const text = reports.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
    fs.rmSync(dir, { recursive: true, force: true });
    if (text) throw new Error(`sanitizer reports:\n${text}`);
  };
  if (extraEnv.NO_FRONT) return srv;
  await waitFor('the socket', () => fs.existsSync(sock) || master.exitCode !== null);
  const hport = await freePort();
  const conf = fs.readFileSync(path.join(top, 'lighttpd.conf.example'), 'utf8')
    .replace(/^var\.bind *=.*$/m, 'var.bind = "127.0.0.1"')
    .replace(/^var\.port *=.*$/m, `var.port = ${hport}`)
    .replace(/^var\.socket *=.*$/m, `var.socket = "${sock}"`)
    .replace(/^var\.statedir *=.*$/m, `var.statedir = "${dir}"`);
  fs.writeFileSync(path.join(dir, 'lighttpd.conf'), conf);
  const out = fs.openSync(front, 'a');
  srv.lighttpd = spawn('lighttpd', ['-D', '-f', path.join(dir, 'lighttpd.conf')], { stdio: ['ignore', out, out] });
  srv.base = `http://127.0.0.1:${hport}`;
  await waitFor('lighttpd', async () => {
    try { return (await fetch(`${srv.base}/health`)).status === 200; } catch { return false; }
  }).catch(async (e) => { const text = log(); await srv.stop(); throw new Error(`${e.message}\n${text}`); });
  return srv;
}

describe('the process manager (--processes) behind lighttpd', () => {
  test('kill -9 of a worker under steady load: a new one at once, only its requests fail', async (t) => {
    const srv = await startServer({ processes: 2, threads: 2 });
    try {
      const master = masterOf(srv);
      await waitFor('2 workers', () => workersOf(master).length === 2);
      const before = workersOf(master);
      const load = steadyLoad(srv.url, 4);
      await sleep(500);
      const victim = before[0];
      const killedAt = performance.now();
      process.kill(victim, 'SIGKILL');
      const took = await waitFor('a replacement worker', () => {
        const now = workersOf(master);
        return now.length === 2 && !now.includes(victim);
      });
      // "within ~1 s": the first quick death is restarted after 100 ms
      assert.ok(took < 1500, `replacement after ${took.toFixed(0)} ms`);
      await sleep(700);
      const results = await load.stop();
      const failed = results.filter((r) => r.status !== 200);
      // Only what the dead worker held (2 threads) may fail, and only
      // requests that were in flight when it died.
      assert.ok(failed.length <= 2, JSON.stringify(failed));
      for (const f of failed) assert.ok(f.start < killedAt, `a request started after the kill failed: ${f.status}`);
      assert.ok(results.filter((r) => r.start > killedAt).length >= 20, 'the load went on');
      t.diagnostic(`replaced after ${took.toFixed(0)} ms; ${results.length} requests, ${failed.length} failed`);
      assert.match(srv.log(), new RegExp(`master: worker ${victim} was killed by signal 9 \\(SIGKILL\\)`));
    } finally { await srv.stop(); }
  });

  test('a crash loop backs off: 100, 200, 400, 800 ms, then serves again', async () => {
    const srv = await startServer({ processes: 1, threads: 1 });
    try {
      const master = masterOf(srv);
      await waitFor('the worker', () => workersOf(master).length === 1);
      const killed = [];
      for (let i = 0; i < 4; i++) {
        const [w] = workersOf(master);
        await waitFor(`worker ${w} serving`, () => srv.log().includes(`openai-fcgi[${w}] INFO: `));
        process.kill(w, 'SIGKILL');
        killed.push(w);
        await waitFor('the next worker', () => {
          const now = workersOf(master);
          return now.length === 1 && !killed.includes(now[0]);
        }, 5000);
      }
      const delays = killed.map((w) => {
        const m = srv.log().match(new RegExp(`worker ${w} was killed by signal 9 \\(SIGKILL\\); it died soon after starting, so the next one starts in (\\d+) ms`));
        assert.ok(m, `no backoff line for ${w}:\n${srv.log()}`);
        return Number(m[1]);
      });
      assert.deepEqual(delays, [100, 200, 400, 800]);
      await waitFor('health', async () => (await fetch(`${srv.url}/health`)).status === 200);
    } finally { await srv.stop(); }
  });

  test('SIGHUP under steady load with a long stream: 0 failures, the stream completes, new workers', async (t) => {
    const srv = await startServer({ processes: 2, threads: 2, env: { MOCK_STREAM_DELAY_MS: '40' } });
    try {
      const master = masterOf(srv);
      await waitFor('2 workers', () => workersOf(master).length === 2);
      const old = workersOf(master);
      const stream = await post(srv.url, chat({ stream: true, max_tokens: 40 }));
      assert.equal(stream.status, 200);
      const streamed = readStream(stream);
      const load = steadyLoad(srv.url, 2);
      await sleep(300);
      process.kill(master, 'SIGHUP');
      await waitFor('every old worker replaced and gone', () => {
        const now = workersOf(master);
        return now.length === 2 && !now.some((p) => old.includes(p));
      }, 15000);
      const text = await streamed;
      await sleep(200);
      const results = await load.stop();
      assert.match(text, /data: \[DONE\]\n\n$/);
      assert.equal((text.match(/^data: \{/mg) || []).length >= 10, true, text);
      const failed = results.filter((r) => r.status !== 200);
      assert.deepEqual(failed, []);
      assert.ok(results.length >= 10, `${results.length} requests`);
      t.diagnostic(`${results.length} requests during the reload, 0 failed`);
      assert.match(srv.log(), /master: SIGHUP: settings accepted; replacing the workers one by one/);
      for (const p of old) assert.match(srv.log(), new RegExp(`master: worker ${p} exited with status 0 after finishing its requests`));
    } finally { await srv.stop(); }
  });

  test('SIGHUP with a broken config file: the old workers stay, the refusal is logged, requests still 200', async () => {
    const dir = makeTempDir(false);
    const conf = path.join(dir, 'app.conf');
    const good = fs.readFileSync(path.join(top, 'conf', 'openai-fcgi.conf'), 'utf8');
    fs.writeFileSync(conf, good);
    const srv = await startServer({ processes: 2, threads: 2, env: { OPENAI_FCGI_CONFIG: conf } });
    try {
      const master = masterOf(srv);
      await waitFor('2 workers', () => workersOf(master).length === 2);
      const old = workersOf(master);
      const lines = good.split('\n').length;
      const broken = [
        [`${good}\nMAX_BODY_BYTES = 5;\n`, new RegExp(`MAX_BODY_BYTES \\([^)]*app\\.conf:${lines + 1}\\): must be`)],
        [`${good}\nPORT = ;\n`, /app\.conf:\d+/],
      ];
      let refusals = 0;
      for (const [text, want] of broken) {
        fs.writeFileSync(conf, text);
        process.kill(master, 'SIGHUP');
        refusals++;
        await waitFor('the refusal', () => (srv.log().match(/SIGHUP: the settings were refused/g) || []).length === refusals).catch((e) => { throw new Error(`${e.message}:\n${srv.log()}`); });
        assert.match(srv.log(), want);
        for (let i = 0; i < 5; i++) {
          const r = await post(srv.url, chat());
          assert.equal(r.status, 200, await r.text());
        }
        assert.deepEqual(workersOf(master), old);
      }
      // Fixed again: the same signal now replaces them.
      fs.writeFileSync(conf, good);
      process.kill(master, 'SIGHUP');
      await waitFor('new workers', () => {
        const now = workersOf(master);
        return now.length === 2 && !now.some((p) => old.includes(p));
      });
      assert.equal((await post(srv.url, chat())).status, 200);
    } finally {
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGHUP reloads the keys: a key\'s limit changes under steady load, with no failed request', async (t) => {
    const dir = makeTempDir(false);
    const conf = path.join(dir, 'app.conf');
    const KEY = 'reload-key-0123456789abcdef';
    const withLimit = (rpm) => `@include "${path.join(top, 'conf', 'openai-fcgi.conf')}"\n`
      + `keys = ( { token = "${KEY}"; name = "reloaded"; requests_per_minute = ${rpm}; } );\n`;
    fs.writeFileSync(conf, withLimit(3));
    fs.chmodSync(dir, 0o755);
    const srv = await startServer({ processes: 2, threads: 2, env: { OPENAI_FCGI_CONFIG: conf } });
    const asKey = () => fetch(`${srv.url}/v1/models`, { headers: { Authorization: `Bearer ${KEY}` } });
    try {
      const master = masterOf(srv);
      await waitFor('2 workers', () => workersOf(master).length === 2);
      const old = workersOf(master);
      const before = [];
      for (let i = 0; i < 5; i++) before.push((await asKey()).status);
      assert.deepEqual(before, [200, 200, 200, 429, 429]);
      const load = steadyLoad(srv.url, 2);   // other clients, all along the reload
      fs.writeFileSync(conf, withLimit(50));
      process.kill(master, 'SIGHUP');
      await waitFor('every old worker replaced', () => {
        const now = workersOf(master);
        return now.length === 2 && !now.some((p) => old.includes(p));
      }, 15000);
      const after = [];
      for (let i = 0; i < 10; i++) {
        const r = await asKey();
        after.push(r.status);
        assert.equal(r.headers.get('x-ratelimit-limit-requests'), '50');
      }
      const results = await load.stop();
      assert.deepEqual(after, Array(10).fill(200), 'the new limit applies at once');
      assert.deepEqual(results.filter((r) => r.status !== 200), [], 'no request failed during the reload');
      t.diagnostic(`${results.length} requests during the reload, 0 failed; the key's limit 3 -> 50`);
    } finally {
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGTERM mid-stream: the stream completes, the master exits 0, no process is left', async () => {
    const srv = await startMaster(['--processes', '2', '--threads', '2'], { MOCK_STREAM_DELAY_MS: '40' });
    try {
      await waitFor('2 workers', () => workersOf(srv.master.pid).length === 2);
      const workers = workersOf(srv.master.pid);
      const r = await post(srv.base, chat({ stream: true, max_tokens: 20 }));
      const reader = r.body.getReader();
      await reader.read();
      srv.master.kill('SIGTERM');
      let text = '';
      for (;;) { const { done, value } = await reader.read(); if (done) break; text += Buffer.from(value).toString(); }
      assert.match(text, /data: \[DONE\]\n\n$/);
      const { code, sig } = await srv.exited;
      assert.equal(code, 0, `signal ${sig}\n${srv.log()}`);
      for (const w of workers) assert.ok(!alive(w), `worker ${w} outlived the master`);
    } finally { await srv.stop(); }
  });

  test('no worker outlives a master killed with SIGKILL', async () => {
    const srv = await startMaster(['--processes', '3', '--threads', '1']);
    try {
      await waitFor('3 workers', () => workersOf(srv.master.pid).length === 3);
      const workers = workersOf(srv.master.pid);
      srv.master.kill('SIGKILL');
      await waitFor('the workers to stop', () => workers.every((w) => !alive(w)));
    } finally { await srv.stop(); }
  });

  test('workers that are all refused at start: the master exits 78 instead of looping', async () => {
    // The master checks the settings; only a worker opens the state file,
    // so an unusable one is a refusal the workers meet.
    const srv = await startMaster(['--processes', '3'],
      { NO_FRONT: '1', RATE_LIMIT_FILE: '/nonexistent/openai-fcgi/ratelimit' });
    try {
      const { code } = await Promise.race([srv.exited, sleep(20000).then(() => ({ code: 'still running' }))]);
      assert.equal(code, 78, srv.log());
      const log = srv.log();
      assert.match(log, /config: RATE_LIMIT_FILE \(\/nonexistent\/openai-fcgi\/ratelimit\)/);
      assert.match(log, /master: every worker was refused its settings at start \(exit 78\); stopping/);
      assert.ok((log.match(/exited with status 78: its settings were refused at start/g) || []).length >= 3, log);
    } finally { await srv.stop(); }
  });

  test('--processes keeps refusing at once what start-up refuses, and checks its number', () => {
    const dir = makeTempDir(false);
    try {
      const env = testEnv(dir, { ENVIRONMENT: 'production' });
      delete env.API_AUTH_TOKENS;
      const r = spawnSync(app, ['--processes', '2', '--listen', path.join(dir, 's')], { env, encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 78);
      assert.match(r.stderr, /API_AUTH_TOKENS \(not set\): required in production/);
      assert.ok(!r.stderr.includes('master:'), 'a master started');
      assert.match(spawnSync(app, ['--help'], { encoding: 'utf8' }).stdout, /--processes N/);
      for (const n of ['0', '257', 'two']) {
        const bad = spawnSync(app, ['--processes', n], { env, encoding: 'utf8' });
        assert.equal(bad.status, 64, n);
        assert.match(bad.stderr, /--processes takes a number from 1 to 256/);
      }
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('/health while every worker thread streams', () => {
  test('health and models answer before the streams end; a stream beyond THREADS waits, then completes', async () => {
    const threads = 3;
    // STREAM_THREADS 0: no thread is added, so the reserve's path is the one taken;
    // LOOP_STREAMS 0: each stream holds its worker for all of it (in the wait
    // loop it would hold none, and /health would find a free worker)
    const srv = await startServer({ processes: 1, threads,
      env: { MOCK_STREAM_DELAY_MS: '100', STREAM_THREADS: '0', LOOP_STREAMS: '0' } });
    try {
      const ends = [];
      const streams = [];
      for (let i = 0; i < threads; i++) {
        const r = await post(srv.url, chat({ stream: true, max_tokens: 25 }));
        assert.equal(r.status, 200);
        const reader = r.body.getReader();
        await reader.read();  // this stream holds a worker thread now
        streams.push((async () => {
          let text = '';
          for (;;) { const { done, value } = await reader.read(); if (done) break; text += Buffer.from(value).toString(); }
          ends.push(performance.now());
          return text;
        })());
      }
      // One more stream than threads: parked for the first free worker, not refused.
      const extra = post(srv.url, chat({ stream: true, max_tokens: 3 })).then(async (r) => ({ status: r.status, text: await r.text() }));
      await sleep(200);
      for (let i = 0; i < 3; i++) {
        const h = await fetch(`${srv.url}/health`);
        assert.equal(h.status, 200);
        assert.deepEqual(await h.json(), { status: 'ok' });
        const m = await fetch(`${srv.url}/v1/models`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        assert.equal(m.status, 200);
        await m.text();
      }
      const answered = performance.now();
      assert.equal(ends.length, 0, 'a stream ended before /health answered: the test did not fill the threads');
      const texts = await Promise.all(streams);
      assert.ok(Math.min(...ends) > answered);
      for (const t of texts) assert.match(t, /data: \[DONE\]\n\n$/);
      const x = await extra;
      assert.equal(x.status, 200);
      assert.match(x.text, /data: \[DONE\]\n\n$/);
      // what the reserve answered or parked counts once in flight, so the
      // gauge comes back to this scrape alone (it drifted up by one each)
      let inFlight;
      for (let i = 0; i < 50; i++) {
        const m = await call(srv, 'GET', '/metrics', { token: null });
        assert.equal(m.status, 200);
        inFlight = Number(/^openai_fcgi_requests_in_flight (\d+)$/m.exec(m.text)?.[1]);
        if (inFlight === 1) break;
        await sleep(100);
      }
      assert.equal(inFlight, 1, 'requests_in_flight after every request ended');
    } finally { await srv.stop(); }
  });
});
