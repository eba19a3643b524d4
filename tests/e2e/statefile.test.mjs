// statefile.test.mjs: the rate-limit state file damaged while 4 FastCGI
// processes serve steady load (truncated, overwritten, deleted, replaced):
// no worker dies, no 5xx, a warning, and the limit stays exact across the
// processes and a CGI run sharing the file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, startServer, TOKEN, TOKEN2 } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LIMIT = 10;

// Every way an operator or a tool can damage the file under a live mapping.
const DAMAGE = {
  'truncated to 0': (file) => fs.truncateSync(file, 0),
  'truncated to a partial size': (file) => fs.truncateSync(file, 100000),
  'truncated inside the header': (file) => fs.truncateSync(file, 17),
  'its header overwritten with garbage': (file) => {
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, 0);
    fs.closeSync(fd);
  },
  deleted: (file) => fs.unlinkSync(file),
  'replaced by rename with garbage': (file) => {
    const st = fs.statSync(file);
    fs.writeFileSync(`${file}.new`, 'not a table'.repeat(100));
    fs.chownSync(`${file}.new`, st.uid, st.gid);
    fs.renameSync(`${file}.new`, file);
  },
  'replaced by rename with an empty file': (file) => {
    const st = fs.statSync(file);
    fs.writeFileSync(`${file}.new`, '');
    fs.chownSync(`${file}.new`, st.uid, st.gid);
    fs.renameSync(`${file}.new`, file);
  },
};
const kinds = Object.keys(DAMAGE);
// A key per damage kind for the burst afterwards, so each starts fresh.
const burstToken = (i) => `e2e-burst-${i}-0123456789abcdef`;
const tokens = [TOKEN, TOKEN2, ...kinds.map((_, i) => burstToken(i))].join(',');

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// Requests from `loops` clients, each sending one after the other, until
// stop() is called; returns the statuses seen.
function steadyLoad(srv, loops = 6) {
  let running = true;
  const statuses = [];
  const workers = Array.from({ length: loops }, async (_, i) => {
    while (running) {
      const r = await call(srv, 'GET', '/v1/models', { token: i % 2 ? TOKEN : TOKEN2 });
      statuses.push(r.status);
    }
  });
  return { statuses, async stop() { running = false; await Promise.all(workers); } };
}

const warnings = (srv) => (srv.log().match(/WARNING.*rate limit file/g) || []).length;

describe('the state file damaged under load (lighttpd + 4 FastCGI processes x 4 threads, and CGI)', () => {
  let fcgi;
  let cgi;
  before(async () => {
    fcgi = await startServer({ processes: 4, threads: 4,
      env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), API_AUTH_TOKENS: tokens } });
    // A CGI front whose one-shot processes share the FastCGI workers' file.
    cgi = await startServer({ cgi: true,
      env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), API_AUTH_TOKENS: tokens,
        RATE_LIMIT_FILE: fcgi.env.RATE_LIMIT_FILE } });
  });
  after(async () => {
    await cgi?.stop();
    await fcgi?.stop();   // throws on any sanitizer report of the workers
  });

  kinds.forEach((kind, i) => {
    test(`${kind}: every worker survives, warns, and the limit stays exact`, async () => {
      const file = fcgi.env.RATE_LIMIT_FILE;
      const pids = [...fcgi.pids];
      const warned = warnings(fcgi);
      const load = steadyLoad(fcgi);
      await sleep(300);
      DAMAGE[kind](file);
      // Long enough for each worker's look at the path (once a second).
      await sleep(1800);
      await load.stop();

      const bad = load.statuses.filter((s) => s !== 200 && s !== 429);
      assert.deepEqual(bad, [], `statuses other than 200/429 under load: ${bad.join(',')}`);
      assert.ok(load.statuses.length > 20, `only ${load.statuses.length} requests under load`);
      assert.deepEqual(pids.filter((p) => !alive(p)), [], 'a worker or the front died');
      assert.ok(warnings(fcgi) > warned, `no warning logged:\n${fcgi.log().split('\n').slice(-20).join('\n')}`);
      const st = fs.statSync(file);
      assert.ok(st.size >= 4096 + 16384 * 16, `the file is ${st.size} bytes`);

      // 30 at once, 20 through the FastCGI workers and 10 through CGI runs,
      // with a key unused so far: exactly LIMIT admitted in all.
      const token = burstToken(i);
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: 30 }, (_, j) =>
        call(j % 3 === 2 ? cgi : fcgi, 'GET', '/v1/models', { token })));
      const ms = performance.now() - t0;
      const ok = rs.filter((r) => r.status === 200).length;
      const other = rs.filter((r) => r.status !== 200 && r.status !== 429);
      assert.deepEqual(other.map((r) => `${r.status} ${r.text}`), []);
      // A request is freed every 6 s: a slow burst (CGI under sanitizers)
      // has earned that many more.
      const refills = Math.floor(ms / 6000);
      assert.ok(ok >= LIMIT && ok <= LIMIT + refills, `${ok} admitted in ${ms.toFixed(0)} ms`);
      assert.deepEqual(pids.filter((p) => !alive(p)), []);
    });
  });
});
